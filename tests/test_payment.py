"""Payment terminal: the JSON-lines protocol through a real pty, outcomes, PAN guard."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.light_tower import PtyLink
from hardware.payment import (
    PaymentError,
    PaymentOutcome,
    PaymentStatus,
    PaymentTerminalSimulator,
    SerialPaymentTerminal,
    encode_line,
    split_lines,
)
from kiosk.cli import main
from kiosk.core.inputs import PaymentResult

WAIT_S = 15.0


def eventually(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class Outcomes:
    """The callback end: collects outcomes from the terminal's thread."""

    def __init__(self) -> None:
        self.queue: queue.Queue[PaymentOutcome] = queue.Queue()

    def __call__(self, outcome: PaymentOutcome) -> None:
        self.queue.put(outcome)

    def next(self) -> PaymentOutcome:
        return self.queue.get(timeout=WAIT_S)

    def none_left(self) -> bool:
        return self.queue.empty()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[PaymentTerminalSimulator]:
    with PaymentTerminalSimulator(str(tmp_path / "terminal"), reopen_after_s=0.2) as simulator:
        yield simulator


@pytest.fixture
def outcomes() -> Outcomes:
    return Outcomes()


@pytest.fixture
def client(sim: PaymentTerminalSimulator, outcomes: Outcomes) -> Iterator[SerialPaymentTerminal]:
    with SerialPaymentTerminal(sim.port, outcomes, timeout_s=30, reconnect_s=0.05) as terminal:
        assert eventually(lambda: terminal.health().connected)
        yield terminal


def pays(sim: PaymentTerminalSimulator) -> list[dict[str, object]]:
    return [m for m in list(sim.requests) if m.get("op") == "pay"]


@pytest.mark.parametrize("amount", [1, 1790, 123_456_789])
def test_approve_round_trips_the_amount(
    sim: PaymentTerminalSimulator,
    client: SerialPaymentTerminal,
    outcomes: Outcomes,
    amount: int,
) -> None:
    client.start(amount, "CNY", "lane-01-a")
    outcome = outcomes.next()
    assert outcome.status is PaymentStatus.APPROVED
    assert outcome.amount_minor == amount
    assert outcome.masked_reference == "****4242" and outcome.auth_code
    assert pays(sim) == [
        {"op": "pay", "ref": "lane-01-a", "amount_minor": amount, "currency": "CNY"}
    ]
    assert not client.busy
    health = client.health()
    assert health.connected and health.state == "ready" and health.last_seen_ts_ms


def test_decline(
    sim: PaymentTerminalSimulator, client: SerialPaymentTerminal, outcomes: Outcomes
) -> None:
    sim.decline()
    client.start(1790, "CNY", "lane-01-b")
    outcome = outcomes.next()
    assert (outcome.status, outcome.amount_minor) == (PaymentStatus.DECLINED, 1790)
    result = outcome.to_input(5_000)
    assert not result.approved and result.reason == "declined: insufficient funds"


def test_timeout_is_the_clients_own_and_cancels_at_the_terminal(
    sim: PaymentTerminalSimulator, outcomes: Outcomes
) -> None:
    sim.time_out()
    with SerialPaymentTerminal(sim.port, outcomes, timeout_s=0.2, reconnect_s=0.05) as client:
        client.start(500, "CNY", "lane-01-c")
        outcome = outcomes.next()
        assert (outcome.status, outcome.amount_minor) == (PaymentStatus.TIMEOUT, 500)
        assert eventually(lambda: {"op": "cancel", "ref": "lane-01-c"} in sim.requests)
        assert not client.busy
    # The terminal's "cancelled" for the timed-out payment is not a second outcome.
    assert outcomes.none_left()


def test_cancel_while_the_terminal_waits_for_a_card(
    sim: PaymentTerminalSimulator, client: SerialPaymentTerminal, outcomes: Outcomes
) -> None:
    sim.time_out()
    client.start(900, "CNY", "lane-01-d")
    assert eventually(lambda: bool(pays(sim)))
    client.cancel()
    outcome = outcomes.next()
    assert (outcome.status, outcome.amount_minor) == (PaymentStatus.CANCELLED, 900)
    assert outcome.to_input(1).reason.startswith("cancelled")


def test_one_payment_at_a_time(
    sim: PaymentTerminalSimulator, client: SerialPaymentTerminal
) -> None:
    sim.time_out()
    client.start(100, "CNY", "lane-01-e")
    with pytest.raises(PaymentError, match="already in progress"):
        client.start(100, "CNY", "lane-01-f")
    client.cancel()


