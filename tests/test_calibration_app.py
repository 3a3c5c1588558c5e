"""The guided calibration app in a real Kivy window (Xvfb), against a pty scale simulator read
through the real serial adapter and a camera played through the ordinary ``folder:`` source.

Touches and drags go through the window's input queue; every wait polls what the screen
shows. The autoplay's PNGs are kept in ``$OPENSCO_CALIBRATION_SHOTS`` when set.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from calibration.autoplay import EXAMPLE_ZONES, Driver, Hands, write_camera_folder
from calibration.results import Verdict
from calibration.screens.zone_doc import ZoneDoc
from vision.zones import ZoneMap

TECHNICIAN = "T-1042"


def _need_display() -> None:
    if not os.environ.get("DISPLAY"):
        if os.environ.get("OPENSCO_REQUIRE_SERVICES") == "1":
            pytest.fail("DISPLAY is not set: Xvfb should be running (OPENSCO_REQUIRE_SERVICES=1)")
        pytest.skip("no DISPLAY (run under xvfb-run)")


# --- the zones document (no window) ----------------------------------------------------------


def test_zone_move_that_crosses_edges_is_refused_and_save_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "zones.json"
    shutil.copyfile(EXAMPLE_ZONES, path)
    doc = ZoneDoc.load(path)
    before = [list(p) for p in doc.zones["scan"]]
    # Pull the top-left corner past the right edge: the polygon would cross itself.
    why = doc.move_vertex("scan", 0, 0.6, 0.5)
    assert why is not None and "cross" in why
    assert doc.zones["scan"] == before and not doc.dirty
    assert doc.move_vertex("scan", 0, 0.08, 0.12) is None
    doc.save()
    saved = json.loads(path.read_text())
    assert saved["priority"] == ["produce_scale", "scan", "bagging", "exit"]  # kept
    assert saved["zones"]["scan"][0] == [0.08, 0.12]
    assert ZoneMap.load(path).names[0] == "produce_scale"


def test_a_damaged_zones_file_is_reported_not_overwritten(tmp_path: Path) -> None:
    from vision.zones import ZoneError

    path = tmp_path / "zones.json"
    path.write_text('{"schema": "opensco.zones/1", "zones": {"scan": [[0, 0], [1, 0]]}}')
    with pytest.raises(ZoneError, match="at least 3 points"):
        ZoneDoc.load(path)
    assert "[1, 0]" in path.read_text()


# --- the app in a window ---------------------------------------------------------------------


class Lane:
    """The app on an embedded event loop for one simulated lane."""

    def __init__(self, work: Path, *, scale: bool, blur_sigma: float = 0.0, **faults: float):
        from calibration.app import CalibrationApp
        from calibration.screens.lane import LaneSetup

        self.sim = None
        work.mkdir(parents=True, exist_ok=True)
        self.zones = work / "zones.json"
        shutil.copyfile(EXAMPLE_ZONES, self.zones)
        camera = write_camera_folder(work / "camera", self.zones, blur_sigma=blur_sigma, frames=2)
        ports = {}
        if scale:
            from hardware.scale.base import get_protocol
            from hardware.scale.simulator import ScaleSimulator

            self.sim = ScaleSimulator(get_protocol("toledo8217"), seed=3, **faults).start()
            ports = {"bagging_scale": self.sim.port_path}
        setup = LaneSetup(data_dir=work / "data", scale_ports=ports, zones_path=self.zones,
                          camera_url=None if scale else camera)  # fmt: skip
        self.app = CalibrationApp(setup, technician=TECHNICIAN, open_reports=False)
        self.app.start_embedded()
        self.driver = Driver(self.app, None, timeout_s=60)
        self.hands = Hands(self.sim.control_path) if self.sim is not None else None

    def close(self) -> None:
        self.app.close_embedded()
        if self.sim is not None:
            self.sim.stop()


@pytest.fixture
def lane_factory(tmp_path: Path) -> Iterator[type]:
    _need_display()
    made: list[Lane] = []

    def make(**kwargs: object) -> Lane:
        lane = Lane(tmp_path / f"lane{len(made)}", **kwargs)  # type: ignore[arg-type]
        made.append(lane)
        return lane

    yield make  # type: ignore[misc]
    for lane in made:
        lane.close()


@pytest.mark.slow
def test_dragging_a_zone_vertex_moves_the_saved_zone_by_the_drag(lane_factory) -> None:
    lane = lane_factory(scale=False)
    app, drv = lane.app, lane.driver
    drv.start(TECHNICIAN)
    assert app.current == "zones"
    editor = app.screen("zones").ids.editor
    drv.wait(lambda: editor.frames_shown > 0, "a camera frame behind the zones")
    _x, _y, img_w, img_h = editor.image_rect()
    dx, dy = 40.0, -30.0  # window pixels: right and down (Kivy's y grows upwards)
    before = drv.drag_vertex("scan", 2, dx, dy)
    drv.tap(app.screen("zones").ids.save)
    saved = json.loads(lane.zones.read_text())["zones"]
    after = saved["scan"][2]
    assert after[0] == pytest.approx(before[0] + dx / img_w, abs=2e-3)
    assert after[1] == pytest.approx(before[1] - dy / img_h, abs=2e-3)  # y down in the file
    assert saved["scan"][0] == [0.05, 0.1] and saved["bagging"][0] == [0.55, 0.1]  # untouched
    assert ZoneMap.load(lane.zones).names  # the lane can load what was saved
    assert app.results["camera.zones"][0].figures["vertices_moved"] == 1


def _steady_g(text: str) -> int | None:
    """The grams a steady live readout shows ("1 500 g"); None for "—" or a moving "~ ..."."""
    if not text.endswith(" g") or text.startswith("~"):
        return None
    return int(text[:-2].replace(" ", ""))


@pytest.mark.slow
def test_span_step_passes_a_good_scale_and_fails_it_after_a_gain_fault(lane_factory) -> None:
    from hardware.scale.simulator import send_control

    lane = lane_factory(scale=True)
    app, drv = lane.app, lane.driver
    drv.start(TECHNICIAN)
    screen = app.screen("scale")
    assert app.step.key == "bagging_scale.zero"
    drv.tap(screen.ids.skip)
    assert app.step.key == "bagging_scale.span"

    # Between checks the live readout follows the pan, read from the running adapter.
    live = screen.ids.live
    assert send_control(lane.sim.control_path, "place 1500 center") == "ok"
    drv.wait(lambda: _steady_g(live.text) in range(1498, 1503), f"1500 g live ({live.text})")
    assert send_control(lane.sim.control_path, "remove") == "ok"
    drv.wait(lambda: _steady_g(live.text) in range(-2, 3), f"an empty pan live ({live.text})")

    good = drv.scale_step(lane.hands, shoot=False)[0]
    assert good.check == "scale.span" and good.verdict is Verdict.PASS
    assert abs(good.figures["error_g"]) <= 1
    assert screen.ids.verdict.text == "PASS" and screen.ids.verdict.verdict == "pass"
    card = screen.ids.results.children[0]
    assert card.title.startswith("PASS") and "MPE" in card.title

    # A load cell reading 2 % high: 2000 g shows about 2040 g, far outside its MPE.
    assert send_control(lane.sim.control_path, "fault gain 0.02") == "ok"
    drv.wait(lambda: screen.ids.start.text == "Retry", "the Retry button")
    bad = drv.scale_step(lane.hands, shoot=False)[0]
    assert bad.verdict is Verdict.FAIL
    assert 35 <= bad.figures["error_g"] <= 45
    assert screen.ids.verdict.text == "FAIL" and screen.ids.verdict.verdict == "fail"
    card = screen.ids.results.children[0]
    assert card.title.startswith("FAIL") and f"{bad.figures['error_g']} g" in card.title
    assert "span" in card.body  # the advice says what to do
    # The record keeps the good run as "before" and the failed re-run as "after".
    entry = next(c for c in app.devices._record.checks if c.after.check == "scale.span")
    assert entry.before.verdict is Verdict.PASS and entry.after.verdict is Verdict.FAIL


@pytest.mark.slow
def test_camera_checks_fail_sharpness_on_a_blurred_camera(lane_factory) -> None:
    lane = lane_factory(scale=False, blur_sigma=3.0)
    app, drv = lane.app, lane.driver
    drv.start(TECHNICIAN)
    drv.tap(app.screen("zones").ids.next)
    assert app.current == "checks"
    results = {r.check: r for r in drv.checks_step()}
    assert results["camera.sharpness"].verdict is Verdict.FAIL
    screen = app.screen("checks")
    titles = [c.title for c in screen.ids.results.children]
    assert any(t.startswith("FAIL") and "sharpness" in t for t in titles), titles
    assert screen.ids.verdict.verdict == "fail"


@pytest.mark.slow
def test_autoplay_walks_every_step_and_writes_screens_and_a_record(tmp_path: Path) -> None:
    _need_display()
    from calibration.autoplay import run_autoplay

    shots = Path(os.environ.get("OPENSCO_CALIBRATION_SHOTS") or tmp_path / "shots")
    assert run_autoplay(None, technician=TECHNICIAN, screenshots=shots) == 0
    pngs = sorted(shots.glob("*.png"))
    names = {p.stem.split("-", 1)[1] for p in pngs}
    for expected in ("start", "bagging_scale.span-prompt", "bagging_scale.linearity",
                     "camera.zones-saved", "camera.checks", "summary-saved"):  # fmt: skip
        assert expected in names, sorted(names)
    for png in pngs:
        img = cv2.imread(str(png))
        assert img is not None and img.shape[:2] == (800, 1280), png
        assert float(img.std()) > 5.0, f"{png.name}: a blank screenshot"
    record = json.loads((shots / "record.json").read_text())
    assert record["technician"] == TECHNICIAN
    checks = {c["check"]: c["verdict"] for c in record["results"]}
    assert {"scale.span", "scale.linearity", "camera.sharpness", "camera.zones"} <= set(checks)
    assert record["verdict"] == "pass", checks  # a good simulated lane passes everything
    assert record["event_seq"] is not None  # queued in the lane's outbox for the store
    assert (shots / "report.html").read_text().lstrip().lower().startswith("<!doctype html")


# --- `sco calibrate` launches the app ---------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scale", "bagging_scale"], "DEVICE=PORT"),
        (["--scale", "till_scale=/dev/ttyUSB0"], "DEVICE=PORT"),
        (["--scale", "scan_scale=/a", "--scale", "scan_scale=/b"], "given twice"),
        (["--technician", "T-1", "--zones", "/nonexistent/zones.json"], "no such file"),
        (["--technician", "T-1", "--screenshots", "s"], "--screenshots goes with --autoplay"),
        ([], "--technician"),
    ],
)
def test_sco_calibrate_refuses_bad_app_options_before_opening_a_window(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from kiosk.cli import main

    assert main(["calibrate", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_sco_calibrate_autoplay_from_the_command_line_plays_a_simulated_lane(
    tmp_path: Path,
) -> None:
    """The whole guided flow as a technician's demo: `sco calibrate --autoplay --screenshots
    DIR`, no config, in its own process: it builds the simulated lane itself and exits 0."""
    _need_display()
    import subprocess
    import sys

    shots = tmp_path / "shots"
    env = {**os.environ, "KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "calibrate", "--autoplay", "--screenshots", str(shots)],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,  # a hang guard, not a timing assertion
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "autoplay completed" in proc.stdout
    record = json.loads((shots / "record.json").read_text())
    assert record["technician"] == "autoplay" and record["verdict"] == "pass"
    assert {"scale.linearity", "camera.read_rate"} <= {c["check"] for c in record["results"]}
    assert len(list(shots.glob("*.png"))) >= 10
    assert "<svg" in (shots / "report.html").read_text()  # the linearity plot, inline
