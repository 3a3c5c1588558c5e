"""Config sections of the receipt printer, the light tower and the payment terminal.

Importing this module registers ``[printer]``, ``[light_tower]`` and ``[payment]``; the
composition root (and the docs test) import it before loading the configuration.
"""

from __future__ import annotations

import kiosk.config  # noqa: F401  (built-in sections register first: a stable docs order)
from kiosk.config_schema import Field, Section, register_section

_PRINTER_URL = r"usb:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}|(serial|network|file):\S+|dummy:|/\S*"
_PRINTER_URL_HELP = (
    "usb:VID:PID (hex), serial:PORT[?baud=N], network:HOST[:PORT], file:PATH, a /path or dummy:"
)
_PORT = r"\S+"
_PORT_HELP = "a serial device such as /dev/ttyUSB0 or a pyserial URL such as socket://HOST:PORT"

PRINTER_SECTION = register_section(
    Section(
        "printer",
        "the ESC/POS receipt printer",
        (
            Field("enabled", bool, False, "print a receipt after each completed sale"),
            Field("url", str, "file:/dev/usb/lp0", "where the printer is",
                  pattern=_PRINTER_URL, pattern_help=_PRINTER_URL_HELP),
            Field("encoding", str, "gb18030",
                  "how text is sent: gb18030 for printers with a Chinese font, escpos lets "
                  "python-escpos pick code pages (Chinese prints as ?)",
                  choices=("gb18030", "escpos")),
            Field("width_chars", int, 42, "characters per line of the paper and font",
                  minimum=32, maximum=64),
        ),
    )
)  # fmt: skip

LIGHT_TOWER_SECTION = register_section(
    Section(
        "light_tower",
        "the status light tower above the lane (Adafruit USB tower, one byte per command)",
        (
            Field("enabled", bool, False, "show the lane's state on the light tower"),
            Field("port", str, "/dev/ttyUSB0", "serial port of the tower",
                  pattern=_PORT, pattern_help=_PORT_HELP),
        ),
    )
)  # fmt: skip

PAYMENT_SECTION = register_section(
    Section(
        "payment",
        "the card payment terminal (semi-integrated: the lane never sees card numbers)",
        (
            Field("enabled", bool, False, "take payments through the terminal"),
            Field("port", str, "/dev/ttyACM0", "serial port or URL of the terminal",
                  pattern=_PORT, pattern_help=_PORT_HELP),
            Field("timeout_s", int, 90,
                  "seconds to wait for the terminal's answer before reporting a timeout",
                  minimum=5, maximum=300),
            Field("currency", str, "",
                  'currency sent to the terminal; "" uses checkout.currency',
                  pattern=r"([A-Z]{3})?", pattern_help="a three-letter ISO 4217 code or \"\""),
        ),
    )
)  # fmt: skip
