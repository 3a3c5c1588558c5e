"""Light tower: the real command bytes through a pty, the state table, reconnects."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hardware.light_tower import (
    PATTERNS,
    Lamp,
    LightState,
    LightTower,
    LightTowerError,
    LightTowerSimulator,
    Mode,
    command,
    decode_command,
    light_state_for,
    state_bytes,
)
from kiosk.cli import main

# The Adafruit tower's command bytes, as listed in research/hardware.md §4.2.
ADAFRUIT = {
    (Lamp.RED, Mode.ON): 0x11,
    (Lamp.RED, Mode.OFF): 0x21,
    (Lamp.RED, Mode.BLINK): 0x41,
    (Lamp.YELLOW, Mode.ON): 0x12,
    (Lamp.YELLOW, Mode.OFF): 0x22,
    (Lamp.YELLOW, Mode.BLINK): 0x42,
    (Lamp.GREEN, Mode.ON): 0x14,
    (Lamp.GREEN, Mode.OFF): 0x24,
    (Lamp.GREEN, Mode.BLINK): 0x44,
    (Lamp.BUZZER, Mode.ON): 0x18,
    (Lamp.BUZZER, Mode.OFF): 0x28,
    (Lamp.BUZZER, Mode.BLINK): 0x48,
}
OFF = dict.fromkeys(Lamp, Mode.OFF)


def eventually(condition: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[LightTowerSimulator]:
    with LightTowerSimulator(tmp_path / "tower") as simulator:
        yield simulator


@pytest.mark.parametrize(("lamp_mode", "byte"), ADAFRUIT.items())
def test_command_bytes_match_the_adafruit_table(lamp_mode: tuple[Lamp, Mode], byte: int) -> None:
    assert command(*lamp_mode) == byte
    assert decode_command(byte) == lamp_mode


@pytest.mark.parametrize("byte", [0x00, 0x10, 0x15, 0x31, 0x81, 0xFF])
def test_other_bytes_mean_nothing(byte: int) -> None:
    assert decode_command(byte) is None


@pytest.mark.parametrize(
    ("state", "lamps"),
    [
        (LightState.OFF, OFF),
        (LightState.IDLE, {**OFF, Lamp.GREEN: Mode.ON}),
        (LightState.NEEDS_HELP, {**OFF, Lamp.YELLOW: Mode.BLINK}),
        (LightState.ALERT, {**OFF, Lamp.RED: Mode.BLINK, Lamp.BUZZER: Mode.ON}),
        (LightState.OUT_OF_SERVICE, {**OFF, Lamp.RED: Mode.ON}),
    ],
)
def test_state_reaches_the_tower_as_bytes(
    sim: LightTowerSimulator, state: LightState, lamps: dict[Lamp, Mode]
) -> None:
    tower = LightTower(sim.port, buzz_s=600)  # the beep outlasts the test
    try:
        tower.set_state(state)
        assert eventually(lambda: len(sim.received()) >= len(state_bytes(state)))
        assert sim.received() == state_bytes(state)
        assert sim.lamps() == lamps
        assert sim.unknown_bytes == 0
        health = tower.health()
        assert health.connected and health.state == state.value and health.last_seen_ts_ms
    finally:
        tower.close()


def test_every_state_sets_all_four_channels() -> None:
    for state, pattern in PATTERNS.items():
        assert set(pattern) == set(Lamp)
        decoded = [decode_command(byte) for byte in state_bytes(state)]
        assert dict(d for d in decoded if d is not None) == pattern
        assert len(decoded) == len(Lamp)


def test_alert_beeps_briefly_then_stops(sim: LightTowerSimulator) -> None:
    tower = LightTower(sim.port, buzz_s=0.05)
    tower.set_state(LightState.ALERT)
    assert sim.wait_for(lambda seen: seen == {**OFF, Lamp.RED: Mode.BLINK})
    received = sim.received()
    assert received.index(0x18) < received.index(0x28)  # on, then off
    tower.close()


def test_leaving_alert_cancels_the_pending_beep_off(sim: LightTowerSimulator) -> None:
    tower = LightTower(sim.port, buzz_s=600)
    tower.set_state(LightState.ALERT)
    tower.set_state(LightState.IDLE)  # IDLE already switches the buzzer off
    assert sim.wait_for(lambda seen: seen == {**OFF, Lamp.GREEN: Mode.ON})
    tower.close()
    assert sim.received().count(0x28) == 1


def test_close_during_alert_silences_the_buzzer(sim: LightTowerSimulator) -> None:
    tower = LightTower(sim.port, buzz_s=600)
    tower.set_state(LightState.ALERT)
    tower.close()
    assert sim.wait_for(lambda seen: seen[Lamp.BUZZER] is Mode.OFF)


def test_reconnects_after_the_tower_comes_back(tmp_path: Path) -> None:
    link = tmp_path / "tower"
    first = LightTowerSimulator(link)
    first.start()
    tower = LightTower(str(link))
    tower.set_state(LightState.IDLE)
    assert first.wait_for(lambda seen: seen[Lamp.GREEN] is Mode.ON)
    first.stop()  # unplugged

    with pytest.raises(LightTowerError):
        tower.set_state(LightState.NEEDS_HELP)
    health = tower.health()
    assert not health.connected and health.last_error

    with LightTowerSimulator(link) as second:  # plugged back in: a new pty, same name
        tower.resend()
        assert second.wait_for(lambda seen: seen == {**OFF, Lamp.YELLOW: Mode.BLINK})
        assert tower.health().connected
    tower.close()


def alert(kind: str, blocking: bool) -> dict[str, Any]:
    return {"alert_id": "A1-1", "kind": kind, "blocking": blocking, "line_id": None}


@pytest.mark.parametrize(
    ("core_state", "alerts", "locked", "expected"),
    [
        ("idle", [], False, LightState.IDLE),
        ("shopping", [], False, LightState.IDLE),
        ("payment", [], False, LightState.IDLE),
        ("completed", [], False, LightState.IDLE),
        ("shopping", [alert("help", False)], False, LightState.NEEDS_HELP),
        ("shopping", [alert("age_check", False)], False, LightState.NEEDS_HELP),
        ("payment", [alert("payment_trouble", False)], False, LightState.NEEDS_HELP),
        ("intervention", [alert("void_request", True)], False, LightState.ALERT),
        (
            "shopping",
            [alert("help", False), alert("cancel_request", True)],
            False,
            LightState.ALERT,
        ),
        ("intervention", [], False, LightState.ALERT),
        ("idle", [], True, LightState.OUT_OF_SERVICE),
        ("shopping", [], True, LightState.IDLE),  # a locked lane finishes the open sale
        ("out_of_service", [], False, LightState.OUT_OF_SERVICE),
        ("no_such_state", [], False, LightState.OUT_OF_SERVICE),
    ],
)
def test_light_state_for(
    core_state: str, alerts: list[dict[str, Any]], locked: bool, expected: LightState
) -> None:
    assert light_state_for(core_state, alerts, locked=locked) is expected


def test_cli_sets_a_state(sim: LightTowerSimulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["light", "set", "--port", sim.port, "needs_help"]) == 0
    assert sim.wait_for(lambda seen: seen == {**OFF, Lamp.YELLOW: Mode.BLINK})
    assert "needs_help" in capsys.readouterr().out
