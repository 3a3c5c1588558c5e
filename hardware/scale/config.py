"""The ``[scan_scale]`` and ``[bagging_scale]`` config sections, and a scale built from one.

Importing this module registers both sections (``kiosk.config`` then validates them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import kiosk.config  # noqa: F401  (built-in sections register first: a stable docs order)
from hardware.scale.base import PortSettings, UnitSettings, WeightUnit, get_protocol
from hardware.scale.serial_adapter import BarcodeCallback, ReadingCallback, SerialScale
from hardware.scale.stability import StabilityFilter
from kiosk.config_schema import Field, Section, register_section
from kiosk.core.inputs import Platform

# The built-in protocols (hardware/scale/protocols); a test keeps the two lists equal.
PROTOCOL_NAMES = ("toledo8217", "sics", "nci", "magellan", "continuous")
BAUDRATES = (0, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


def _check_port(values: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    if values["enabled"] and not values["port"].strip():
        yield "port", 'must be set when the scale is enabled, e.g. "/dev/ttyUSB0"'


def _section(platform: Platform, what: str, division_g: int, zero_at_start: bool) -> Section:
    return Section(
        f"{platform.value}_scale",
        f"the {what} on a serial port",
        (
            Field("enabled", bool, False, "this lane has the scale"),
            Field("port", str, "",
                  'serial port or URL: "/dev/ttyUSB0", "socket://host:4001", '
                  '"rfc2217://host:2217"'),
            Field("protocol", str, "toledo8217", "what the scale speaks on the wire",
                  choices=PROTOCOL_NAMES),
            Field("unit", str, "", 'unit of the weight field; "" = the protocol\'s default',
                  choices=("", "kg", "lb", "g")),
            Field("decimals", int, 3, "implied decimals of the weight field, when unit is set",
                  minimum=0, maximum=4),
            Field("poll_hz", int, 5, "weight requests per second", minimum=1, maximum=50),
            Field("baudrate", int, 0, "line speed; 0 = the protocol's default",
                  choices=BAUDRATES),
            Field("bytesize", int, 0, "data bits; 0 = the protocol's default",
                  choices=(0, 7, 8)),
            Field("parity", str, "", 'parity N, E or O; "" = the protocol\'s default',
                  choices=("", "N", "E", "O")),
            Field("stopbits", int, 0, "stop bits; 0 = the protocol's default",
                  choices=(0, 1, 2)),
            Field("division_g", int, division_g,
                  "scale division in grams: readings this close count as the same weight",
                  minimum=1, maximum=100),
            Field("stability_window_n", int, 3,
                  "readings in a row within one division before a weight counts as stable",
                  minimum=1, maximum=50),
            Field("settle_ms", int, 250,
                  "milliseconds those readings must stay within one division",
                  minimum=0, maximum=5_000),
            Field("offline_after_missed", int, 5,
                  "unanswered polls in a row before the scale is reported offline",
                  minimum=1, maximum=100),
            Field("require_zero_at_start", bool, zero_at_start,
                  "a weight already on the pan at start is not trusted until it reads zero"),
        ),
        checks=(_check_port,),
    )  # fmt: skip


SCAN_SCALE_SECTION = register_section(
    _section(Platform.SCAN, "produce scale under the scanner", 5, True)
)
# The bagging area may hold bags when the lane restarts mid-session: trust it at once.
BAGGING_SCALE_SECTION = register_section(
    _section(Platform.BAGGING, "security scale in the bagging area", 10, False)
)


def port_settings(values: Mapping[str, Any], default: PortSettings) -> PortSettings:
    """The protocol's port settings with the section's non-default overrides applied."""
    overrides: dict[str, Any] = {}
    for key in ("baudrate", "bytesize", "parity", "stopbits"):
        if values[key]:
            overrides[key] = values[key]
    return replace(default, **overrides)


def scale_from_config(
    values: Mapping[str, Any],
    platform: Platform,
    on_reading: ReadingCallback,
    on_barcode: BarcodeCallback | None = None,
) -> SerialScale | None:
    """A (not yet started) adapter for one validated section; None when it is disabled."""
    if not values["enabled"] or not values["port"]:
        return None
    units = UnitSettings(WeightUnit(values["unit"]), values["decimals"]) if values["unit"] else None
    protocol = get_protocol(values["protocol"], units)
    return SerialScale(
        values["port"],
        protocol,
        platform,
        poll_hz=values["poll_hz"],
        on_reading=on_reading,
        on_barcode=on_barcode,
        port_settings=port_settings(values, protocol.port),
        stability=StabilityFilter(
            values["division_g"], values["stability_window_n"], values["settle_ms"]
        ),
        offline_after_missed=values["offline_after_missed"],
        zero_before_trust=values["require_zero_at_start"],
    )
