"""``sco calibrate --autoplay``: the guided app walks a simulated lane through every step in
the real window, a PNG per screen. The lane is a pty scale simulator (the real serial
adapter reads it; its control socket places each test weight when the app asks for it,
as a technician's hands would) and a camera that sees the printed test card in the scan
zone with the four corner markers on the zone's corners (rendered frames played through
the ordinary ``folder:`` camera source). Every wait polls what the screen shows, never a
sleep. Exit 0 when every step ran and the record was saved.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

if TYPE_CHECKING:
    from calibration.app import CalibrationApp

logger = logging.getLogger(__name__)

EXAMPLE_ZONES = Path(__file__).resolve().parent.parent / "examples" / "zones.json"
FRAME_SIZE = (1280, 960)
CARD_PX_PER_MODULE = 3.5  # above the 3 px/module the checks want


class AutoplayError(RuntimeError):
    pass


def render_lane_frame(zones_path: Path, *, blur_sigma: float = 0.0, seed: int = 0) -> np.ndarray:
    """What the lane's camera sees during calibration: the test card in the middle of the
    counter and the corner markers (10-13) laid on the scan zone's corners."""
    from calibration.camera_checks import expected_corners
    from calibration.test_card import CORNER_MARKER_IDS, CardLayout, aruco_marker, card_frame
    from vision.zones import ZoneMap

    w, h = FRAME_SIZE
    frame, _ = card_frame(CardLayout(), CARD_PX_PER_MODULE, frame_size=FRAME_SIZE)
    corners = expected_corners(ZoneMap.load(zones_path), "scan", FRAME_SIZE)
    side = 44
    for marker_id, (cx, cy) in zip(CORNER_MARKER_IDS, corners, strict=True):
        tile = np.full((side + 16, side + 16), 255, np.uint8)  # a white border: a quiet zone
        tile[8:-8, 8:-8] = aruco_marker(marker_id, side)
        x0 = round(float(cx)) - tile.shape[1] // 2
        y0 = round(float(cy)) - tile.shape[0] // 2
        xa, ya = max(0, x0), max(0, y0)
        xb, yb = min(w, x0 + tile.shape[1]), min(h, y0 + tile.shape[0])
        frame[ya:yb, xa:xb] = tile[ya - y0 : yb - y0, xa - x0 : xb - x0, None]
    if seed:  # a camera's sensor noise, so each frame differs a little
        noise = np.random.default_rng(seed).normal(0, 2.0, frame.shape)
        frame = np.clip(frame + noise, 0, 255).astype(np.uint8)
    if blur_sigma > 0:
        frame = cv2.GaussianBlur(frame, (0, 0), blur_sigma)
    return frame


def write_camera_folder(folder: Path, zones_path: Path, *, blur_sigma: float = 0.0,
                        frames: int = 3) -> str:  # fmt: skip
    """Frames for a ``folder:`` camera; returns its URL (looping at 10 fps)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        image = render_lane_frame(zones_path, blur_sigma=blur_sigma, seed=i + 1)
        cv2.imwrite(str(folder / f"frame{i:03d}.png"), image)
    return f"folder:{folder}?loop=1&fps=10"


class Hands:
    """The technician's hands on a simulated scale: answers the app's prompts through the
    simulator's control socket (``place G POSITION`` / ``remove``)."""

    def __init__(self, control_path: str) -> None:
        self.control_path = control_path
        self.placed: list[str] = []

    def act(self, instruction: str) -> None:
        from hardware.scale.simulator import send_control

        action = getattr(instruction, "action", "")
        if action == "remove":
            line = "remove"
        elif action in ("place", "watch"):
            load, position = getattr(instruction, "load_g", 0), getattr(instruction, "position", "")
            line = f"place {int(load)} {position or 'center'}"
        else:
            raise AutoplayError(f"cannot act on the prompt {instruction!r}")
        answer = send_control(self.control_path, line)
        if answer != "ok":
            raise AutoplayError(f"simulator refused {line!r}: {answer}")
        self.placed.append(line)


