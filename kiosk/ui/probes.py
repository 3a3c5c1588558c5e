"""Start-up checks of a lane's devices, in words a technician can act on.

Each probe opens the real device the way the lane will (camera: one frame; scale: one
reading; printer: paper status where it can tell; payment terminal: a ping; broker: TCP,
TLS and an MQTT CONNACK; disk: free space and write access) within a time limit, and
returns ``ok``, ``missing`` (required by ``[kiosk_ui] required`` but not configured) or
``failed``, with the reason. Probes run before the lane opens its ports, all at once on
their own threads, so the whole check takes about one timeout however many devices fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig
from kiosk.ui.config import DEVICES

LABELS = {
    "bagging_scale": "bagging scale",
    "scan_scale": "produce scale",
    "camera": "camera",
    "payment": "payment terminal",
    "printer": "receipt printer",
    "mqtt": "store broker",
    "disk": "data disk",
}
SECTION_OF = {"mqtt": "mqtt", "disk": "kiosk"}  # others: the section has the device's name
_SLACK_S = 2.0  # beyond its own timeout, how long a probe thread may take before we give up


class Status(StrEnum):
    OK = "ok"
    MISSING = "missing"  # required, but its section does not enable it
    FAILED = "failed"  # configured, and it did not work


@dataclass(frozen=True)
class ProbeResult:
    device: str  # one of kiosk.ui.config.DEVICES
    status: Status
    reason: str  # plain words; for ok, what was seen ("reading 0 g")
    required: bool = False
    elapsed_s: float = 0.0

    @property
    def label(self) -> str:
        return LABELS.get(self.device, self.device)

    def line(self) -> str:
        return f"{self.label}: {self.status.value} - {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "status": self.status.value, "reason": self.reason,
                "required": self.required, "elapsed_s": round(self.elapsed_s, 3)}  # fmt: skip


@dataclass(frozen=True)
class ProbeReport:
    results: tuple[ProbeResult, ...] = field(default_factory=tuple)

    @property
    def problems(self) -> tuple[ProbeResult, ...]:
        """Required devices that are not ok: each one keeps the lane out of service."""
        return tuple(r for r in self.results if r.required and r.status is not Status.OK)

    @property
    def warnings(self) -> tuple[ProbeResult, ...]:
        return tuple(r for r in self.results if not r.required and r.status is not Status.OK)

    @property
    def ok(self) -> bool:
        return not self.problems

    def get(self, device: str) -> ProbeResult | None:
        return next((r for r in self.results if r.device == device), None)

    def reason(self) -> str | None:
        """The out-of-service text (staff small print), or None when every required is ok."""
        if not self.problems:
            return None
        return "; ".join(r.line() for r in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "probes", "ok": self.ok, "results": [r.to_dict() for r in self.results]}


# --- one device each ------------------------------------------------------------------------


def _port_gone(port: str) -> str | None:
    """A device path that does not exist: say so at once instead of waiting out a timeout."""
    if port.startswith("/") and not os.path.exists(port):
        return f"serial port {port} does not exist (unplugged, or the wrong port?)"
    return None


def probe_camera(url: str, timeout_s: float) -> ProbeResult:
    from kiosk.errors import KioskError
    from vision.camera import make_source, redact_url

    shown = redact_url(url)
    try:
        source = make_source(url)
    except KioskError as err:
        return ProbeResult("camera", Status.FAILED, f"camera {shown}: {err}")

    def grab() -> str:
        try:
            source.open()
            try:
                image = source.read()
            finally:
                source.close()
        except Exception as err:
            raise RuntimeError(f"camera {shown}: {err}") from err
        if image is None:
            raise RuntimeError(f"camera {shown} ended before its first frame")
        return f"a {image.shape[1]}x{image.shape[0]} frame from {shown}"

    return _timed("camera", grab, timeout_s, f"no frame from camera {shown}")


def probe_scale(device: str, values: Mapping[str, Any], timeout_s: float) -> ProbeResult:
    from hardware.scale.config import scale_from_config
    from kiosk.core.inputs import Platform

    port = str(values["port"])
    if gone := _port_gone(port):
        return ProbeResult(device, Status.FAILED, gone)
    platform = Platform.SCAN if device == "scan_scale" else Platform.BAGGING
    scale = scale_from_config(values, platform, lambda _reading: None)
    if scale is None:
        return ProbeResult(device, Status.MISSING, f"[{device}] has no port")

    def read() -> str:
        result = scale.read_once(timeout_s)
        if result.reading is None:
            raise RuntimeError(result.message or f"no reading from {port}")
        grams = result.reading.weight_g
        return f"reading {grams} g on {port}" if grams is not None else f"answered on {port}"

    return _timed(device, read, timeout_s + _SLACK_S, f"no reading from {port}")


def probe_printer(values: Mapping[str, Any], timeout_s: float) -> ProbeResult:
    from hardware.printer import PaperStatus, ReceiptPrinter
    from kiosk.errors import KioskError

    url = str(values["url"])
    path = url.partition(":")[2] if url.startswith("file:") else url
    if path.startswith("/dev/") and not os.path.exists(path):
        # escpos would create a plain file there; a printer device that is absent is not.
        return ProbeResult("printer", Status.FAILED, f"printer device {path} does not exist "
                           "(unplugged or powered off?)")  # fmt: skip
    try:
        printer = ReceiptPrinter.from_url(url, encoding=values["encoding"])
    except KioskError as err:
        return ProbeResult("printer", Status.FAILED, str(err))

    def status() -> str:
        try:
            paper = printer.paper_status()
            error = printer.health().last_error
        finally:
            printer.close()
        if error:
            raise RuntimeError(f"printer {url}: {error}")
        if paper is PaperStatus.OUT:
            raise RuntimeError(f"printer {url} is out of paper: load a new roll")
        if paper is PaperStatus.UNKNOWN:
            return f"{url} opened; it does not report its paper"
        return f"{url}: paper {paper.value}"

    return _timed("printer", status, timeout_s, f"printer {url} did not answer")


def probe_payment(values: Mapping[str, Any], timeout_s: float) -> ProbeResult:
    port = str(values["port"])
    if gone := _port_gone(port):
        return ProbeResult("payment", Status.FAILED, gone)

    def ping() -> str:
        import serial  # type: ignore[import-untyped]

        from hardware.payment import encode_line, split_lines

        link = serial.serial_for_url(port, baudrate=115200, timeout=0.1)
        try:
            link.write(encode_line({"op": "ping"}))
            buf = bytearray()
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                buf += link.read(max(1, link.in_waiting))
                if any(m.get("op") == "pong" for m in split_lines(buf)):
                    return f"answered a ping on {port}"
        finally:
            link.close()
        raise RuntimeError(f"no answer to a ping on {port} within {timeout_s:.1f} s")

    return _timed("payment", ping, timeout_s + _SLACK_S, f"no answer on {port}")


# MQTT 5 CONNACK reason codes a technician may meet, in words.
_CONNACK = {
    0x80: "unspecified error", 0x84: "unsupported protocol version (not MQTT 5?)",
    0x85: "client id refused", 0x86: "bad user name or password", 0x87: "not authorized",
    0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned",
    0x8C: "bad authentication method", 0x97: "quota exceeded",
}  # fmt: skip


def _connect_packet(client_id: str, keepalive_s: int = 10) -> bytes:
    ident = client_id.encode()
    # Protocol name, version 5, clean start, keepalive, no properties; then the client id.
    body = b"\x00\x04MQTT\x05\x02" + struct.pack("!H", keepalive_s) + b"\x00"
    body += struct.pack("!H", len(ident)) + ident
    return b"\x10" + _varint(len(body)) + body


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection before its CONNACK")
        data += chunk
    return data


def probe_broker(values: Mapping[str, Any], kiosk_id: str, timeout_s: float) -> ProbeResult:
    """TCP connect, TLS with the lane's certificate for mqtts://, then CONNECT → CONNACK.

    The probe uses its own client id (``<kiosk>-probe``, clean start): connecting as the
    lane itself would end the lane's persistent session and the commands queued in it.
    """
    from urllib.parse import urlsplit

    broker = str(values["broker"])
    parts = urlsplit(broker)
    host, tls = parts.hostname or "", parts.scheme == "mqtts"
    port = parts.port or (8883 if tls else 1883)

    def connack() -> str:
        try:
            raw = socket.create_connection((host, port), timeout=timeout_s)
        except OSError as err:
            raise RuntimeError(f"cannot connect to {broker}: {err.strerror or err}") from err
        sock: socket.socket = raw
        try:
            if tls:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.load_verify_locations(values["tls_ca_file"])
                context.load_cert_chain(values["tls_cert_file"], values["tls_key_file"])
                try:
                    sock = context.wrap_socket(raw, server_hostname=host)
                except ssl.SSLError as err:
                    raise RuntimeError(f"TLS with {broker} failed: {err.reason or err}") from err
            sock.sendall(_connect_packet(f"{kiosk_id}-probe"))
            head = _read_exact(sock, 2)
            if head[0] != 0x20:
                raise RuntimeError(f"{broker} answered with packet type {head[0] >> 4}, "
                                   "not a CONNACK (is it an MQTT broker?)")  # fmt: skip
            _flags, code = _read_exact(sock, 2)
            if code != 0:
                words = _CONNACK.get(code, f"reason code 0x{code:02x}")
                raise RuntimeError(f"{broker} refused the connection: {words}")
            with contextlib.suppress(OSError):
                sock.sendall(b"\xe0\x00")  # DISCONNECT, normal
        except TimeoutError as err:
            raise RuntimeError(f"no CONNACK from {broker} within {timeout_s:.1f} s") from err
        except OSError as err:
            raise RuntimeError(f"{broker}: {err.strerror or err}") from err
        finally:
            sock.close()
        return f"CONNACK from {broker}"

    return _timed("mqtt", connack, timeout_s + _SLACK_S, f"no CONNACK from {broker}")


def probe_disk(data_dir: str, min_free_mb: int) -> ProbeResult:
    path = Path(data_dir).resolve()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # the lane creates the folder; its disk is what counts
    free_mb = shutil.disk_usage(existing).free // 1_000_000
    if not os.access(existing, os.W_OK):
        return ProbeResult("disk", Status.FAILED, f"{existing} is not writable by this user")
    if free_mb < min_free_mb:
        why = f"{free_mb} MB free under {existing}, {min_free_mb} MB needed"
        return ProbeResult("disk", Status.FAILED, why)
    return ProbeResult("disk", Status.OK, f"{free_mb} MB free under {existing}")


def _timed(device: str, work: Callable[[], str], timeout_s: float, late: str) -> ProbeResult:
    """Run ``work`` on a daemon thread: a device that hangs in open() cannot hang start-up."""
    future: Future[str] = Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as err:  # reported as the probe's reason
            future.set_exception(err)

    threading.Thread(target=run, name=f"probe-{device}", daemon=True).start()
    try:
        return ProbeResult(device, Status.OK, future.result(timeout_s))
    except TimeoutError:
        return ProbeResult(device, Status.FAILED, f"{late} within {timeout_s:.1f} s")
    except Exception as err:
        return ProbeResult(device, Status.FAILED, str(err) or type(err).__name__)


# --- the lane ------------------------------------------------------------------------------


def enabled(config: KioskConfig, device: str) -> bool:
    """Whether the config turns the device on (the disk is always there)."""
    if device == "disk":
        return True
    return bool(config.sections[SECTION_OF.get(device, device)]["enabled"])


def _probe_one(config: KioskConfig, device: str, timeout_s: float) -> ProbeResult:
    s = config.sections
    if device == "camera":
        return probe_camera(s["camera"]["url"], timeout_s)
    if device in ("scan_scale", "bagging_scale"):
        return probe_scale(device, s[device], timeout_s)
    if device == "printer":
        return probe_printer(s["printer"], timeout_s)
    if device == "payment":
        return probe_payment(s["payment"], timeout_s)
    if device == "mqtt":
        return probe_broker(s["mqtt"], config.kiosk_id, timeout_s)
    return probe_disk(config.data_dir, s["kiosk_ui"]["min_free_disk_mb"])


def run_probes(
    config: KioskConfig,
    *,
    timeout_s: float | None = None,
    devices: tuple[str, ...] | None = None,
) -> ProbeReport:
    """Probe every configured device and every required one, all at once.

    ``devices`` limits the check to those (a re-check of the ones that failed).
    """
    ui = config.sections["kiosk_ui"]
    required = set(ui["required"])
    timeout = float(ui["probe_timeout_s"] if timeout_s is None else timeout_s)
    wanted = [d for d in DEVICES if (d in required or enabled(config, d))]
    if devices is not None:
        wanted = [d for d in wanted if d in devices]
    results: dict[str, ProbeResult] = {}
    lock = threading.Lock()

    def one(device: str) -> None:
        start = time.monotonic()
        if not enabled(config, device):
            section = SECTION_OF.get(device, device)
            result = ProbeResult(device, Status.MISSING,
                                 f"required, but [{section}] enabled is false")  # fmt: skip
        else:
            try:
                result = _probe_one(config, device, timeout)
            except Exception as err:  # a probe bug must read as a failed check, not a crash
                result = ProbeResult(device, Status.FAILED, f"check failed: {err!r}")
        result = ProbeResult(result.device, result.status, result.reason,
                             device in required, time.monotonic() - start)  # fmt: skip
        with lock:
            results[device] = result

    threads = [threading.Thread(target=one, args=(d,), daemon=True) for d in wanted]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout + 2 * _SLACK_S
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    with lock:
        for device in wanted:
            if device not in results:
                results[device] = ProbeResult(device, Status.FAILED, "the check did not finish",
                                              device in required, timeout)  # fmt: skip
        return ProbeReport(tuple(results[d] for d in wanted))


def live_check(
    lane: Any, config: KioskConfig, device: str, timeout_s: float, *, out_of_service: bool
) -> ProbeResult:
    """A device checked again while the lane runs: through the lane's own adapter where it
    holds the port (scales, camera, terminal, broker link). The printer is asked for its
    paper on the lane's device thread (never beside a receipt) while the lane is out of
    service, and judged by how its last job went while it sells; the disk is probed."""
    from hardware.scale.serial_adapter import ScaleState

    def result(ok: bool, reason: str) -> ProbeResult:
        return ProbeResult(device, Status.OK if ok else Status.FAILED, reason, True)

    if device in ("scan_scale", "bagging_scale"):
        name = "scan" if device == "scan_scale" else "bagging"
        for scale in lane.scales:
            if scale.platform.value == name:
                h = scale.health()
                if gone := _port_gone(h.url):
                    return result(False, gone)  # the same words as at start-up
                bad = (ScaleState.UNAVAILABLE, ScaleState.CONNECTING)
                ok = h.connected and h.state not in bad and h.last_reading_ts_ms is not None
                return result(ok, f"{h.state.value} on {h.url}" + (
                    f" ({h.last_error})" if h.last_error and not ok else ""))  # fmt: skip
    elif device == "camera" and lane.vision is not None:
        h = lane.vision.health()
        return result(bool(h["connected"]), "frames coming" if h["connected"] else str(h["error"]))
    elif device == "payment" and lane.payment is not None:
        ph = lane.payment.health()
        if gone := _port_gone(lane.payment.url):
            return result(False, gone)
        return result(ph.connected, ph.state if ph.connected else str(ph.last_error))
    elif device == "mqtt" and lane.link is not None:
        lh = lane.link.health
        return result(lh.connected, "connected" if lh.connected else lh.last_error or "offline")
    elif device == "printer" and lane.printer is not None and not out_of_service:
        h = lane.printer.health()
        if h.detail.get("paper") == "out":
            return result(False, f"printer {h.detail.get('url')} is out of paper: load a new roll")
        return result(h.connected or not h.last_error, h.last_error or h.state)
    elif device == "printer":
        future: Future[ProbeResult] = Future()

        def probe_between_receipts() -> None:
            future.set_result(_probe_one(config, "printer", timeout_s))

        lane.devices.submit(probe_between_receipts)
        try:
            again = future.result(timeout_s + _SLACK_S)
        except TimeoutError:
            return result(False, f"the printer did not answer within {timeout_s:.1f} s")
        return result(again.status is Status.OK, again.reason)
    elif device == "disk":
        again = probe_disk(config.data_dir, config.sections["kiosk_ui"]["min_free_disk_mb"])
        return result(again.status is Status.OK, again.reason)
    return result(False, "not running in this lane")
