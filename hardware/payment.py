"""Payment terminal port, a client for our JSON-lines terminal protocol, and its simulator.

The kiosk is semi-integrated (research/hardware.md §4.3): it sends an amount and gets back a
status with a masked reference. It never sees a card number, so PCI DSS scope stays with the
terminal; :class:`PaymentOutcome` refuses anything that looks like one.

Line protocol (ours, spoken by the simulator; real terminals get their own adapters behind
:class:`PaymentTerminal`). UTF-8 JSON objects, one per line ending in ``\\n``, at most 4096
bytes::

    kiosk -> terminal  {"op":"pay","ref":"lane-01-42","amount_minor":1790,"currency":"CNY"}
                       {"op":"cancel","ref":"lane-01-42"}
                       {"op":"ping"}
    terminal -> kiosk  {"op":"result","ref":"lane-01-42","status":"approved",
                        "amount_minor":1790,"method":"card","masked_reference":"****4242",
                        "auth_code":"A00001","reason":""}
                       {"op":"pong"}
    simulator only     {"op":"simulate","mode":"approve|decline|timeout|disconnect"}

``status`` is approved, declined, cancelled or error. The terminal never says "timeout": the
client's own deadline produces it. A result that arrives after a timeout or a lost link is
still delivered if it is an approval, because money moved (the core raises an alert).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import serial  # type: ignore[import-untyped]

from hardware.health import DeviceHealth, wall_ms
from hardware.light_tower import PtyLink
from kiosk.core.inputs import PaymentResult
from kiosk.errors import DeviceError

logger = logging.getLogger(__name__)

MAX_LINE_BYTES = 4096
# A PAN is 13-19 digits; 7 in a row is already more than a masked reference needs.
_DIGIT_RUN = re.compile(r"\d{7,}")
_DIGIT_SEPARATORS = re.compile(r"(?<=\d)[\s./-]+(?=\d)")


class PaymentError(DeviceError):
    """The payment terminal cannot take a request now."""


class PaymentStatus(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    ERROR = "error"


@dataclass(frozen=True)
class PaymentOutcome:
    status: PaymentStatus
    amount_minor: int
    method: str = "card"
    masked_reference: str = ""  # "****1234" or the terminal's transaction id
    auth_code: str | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", PaymentStatus(self.status))
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise ValueError("amount_minor must be an integer")
        if self.amount_minor < 0:
            raise ValueError("amount_minor must not be negative")
        for name in ("method", "masked_reference", "auth_code", "reason"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, str):
                raise ValueError(f"{name} must be text")
            # "4111 1111 1111 1111" is a card number too. The value is never echoed.
            if _DIGIT_RUN.search(_DIGIT_SEPARATORS.sub("", value)):
                raise ValueError(f"{name} holds 7 or more digits in a row: it may be a card number")

    def to_input(self, ts_ms: int) -> PaymentResult:
        """The checkout core's input; a non-approval's reason starts with its status."""
        approved = self.status is PaymentStatus.APPROVED
        reason = self.reason if approved else ": ".join(filter(None, [self.status, self.reason]))
        return PaymentResult(
            ts_ms=ts_ms,
            approved=approved,
            amount_minor=self.amount_minor,
            method=self.method,
            reference=self.masked_reference,
            reason=reason,
        )


OutcomeCallback = Callable[[PaymentOutcome], None]


class PaymentTerminal(Protocol):
    """The port. Outcomes go to the callback given when the adapter is made, from its thread."""

    def start(self, amount_minor: int, currency: str, reference: str) -> None:
        """Ask for a payment; returns at once. Raises PaymentError if one is in progress."""

    def cancel(self) -> None:
        """Ask to abandon the payment in progress; its outcome still arrives."""

    def health(self) -> DeviceHealth: ...

    def close(self) -> None: ...


def encode_line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def split_lines(buf: bytearray) -> list[dict[str, Any]]:
    """Take whole lines out of ``buf`` (pure framing); bad lines are dropped, never logged."""
    out: list[dict[str, Any]] = []
    while (end := buf.find(b"\n")) >= 0:
        raw = bytes(buf[:end])
        del buf[: end + 1]
        try:
            message = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            logger.warning("payment link: dropped a line that is not JSON (%d bytes)", len(raw))
            continue
        if isinstance(message, dict):
            out.append(message)
    if len(buf) > MAX_LINE_BYTES:
        logger.warning("payment link: dropped %d bytes with no line end", len(buf))
        buf.clear()
    return out


@dataclass
class _Pending:
    ref: str
    amount_minor: int
    deadline: float  # time.monotonic()
    sent: bool = False
    cancel_requested: bool = False


class SerialPaymentTerminal:
    """Client of the JSON-lines protocol over a pyserial URL (a pty, socket://, a COM port)."""

    def __init__(
        self,
        url: str,
        on_outcome: OutcomeCallback,
        *,
        timeout_s: float = 90.0,
        reconnect_s: float = 1.0,
        baudrate: int = 115200,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._on_outcome = on_outcome
        self._reconnect_s = reconnect_s
        self._baudrate = baudrate
        self._clock = clock
        self._lock = threading.Lock()
        self._port: Any = None
        self._outbox: deque[dict[str, Any]] = deque()
        self._pending: _Pending | None = None
        self._unresolved: set[str] = set()  # sent, then timed out or lost: status unknown
        self._last_error: str | None = None
        self._last_seen_ms: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="payment-terminal", daemon=True)
        self._thread.start()

    def start(self, amount_minor: int, currency: str, reference: str) -> None:
        if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
            raise ValueError(f"amount_minor must be a positive integer, got {amount_minor!r}")
        with self._lock:
            if self._pending is not None:
                raise PaymentError("a payment is already in progress on the terminal")
            deadline = time.monotonic() + self.timeout_s
            self._pending = _Pending(reference, amount_minor, deadline)
            self._outbox.append(
                {"op": "pay", "ref": reference, "amount_minor": amount_minor, "currency": currency}
            )

    def cancel(self) -> None:
        with self._lock:
            pending = self._pending
            if pending is None or pending.cancel_requested:
                return
            pending.cancel_requested = True
            if pending.sent:
                self._outbox.append({"op": "cancel", "ref": pending.ref})

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def health(self) -> DeviceHealth:
        connected = self._port is not None
        state = ("busy" if self.busy else "ready") if connected else "disconnected"
        return DeviceHealth(
            name="payment",
            kind="jsonl_terminal",
            connected=connected,
            state=state,
            last_error=self._last_error,
            last_seen_ts_ms=self._last_seen_ms,
            detail={"port": self.url, "timeout_s": self.timeout_s},
        )

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._drop()

    def __enter__(self) -> SerialPaymentTerminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the terminal thread --

    def _run(self) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            if self._port is None and not self._connect():
                self._settle_pending(PaymentStatus.ERROR, "payment terminal not connected")
                self._stop.wait(self._reconnect_s)
                continue
            try:
                self._flush_outbox()
                chunk = self._port.read(max(1, self._port.in_waiting))
            except (serial.SerialException, OSError) as err:
                buf.clear()
                self._lost(err)
                continue
            if chunk:
                self._last_seen_ms = self._clock()
                buf += chunk
                for message in split_lines(buf):
                    try:
                        self._handle(message)
                    except Exception:  # one bad message must not end the reader thread
                        logger.exception("payment terminal: a message could not be handled")
            self._check_deadline()

    def _connect(self) -> bool:
        try:
            self._port = serial.serial_for_url(self.url, baudrate=self._baudrate, timeout=0.05)
        except (serial.SerialException, OSError, ValueError) as err:
            self._last_error = f"cannot open {self.url}: {err}"
            return False
        logger.info("payment terminal connected on %s", self.url)
        with self._lock:
            self._outbox.appendleft({"op": "ping"})
        return True

    def _flush_outbox(self) -> None:
        # Under the lock, so cancel() sees "sent" exactly as it is on the wire.
        with self._lock:
            while self._outbox:
                message = self._outbox.popleft()
                pending = self._pending
                ours = (
                    pending if pending is not None and message.get("ref") == pending.ref else None
                )
                if message["op"] == "pay" and ours is not None and ours.cancel_requested:
                    continue  # cancelled before it left: never send it
                self._port.write(encode_line(message))
                if message["op"] == "pay" and ours is not None:
                    ours.sent = True

    def _handle(self, message: dict[str, Any]) -> None:
        if message.get("op") != "result":
            return
        ref = message.get("ref")
        with self._lock:
            pending = self._pending
            current = pending is not None and pending.ref == ref
            late = not current and ref in self._unresolved
            self._unresolved.discard(str(ref))
        if not current and not late:
            logger.info("payment terminal: ignored a result for an unknown reference")
            return
        asked = pending.amount_minor if pending is not None and current else 0
        try:
            outcome = PaymentOutcome(
                status=PaymentStatus(str(message.get("status"))),
                amount_minor=int(message.get("amount_minor", asked)),
                method=str(message.get("method", "card")),
                masked_reference=str(message.get("masked_reference", "")),
                auth_code=message.get("auth_code"),
                reason=str(message.get("reason", "")),
            )
        except (ValueError, TypeError) as err:
            # Never log the message itself: it is the one that may carry card data.
            # Nor the error text: it can quote the offending (card-number-like) value.
            outcome = PaymentOutcome(
                PaymentStatus.ERROR,
                asked,
                reason=f"terminal sent an unusable result ({type(err).__name__})",
            )
        if late:
            if outcome.status is PaymentStatus.APPROVED:
                logger.warning("payment terminal: approval after the payment was given up")
                self._deliver(outcome)
            return
        with self._lock:
            self._pending = None
        self._deliver(outcome)

    def _check_deadline(self) -> None:
        with self._lock:
            pending = self._pending
            if pending is None:
                return
            if not pending.sent and pending.cancel_requested:
                self._pending = None
                outcome = PaymentOutcome(PaymentStatus.CANCELLED, pending.amount_minor)
            elif time.monotonic() >= pending.deadline:
                self._pending = None
                self._unresolved.add(pending.ref)
                # Ask the terminal to stop waiting for a card; its late answer is handled.
                self._outbox.append({"op": "cancel", "ref": pending.ref})
                outcome = PaymentOutcome(
                    PaymentStatus.TIMEOUT,
                    pending.amount_minor,
                    reason=f"no answer within {self.timeout_s:g} s",
                )
            else:
                return
        self._deliver(outcome)

    def _settle_pending(self, status: PaymentStatus, reason: str) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
            if pending is None:
                return
            if pending.sent:
                self._unresolved.add(pending.ref)
            if pending.cancel_requested and not pending.sent:
                status, reason = PaymentStatus.CANCELLED, ""
        self._deliver(PaymentOutcome(status, pending.amount_minor, reason=reason))

    def _lost(self, err: BaseException) -> None:
        self._last_error = f"link lost: {err}"
        logger.warning("payment terminal on %s: %s", self.url, self._last_error)
        self._drop()
        with self._lock:
            self._outbox.clear()
        self._settle_pending(PaymentStatus.ERROR, "payment terminal disconnected")

    def _drop(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()

    def _deliver(self, outcome: PaymentOutcome) -> None:
        try:
            self._on_outcome(outcome)
        except Exception:  # the kiosk's bug must not kill the terminal thread
            logger.exception("payment outcome callback failed")


# --- simulator ------------------------------------------------------------------------------


class SimMode(StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"
    TIMEOUT = "timeout"  # takes the request, never answers (a cancel still answers)
    DISCONNECT = "disconnect"  # hangs up on the next payment, comes back after a while


class PaymentTerminalSimulator:
    """A terminal on a pty speaking the line protocol; give it a ``link`` to survive hang-ups."""

    def __init__(
        self,
        link: str | None = None,
        *,
        mode: SimMode = SimMode.APPROVE,
        reopen_after_s: float = 0.5,
    ) -> None:
        self.mode = SimMode(mode)
        self.reopen_after_s = reopen_after_s
        self.requests: list[dict[str, Any]] = []  # every message received, in order
        self._link = link
        self._lock = threading.Lock()
        self._pty: PtyLink | None = None
        self._reopen_at: float | None = None
        self._waiting: set[str] = set()  # refs of unanswered payments (timeout mode)
        self._count = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> str:
        if self._pty is None:
            raise RuntimeError("the simulated terminal is not connected")
        return self._pty.path

    def start(self) -> str:
        self._stop.clear()
        self._pty = PtyLink(self._link)
        self._thread = threading.Thread(target=self._run, name="payment-sim", daemon=True)
        self._thread.start()
        return self._pty.path

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._hang_up(reopen=False)

    def __enter__(self) -> PaymentTerminalSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def approve(self) -> None:
        self.mode = SimMode.APPROVE

    def decline(self) -> None:
        self.mode = SimMode.DECLINE

    def time_out(self) -> None:
        self.mode = SimMode.TIMEOUT

    def disconnect(self) -> None:
        self.mode = SimMode.DISCONNECT

    def _hang_up(self, reopen: bool) -> None:
        with self._lock:
            pty, self._pty = self._pty, None
            self._reopen_at = time.monotonic() + self.reopen_after_s if reopen else None
        if pty is not None:
            pty.close()

    def _run(self) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            pty = self._pty
            if pty is None:
                if self._reopen_at is not None and time.monotonic() >= self._reopen_at:
                    self._reopen_at = None
                    self._pty = PtyLink(self._link)
                    buf.clear()
                self._stop.wait(0.02)
                continue
            buf += pty.read(0.05)
            for message in split_lines(buf):
                with self._lock:
                    self.requests.append(message)
                reply = self._answer(message)
                if self._pty is pty and reply is not None:
                    pty.write(encode_line(reply))

    def _answer(self, message: dict[str, Any]) -> dict[str, Any] | None:
        op, ref = message.get("op"), message.get("ref")
        if op == "ping":
            return {"op": "pong"}
        if op == "simulate":
            self.mode = SimMode(str(message.get("mode")))
            return None
        if op == "cancel":
            if ref not in self._waiting:
                return None
            self._waiting.discard(str(ref))
            return {"op": "result", "ref": ref, "status": "cancelled", "reason": "cancelled"}
        if op != "pay":
            return None
        amount = message.get("amount_minor")
        result: dict[str, Any] = {"op": "result", "ref": ref, "amount_minor": amount}
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            return {**result, "status": "error", "reason": "bad amount"}
        if self.mode is SimMode.TIMEOUT:
            self._waiting.add(str(ref))
            return None
        if self.mode is SimMode.DISCONNECT:
            self._hang_up(reopen=True)
            return None
        if self.mode is SimMode.DECLINE:
            return {**result, "status": "declined", "reason": "insufficient funds"}
        self._count += 1
        return {
            **result,
            "status": "approved",
            "method": "card",
            "masked_reference": "****4242",
            "auth_code": f"A{self._count:05d}",
            "reason": "",
        }
