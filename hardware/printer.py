"""Receipt printer over ESC/POS, through python-escpos.

A printer is named by a URL-ish string (``open_printer``)::

    usb:04b8:0202                  USB vendor:product id, hex (needs pyusb)
    serial:/dev/ttyUSB0?baud=19200 any pyserial URL too: serial:socket://host:4000, serial:loop://
    network:192.168.1.50[:9100]    raw TCP, port 9100 by default
    file:/dev/usb/lp0              a device file (a bare path works too)
    dummy:                         captures the bytes in memory (tests)

The whole job is rendered into bytes first (``render``) and sent in one write, so an encoding
problem can never leave half a receipt on the paper, and every transport gets the same bytes.

Chinese text: printers differ. ``gb18030`` mode sends non-ASCII runs as GB18030 inside the
printer's Chinese mode (FS & ... FS .), which most Chinese ESC/POS printers need. ``escpos``
mode lets python-escpos pick single-byte code pages for English-only printers; a character no
code page has (every Hanzi) becomes "?" per column so the money column stays aligned.

Only what ``format_receipt`` writes is printed: never card data, only the masked reference.
"""

from __future__ import annotations

import logging
import unicodedata
import urllib.parse
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

import serial  # type: ignore[import-untyped]
from escpos import printer as escpos_printer  # type: ignore[import-untyped]
from escpos.constants import RT_STATUS_PAPER  # type: ignore[import-untyped]
from escpos.escpos import Escpos  # type: ignore[import-untyped]
from escpos.exceptions import (  # type: ignore[import-untyped]
    DeviceNotFoundError,
)
from escpos.exceptions import Error as EscposError

from hardware.health import DeviceHealth, wall_ms
from kiosk.core.receipt import WIDTH as RECEIPT_WIDTH
from kiosk.core.receipt import format_receipt
from kiosk.errors import ConfigError, DeviceError

logger = logging.getLogger(__name__)

FS_CHINESE_ON = b"\x1c\x26"  # FS &: enter Kanji/Chinese character mode
FS_CHINESE_OFF = b"\x1c\x2e"  # FS .: leave it
DEFAULT_NETWORK_PORT = 9100

# What python-escpos and its transports raise. AssertionError: escpos asserts that its
# device is open instead of raising, so a lost link surfaces as one.
_LIBRARY_ERRORS = (
    EscposError,
    OSError,
    RuntimeError,
    ValueError,
    NotImplementedError,
    AssertionError,
    DeviceError,  # our own, from the opener
)


class PrinterError(DeviceError):
    """The receipt printer is missing, out of paper, or refused the job."""


class PaperStatus(StrEnum):
    OK = "ok"
    NEAR_END = "near_end"
    OUT = "out"
    UNKNOWN = "unknown"  # one-way link (file, dummy), no answer, or a garbled answer


class TextEncoding(StrEnum):
    GB18030 = "gb18030"
    ESCPOS = "escpos"


# --- opening --------------------------------------------------------------------------------


class _UrlSerial(escpos_printer.Serial):  # type: ignore[misc]  # escpos has no types
    """escpos' Serial opens device paths only; this opens any pyserial URL."""

    def open(self, raise_not_found: bool = True) -> None:
        if self._device:
            self.close()
        try:
            self.device = serial.serial_for_url(
                self.devfile, baudrate=self.baudrate, timeout=self.timeout
            )
        except (ValueError, serial.SerialException) as err:
            self.device = None
            raise DeviceNotFoundError(f"cannot open serial printer {self.devfile}: {err}") from err

    def _read(self) -> bytes:
        # escpos reads 16 bytes and so always waits out the timeout; a status is one byte.
        assert self.device
        first = self.device.read(1)
        return bytes(first + self.device.read(self.device.in_waiting)) if first else b""


