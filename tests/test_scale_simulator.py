"""The simulated scale: real protocol frames on a real pty, with settling, noise and faults."""

from __future__ import annotations

import json
import os
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import serial  # type: ignore[import-untyped]

import hardware.scale.protocols  # noqa: F401  (registers the built-in protocols)
from hardware.scale.base import (
    SCALE_PROTOCOLS,
    Frame,
    ScaleProtocol,
    ScaleReading,
    get_protocol,
)
from hardware.scale.simulator import ScaleSimulator, send_control

PROTOCOLS = sorted(SCALE_PROTOCOLS)


def wait_for(predicate: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    """Poll ``predicate`` until it is true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}")


def open_port(path: str, protocol: ScaleProtocol) -> serial.SerialBase:
    ps = protocol.port
    return serial.serial_for_url(
        path,
        baudrate=ps.baudrate,
        bytesize=ps.bytesize,
        parity=ps.parity,
        stopbits=ps.stopbits,
        timeout=0.05,
    )


def frames_from(
    port: serial.SerialBase, protocol: ScaleProtocol, wait_s: float = 0.4
) -> list[Frame]:
    """Poll once (or listen, for a streaming scale) and parse what comes back."""
    port.reset_input_buffer()
    if protocol.poll_command is not None:
        port.write(protocol.poll_command)
    buffer = b""
    frames: list[Frame] = []
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and not frames:
        buffer += port.read(max(1, port.in_waiting))
        frames, buffer = protocol.parse(buffer)
    return frames


def reading(port: serial.SerialBase, protocol: ScaleProtocol) -> ScaleReading | None:
    found = [f for f in frames_from(port, protocol) if isinstance(f, ScaleReading)]
    return found[-1] if found else None


@pytest.fixture(params=PROTOCOLS)
def sim(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScaleSimulator]:
    protocol = get_protocol(request.param)
    with ScaleSimulator(protocol, tmp_path / "scale", settle_ms=400, seed=1) as simulator:
        yield simulator


def test_motion_first_then_stable(sim: ScaleSimulator) -> None:
    with open_port(sim.port_path, sim.protocol) as port:
        first = reading(port, sim.protocol)
        assert first is not None and first.stable and first.at_zero
        sim.place(1200)
        moving = reading(port, sim.protocol)
        assert moving is not None and not moving.stable
        seen: list[ScaleReading] = []

        def settled() -> bool:
            r = reading(port, sim.protocol)
            seen.append(r) if r else None
            return r is not None and r.stable

        wait_for(settled, what="a stable frame")
        final = seen[-1]
        assert final.weight_g is not None and abs(final.weight_g - 1200) <= 5


def test_noise_is_bounded_and_present(tmp_path: Path) -> None:
    with ScaleSimulator(get_protocol(PROTOCOLS[0]), settle_ms=100, noise_g=3, seed=7) as sim:
        sim.place(2000)
        wait_for(lambda: sim.status()["stable"], what="settled")
        shown = set()
        for _ in range(40):
            shown.add(sim.status()["display_g"])
            time.sleep(0.03)
        assert all(abs(w - 2000) <= 3 for w in shown)
        assert len(shown) > 1  # the noise is there


def test_over_capacity(sim: ScaleSimulator) -> None:
    with open_port(sim.port_path, sim.protocol) as port:
        sim.place(sim.pan.capacity_g + 2000)
        wait_for(lambda: sim.status()["stable"], what="settled")
        r = reading(port, sim.protocol)
        assert r is not None and r.over_capacity and r.status().value == "over_capacity"


def test_under_zero_after_remove_with_zero_offset(sim: ScaleSimulator) -> None:
    with open_port(sim.port_path, sim.protocol) as port:
        sim.place(500)
        wait_for(lambda: sim.status()["stable"], what="settled")
        sim.zero()
        assert sim.status()["display_g"] == 0
        sim.remove()
        wait_for(lambda: sim.status()["stable"], what="settled")
        r = reading(port, sim.protocol)
        assert r is not None and r.under_zero and r.status().value == "under_zero"


def test_sleep_sends_no_bytes_and_wake_answers(sim: ScaleSimulator) -> None:
    with open_port(sim.port_path, sim.protocol) as port:
        sim.sleep()
        time.sleep(0.15)  # let a frame already on the way arrive before we listen
        port.reset_input_buffer()
        if sim.protocol.poll_command:
            port.write(sim.protocol.poll_command)
        time.sleep(0.4)
        assert port.read(4096) == b""
        sim.wake()
        wait_for(lambda: reading(port, sim.protocol) is not None, what="an answer after wake")


def test_unplug_and_replug_give_a_new_pty_at_the_same_link(sim: ScaleSimulator) -> None:
    link = Path(sim.port_path)
    assert link.is_symlink()
    port = open_port(sim.port_path, sim.protocol)
    sim.unplug()
    assert not link.exists()
    with pytest.raises((serial.SerialException, OSError, termios.error)):
        for _ in range(20):  # the dead line says so on the next read or write
            frames_from(port, sim.protocol, wait_s=0.05)
    port.close()
    sim.replug()
    assert link.is_symlink() and os.readlink(link) == sim.slave_name
    with open_port(sim.port_path, sim.protocol) as port:
        wait_for(lambda: reading(port, sim.protocol) is not None, what="an answer after replug")


def test_raw_mode_keeps_carriage_returns(tmp_path: Path) -> None:
    protocol = get_protocol("toledo8217")
    with ScaleSimulator(protocol) as sim, open_port(sim.port_path, protocol) as port:
        port.write(b"W")
        wait_for(lambda: port.in_waiting >= 4, what="a reply")
        time.sleep(0.05)
        raw = port.read(port.in_waiting)
        assert raw.endswith(b"\r") and b"\n" not in raw


def test_control_socket(tmp_path: Path) -> None:
    with ScaleSimulator(get_protocol(PROTOCOLS[0]), settle_ms=50) as sim:
        assert Path(sim.control_path).exists()
        assert send_control(sim.control_path, "place 1184") == "ok"
        wait_for(lambda: json.loads(send_control(sim.control_path, "status"))["stable"])
        status = json.loads(send_control(sim.control_path, "status"))
        assert status["target_g"] == 1184 and abs(status["display_g"] - 1184) <= 1
        assert send_control(sim.control_path, "add 16") == "ok"
        assert sim.status()["target_g"] == 1200
        assert send_control(sim.control_path, "fly").startswith("error: unknown command")
        assert send_control(sim.control_path, "place lots").startswith("error: bad arguments")
        for line in ("noise 0", "sleep", "wake", "remove", "garbage", "send 0d0a"):
            assert send_control(sim.control_path, line) == "ok", line
    assert not Path(sim.control_path).exists()
