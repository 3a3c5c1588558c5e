"""The serial scale adapter: owns the port, feeds bytes to a protocol, hands inputs to the core.

One daemon thread per scale. It opens the port by URL (``serial.serial_for_url``, so
``/dev/ttyUSB0``, ``rfc2217://``, ``socket://`` and test handlers all work), polls at
``poll_hz`` (or just listens to a streaming scale), and calls ``on_reading`` with a core
``WeightReading`` only when the weight or the status changes. Unplugging, a sleeping scale
and garbage on the line become an explicit OFFLINE reading and a health record, never an
exception in the caller: the thread retries the port with backoff until ``stop()``.
"""

from __future__ import annotations

import logging
import queue
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

import serial  # type: ignore[import-untyped]  # no stubs in the dev deps

from hardware.scale.base import (
    BarcodeFrame,
    PortSettings,
    ScaleErrorFrame,
    ScaleProtocol,
    ScaleReading,
)
from hardware.scale.stability import StabilityFilter
from kiosk.core.inputs import Platform, WeightReading, WeightStatus

logger = logging.getLogger(__name__)

# A streaming scale sends at its own rate (often 5-10 Hz); a "missed" period is at least this.
_MIN_STREAM_PERIOD_S = 0.25


class ScaleState(StrEnum):
    CONNECTING = "connecting"  # port opening, or open but no frame yet
    READY = "ready"  # a trusted weight (stable, or in motion after a trusted one)
    MOTION = "motion"  # the weight is moving
    UNAVAILABLE = "unavailable"  # unplugged, not answering, asleep, or only garbage
    LOADED_AT_START = "loaded_at_start"  # non-zero at (re)connect; not trusted until zero
    SAME_WEIGHT = "same_weight"  # read again, and the stable weight has not changed


@dataclass(frozen=True)
class ScaleHealth:
    connected: bool
    state: ScaleState
    last_error: str | None
    last_reading_ts_ms: int | None
    frames_ok: int
    frames_bad: int
    reconnects: int
    url: str = ""
    protocol: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = self.state.value
        return out


@dataclass(frozen=True)
class ReadResult:
    """What ``read_once`` saw: a reading (or None) and the adapter's state."""

    state: ScaleState
    reading: ScaleReading | None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        r = self.reading
        return {
            "weight_g": None if r is None else r.weight_g,
            "stable": False if r is None else r.stable,
            "flags": [] if r is None else r.flags,
            "state": self.state.value,
            "raw": "" if r is None else r.raw.hex(),
            "message": self.message,
        }


ReadingCallback = Callable[[WeightReading], None]
BarcodeCallback = Callable[[str, str], None]