def _hex_id(text: str, url: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        raise ConfigError(
            f"printer URL {url!r}: USB ids are hex numbers, e.g. usb:04b8:0202"
        ) from None


def _open_serial(rest: str, url: str, profile: str | None) -> Escpos:
    # Take our own "baud" out of the query; any other query item belongs to pyserial.
    target, _, query = rest.partition("?")
    items = urllib.parse.parse_qsl(query, keep_blank_values=True)
    baud = 9600
    others = []
    for key, value in items:
        if key == "baud":
            if not value.isdigit():
                raise ConfigError(f"printer URL {url!r}: baud must be a number")
            baud = int(value)
        else:
            others.append((key, value))
    if not target:
        raise ConfigError(f"printer URL {url!r}: give a port, e.g. serial:/dev/ttyUSB0")
    port = target + ("?" + urllib.parse.urlencode(others) if others else "")
    return _UrlSerial(devfile=port, baudrate=baud, profile=profile)


def _open_network(rest: str, url: str, profile: str | None) -> Escpos:
    host, port = rest.removeprefix("//"), DEFAULT_NETWORK_PORT
    if host.startswith("["):  # [IPv6]:port
        bracket = host.find("]")
        if bracket < 0:
            raise ConfigError(f"printer URL {url!r}: unclosed [ in the host")
        host, tail = host[1:bracket], host[bracket + 1 :]
        port_text = tail.removeprefix(":")
    else:
        host, _, port_text = host.partition(":")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"printer URL {url!r}: the port must be 1-65535")
        port = int(port_text)
    if not host:
        raise ConfigError(f"printer URL {url!r}: give a host, e.g. network:192.168.1.50")
    return escpos_printer.Network(host=host, port=port, timeout=10, profile=profile)


def open_printer(url: str, profile: str | None = None) -> Escpos:
    """An (unopened) python-escpos printer for a URL; raises ConfigError on a bad URL."""
    scheme, sep, rest = url.partition(":")
    if not sep or scheme.startswith(("/", ".")):
        scheme, rest = "file", url  # a bare path
    try:
        if scheme == "usb":
            vid, _, pid = rest.partition(":")
            if not vid or not pid:
                raise ConfigError(f"printer URL {url!r}: write usb:VID:PID, e.g. usb:04b8:0202")
            ids = _hex_id(vid, url), _hex_id(pid, url)
            if not escpos_printer.Usb.is_usable():
                # Checked here: an unusable Usb object also raises from its __del__.
                raise PrinterError(f"printer {url!r}: USB printers need pyusb (pip install pyusb)")
            return escpos_printer.Usb(*ids, profile=profile)
        if scheme == "serial":
            return _open_serial(rest, url, profile)
        if scheme == "network":
            return _open_network(rest, url, profile)
        if scheme == "file":
            if not rest:
                raise ConfigError(f"printer URL {url!r}: give a path, e.g. file:/dev/usb/lp0")
            return escpos_printer.File(devfile=rest, profile=profile)
        if scheme == "dummy":
            return escpos_printer.Dummy(profile=profile)
    except KeyError as err:  # escpos looks profiles up in a dict
        raise ConfigError(f"unknown printer profile {profile!r}") from err
    except (RuntimeError, EscposError) as err:  # e.g. USB without pyusb installed
        raise PrinterError(f"printer {url!r}: {err}") from err
    raise ConfigError(
        f"printer URL {url!r}: unknown kind {scheme!r}; known: usb, serial, network, file, dummy"
    )


# --- status and text, pure ------------------------------------------------------------------


def decode_paper_status(reply: bytes) -> PaperStatus:
    """Decode the answer to DLE EOT 4 (paper sensor status).

    python-escpos' own ``paper_status()`` calls an empty answer "paper adequate", which would
    hide a dead link, so we decode the byte ourselves. Epson: bits 1 and 4 are always 1, bits
    0 and 7 always 0; bits 2-3 = near end, bits 5-6 = paper out.
    """
    if not reply:
        return PaperStatus.UNKNOWN
    byte = reply[-1]  # the newest byte is the answer; earlier ones may be stale
    if byte & 0x93 != 0x12:
        return PaperStatus.UNKNOWN
    if byte & 0x60:
        return PaperStatus.OUT
    if byte & 0x0C:
        return PaperStatus.NEAR_END
    return PaperStatus.OK


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in "WF"


def _can_read(device: Escpos) -> bool:
    # File and Dummy links are one-way: escpos' base _read raises NotImplementedError.
    return type(device)._read is not Escpos._read


# --- the adapter ----------------------------------------------------------------------------


