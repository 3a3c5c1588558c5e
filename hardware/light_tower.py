"""Status light tower ("candle") on a USB-serial port, and a simulator on a pty.

Protocol (Adafruit tri-colour tower with buzzer, product 5125; 9600 8N1): one byte per
command, high nibble = action, low nibble = lamp. Checked against research/hardware.md §4.2,
which lists the same bytes (plus blue x5 / white x6 on other variants, unused here)::

            on    off   blink
    red     0x11  0x21  0x41
    yellow  0x12  0x22  0x42
    green   0x14  0x24  0x44
    buzzer  0x18  0x28  0x48

Every state sets all four channels, so one state command fully determines the tower whatever
it showed before (and after a reconnect). The alert's buzzer is a short beep: on, then off
``buzz_s`` later, unless the state changed meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import tty
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import serial  # type: ignore[import-untyped]

from hardware.health import DeviceHealth, wall_ms
from kiosk.errors import DeviceError

logger = logging.getLogger(__name__)

BAUDRATE = 9600


class LightTowerError(DeviceError):
    """The light tower is unplugged or its port refuses our bytes."""


class Lamp(StrEnum):
    RED = "red"
    YELLOW = "yellow"
    GREEN = "green"
    BUZZER = "buzzer"


class Mode(StrEnum):
    OFF = "off"
    ON = "on"
    BLINK = "blink"


_LAMP_BITS: dict[Lamp, int] = {
    Lamp.RED: 0x01,
    Lamp.YELLOW: 0x02,
    Lamp.GREEN: 0x04,
    Lamp.BUZZER: 0x08,
}
_MODE_BITS: dict[Mode, int] = {Mode.ON: 0x10, Mode.OFF: 0x20, Mode.BLINK: 0x40}


def command(lamp: Lamp, mode: Mode) -> int:
    return _MODE_BITS[mode] | _LAMP_BITS[lamp]


def decode_command(byte: int) -> tuple[Lamp, Mode] | None:
    """The (lamp, mode) a command byte sets, or None for a byte the tower ignores."""
    for lamp, lamp_bits in _LAMP_BITS.items():
        for mode, mode_bits in _MODE_BITS.items():
            if byte == lamp_bits | mode_bits:
                return lamp, mode
    return None


class LightState(StrEnum):
    OFF = "off"  # lane switched off
    IDLE = "idle"  # lane open: welcome, shopping, paying
    NEEDS_HELP = "needs_help"  # an attendant is wanted, the shopper carries on
    ALERT = "alert"  # the lane is blocked until an attendant acts
    OUT_OF_SERVICE = "out_of_service"  # closed or broken


_ALL_OFF: dict[Lamp, Mode] = {lamp: Mode.OFF for lamp in Lamp}
PATTERNS: dict[LightState, Mapping[Lamp, Mode]] = {
    LightState.OFF: _ALL_OFF,
    LightState.IDLE: {**_ALL_OFF, Lamp.GREEN: Mode.ON},
    LightState.NEEDS_HELP: {**_ALL_OFF, Lamp.YELLOW: Mode.BLINK},
    LightState.ALERT: {**_ALL_OFF, Lamp.RED: Mode.BLINK, Lamp.BUZZER: Mode.ON},
    LightState.OUT_OF_SERVICE: {**_ALL_OFF, Lamp.RED: Mode.ON},
}


def state_bytes(state: LightState) -> bytes:
    # "Off" first, so two lamps are never lit together between commands.
    pattern = PATTERNS[state]
    order = sorted(Lamp, key=lambda lamp: pattern[lamp] is not Mode.OFF)
    return bytes(command(lamp, pattern[lamp]) for lamp in order)


def light_state_for(
    core_state: str, open_alerts: list[dict[str, Any]], *, locked: bool = False
) -> LightState:
    """Which lamp the lane shows, from the checkout state and its open alerts.

    ``open_alerts`` are ``Alert.to_dict()`` records. A blocking alert (or the intervention
    state) wins over everything: an attendant must come. Any other alert asks for help. A
    locked lane with no sale open, or an unknown state, shows out of service: a lane that
    cannot say what it is doing should not invite shoppers.
    """
    if core_state == "intervention" or any(a.get("blocking") for a in open_alerts):
        return LightState.ALERT
    if open_alerts:
        return LightState.NEEDS_HELP
    if core_state == "out_of_service":
        return LightState.OUT_OF_SERVICE
    if locked and core_state in ("idle", "completed", "cancelled", "suspended"):
        return LightState.OUT_OF_SERVICE
    if core_state in ("idle", "shopping", "payment", "completed", "cancelled", "suspended"):
        return LightState.IDLE
    return LightState.OUT_OF_SERVICE


# --- the adapter ----------------------------------------------------------------------------


class LightTower:
    """Drives the tower over a pyserial URL; reopens the port after an error."""

    def __init__(
        self,
        url: str,
        *,
        buzz_s: float = 1.0,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.url = url
        self.buzz_s = buzz_s
        self._clock = clock
        self._lock = threading.RLock()
        self._port: Any = None
        self._state: LightState | None = None
        self._generation = 0  # bumps on every state change; a stale buzzer timer sees it
        self._timer: threading.Timer | None = None
        self._last_error: str | None = None
        self._last_seen_ms: int | None = None

    @property
    def state(self) -> LightState | None:
        return self._state

    def set_state(self, state: LightState) -> None:
        """Show a state; raises LightTowerError if the tower cannot be reached."""
        state = LightState(state)
        with self._lock:
            self._state = state
            self._generation += 1
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._send(state_bytes(state))
            if PATTERNS[state][Lamp.BUZZER] is Mode.ON and self.buzz_s > 0:
                self._timer = threading.Timer(self.buzz_s, self._buzz_off, (self._generation,))
                self._timer.daemon = True
                self._timer.start()

    def resend(self) -> None:
        """Show the last state again, e.g. periodically so a re-plugged tower catches up."""
        if self._state is not None:
            self.set_state(self._state)

    def health(self) -> DeviceHealth:
        return DeviceHealth(
            name="light_tower",
            kind="adafruit_tower",
            connected=self._port is not None,
            state=self._state.value if self._state is not None else "unknown",
            last_error=self._last_error,
            last_seen_ts_ms=self._last_seen_ms,
            detail={"port": self.url},
        )

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                # Never leave the tower beeping after the kiosk is gone.
                self._timer.cancel()
                self._timer = None
                with contextlib.suppress(LightTowerError):
                    self._send(bytes([command(Lamp.BUZZER, Mode.OFF)]))
            self._drop()

    def _buzz_off(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._timer = None
            try:
                self._send(bytes([command(Lamp.BUZZER, Mode.OFF)]))
            except LightTowerError:
                logger.warning("light tower: could not stop the buzzer: %s", self._last_error)

    def _send(self, data: bytes) -> None:
        # Two tries: the first may find a port that died since the last command.
        for _attempt in range(2):
            try:
                if self._port is None:
                    self._port = serial.serial_for_url(self.url, baudrate=BAUDRATE, timeout=1)
                self._port.write(data)
            except (serial.SerialException, OSError, ValueError) as err:
                self._last_error = str(err) or type(err).__name__
                self._drop()
                continue
            self._last_seen_ms = self._clock()
            return
        raise LightTowerError(f"light tower on {self.url}: {self._last_error}")

    def _drop(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()


# --- simulator ------------------------------------------------------------------------------


class PtyLink:
    """The device end of a pseudo-terminal: the kiosk opens ``path`` like a USB-serial port.

    With ``link``, ``path`` is a symlink to the pty, so a restarted device (a new pty) keeps
    the same path and a client can reconnect, as to a re-plugged USB adapter with a udev name.
    """

    def __init__(self, link: str | os.PathLike[str] | None = None) -> None:
        self.master_fd, self._slave_fd = os.openpty()
        # Raw: no echo, no CR/LF rewriting, and 0x11/0x13 are data, not XON/XOFF.
        tty.setraw(self._slave_fd)
        self.tty_path = os.ttyname(self._slave_fd)
        self._link = Path(link) if link is not None else None
        if self._link is not None:
            tmp = self._link.with_name(self._link.name + ".new")
            tmp.unlink(missing_ok=True)
            os.symlink(self.tty_path, tmp)
            os.replace(tmp, self._link)  # atomic: a client never sees a missing link
        self.path = str(self._link) if self._link is not None else self.tty_path
        self._closed = False

    def read(self, timeout_s: float) -> bytes:
        """Bytes the client wrote, or b"" after ``timeout_s`` with none."""
        if self._closed:
            return b""
        ready, _, _ = select.select([self.master_fd], [], [], timeout_s)
        if not ready:
            return b""
        try:
            return os.read(self.master_fd, 4096)
        except OSError:  # EIO: no client has the port open
            return b""

    def write(self, data: bytes) -> None:
        os.write(self.master_fd, data)

    def close(self) -> None:
        """Hang up: the client's next read or write fails, as when a cable is pulled."""
        if self._closed:
            return
        self._closed = True
        os.close(self.master_fd)
        os.close(self._slave_fd)
        if self._link is not None and os.path.realpath(self._link) == self.tty_path:
            self._link.unlink(missing_ok=True)


