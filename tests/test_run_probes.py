"""Start-up probes of `sco run` against real things: a pty scale simulator, the payment
terminal simulator, camera URLs, a loopback mosquitto, plain sockets, files; the attendant
PIN hash and its lockout; `sco run --probe-only`, `--stdin` (headless) and `sco ui pin-hash`.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.payment import PaymentTerminalSimulator
from hardware.scale.base import get_protocol
from hardware.scale.simulator import ScaleSimulator
from kiosk.config import KioskConfig, parse_config_text
from kiosk.errors import ConfigError
from kiosk.ui.pin import PinGuard, make_pin_hash, verify_pin
from kiosk.ui.probes import (
    Status,
    probe_broker,
    probe_camera,
    probe_disk,
    probe_printer,
    run_probes,
)
from tests.conftest import EXAMPLES, SCO

TIMEOUT_S = 1.5  # each probe's own limit; tests assert on what came back, never how fast


def lane_config(tmp_path: Path, body: str, required: str = '["disk"]') -> KioskConfig:
    text = (
        f'[kiosk]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[catalog]\npath = "{EXAMPLES / "catalog.csv"}"\n'
        f"[kiosk_ui]\nrequired = {required}\nprobe_timeout_s = {TIMEOUT_S}\n{body}"
    )
    return parse_config_text(text, "test.toml")


@pytest.fixture
def scale_sim() -> Iterator[ScaleSimulator]:
    with ScaleSimulator(get_protocol("toledo8217"), settle_ms=0, noise_g=0) as sim:
        yield sim


def scale_section(port: str, name: str = "scan_scale") -> str:
    return f'[{name}]\nenabled = true\nport = "{port}"\nprotocol = "toledo8217"\n'


# --- scales ------------------------------------------------------------------------------


def test_an_answering_scale_simulator_is_ok(tmp_path: Path, scale_sim: ScaleSimulator) -> None:
    scale_sim.place(250)
    config = lane_config(tmp_path, scale_section(scale_sim.port_path), '["scan_scale"]')
    report = run_probes(config)
    result = report.get("scan_scale")
    assert result is not None and result.status is Status.OK, result
    assert scale_sim.port_path in result.reason
    assert report.ok and report.reason() is None


def test_a_missing_serial_port_fails_with_its_name(tmp_path: Path) -> None:
    config = lane_config(tmp_path, scale_section("/dev/ttyUSB-opensco-9", "bagging_scale"),
                         '["bagging_scale"]')  # fmt: skip
    report = run_probes(config)
    result = report.get("bagging_scale")
    assert result is not None and result.status is Status.FAILED
    assert "/dev/ttyUSB-opensco-9" in result.reason and "does not exist" in result.reason
    assert not report.ok
    assert "bagging scale: failed" in (report.reason() or "")


def test_an_unplugged_simulator_fails(tmp_path: Path, scale_sim: ScaleSimulator) -> None:
    port = scale_sim.port_path
    scale_sim.unplug()
    report = run_probes(lane_config(tmp_path, scale_section(port), '["scan_scale"]'))
    result = report.get("scan_scale")
    assert result is not None and result.status is Status.FAILED and port in result.reason


def test_a_scale_that_does_not_answer_fails_after_its_timeout(
    tmp_path: Path, scale_sim: ScaleSimulator
) -> None:
    scale_sim.sleep()  # the port is there (a USB adapter), the scale behind it is not
    report = run_probes(lane_config(tmp_path, scale_section(scale_sim.port_path),
                                    '["scan_scale"]'))  # fmt: skip
    result = report.get("scan_scale")
    assert result is not None and result.status is Status.FAILED
    assert "no answer" in result.reason and scale_sim.port_path in result.reason


# --- camera ------------------------------------------------------------------------------


def test_a_camera_that_does_not_exist_fails() -> None:
    missing = probe_camera("/nonexistent/opensco/camera.mp4", TIMEOUT_S)
    assert missing.status is Status.FAILED and "camera.mp4" in missing.reason
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    closed = probe_camera(f"rtsp://127.0.0.1:{port}/stream", TIMEOUT_S)
    assert closed.status is Status.FAILED and str(port) in closed.reason


def test_a_camera_that_gives_a_frame_is_ok() -> None:
    result = probe_camera("synthetic:?script=basket&seed=1", 10.0)
    assert result.status is Status.OK and "frame" in result.reason, result


# --- broker ------------------------------------------------------------------------------


def mqtt_section(host: str, port: int) -> dict[str, object]:
    return {"broker": f"mqtt://{host}:{port}", "tls_ca_file": "", "tls_cert_file": "",
            "tls_key_file": ""}  # fmt: skip


def test_a_loopback_mosquitto_answers_connack(mosquitto: tuple[str, int]) -> None:
    result = probe_broker(mqtt_section(*mosquitto), "lane-01", TIMEOUT_S)
    assert result.status is Status.OK and "CONNACK" in result.reason, result


def test_a_closed_broker_port_fails() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = probe_broker(mqtt_section("127.0.0.1", port), "lane-01", TIMEOUT_S)
    assert result.status is Status.FAILED and f"127.0.0.1:{port}" in result.reason
    assert "cannot connect" in result.reason


def test_a_broker_that_refuses_the_lane_says_why(broker_factory: object) -> None:
    broker = broker_factory("listener {port} 127.0.0.1\nallow_anonymous false\n")  # type: ignore[operator]
    result = probe_broker(mqtt_section(broker.host, broker.port), "lane-01", TIMEOUT_S)
    assert result.status is Status.FAILED and "refused" in result.reason, result


def test_a_tcp_server_that_is_not_a_broker_fails() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def hang_up() -> None:
        conn, _ = server.accept()
        conn.recv(64)
        conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        result = probe_broker(mqtt_section("127.0.0.1", server.getsockname()[1]), "x", TIMEOUT_S)
    finally:
        server.close()
    assert result.status is Status.FAILED and "before its CONNACK" in result.reason


# --- payment, printer, disk ---------------------------------------------------------------


def test_payment_terminal_simulator_answers_and_a_missing_port_fails(tmp_path: Path) -> None:
    with PaymentTerminalSimulator() as terminal:
        body = f'[payment]\nenabled = true\nport = "{terminal.port}"\n'
        report = run_probes(lane_config(tmp_path, body, '["payment"]'))
    result = report.get("payment")
    assert result is not None and result.status is Status.OK and "ping" in result.reason
    body = '[payment]\nenabled = true\nport = "/dev/ttyACM-opensco-7"\n'
    result = run_probes(lane_config(tmp_path, body, '["payment"]')).get("payment")
    assert result is not None and result.status is Status.FAILED
    assert "/dev/ttyACM-opensco-7" in result.reason


def test_printers(tmp_path: Path) -> None:
    ok = probe_printer({"url": f"file:{tmp_path / 'lp0'}", "encoding": "gb18030"}, TIMEOUT_S)
    assert ok.status is Status.OK and "does not report its paper" in ok.reason
    gone = probe_printer({"url": "file:/dev/usb/lp-opensco-3", "encoding": "gb18030"}, TIMEOUT_S)
    assert gone.status is Status.FAILED and "/dev/usb/lp-opensco-3" in gone.reason
    assert not Path("/dev/usb/lp-opensco-3").exists()  # the probe made no plain file there
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    closed = probe_printer({"url": f"network:127.0.0.1:{port}", "encoding": "gb18030"}, 3.0)
    assert closed.status is Status.FAILED, closed


def test_disk_space_and_write_access(tmp_path: Path) -> None:
    assert probe_disk(str(tmp_path / "not" / "yet"), 1).status is Status.OK
    full = probe_disk(str(tmp_path), 10**12)
    assert full.status is Status.FAILED and "MB free" in full.reason and "needed" in full.reason


# --- the report ---------------------------------------------------------------------------


def test_reason_lists_every_required_device_that_is_missing(tmp_path: Path) -> None:
    config = lane_config(tmp_path, '[camera]\nenabled = true\nurl = "/nonexistent/cam.mp4"\n',
                         '["bagging_scale", "payment", "disk"]')  # fmt: skip
    report = run_probes(config)
    reason = report.reason() or ""
    assert "bagging scale: missing" in reason and "[bagging_scale] enabled is false" in reason
    assert "payment terminal: missing" in reason
    assert "disk" not in reason  # it is fine
    # A configured device that is not required is checked and reported, but is no problem.
    camera = report.get("camera")
    assert camera is not None and camera.status is Status.FAILED and not camera.required
    assert [r.device for r in report.warnings] == ["camera"]
    assert {r.device for r in report.problems} == {"bagging_scale", "payment"}


# --- the attendant PIN --------------------------------------------------------------------


def test_pin_hash_is_salted_and_verifies() -> None:
    one, two = make_pin_hash("4321", iterations=1000), make_pin_hash("4321", iterations=1000)
    assert one != two and "4321" not in one  # salted, never the PIN itself
    assert verify_pin("4321", one) and verify_pin("4321", two)
    assert not verify_pin("4322", one)
    with pytest.raises(ConfigError):
        make_pin_hash("12")
    with pytest.raises(ConfigError):
        verify_pin("4321", "4321")


def test_config_takes_a_hash_and_refuses_a_plain_pin() -> None:
    pin_hash = make_pin_hash("2468", iterations=1000)
    config = parse_config_text(f'[kiosk_ui]\nattendant_pin_hash = "{pin_hash}"\n')
    assert config.sections["kiosk_ui"]["attendant_pin_hash"] == pin_hash
    with pytest.raises(ConfigError, match="attendant_pin_hash"):
        parse_config_text('[kiosk_ui]\nattendant_pin_hash = "2468"\n')
    with pytest.raises(ConfigError, match="required"):
        parse_config_text('[kiosk_ui]\nrequired = ["scale"]\n')


def test_wrong_pins_are_counted_and_lock_the_pad() -> None:
    now = [100.0]
    guard = PinGuard(make_pin_hash("1357", iterations=1000), max_tries=3, lockout_s=60,
                     clock=lambda: now[0])  # fmt: skip
    assert guard.check("0000").message == "wrong PIN (1 of 3)"
    assert not guard.check("1111").ok
    locked = guard.check("2222")
    assert not locked.ok and locked.locked_for_s == 60 and guard.total_wrong == 3
    assert not guard.check("1357").ok  # the right PIN is refused while locked
    now[0] += 61
    assert guard.check("1357").ok
    for pin in ("0", "1", "2"):
        guard.check(pin)
    assert guard.locked_for() == 120  # the second lockout is twice as long


def test_no_pin_configured_refuses_every_pin() -> None:
    verdict = PinGuard("").check("1234")
    assert not verdict.ok and "no attendant PIN" in verdict.message


# --- the command line ---------------------------------------------------------------------


def test_sco_run_probe_only_and_pin_hash(tmp_path: Path) -> None:
    out = subprocess.run([*SCO, "ui", "pin-hash", "--pin-stdin"], input="97531\n",
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert verify_pin("97531", out.stdout.strip())
    conf = tmp_path / "lane.toml"
    text = f'[kiosk]\ndata_dir = "{tmp_path / "data"}"\n'
    conf.write_text(text + '[kiosk_ui]\nrequired = ["bagging_scale", "disk"]\n', encoding="utf-8")
    run = subprocess.run([*SCO, "run", "--config", str(conf), "--probe-only"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    assert report["type"] == "probes" and not report["ok"]
    assert "bagging scale: missing" in run.stderr


def test_sco_run_stdin_is_still_a_headless_lane(tmp_path: Path) -> None:
    conf = tmp_path / "lane.toml"
    text = f'[kiosk]\ndata_dir = "{tmp_path / "data"}"\n'
    conf.write_text(text + f'[catalog]\npath = "{EXAMPLES / "catalog.csv"}"\n', encoding="utf-8")
    inputs = (EXAMPLES / "sessions" / "plain-basket.jsonl").read_text(encoding="utf-8")
    run = subprocess.run([*SCO, "run", "--config", str(conf), "--stdin"], input=inputs,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    types = [json.loads(line)["type"] for line in run.stdout.splitlines()]
    assert "session_started" in types and "item_added" in types
    assert '"lane_stopped"' in run.stderr


# --- kiosk mode without a window ------------------------------------------------------------


def test_kiosk_mode_is_in_service_when_every_required_device_is_ok(tmp_path: Path) -> None:
    from kiosk.ui.kiosk_mode import KioskMode

    kiosk = KioskMode(lane_config(tmp_path, "", '["disk"]'))
    try:
        report = kiosk.prepare()
        assert report.ok and kiosk.reason() is None and kiosk.lane is not None
        assert kiosk.vm.snapshot().out_of_service is None
    finally:
        kiosk.close()


def test_a_lane_that_cannot_start_is_out_of_service_with_why(tmp_path: Path) -> None:
    from kiosk.engine import JOURNAL_FILE
    from kiosk.ui.kiosk_mode import KioskMode

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / JOURNAL_FILE).write_bytes(b"this is not an SQLite database" * 100)
    kiosk = KioskMode(lane_config(tmp_path, "", '["disk"]'))
    try:
        assert kiosk.prepare().ok  # every device is fine; the lane itself is not
        reason = kiosk.vm.snapshot().out_of_service or ""
        assert "the lane did not start" in reason and kiosk.lane is None
        kiosk.vm.touch_start()  # a touch goes nowhere, and nothing raises
    finally:
        kiosk.close()


@pytest.mark.slow
def test_a_required_scale_unplugged_between_sales_takes_the_lane_out_and_back(
    tmp_path: Path,
) -> None:
    from kiosk.ui.kiosk_mode import KioskMode
    from tests.conftest import wait_for

    link = tmp_path / "ttyBAG"
    text = scale_section(str(link), "bagging_scale")
    with ScaleSimulator(get_protocol("toledo8217"), link, settle_ms=0, noise_g=0) as sim:
        config = lane_config(tmp_path, "recheck_s = 1\n" + text, '["bagging_scale", "disk"]')
        kiosk = KioskMode(config)
        try:
            assert kiosk.prepare().ok and kiosk.reason() is None
            sim.unplug()
            assert wait_for(lambda: kiosk.vm.snapshot().out_of_service is not None, 30)
            reason = kiosk.vm.snapshot().out_of_service or ""
            assert "bagging scale: failed" in reason and str(link) in reason, reason
            sim.replug()
            assert wait_for(lambda: kiosk.vm.snapshot().out_of_service is None, 30), kiosk.reason()
        finally:
            kiosk.close()


@pytest.mark.slow
def test_the_preview_shows_the_frames_vision_takes_with_the_zones(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    from kiosk.ui.kiosk_mode import KioskMode
    from tests.conftest import wait_for

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(40):
        image = np.full((240, 320, 3), 40 + i, np.uint8)
        cv2.imwrite(str(frames / f"f{i:03d}.png"), image)
    body = (
        f'[camera]\nenabled = true\nurl = "folder:{frames}?fps=20"\n'
        f'[vision]\ndetector_model = "{tmp_path / "no-model.onnx"}"\n'
    )
    kiosk = KioskMode(lane_config(tmp_path, body, '["camera", "disk"]'))
    try:
        assert kiosk.prepare().ok, kiosk.reason()
        preview = kiosk.preview_source()
        assert preview is not None
        assert wait_for(lambda: preview() is not None, 30)
        frame = preview()
        assert frame.image.shape == (240, 320, 3) and "scan" in frame.zones
        # The preview only peeks: the vision worker still gets every frame it takes.
        assert wait_for(lambda: kiosk.lane.vision.health()["frames_processed"] > 0, 30)
    finally:
        kiosk.close()


@pytest.mark.slow
def test_a_tls_broker_takes_the_lane_certificate_and_refuses_a_wrong_ca(tmp_path: Path) -> None:
    from tests.broker_util import deploy_conf, make_certs, start_broker

    certs = make_certs(tmp_path / "certs", "store-01", ["lane-01"])
    other = make_certs(tmp_path / "other", "store-02", ["lane-01"])
    with start_broker(deploy_conf(certs), tmp_path) as broker:
        values = {"broker": f"mqtts://127.0.0.1:{broker.port}",
                  "tls_ca_file": str(certs / "ca.crt"),
                  "tls_cert_file": str(certs / "lane-01.crt"),
                  "tls_key_file": str(certs / "lane-01.key")}  # fmt: skip
        ok = probe_broker(values, "lane-01", 5.0)
        assert ok.status is Status.OK, ok
        wrong = probe_broker({**values, "tls_ca_file": str(other / "ca.crt")}, "lane-01", 5.0)
    assert wrong.status is Status.FAILED and "TLS" in wrong.reason, wrong
