"""A calibration session on the command line only, as a technician without the guided app
runs it: the scale checks against a pty simulator whose load cell reads 1 % high (through
the real serial adapter), the scale "adjusted" by its service and the span re-checked, the
camera checks on a blurred frame, then ``record save``, ``report`` and ``record publish``
to a real mosquitto. Each check command appends to one ``--results`` file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from backend_client.schema_validation import validate
from calibration.autoplay import EXAMPLE_ZONES, render_lane_frame
from hardware.scale.base import get_protocol
from hardware.scale.simulator import ScaleSimulator, send_control
from kiosk.cli import main
from kiosk.replay import DEFAULT_CATALOG
from tests.conftest import Collector

REPO = Path(__file__).resolve().parent.parent
TECHNICIAN = "Li Wei"


@pytest.fixture
def sim() -> Iterator[ScaleSimulator]:
    with ScaleSimulator(get_protocol("toledo8217"), settle_ms=120, noise_g=0, seed=5) as s:
        yield s


def lane_config(tmp_path: Path) -> Path:
    path = tmp_path / "lane.toml"
    path.write_text(
        f'[kiosk]\nid = "lane-03"\nstore = "store-09"\ndata_dir = "{tmp_path / "data"}"\n\n'
        f'[catalog]\npath = "{DEFAULT_CATALOG}"\n',
        encoding="utf-8",
    )
    return path


def sco_scale(sim: ScaleSimulator, *args: str) -> tuple[int, list[str]]:
    """`sco calibrate scale ...` in its own process; the technician's hands are the
    simulator's control socket, Enter goes to its stdin. Returns (exit code, prompts)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk.cli", "calibrate", "scale", *args, "--port", sim.port_path],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stderr is not None
    prompts = []
    for line in proc.stderr:
        if line.startswith(">> "):
            prompts.append(line[3:].strip())
            place = re.match(r"Place (\d+) g", prompts[-1])
            hands = f"place {place[1]}" if place else "remove"
            assert send_control(sim.control_path, hands) == "ok"
            proc.stdin.write("\n")
            proc.stdin.flush()
    return proc.wait(timeout=120), prompts  # a hang guard, not a timing assertion


@pytest.mark.slow
def test_a_command_line_session_becomes_a_record_a_report_and_an_event(
    sim: ScaleSimulator, tmp_path: Path, mosquitto: tuple[str, int],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    config = lane_config(tmp_path)
    results = tmp_path / "session.jsonl"
    lane = ["--config", str(config)]
    keep = ["--results", str(results)]

    # The bagging scale's load cell reads 1 % high: 2000 g shows 2020 g (MPE 5 g at e = 10 g).
    assert send_control(sim.control_path, "fault gain 0.01") == "ok"
    code, prompts = sco_scale(sim, "span", "--test-weight", "2000", *keep)
    assert code == 1 and prompts[0] == "Place 2000 g in the centre of the platter."
    code, prompts = sco_scale(sim, "linearity", "--loads", "500,1000,2000,5000", *keep)
    assert code == 1 and len([p for p in prompts if p.startswith("Place")]) == 4
    # The scale's service adjusts it; the technician checks the span again.
    assert send_control(sim.control_path, "fault clear") == "ok"
    assert sco_scale(sim, "span", "--test-weight", "2000", *keep)[0] == 0

    # The camera is out of focus: sharpness fails on the scan zone; alignment still holds.
    zones = tmp_path / "zones.json"
    zones.write_bytes(EXAMPLE_ZONES.read_bytes())
    blurred, sharp = tmp_path / "blurred.png", tmp_path / "sharp.png"
    cv2.imwrite(str(blurred), render_lane_frame(zones, blur_sigma=3.0, seed=1))
    cv2.imwrite(str(sharp), render_lane_frame(zones, seed=2))
    cam = ["calibrate", "camera"]
    assert main([*cam, "check", str(blurred), "--zones", str(zones), *keep]) == 1
    assert "FAIL    camera.sharpness" in capsys.readouterr().out
    assert main([*cam, "align", str(sharp), "--zones", str(zones), *keep]) == 0

    lines = [json.loads(x) for x in results.read_text().splitlines()]
    assert [r["check"] for r in lines].count("scale.span") == 2
    assert {"scale.linearity", "camera.sharpness", "camera.zone_alignment"} <= {
        r["check"] for r in lines
    }

    # record save: re-runs become before/after; the record keeps the linearity failure.
    assert main(["calibrate", "record", "save", "--technician", TECHNICIAN, *keep, *lane]) == 0
    saved = capsys.readouterr().out
    assert "verdict FAIL" in saved
    assert main(["calibrate", "record", "show", "--json", *lane]) == 0
    record = json.loads(capsys.readouterr().out)
    by_check = {(c["device"], c["check"]): c for c in record["results"]}
    span = by_check[("bagging_scale", "scale.span")]
    assert span["verdict"] == "pass" and span["before"]["verdict"] == "fail"
    assert span["before"]["figures"]["error_g"] == 20
    linearity = by_check[("bagging_scale", "scale.linearity")]
    assert linearity["verdict"] == "fail" and linearity["figures"]["max_error_g"] == 50
    assert by_check[("camera", "camera.sharpness")]["verdict"] == "fail"
    assert record["verdict"] == "fail" and record["technician"] == TECHNICIAN

    # report: one HTML page with the FAIL rows and the linearity plot inline.
    page_path = tmp_path / "report.html"
    assert main(["calibrate", "report", "--out", str(page_path), *lane]) == 0
    page = page_path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and record["record_id"] in page
    assert re.search(r"<td>scale\.linearity</td><td>.*?FAIL", page)
    assert re.search(r"<td>camera\.sharpness</td><td>.*?FAIL", page)
    assert re.search(r"<td>scale\.span</td><td>.*?FAIL</span> → .*?PASS", page)  # before/after
    assert page.count("<svg") == 1 and "<polygon" in page  # linearity error in its MPE band

    # record publish: the calibration_recorded event reaches a real broker, QoS 1.
    host, port = mosquitto
    sub = Collector(host, port, "opensco/store-09/kiosk/lane-03/evt/calibration")
    try:
        broker = ["--broker", f"mqtt://{host}:{port}", "--timeout", "20"]
        assert main(["calibrate", "record", "publish", *broker, *lane]) == 0
        assert sub.wait_for(lambda c: c.payloads())
        (event,) = sub.payloads()
        (message,) = sub.messages
    finally:
        sub.close()
    assert validate("event", event) == []
    assert event["type"] == "calibration_recorded" and message.qos == 1
    assert event["record"]["record_id"] == record["record_id"]
    assert event["record"]["verdict"] == "fail"
    assert "published as event seq" in capsys.readouterr().out