class LightTowerSimulator:
    """A tower on a pty: records the bytes and which lamps are on, blinking or buzzing."""

    def __init__(self, link: str | os.PathLike[str] | None = None) -> None:
        self._link_path = link
        self._cond = threading.Condition()
        self._lamps: dict[Lamp, Mode] = dict(_ALL_OFF)
        self._received = bytearray()
        self.unknown_bytes = 0
        self._pty: PtyLink | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def port(self) -> str:
        if self._pty is None:
            raise RuntimeError("the simulator is not running")
        return self._pty.path

    def start(self) -> str:
        self._stop.clear()
        self._pty = PtyLink(self._link_path)
        self._thread = threading.Thread(
            target=self._run, args=(self._pty,), name="light-tower-sim", daemon=True
        )
        self._thread.start()
        return self._pty.path

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._pty is not None:
            self._pty.close()
            self._pty = None

    def __enter__(self) -> LightTowerSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def lamps(self) -> dict[Lamp, Mode]:
        with self._cond:
            return dict(self._lamps)

    def received(self) -> bytes:
        with self._cond:
            return bytes(self._received)

    def wait_for(
        self, predicate: Callable[[dict[Lamp, Mode]], bool], timeout_s: float = 10.0
    ) -> bool:
        """Wait until the lamps satisfy ``predicate``; False if they never did."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(dict(self._lamps)), timeout_s)

    def _run(self, pty: PtyLink) -> None:
        while not self._stop.is_set():
            data = pty.read(0.05)
            if not data:
                continue
            with self._cond:
                self._received += data
                for byte in data:
                    decoded = decode_command(byte)
                    if decoded is None:
                        self.unknown_bytes += 1
                    else:
                        self._lamps[decoded[0]] = decoded[1]
                self._cond.notify_all()