class Driver:
    """Taps, drags, waits and screenshots on a running, embedded app."""

    def __init__(self, app: CalibrationApp, shots: Path | None, timeout_s: float = 60.0) -> None:
        self.app = app
        self.shots = shots
        self.timeout_s = timeout_s
        self.written: list[Path] = []
        self._n = 0

    def wait(self, predicate: Callable[[], object], what: str, timeout_s: float | None = None
             ) -> None:  # fmt: skip
        if not self.app.pump(predicate, timeout_s=timeout_s or self.timeout_s):
            raise AutoplayError(f"never happened: {what}")
        self.app.pump(frames=2)  # let the layout settle before the next touch

    def tap(self, widget: Any) -> None:
        from kiosk.ui.widgets.base import tap

        self.app.pump(frames=2)
        if widget.opacity == 0 or widget.disabled or widget.height <= 0:
            raise AutoplayError(f"cannot tap {getattr(widget, 'text', widget)!r}: not shown")
        tap(widget)
        self.app.pump(frames=2)

    def drag_vertex(self, zone: str, index: int, dx: float, dy: float) -> tuple[float, float]:
        """Drag a zone's vertex by (dx, dy) window pixels on the zones screen; returns the
        vertex's normalised position before the drag."""
        from calibration.screens.widgets import drag

        editor = self.app.screen("zones").ids.editor
        before = tuple(editor.doc.zones[zone][index])
        x, y = editor.to_window(*editor.to_widget(*before))
        drag((x, y), (x + dx, y + dy), pump=lambda: self.app.pump(frames=1))
        self.app.pump(frames=2)
        return before  # type: ignore[return-value]

    def shot(self, name: str) -> Path | None:
        if self.shots is None:
            return None
        self._n += 1
        self.app.pump(frames=3)
        path = self.app.screenshot(self.shots / f"{self._n:02d}-{name}.png")
        self.written.append(path)
        return path

    # --- steps --------------------------------------------------------------------------

    def start(self, technician: str) -> None:
        app = self.app
        screen = app.screen("start")
        self.wait(lambda: app.devices.done.is_set(), "device detection", 60)
        self.shot("start")
        screen.ids.technician.text = technician
        self.tap(screen.ids.begin)
        self.wait(lambda: app.index == 0 or app.current == "summary", "the first step")

    def scale_step(self, hands: Hands, shoot: bool = True) -> list[Any]:
        """Start the shown scale step, answer its prompts, wait for its result."""
        app = self.app
        step = app.step
        screen = app.screen("scale")
        self.tap(screen.ids.start)
        prompted = False
        while True:
            self.wait(lambda: app.runner.waiting or not app.busy, f"{step.key}: prompt or result",
                      120)  # fmt: skip
            if not app.runner.waiting:
                break
            self.wait(lambda: not screen.ids.prompt_panel.hidden, "the prompt on screen")
            instruction = app.runner.prompt_text
            if shoot and not prompted and step.key.endswith(".span"):
                hands.act(instruction)
                # The shot shows the load on the live readout (a soft wait: only a picture).
                load = getattr(instruction, "load_g", 0)
                app.pump(lambda load=load: _shows_g(screen.ids.live.text, load), timeout_s=10)
                self.shot(f"{step.key}-prompt")
                prompted = True
                self.tap(screen.ids.done)
                continue
            prompted = True
            if getattr(instruction, "action", "") == "watch":
                self.tap(screen.ids.done)  # "tap Done, then place": the clock starts first
                hands.act(instruction)
            else:
                hands.act(instruction)
                self.tap(screen.ids.done)
        results = app.results.get(step.key) or []
        if not results:
            raise AutoplayError(f"{step.key}: no result ({screen.ids.status.text})")
        if shoot:
            self.shot(step.key)
        return results

    def zones_step(self) -> None:
        app = self.app
        screen = app.screen("zones")
        self.wait(lambda: screen.ids.editor.frames_shown > 0, "a camera frame in the live view")
        self.shot("camera.zones")
        # Nudge the produce scale's corner (the scan zone stays on its markers: alignment)
        self.drag_vertex("produce_scale", 2, 24, -16)
        self.tap(screen.ids.save)
        if "camera.zones" not in app.results:
            raise AutoplayError(f"zones not saved: {screen.ids.notice.text}")
        self.shot("camera.zones-saved")

    def checks_step(self) -> list[Any]:
        app = self.app
        screen = app.screen("checks")
        self.tap(screen.ids.run)
        self.wait(lambda: not app.busy, "the camera checks", 120)
        results = app.results.get("camera.checks") or []
        if not results:
            raise AutoplayError(f"camera checks: no result ({screen.ids.status.text})")
        self.shot("camera.checks")
        return results

    def summary(self) -> Path:
        app = self.app
        screen = app.screen("summary")
        self.wait(lambda: app.current == "summary", "the summary")
        self.shot("summary")
        self.tap(screen.ids.save)
        if app.record_path is None or not app.record_path.exists():
            raise AutoplayError(f"record not saved: {screen.ids.status.text}")
        self.tap(screen.ids.report)
        self.shot("summary-saved")
        return app.record_path