@pytest.mark.parametrize("amount", [0, -5, True, 1.5])
def test_start_rejects_bad_amounts(client: SerialPaymentTerminal, amount: object) -> None:
    with pytest.raises(ValueError):
        client.start(amount, "CNY", "x")  # type: ignore[arg-type]


def test_disconnect_reports_error_then_reconnects(
    sim: PaymentTerminalSimulator, client: SerialPaymentTerminal, outcomes: Outcomes
) -> None:
    sim.disconnect()
    client.start(1790, "CNY", "lane-01-g")
    outcome = outcomes.next()
    assert outcome.status is PaymentStatus.ERROR and "disconnected" in outcome.reason
    assert client.health().last_error

    sim.approve()
    assert eventually(lambda: client.health().connected)  # the terminal came back
    client.start(1790, "CNY", "lane-01-h")
    assert outcomes.next().status is PaymentStatus.APPROVED


def test_no_terminal_is_an_error_outcome(tmp_path: Path, outcomes: Outcomes) -> None:
    with SerialPaymentTerminal(str(tmp_path / "absent"), outcomes, reconnect_s=0.05) as client:
        client.start(100, "CNY", "lane-01-i")
        outcome = outcomes.next()
        assert outcome.status is PaymentStatus.ERROR and "not connected" in outcome.reason
        health = client.health()
        assert not health.connected and health.state == "disconnected"


@pytest.fixture
def scripted(outcomes: Outcomes) -> Iterator[tuple[PtyLink, SerialPaymentTerminal]]:
    """A terminal whose every line the test writes by hand."""
    pty = PtyLink()
    client = SerialPaymentTerminal(pty.path, outcomes, timeout_s=0.2, reconnect_s=0.05)
    yield pty, client
    client.close()
    pty.close()


def read_messages(pty: PtyLink, want: int) -> list[dict[str, Any]]:
    buf, out = bytearray(), list[dict[str, Any]]()
    deadline = time.monotonic() + WAIT_S
    while len(out) < want and time.monotonic() < deadline:
        buf += pty.read(0.05)
        out += split_lines(buf)
    return out


def test_late_approval_is_delivered_other_late_results_are_not(
    scripted: tuple[PtyLink, SerialPaymentTerminal], outcomes: Outcomes
) -> None:
    pty, client = scripted
    client.start(700, "CNY", "late")
    assert outcomes.next().status is PaymentStatus.TIMEOUT
    read_messages(pty, 3)  # ping, pay, cancel
    pty.write(encode_line({"op": "result", "ref": "other", "status": "approved"}))
    pty.write(
        encode_line({"op": "result", "ref": "late", "status": "approved", "amount_minor": 700})
    )
    late = outcomes.next()
    assert (late.status, late.amount_minor) == (PaymentStatus.APPROVED, 700)
    assert outcomes.none_left()


def test_a_pan_from_the_terminal_becomes_an_error_and_is_never_logged(
    scripted: tuple[PtyLink, SerialPaymentTerminal],
    outcomes: Outcomes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pty, client = scripted
    client.timeout_s = 30
    client.start(700, "CNY", "pan")
    read_messages(pty, 2)
    line = {
        "op": "result",
        "ref": "pan",
        "status": "approved",
        "masked_reference": "4111111111111111",
    }
    pty.write(encode_line(line))
    outcome = outcomes.next()
    assert outcome.status is PaymentStatus.ERROR and "4111" not in repr(outcome)
    assert "4111" not in caplog.text


# --- PaymentOutcome ---------------------------------------------------------------------------


@given(
    prefix=st.text(max_size=8),
    pan=st.text(alphabet="0123456789", min_size=13, max_size=19),
    suffix=st.text(max_size=8),
)
def test_a_card_number_anywhere_in_the_reference_is_rejected(
    prefix: str, pan: str, suffix: str
) -> None:
    with pytest.raises(ValueError) as caught:
        PaymentOutcome(PaymentStatus.APPROVED, 100, masked_reference=prefix + pan + suffix)
    assert pan not in str(caught.value)


@pytest.mark.parametrize(
    "reference", ["4111 1111 1111 1111", "4111-1111-1111-1111", "card 4111.1111.1111.1111"]
)
def test_grouped_card_numbers_are_rejected(reference: str) -> None:
    with pytest.raises(ValueError):
        PaymentOutcome(PaymentStatus.APPROVED, 100, masked_reference=reference)


@pytest.mark.parametrize("reference", ["****1234", "411111******1111", "TXN-123456", ""])
def test_masked_references_are_accepted(reference: str) -> None:
    assert PaymentOutcome(PaymentStatus.APPROVED, 100, masked_reference=reference)


def test_other_fields_cannot_smuggle_a_pan_either() -> None:
    with pytest.raises(ValueError):
        PaymentOutcome(PaymentStatus.DECLINED, 100, reason="card 4111111111111111 refused")
    with pytest.raises(ValueError):
        PaymentOutcome(PaymentStatus.APPROVED, 100, auth_code="4111111111111111")


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (
            PaymentOutcome(PaymentStatus.APPROVED, 1790, "card", "****4242", "A00001"),
            PaymentResult(9, True, 1790, "card", "****4242", ""),
        ),
        (
            PaymentOutcome(PaymentStatus.DECLINED, 1790, reason="insufficient funds"),
            PaymentResult(9, False, 1790, "card", "", "declined: insufficient funds"),
        ),
        (
            PaymentOutcome(PaymentStatus.CANCELLED, 50),
            PaymentResult(9, False, 50, reason="cancelled"),
        ),
        (
            PaymentOutcome(PaymentStatus.TIMEOUT, 50, reason="no answer within 90 s"),
            PaymentResult(9, False, 50, reason="timeout: no answer within 90 s"),
        ),
        (PaymentOutcome("error", 50), PaymentResult(9, False, 50, reason="error")),  # type: ignore[arg-type]
    ],
)
def test_to_input(outcome: PaymentOutcome, expected: PaymentResult) -> None:
    assert outcome.to_input(9) == expected