class SerialScale:
    """A scale on a serial port (or anything ``serial_for_url`` opens)."""

    def __init__(
        self,
        url: str,
        protocol: ScaleProtocol,
        platform: Platform = Platform.SCAN,
        *,
        poll_hz: float = 5.0,
        read_timeout_s: float = 0.05,
        on_reading: ReadingCallback | None = None,
        on_barcode: BarcodeCallback | None = None,
        clock: Callable[[], float] = time.time,
        port_settings: PortSettings | None = None,
        stability: StabilityFilter | None = None,
        offline_after_missed: int = 5,
        zero_before_trust: bool = True,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 5.0,
    ) -> None:
        if poll_hz <= 0 or offline_after_missed < 1:
            raise ValueError("poll_hz must be > 0 and offline_after_missed >= 1")
        self.url = url
        self.protocol = protocol
        self.platform = platform
        self.poll_hz = poll_hz
        self.read_timeout_s = read_timeout_s
        self.port_settings = port_settings or protocol.port
        self.stability = stability
        self.offline_after_missed = offline_after_missed
        self.zero_before_trust = zero_before_trust
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self._on_reading = on_reading
        self._on_barcode = on_barcode
        self._clock = clock
        # Noise within one division of the last delivered stable weight is "the same weight".
        self._same_within_g = stability.division_g if stability else 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._commands: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._cond = threading.Condition()
        # Everything below is guarded by self._cond.
        self._connected = False
        self._state = ScaleState.CONNECTING
        self._last_error: str | None = None
        self._last_reading_ts_ms: int | None = None
        self._frames_ok = 0
        self._frames_bad = 0
        self._reconnects = 0
        self._latest: ScaleReading | None = None
        self._seq = 0  # counts processed weight frames, for read_once
        self._sent: tuple[Any, ...] | None = None  # key of the last delivered reading
        self._changed_since_read = True
        self._last_read_g: int | None = None
        self._await_zero = True  # until the pan reads zero after (re)connecting
        self._soft_parity: str | None = None  # "E"/"O" when the port refused 7-bit parity

    # --- public API (any thread; never blocks on the port) ---------------------------

    def start(self) -> SerialScale:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"scale-{self.platform.value}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                logger.warning("scale %s: thread did not stop within %.1f s", self.url, timeout_s)
            self._thread = None

    def __enter__(self) -> SerialScale:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def health(self) -> ScaleHealth:
        with self._cond:
            return ScaleHealth(
                self._connected,
                self._state,
                self._last_error,
                self._last_reading_ts_ms,
                self._frames_ok,
                self._frames_bad,
                self._reconnects,
                self.url,
                self.protocol.name,
            )

    def zero(self) -> bool:
        """Ask the scale to zero; False if its protocol has no zero command."""
        return self._queue_command(self.protocol.zero_command)

    def tare(self) -> bool:
        """Ask the scale to tare; False if its protocol has no tare command."""
        return self._queue_command(self.protocol.tare_command)

    def read_once(self, timeout_s: float = 2.0, want_stable: bool = False) -> ReadResult:
        """The next weight frame (a stable one if ``want_stable``), waiting up to timeout_s.

        Starts the thread for the call when it is not running (the CLI uses it that way).
        A stable weight equal to the one the previous call returned, with nothing changed
        in between, comes back with state SAME_WEIGHT.
        """
        owned = self._thread is None
        if owned:
            self.start()
        try:
            return self._wait_reading(timeout_s, want_stable)
        finally:
            if owned:
                self.stop()

    # --- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        backoff = self.reconnect_min_s
        opened_before = False
        while not self._stop.is_set():
            try:
                port = self._open()
            except (serial.SerialException, OSError, ValueError, termios.error) as err:
                self._unavailable(f"cannot open {self.url}: {err}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.reconnect_max_s)
                continue
            backoff = self.reconnect_min_s
            with self._cond:
                self._connected = True
                self._await_zero = True
                if self.stability is not None:
                    self.stability.reset()
                self._reconnects += int(opened_before)
                self._state = ScaleState.CONNECTING
            opened_before = True
            try:
                self._session(port)
            except (serial.SerialException, OSError, termios.error) as err:
                self._unavailable(f"port lost: {err}")
            except Exception as err:  # the top of the device loop: log, show, go on
                logger.exception("scale %s: unexpected error", self.url)
                self._unavailable(f"internal error: {err!r}")
            finally:
                self._close(port)
            self._stop.wait(backoff)

    def _open(self) -> serial.SerialBase:
        ps = self.port_settings
        settings = {
            "baudrate": ps.baudrate,
            "bytesize": ps.bytesize,
            "parity": ps.parity,
            "stopbits": ps.stopbits,
            "rtscts": ps.rtscts,
            "timeout": self.read_timeout_s,
            "write_timeout": 1.0,
        }
        self._soft_parity = None
        try:
            port = serial.serial_for_url(self.url, **settings)
        except termios.error as err:
            if (ps.bytesize, ps.parity) != (7, "E") and (ps.bytesize, ps.parity) != (7, "O"):
                raise
            # Some ports (ptys, a few USB adapters) refuse 7E1/7O1 but 8N1 carries the same
            # 10-bit characters: parity arrives in bit 7 (the protocols strip it) and we
            # compute it ourselves for what we send.
            logger.info(
                "scale %s refused 7%s1 (%s); using 8N1 with parity in software",
                self.url,
                ps.parity,
                err,
            )
            settings.update(bytesize=8, parity="N")
            port = serial.serial_for_url(self.url, **settings)
            self._soft_parity = ps.parity
        # Bytes queued while nobody listened (a streaming scale) describe the past.
        port.reset_input_buffer()
        return port

    def _write(self, port: serial.SerialBase, data: bytes) -> None:
        if self._soft_parity is not None:
            odd = self._soft_parity == "O"
            data = bytes(b & 0x7F | ((bin(b & 0x7F).count("1") + odd) % 2) << 7 for b in data)
        port.write(data)

    def _close(self, port: serial.SerialBase) -> None:
        with self._cond:
            self._connected = False
        try:
            port.close()
        except Exception:  # a dead port may fail to close; it is gone either way
            logger.debug("scale %s: close failed", self.url, exc_info=True)

    def _session(self, port: serial.SerialBase) -> None:
        streaming = self.protocol.poll_command is None
        period = 1.0 / self.poll_hz
        if streaming:
            period = max(period, _MIN_STREAM_PERIOD_S)
        buffer = b""
        missed = 0
        while not self._stop.is_set():
            started = time.monotonic()
            while not self._commands.empty():
                self._write(port, self._commands.get())
            if not streaming:
                assert self.protocol.poll_command is not None
                self._write(port, self.protocol.poll_command)
            got_weight = False
            while (left := started + period - time.monotonic()) > 0 and not self._stop.is_set():
                data = port.read(max(1, port.in_waiting))
                if not data:
                    continue
                frames, buffer = self.protocol.parse(buffer + data)
                for frame in frames:
                    got_weight |= self._handle(frame)
                if got_weight and not streaming and left > 0:
                    # Answered: sleep out the period rather than spin on reads.
                    self._stop.wait(left)
            missed = 0 if got_weight else missed + 1
            if missed == self.offline_after_missed:
                what = "no data from" if streaming else "no answer from"
                self._unavailable(f"{what} the scale for {missed} polls")

    def _handle(self, frame: object) -> bool:
        """Process one frame; True when it carried a weight reading."""
        if isinstance(frame, BarcodeFrame):
            if self._on_barcode is not None:
                self._call(self._on_barcode, frame.data, frame.symbology)
            return False
        if isinstance(frame, ScaleErrorFrame) or not isinstance(frame, ScaleReading):
            message = frame.message if isinstance(frame, ScaleErrorFrame) else repr(frame)
            with self._cond:
                self._frames_bad += 1
                self._last_error = f"bad frame: {message}"
            return False
        if frame.error:
            with self._cond:
                self._frames_bad += 1
                self._last_error = f"scale error: {frame.error}"
            return False
        reading = frame
        if self.stability is not None:
            reading = self.stability.feed(int(time.monotonic() * 1000), frame)
        ts_ms = int(self._clock() * 1000)
        with self._cond:
            self._frames_ok += 1
            self._last_reading_ts_ms = ts_ms
            self._state, trusted = self._next_state(reading)
            self._latest = reading
            self._seq += 1
            delivered = reading if trusted else replace(reading, stable=False)
            key = self._key(delivered)
            send = key != self._sent
            if send:
                self._sent = key
                self._changed_since_read = True
            self._cond.notify_all()
        if send and self._on_reading is not None:
            self._call(self._on_reading, delivered.to_input(ts_ms, self.platform))
        return True

    def _next_state(self, reading: ScaleReading) -> tuple[ScaleState, bool]:
        """The adapter state after ``reading`` and whether its stable flag can be trusted."""
        empty = reading.at_zero or (
            reading.weight_g is not None and abs(reading.weight_g) <= self._same_within_g
        )
        if self._await_zero:
            # An empty pan proves nothing was left on it, even before the filter settles.
            if empty:
                self._await_zero = False
            elif (reading.stable and reading.weight_g) or self._state is ScaleState.LOADED_AT_START:
                # Once loaded, motion (the item being lifted) keeps it so until zero.
                return ScaleState.LOADED_AT_START, not self.zero_before_trust
        return (ScaleState.READY if reading.stable else ScaleState.MOTION), True

    def _key(self, r: ScaleReading) -> tuple[Any, ...]:
        weight = r.weight_g
        last = self._sent
        if (
            weight is not None
            and last is not None
            and r.stable
            and last[1]
            and last[2] is r.status()
            and last[0] is not None
            and abs(weight - last[0]) <= self._same_within_g
        ):
            weight = last[0]  # noise around the delivered stable weight is not news
        return (weight, r.stable, r.status())

    def _unavailable(self, why: str) -> None:
        ts_ms = int(self._clock() * 1000)
        with self._cond:
            self._last_error = why
            was = self._state
            self._state = ScaleState.UNAVAILABLE
            self._sent = (None, False, WeightStatus.OFFLINE)
            # Whatever is on the pan when the scale comes back was put there unseen.
            self._await_zero = True
            if self.stability is not None:
                self.stability.reset()
            self._changed_since_read = True
            self._cond.notify_all()
        if was is not ScaleState.UNAVAILABLE:
            logger.warning("scale %s unavailable: %s", self.url, why)
            if self._on_reading is not None:
                offline = WeightReading(ts_ms, self.platform, 0, False, WeightStatus.OFFLINE)
                self._call(self._on_reading, offline)

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # a consumer bug must not stop the scale
            logger.exception("scale %s: callback %r failed", self.url, fn)

    def _queue_command(self, command: bytes | None) -> bool:
        if command is None:
            return False
        self._commands.put(command)
        return True

    def _wait_reading(self, timeout_s: float, want_stable: bool) -> ReadResult:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            seq = self._seq
            while True:
                latest = self._latest
                if self._seq > seq and latest is not None and (latest.stable or not want_stable):
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return self._timeout_result(timeout_s, want_stable)
                self._cond.wait(min(left, 0.1))
            state = self._state
            if want_stable and state is ScaleState.READY:
                last, now = self._last_read_g, latest.weight_g
                if (
                    not self._changed_since_read
                    and last is not None
                    and now is not None
                    and abs(now - last) <= self._same_within_g
                ):
                    state = ScaleState.SAME_WEIGHT
                else:
                    self._last_read_g = now
                self._changed_since_read = False
            return ReadResult(state, latest)

    def _timeout_result(self, timeout_s: float, want_stable: bool) -> ReadResult:
        latest, state, error = self._latest, self._state, self._last_error
        if want_stable and latest is not None and state is not ScaleState.UNAVAILABLE:
            return ReadResult(
                state, latest, f"no stable weight on {self.url} within {timeout_s:.1f} s"
            )
        detail = f" ({error})" if error else ""
        return ReadResult(
            ScaleState.UNAVAILABLE,
            None,
            f"scale unavailable: no answer on {self.url} within {timeout_s:.1f} s{detail}",
        )
