"""A simulated scale on a pty that speaks a real protocol's frames.

The kiosk (or ``sco scale read``) opens the pty's slave path like any serial port; the
simulator owns the master side and answers polls with ``protocol.respond`` (or streams
``protocol.stream_frame`` at ~10 Hz). A small physical model moves the load towards a
target with a settle time, motion while moving and noise, so the adapter sees what a real
scale does. Tests drive it through Python methods; the demo and technicians through a
line protocol on a UNIX socket (``place 1184``, ``remove``, ``status`` ...).

Faults a calibration must catch can be injected (constructor or ``fault ...`` lines): a zero
offset, a gain (span) error, a non-linearity, a per-corner eccentricity error; ``noise`` and
``settle`` change the noise and the settle time. A scale without faults shows the load as is.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import queue
import random
import select
import socket
import tempfile
import threading
import time
import tty
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hardware.scale.base import ScaleProtocol, SimulatedPan, strip_parity

T = TypeVar("T")

CENTER = "center"
CORNERS = ("front-left", "front-right", "back-left", "back-right")
POSITIONS = (CENTER, *CORNERS)


@dataclass
class ScaleFaults:
    """What is wrong with the simulated load cell; all zero is a perfect scale.

    Indication = offset + load * (1 + gain_error + corner error) + non-linearity, where the
    non-linearity is a parabola through 0 and capacity peaking at ``nonlinearity_g`` at
    half capacity (the usual shape of a load cell's linearity error)."""

    offset_g: int = 0
    gain_error: float = 0.0  # relative: 0.002 reads 0.2 % high
    nonlinearity_g: float = 0.0
    corner_errors: dict[str, float] = field(default_factory=dict)  # position -> relative

    def check(self) -> None:
        unknown = set(self.corner_errors) - set(POSITIONS)
        if unknown:
            raise ValueError(f"unknown position {sorted(unknown)}; known: {', '.join(POSITIONS)}")
        for value in (self.gain_error, *self.corner_errors.values()):
            if not -0.5 < value < 0.5:
                raise ValueError("relative errors must lie between -0.5 and 0.5")

    def indicate(self, load: float, position: str, capacity_g: int) -> float:
        if load == 0 and self.offset_g == 0:
            return 0.0
        x = min(max(load / capacity_g, 0.0), 1.0) if capacity_g > 0 else 0.0
        relative = self.gain_error + self.corner_errors.get(position, 0.0)
        return self.offset_g + load * (1 + relative) + self.nonlinearity_g * 4 * x * (1 - x)


_MAX_COMMAND = 64  # a line longer than this is noise, not a command
DEFAULT_GARBAGE = b"\x00\xff\x7fGARBAGE\xfe\x02?\r\n"


class ScaleSimulator:
    def __init__(
        self,
        protocol: ScaleProtocol,
        link_path: str | os.PathLike[str] | None = None,
        *,
        settle_ms: int = 450,
        noise_g: int = 1,
        division_g: int = 1,
        capacity_g: int = 15_000,
        stream_hz: float = 10.0,
        control_path: str | os.PathLike[str] | None = None,
        seed: int | None = None,
        offset_g: int = 0,
        gain_error: float = 0.0,
        nonlinearity_g: float = 0.0,
        corner_errors: Mapping[str, float] | None = None,
    ) -> None:
        self.protocol = protocol
        self.link_path = Path(link_path) if link_path is not None else None
        self.settle_ms = settle_ms
        self.noise_g = noise_g
        self.division_g = max(1, division_g)
        self.stream_hz = stream_hz
        self.pan = SimulatedPan(capacity_g=capacity_g)
        self.faults = ScaleFaults(offset_g, gain_error, nonlinearity_g, dict(corner_errors or {}))
        self.faults.check()
        self.position = CENTER  # where on the platter the load lies (eccentricity)
        self.unplugged = False
        self.bytes_sent = 0
        self._control_path = Path(control_path) if control_path is not None else None
        self._own_dir: str | None = None
        self._rng = random.Random(seed)
        self._from_g = 0
        self.load_g = 0  # what physically lies on the pan; pan.weight_g is what it shows
        self._target_g = 0
        self._t_change = time.monotonic() - 3600  # settled long ago
        self._master: int | None = None
        self._slave: int | None = None
        self._slave_name = ""
        self._server: socket.socket | None = None
        self._clients: dict[socket.socket, bytes] = {}
        self._inbox = b""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[Any]]]
        self._calls = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()

    # --- life cycle ------------------------------------------------------------------

    def start(self) -> ScaleSimulator:
        self._open_pty()
        if self._control_path is None:
            self._own_dir = tempfile.mkdtemp(prefix="opensco-scale-")
            self._control_path = Path(self._own_dir) / "control.sock"
        with contextlib.suppress(FileNotFoundError):
            self._control_path.unlink()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(self._control_path))
        self._server.listen(4)
        self._thread = threading.Thread(target=self._run, name="scale-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(2.0)
        for client in list(self._clients):
            client.close()
        if self._server is not None:
            self._server.close()
        if self._control_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._control_path.unlink()
        if self._own_dir is not None:
            with contextlib.suppress(OSError):
                os.rmdir(self._own_dir)
        self._close_pty()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> ScaleSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port_path(self) -> str:
        """What the kiosk opens: the link when there is one, else the pty's slave."""
        return str(self.link_path) if self.link_path is not None else self._slave_name

    @property
    def slave_name(self) -> str:
        return self._slave_name

    @property
    def control_path(self) -> str:
        return str(self._control_path) if self._control_path is not None else ""

    # --- the pan (any thread) --------------------------------------------------------

    def place(self, grams: int, position: str = CENTER) -> None:
        """Put a load of ``grams`` on the pan at ``position`` (it replaces what was there)."""
        if position not in POSITIONS:
            raise ValueError(f"unknown position {position!r}; known: {', '.join(POSITIONS)}")
        self._call(lambda: self._set_target(grams, position))

    def add(self, grams: int) -> None:
        self._call(lambda: self._set_target(self._target_g + grams))

    def remove(self) -> None:
        self._call(lambda: self._set_target(0))

    def set_noise(self, grams: int) -> None:
        self.noise_g = max(0, grams)

    def set_settle(self, ms: int) -> None:
        self.settle_ms = max(0, ms)

    def set_fault(self, name: str, *args: str) -> None:
        """``offset G``, ``gain X``, ``nonlinearity G``, ``corner POSITION X`` or ``clear``."""
        faults = asdict(self.faults)
        if name == "clear" and not args:
            faults = asdict(ScaleFaults())
        elif name == "offset" and len(args) == 1:
            faults["offset_g"] = int(args[0])
        elif name == "gain" and len(args) == 1:
            faults["gain_error"] = float(args[0])
        elif name == "nonlinearity" and len(args) == 1:
            faults["nonlinearity_g"] = float(args[0])
        elif name == "corner" and len(args) == 2:
            faults["corner_errors"][args[0]] = float(args[1])
        else:
            raise ValueError(f"bad fault {name!r}; e.g. {FAULT_EXAMPLES}")
        new = ScaleFaults(**faults)
        new.check()
        self._call(lambda: self._set_faults(new))

    def _set_faults(self, faults: ScaleFaults) -> None:
        self.faults = faults
        self._physics()

    def zero(self) -> None:
        """Press the scale's zero key: what lies on the pan now reads 0."""
        self._call(lambda: self._apply(self.protocol.zero_command or b"", zero=True))

    def sleep(self) -> None:
        self.pan.asleep = True

    def wake(self) -> None:
        self.pan.asleep = False

    def unplug(self) -> None:
        """Pull the cable: the pty closes and the link disappears, as /dev/ttyUSB0 does."""
        self._call(self._unplug)

    def replug(self) -> str:
        """A new pty at the same link path; returns the new slave name."""
        return str(self._call(self._replug))

    def send(self, data: bytes) -> None:
        """Write raw bytes on the line (garbage, a barcode frame, half a frame)."""
        self._call(lambda: self._write(data))

    def garbage(self, data: bytes | None = None) -> None:
        """Line noise, then a real frame with its digits mangled (what a bad cable does)."""
        if data is None:
            frame = self._frame_now()
            data = DEFAULT_GARBAGE + bytes(b"X"[0] if 0x30 <= c <= 0x39 else c for c in frame)
        self.send(data)

    def _frame_now(self) -> bytes:
        if self.protocol.poll_command is None:
            return self.protocol.stream_frame(self.pan)
        return self.protocol.respond(self.protocol.poll_command, self.pan)

    def barcode(self, data: str, symbology: str = "EAN13") -> None:
        """A scan on a scanner-scale's shared cable (protocols with ``barcode_frame``)."""
        make = getattr(self.protocol, "barcode_frame", None)
        if make is None:
            raise ValueError(f"{self.protocol.name} carries no barcodes")
        self.send(make(data, symbology))

    def status(self) -> dict[str, Any]:
        pan = self.pan
        return {
            "protocol": self.protocol.name,
            "port": self.port_path,
            "slave": self._slave_name,
            "target_g": self._target_g,
            "load_g": self.load_g,
            "display_g": pan.weight_g,
            "stable": pan.stable,
            "zero_offset_g": pan.zero_offset_g,
            "tare_g": pan.tare_g,
            "capacity_g": pan.capacity_g,
            "noise_g": self.noise_g,
            "settle_ms": self.settle_ms,
            "position": self.position,
            "faults": asdict(self.faults),
            "asleep": pan.asleep,
            "unplugged": self.unplugged,
            "bytes_sent": self.bytes_sent,
        }

    def command(self, line: str) -> str:
        """One control line → its answer (``ok``, a JSON status, or ``error: ...``)."""
        words = line.split()
        if not words:
            return "error: empty command"
        verb, args = words[0].lower(), words[1:]
        try:
            if verb == "place" and len(args) in (1, 2):
                self.place(int(args[0]), *args[1:])
            elif verb in ("add", "noise", "settle"):
                amount = int(args[0])
                {"add": self.add, "noise": self.set_noise, "settle": self.set_settle}[verb](amount)
            elif verb == "fault":
                self.set_fault(args[0].lower(), *args[1:])
            elif verb in ("remove", "zero", "sleep", "wake", "unplug", "replug"):
                getattr(self, verb)()
            elif verb == "garbage":
                self.garbage(" ".join(args).encode() if args else None)
            elif verb == "barcode":
                self.barcode(args[0], *args[1:2])
            elif verb == "send":
                self.send(bytes.fromhex("".join(args)))
            elif verb == "status":
                return json.dumps(self.status(), sort_keys=True)
            else:
                return f"error: unknown command {verb!r}; known: {', '.join(COMMANDS)}"
        except ValueError as err:
            if verb in ("barcode", "fault") or "position" in str(err):
                return f"error: {err}"
            return f"error: bad arguments for {verb!r}; e.g. place 1184, noise 2, send 02 41"
        except IndexError:
            return f"error: bad arguments for {verb!r}; e.g. place 1184, noise 2, send 02 41"
        return "ok"

    # --- the thread ------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        # pty and socket fds belong to the simulator thread; other threads hand it work.
        if self._thread is None or threading.current_thread() is self._thread:
            return fn()
        if not self._thread.is_alive():
            return fn()
        reply: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._calls.put((fn, reply))
        os.write(self._wake_w, b"x")
        result = reply.get(timeout=5)
        if isinstance(result, BaseException):
            raise result
        return result  # type: ignore[no-any-return]

    def _run(self) -> None:
        period = 1.0 / self.stream_hz
        next_frame = time.monotonic()
        while not self._stop.is_set():
            fds: list[Any] = [self._wake_r, *self._clients]
            if self._server is not None:
                fds.append(self._server.fileno())
            if self._master is not None:
                fds.append(self._master)
            if self.protocol.poll_command is None:
                timeout = max(0.0, min(0.02, next_frame - time.monotonic()))
            else:
                # Polled: no frame is due on a timer (next_frame never moves), so a
                # timeout from it would be 0 and spin a core; wake for the host or physics.
                timeout = 0.02
            ready, _, _ = select.select(fds, [], [], timeout)
            self._physics()
            while not self._calls.empty():
                fn, reply = self._calls.get()
                try:
                    reply.put(fn())
                except Exception as err:  # handed back to the caller's thread
                    reply.put(err)
            for fd in ready:
                if fd == self._wake_r:
                    os.read(self._wake_r, 64)
                elif fd == self._master and self._master is not None:
                    self._on_master()
                elif self._server is not None and fd == self._server.fileno():
                    client, _ = self._server.accept()
                    self._clients[client] = b""
                elif isinstance(fd, socket.socket):
                    self._on_client(fd)
            if self.protocol.poll_command is None and time.monotonic() >= next_frame:
                next_frame = time.monotonic() + period
                if not self.pan.asleep:
                    self._write(self.protocol.stream_frame(self.pan))

    def _physics(self) -> None:
        """Move the load towards the target: eased approach with a decaying wobble."""
        pan = self.pan
        load: float
        elapsed = time.monotonic() - self._t_change
        settle_s = self.settle_ms / 1000
        indicate = self._indication
        if elapsed >= settle_s:
            # Auto-zero tracking: an empty pan reads exactly zero, whatever the noise.
            at_zero = round(indicate(self._target_g)) == pan.zero_offset_g + pan.tare_g
            noise = 0 if at_zero else self._rng.randint(-self.noise_g, self.noise_g)
            load = self._target_g + noise
            pan.stable = True
        else:
            p = elapsed / settle_s
            delta = self._target_g - self._from_g
            wobble = 0.08 * delta * (1 - p) * math.sin(2 * math.pi * 6 * elapsed)
            load = self._from_g + delta * (1 - (1 - p) ** 3) + wobble
            load += self._rng.uniform(-self.noise_g, self.noise_g)
            pan.stable = False
        self.load_g = round(load)
        shown = indicate(load) - pan.zero_offset_g - pan.tare_g
        pan.weight_g = self.division_g * round(shown / self.division_g)

    def _indication(self, load: float) -> float:
        return self.faults.indicate(load, self.position, self.pan.capacity_g)

    def _set_target(self, grams: int, position: str | None = None) -> None:
        self._physics()
        self._from_g = self.load_g
        self._target_g = grams
        if position is not None:
            self.position = position
        self._t_change = time.monotonic()
        self._physics()

    def _on_master(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 1024)
        except OSError:  # EIO: nobody holds the slave; keep waiting
            time.sleep(0.01)
            return
        if self.pan.asleep or self.unplugged:
            return
        if self.protocol.port.bytesize == 7:
            # A 7-bit UART drops the parity bit; a host that computes parity itself (a pty
            # refused 7E1) sends it in bit 7.
            data = strip_parity(data)
        self._inbox += data
        while (command := self._next_command()) is not None:
            reply = self.protocol.respond(command, self.pan)
            if reply:
                self._write(reply)
            self._apply(command)

    def _apply(self, command: bytes, zero: bool = False) -> None:
        """Zero and tare change what the scale shows (after it answered, as a scale does)."""
        pan = self.pan
        if not pan.stable or pan.weight_g > pan.capacity_g:
            return  # a real scale refuses to zero or tare a moving or overloaded pan
        if zero or command == self.protocol.zero_command:
            pan.zero_offset_g = round(self._indication(self._target_g)) - pan.tare_g
        elif command == self.protocol.tare_command and pan.weight_g >= 0:
            pan.tare_g = round(self._indication(self._target_g)) - pan.zero_offset_g
        self._physics()

    def _next_command(self) -> bytes | None:
        """Split the inbox into commands: known ones by prefix, others by CR/LF."""
        inbox = self._inbox
        if not inbox:
            return None
        proto = self.protocol
        known = [c for c in (proto.poll_command, proto.zero_command, proto.tare_command) if c]
        for command in known:
            if inbox.startswith(command):
                self._inbox = inbox[len(command) :]
                return command
        if any(c.startswith(inbox) for c in known):
            return None  # the rest of a known command is on its way
        ends = [i for i in (inbox.find(b"\r"), inbox.find(b"\n")) if i >= 0]
        if ends:
            end = min(ends) + 1
            while end < len(inbox) and inbox[end : end + 1] in (b"\r", b"\n"):
                end += 1
        elif known and all(len(c) == 1 for c in known):
            end = 1  # single-byte command set (Toledo 8217): each byte is a command
        elif len(inbox) > _MAX_COMMAND:
            self._inbox = b""
            return None
        else:
            return None
        self._inbox = inbox[end:]
        return inbox[:end]

    def _on_client(self, client: socket.socket) -> None:
        try:
            data = client.recv(4096)
        except OSError:
            data = b""
        if not data:
            self._clients.pop(client, None)
            client.close()
            return
        buffer = self._clients[client] + data
        *lines, rest = buffer.split(b"\n")
        self._clients[client] = rest[-1024:]
        for line in lines:
            answer = self.command(line.decode("utf-8", "replace"))
            with contextlib.suppress(OSError):
                client.sendall(answer.encode() + b"\n")

    def _write(self, data: bytes) -> None:
        if self._master is None or not data:
            return
        # Nobody reads the line and its buffer is full: a real line drops bytes too.
        with contextlib.suppress(OSError):
            self.bytes_sent += os.write(self._master, data)

    # --- the pty ---------------------------------------------------------------------

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        # Raw: the line discipline must not turn CR into LF or echo polls back.
        tty.setraw(slave)
        flags = fcntl.fcntl(master, fcntl.F_GETFL)
        fcntl.fcntl(master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self._master, self._slave = master, slave
        self._slave_name = os.ttyname(slave)
        self._inbox = b""
        self.unplugged = False
        if self.link_path is not None:
            tmp = self.link_path.with_name(self.link_path.name + ".tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self._slave_name)
            tmp.replace(self.link_path)  # atomic: readers never see a missing link

    def _close_pty(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        if self.link_path is not None and self.link_path.is_symlink():
            self.link_path.unlink()

    def _unplug(self) -> None:
        self._close_pty()
        self.unplugged = True

    def _replug(self) -> str:
        self._close_pty()
        self._open_pty()
        return self._slave_name


FAULT_EXAMPLES = (
    "fault offset 12, fault gain 0.002, fault nonlinearity 8, "
    "fault corner front-left 0.003, fault clear"
)

COMMANDS = (
    "place G [POSITION]",
    "add G",
    "remove",
    "noise G",
    "settle MS",
    "fault offset G|gain X|nonlinearity G|corner POSITION X|clear",
    "zero",
    "sleep",
    "wake",
    "unplug",
    "replug",
    "garbage [TEXT]",
    "send HEX",
    "barcode DATA [SYMBOLOGY]",
    "status",
)


def send_control(path: str | os.PathLike[str], line: str, timeout_s: float = 5.0) -> str:
    """Send one control line to a running simulator and return its one-line answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(os.fspath(path))
        sock.sendall(line.encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.decode("utf-8", "replace").strip()