class ReceiptPrinter:
    """Prints receipts; every library error comes out as a PrinterError.

    ``opener`` makes the python-escpos printer; it is called again after an error, so a
    printer that was unplugged and plugged back in works on the next receipt.
    """

    def __init__(
        self,
        opener: Callable[[], Escpos],
        *,
        encoding: str = TextEncoding.GB18030,
        width_chars: int = RECEIPT_WIDTH,
        url: str = "",
        profile: str | None = None,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.encoding = TextEncoding(encoding)
        self.width_chars = width_chars
        self.url = url
        self.profile = profile  # python-escpos capability profile name; None = default
        self._opener = opener
        self._clock = clock
        self._device: Escpos | None = None
        self._connected = False
        self._last_error: str | None = None
        self._last_seen_ms: int | None = None
        self._paper = PaperStatus.UNKNOWN

    @classmethod
    def from_url(cls, url: str, profile: str | None = None, **kwargs: Any) -> ReceiptPrinter:
        open_printer(url, profile)  # fail on a bad URL now, not at the first receipt
        return cls(lambda: open_printer(url, profile), url=url, profile=profile, **kwargs)

    # -- public --

    def paper_status(self) -> PaperStatus:
        """Ask the printer (DLE EOT 4); UNKNOWN when it cannot answer."""
        try:
            device = self._get()
            if not _can_read(device):
                return PaperStatus.UNKNOWN
            reply = device.query_status(RT_STATUS_PAPER)
        except _LIBRARY_ERRORS as err:
            self._failed(err)
            return PaperStatus.UNKNOWN
        self._paper = decode_paper_status(bytes(reply or b""))
        if self._paper is not PaperStatus.UNKNOWN:
            self._seen()
        return self._paper

    def print_receipt(self, receipt: Mapping[str, Any], lang: str = "en") -> None:
        """Print one receipt and cut; refuses (PrinterError) when the paper is out."""
        where = f" {self.url}" if self.url else ""
        if self.paper_status() is PaperStatus.OUT:
            self._last_error = "out of paper"
            raise PrinterError(f"receipt printer{where} is out of paper: load a new roll")
        if self._device is None:  # the status query could not even open it
            raise PrinterError(f"receipt printer{where} is not reachable: {self._last_error}")
        try:
            job = self.render(receipt, lang)
            self._get()._raw(job)
        except _LIBRARY_ERRORS as err:
            self._failed(err)
            raise PrinterError(f"receipt printer{where} failed: {err}") from err
        self._seen()

    def render(self, receipt: Mapping[str, Any], lang: str = "en") -> bytes:
        """The complete ESC/POS job for one receipt: init, header, body, feed and cut."""
        buf = escpos_printer.Dummy(profile=self.profile)
        lines = format_receipt(receipt, lang).splitlines()
        buf.hw("INIT")
        if self.width_chars < RECEIPT_WIDTH:
            # The receipt is laid out for 42 columns; font B gives ~42 on 58 mm paper.
            buf.set(font="b")
        buf.set(align="center", bold=True)
        self._write(buf, lines[0].strip() + "\n")
        buf.set(align="left", bold=False)
        self._write(buf, "\n".join(lines[1:]) + "\n")
        buf.cut()
        return bytes(buf.output)

    def health(self) -> DeviceHealth:
        return DeviceHealth(
            name="printer",
            kind="escpos",
            connected=self._connected,
            state=self._paper.value if self._connected else "disconnected",
            last_error=self._last_error,
            last_seen_ts_ms=self._last_seen_ms,
            detail={"url": self.url, "encoding": self.encoding.value, "paper": self._paper.value},
        )

    def close(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            try:
                device.close()
            except _LIBRARY_ERRORS:
                logger.debug("closing the printer failed", exc_info=True)

    # -- internals --

    def _write(self, buf: Escpos, text: str) -> None:
        if self.encoding is TextEncoding.GB18030:
            for run, ascii_run in _runs(text):
                if ascii_run:
                    buf._raw(run.encode("ascii"))
                else:
                    buf._raw(FS_CHINESE_ON + run.encode("gb18030", "replace") + FS_CHINESE_OFF)
            return
        encoder = buf.magic.encoder
        safe = []
        for ch in text:
            if ord(ch) < 128 or encoder.find_suitable_encoding(ch):
                safe.append(ch)
            else:
                # One "?" per printed column keeps the right-aligned amounts in place.
                safe.append("??" if _wide(ch) else "?")
        buf.text("".join(safe))

    def _get(self) -> Escpos:
        if self._device is None:
            device = self._opener()
            device.open()
            self._device = device
        return self._device

    def _seen(self) -> None:
        self._connected = True
        self._last_seen_ms = self._clock()

    def _failed(self, err: BaseException) -> None:
        self._connected = False
        self._last_error = str(err) or type(err).__name__
        logger.warning("receipt printer %s: %s", self.url, self._last_error)
        self.close()  # reopen on the next call


def _runs(text: str) -> list[tuple[str, bool]]:
    """Split text into (run, is_ascii) pieces."""
    out: list[tuple[str, bool]] = []
    for ch in text:
        is_ascii = ord(ch) < 128
        if out and out[-1][1] == is_ascii:
            out[-1] = (out[-1][0] + ch, is_ascii)
        else:
            out.append((ch, is_ascii))
    return out
