"""Receipt printer: the exact ESC/POS bytes, Chinese modes, paper status, URLs, errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from escpos.exceptions import DeviceNotFoundError  # type: ignore[import-untyped]
from escpos.printer import Dummy, File, Network  # type: ignore[import-untyped]

from hardware.light_tower import PtyLink
from hardware.printer import (
    FS_CHINESE_OFF,
    FS_CHINESE_ON,
    PaperStatus,
    PrinterError,
    ReceiptPrinter,
    decode_paper_status,
    open_printer,
)
from kiosk.cli import main
from kiosk.core.settings import CoreSettings
from kiosk.errors import ConfigError
from kiosk.replay import DEFAULT_CATALOG, load_catalog_file, replay_lines

from .conftest import SESSIONS

PAPER_QUERY = b"\x10\x04\x04"  # DLE EOT 4
CUT = b"\x1dV\x00"  # GS V 0
BOLD_CENTRE = b"\x1bE\x01\x1ba\x01"
TOTAL_ZH = "合计".encode("gb18030")


@pytest.fixture(scope="module")
def receipt() -> dict[str, Any]:
    with (SESSIONS / "plain-basket.jsonl").open(encoding="utf-8") as fh:
        result = replay_lines(fh, load_catalog_file(DEFAULT_CATALOG), CoreSettings())
    return result.receipts[0]


class PaperSensorDummy(Dummy):  # type: ignore[misc]
    """A Dummy that answers DLE EOT 4 like a printer: the fake sits at the byte edge."""

    def __init__(self, reply: bytes) -> None:
        super().__init__()
        self.reply = reply

    def _read(self) -> bytes:
        return self.reply


class BrokenDummy(Dummy):  # type: ignore[misc]
    def _raw(self, msg: bytes) -> None:
        raise DeviceNotFoundError("cable pulled")


def on(device: Dummy, **kwargs: Any) -> ReceiptPrinter:
    return ReceiptPrinter(lambda: device, **kwargs)


def test_gb18030_mode_sends_chinese_inside_fs_and_and_cuts(receipt: dict[str, Any]) -> None:
    device = Dummy()
    on(device, encoding="gb18030").print_receipt(receipt, "zh")
    out = device.output
    assert out.startswith(b"\x1b@")  # ESC @ resets the printer first
    assert BOLD_CENTRE + b"OpenSCO " in out  # bold, centred header
    assert FS_CHINESE_ON + TOTAL_ZH + FS_CHINESE_OFF in out
    assert out.endswith(CUT)
    assert PAPER_QUERY not in out  # a Dummy cannot answer, so it is not asked


def test_escpos_mode_replaces_chinese_instead_of_crashing(receipt: dict[str, Any]) -> None:
    device = Dummy()
    on(device, encoding="escpos").print_receipt(receipt, "zh")
    out = device.output
    assert b"?" in out
    assert TOTAL_ZH not in out and FS_CHINESE_ON not in out
    assert b"CNY" in out and b"17.90" in out
    assert out.endswith(CUT)


def test_english_receipt_is_plain_ascii_in_both_modes(receipt: dict[str, Any]) -> None:
    jobs = [on(Dummy(), encoding=mode).render(receipt, "en") for mode in ("gb18030", "escpos")]
    for job in jobs:
        # escpos mode may put a code page switch (ESC t n) between the style and the text.
        assert 0 <= job.index(BOLD_CENTRE) < job.index(b"OpenSCO receipt")
        assert b"TOTAL CNY" in job
        assert FS_CHINESE_ON not in job


def test_paper_out_refuses_and_prints_nothing(receipt: dict[str, Any]) -> None:
    device = PaperSensorDummy(bytes([0x72]))
    printer = on(device)
    with pytest.raises(PrinterError, match="out of paper"):
        printer.print_receipt(receipt, "en")
    assert device.output == PAPER_QUERY
    assert printer.health().last_error == "out of paper"


def test_paper_near_end_still_prints(receipt: dict[str, Any]) -> None:
    device = PaperSensorDummy(bytes([0x1E]))
    printer = on(device)
    printer.print_receipt(receipt, "en")
    assert device.output.startswith(PAPER_QUERY) and device.output.endswith(CUT)
    health = printer.health()
    assert health.connected and health.state == "near_end" and health.last_seen_ts_ms


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (b"", PaperStatus.UNKNOWN),  # no answer: python-escpos would say "ok" here
        (b"\x12", PaperStatus.OK),
        (b"\x1e", PaperStatus.NEAR_END),
        (b"\x16", PaperStatus.NEAR_END),
        (b"\x72", PaperStatus.OUT),
        (b"\x7e", PaperStatus.OUT),
        (b"\x10", PaperStatus.UNKNOWN),  # our own query echoed back (loop://)
        (b"\x92", PaperStatus.UNKNOWN),  # bit 7 set: not a status byte
        (b"\x72\x12", PaperStatus.OK),  # the newest byte wins
    ],
)
def test_decode_paper_status(reply: bytes, status: PaperStatus) -> None:
    assert decode_paper_status(reply) is status


def test_file_printer_writes_the_same_bytes_as_dummy(
    receipt: dict[str, Any], tmp_path: Path
) -> None:
    expected = Dummy()
    on(expected).print_receipt(receipt, "zh")
    for url in (f"file:{tmp_path / 'lp0'}", str(tmp_path / "lp1")):
        printer = ReceiptPrinter.from_url(url)
        printer.print_receipt(receipt, "zh")
        printer.close()
        assert Path(url.removeprefix("file:")).read_bytes() == expected.output


def test_library_errors_become_printer_errors_and_it_reopens(receipt: dict[str, Any]) -> None:
    devices: list[Dummy] = [BrokenDummy(), Dummy()]
    printer = ReceiptPrinter(lambda: devices.pop(0), url="dummy:")
    with pytest.raises(PrinterError, match="cable pulled") as caught:
        printer.print_receipt(receipt, "en")
    assert isinstance(caught.value.__cause__, DeviceNotFoundError)
    health = printer.health()
    assert not health.connected and "cable pulled" in (health.last_error or "")
    printer.print_receipt(receipt, "en")  # a fresh device from the opener
    assert printer.health().connected and not devices


def test_unreachable_printer_is_a_printer_error(receipt: dict[str, Any]) -> None:
    def opener() -> Dummy:
        raise DeviceNotFoundError("no such printer")

    printer = ReceiptPrinter(opener)
    assert printer.paper_status() is PaperStatus.UNKNOWN
    with pytest.raises(PrinterError, match="not reachable"):
        printer.print_receipt(receipt, "en")


@pytest.fixture
def serial_printer() -> Iterator[tuple[PtyLink, list[bytes], list[bytes]]]:
    """A printer on a pty: answers DLE EOT 4 with the next queued status byte."""
    pty = PtyLink()
    replies: list[bytes] = []
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            data = pty.read(0.05)
            received.append(data)
            if PAPER_QUERY in data and replies:
                pty.write(replies.pop(0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield pty, replies, received
    stop.set()
    thread.join(timeout=5)
    pty.close()


def test_serial_printer_over_a_real_pty(
    receipt: dict[str, Any], serial_printer: tuple[PtyLink, list[bytes], list[bytes]]
) -> None:
    pty, replies, received = serial_printer
    printer = ReceiptPrinter.from_url(f"serial:{pty.path}?baud=19200")
    replies.extend([b"\x72", b"\x12"])
    with pytest.raises(PrinterError, match="out of paper"):
        printer.print_receipt(receipt, "en")
    printer.print_receipt(receipt, "en")
    printer.close()
    expected = on(Dummy()).render(receipt, "en")
    assert _eventually(lambda: expected in b"".join(received))
    assert printer.health().state == "ok"


@pytest.mark.parametrize(
    ("url", "kind", "attrs"),
    [
        ("dummy:", Dummy, {}),
        ("file:/dev/usb/lp0", File, {"devfile": "/dev/usb/lp0"}),
        ("/dev/usb/lp1", File, {"devfile": "/dev/usb/lp1"}),
        ("network:10.0.0.5", Network, {"host": "10.0.0.5", "port": 9100}),
        ("network:printer.local:9200", Network, {"host": "printer.local", "port": 9200}),
        ("network:[fe80::1]:9101", Network, {"host": "fe80::1", "port": 9101}),
    ],
)
def test_open_printer_urls(url: str, kind: type, attrs: dict[str, Any]) -> None:
    device = open_printer(url)
    assert type(device) is kind
    for key, value in attrs.items():
        assert getattr(device, key) == value


@pytest.mark.parametrize(
    ("url", "port", "baud"),
    [
        ("serial:/dev/ttyUSB0?baud=19200", "/dev/ttyUSB0", 19200),
        ("serial:/dev/ttyS1", "/dev/ttyS1", 9600),
        (
            "serial:socket://10.0.0.9:4000?logging=debug",
            "socket://10.0.0.9:4000?logging=debug",
            9600,
        ),
    ],
)
def test_serial_urls_keep_pyserial_query(url: str, port: str, baud: int) -> None:
    device = open_printer(url)
    assert (device.devfile, device.baudrate) == (port, baud)


@pytest.mark.parametrize(
    "url", ["bogus:x", "usb:zz:01", "usb:04b8", "network:", "network:h:99999", "serial:", "file:"]
)
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        open_printer(url)


def test_cli_prints_the_demo_receipt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "receipt.bin"
    assert main(["printer", "test", "--printer", f"file:{target}", "--lang", "zh"]) == 0
    assert FS_CHINESE_ON + TOTAL_ZH + FS_CHINESE_OFF in target.read_bytes()
    assert "printed the demo receipt" in capsys.readouterr().out


def _eventually(condition: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())