def _shows_g(text: str, load_g: int, within_g: int = 5) -> bool:
    """The live readout ("2 000 g") shows a steady weight within ``within_g`` of the load."""
    if not text.endswith(" g") or text.startswith("~"):
        return False
    try:
        return abs(int(text[:-2].replace(" ", "")) - load_g) <= within_g
    except ValueError:
        return False


def play(app: CalibrationApp, hands: Hands | None, shots: Path | None, technician: str) -> Path:
    """Every step, in order, on an app already started embedded; returns the record path."""
    driver = Driver(app, shots)
    driver.start(technician)
    while app.step is not None:
        step = app.step
        if step.screen == "scale":
            if hands is None:
                raise AutoplayError("a scale step but no simulator to place weights on")
            driver.scale_step(hands)
        elif step.screen == "zones":
            driver.zones_step()
        else:
            driver.checks_step()
        driver.tap(app.screen(step.screen).ids.next)
    return driver.summary()


def run_autoplay(
    config_path: Path | None,
    *,
    technician: str,
    scale_ports: dict[str, str] | None = None,
    camera_url: str | None = None,
    zones_path: Path | None = None,
    screenshots: Path | None = None,
    workdir: Path | None = None,
) -> int:
    """A simulated bagging scale and camera unless given; 0 when the session completed."""
    from calibration.app import CalibrationApp
    from calibration.screens.lane import LaneSetup
    from hardware.scale.base import get_protocol
    from hardware.scale.simulator import ScaleSimulator

    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="opensco-calibrate-")) if own else Path(workdir)
    sim = None
    started = time.monotonic()
    try:
        if zones_path is None:
            zones_path = work / "zones.json"
            shutil.copyfile(EXAMPLE_ZONES, zones_path)
        if camera_url is None:
            camera_url = write_camera_folder(work / "camera", zones_path)
        hands = None
        if scale_ports is None:
            sim = ScaleSimulator(get_protocol("toledo8217"), seed=1).start()
            scale_ports = {"bagging_scale": sim.port_path}
            hands = Hands(sim.control_path)
        setup = LaneSetup.from_config(config_path, scale_ports=scale_ports,
                                      camera_url=camera_url, zones_path=zones_path)  # fmt: skip
        if config_path is None:
            setup.data_dir = work / "data"
        app = CalibrationApp(setup, technician=technician, open_reports=False)
        app.start_embedded()
        try:
            record = play(app, hands, screenshots, technician)
        except AutoplayError as err:
            logger.error("autoplay stopped: %s", err)
            print(f"autoplay stopped: {err}")
            return 1
        finally:
            app.close_embedded()
        if screenshots is not None:  # keep the record and its report beside the shots
            screenshots.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(record, screenshots / "record.json")
            if app.report_path is not None and app.report_path.exists():
                shutil.copyfile(app.report_path, screenshots / "report.html")
            print(f"screenshots, record.json and report.html in {screenshots}")
        print(f"autoplay completed in {time.monotonic() - started:.0f} s; record {record.name}")
        return 0
    finally:
        if sim is not None:
            sim.stop()
        if own:
            shutil.rmtree(work, ignore_errors=True)