@given(
    ref=st.text(max_size=40),
    amount=st.integers(min_value=1, max_value=10**12),
    cut=st.integers(min_value=0, max_value=200),
)
def test_framing_round_trips_in_any_chunking(ref: str, amount: int, cut: int) -> None:
    messages: list[dict[str, Any]] = [
        {"op": "pay", "ref": ref, "amount_minor": amount, "currency": "CNY"},
        {"op": "ping"},
    ]
    wire = b"".join(encode_line(m) for m in messages)
    buf, got = bytearray(), list[dict[str, Any]]()
    for piece in (wire[:cut], wire[cut:]):
        buf += piece
        got += split_lines(buf)
    assert got == messages and not buf


def test_simulate_command_on_the_link_changes_the_mode(
    sim: PaymentTerminalSimulator, client: SerialPaymentTerminal, outcomes: Outcomes
) -> None:
    import serial  # type: ignore[import-untyped]

    with serial.serial_for_url(sim.port, timeout=1) as control:
        control.write(encode_line({"op": "simulate", "mode": "decline"}))
        assert eventually(lambda: sim.mode.value == "decline")
    client.start(100, "CNY", "lane-01-j")
    assert outcomes.next().status is PaymentStatus.DECLINED


def test_cli_pay(sim: PaymentTerminalSimulator, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["payment", "pay", "--port", sim.port, "--amount", "1790", "--reference", "cli-1"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "approved" and printed["amount_minor"] == 1790


def test_callback_errors_do_not_kill_the_terminal(sim: PaymentTerminalSimulator) -> None:
    calls = threading.Event()

    def explode(outcome: PaymentOutcome) -> None:
        calls.set()
        raise RuntimeError("kiosk bug")

    with SerialPaymentTerminal(sim.port, explode, reconnect_s=0.05) as client:
        client.start(100, "CNY", "lane-01-k")
        assert calls.wait(WAIT_S)
        calls.clear()
        client.start(100, "CNY", "lane-01-l")
        assert calls.wait(WAIT_S)


@pytest.mark.parametrize(
    "hostile",
    [
        {"status": "4111111111111111"},  # a card number where the status belongs
        {"status": "approved", "amount_minor": "4111111111111111x"},
    ],
)
def test_a_card_number_in_any_field_never_kills_the_reader(
    scripted: tuple[PtyLink, SerialPaymentTerminal], outcomes: Outcomes, hostile: dict[str, Any]
) -> None:
    pty, client = scripted
    client.timeout_s = 30
    client.start(700, "CNY", "first")
    read_messages(pty, 2)
    pty.write(encode_line({"op": "result", "ref": "first", **hostile}))
    first = outcomes.next()
    assert first.status is PaymentStatus.ERROR
    assert "4111" not in first.reason
    # The reader thread is still alive: the next payment goes through.
    client.start(500, "CNY", "second")
    read_messages(pty, 1)
    pty.write(encode_line({"op": "result", "ref": "second", "status": "approved"}))
    assert outcomes.next().status is PaymentStatus.APPROVED
