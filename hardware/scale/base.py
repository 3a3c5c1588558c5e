"""What every scale protocol provides, and what every reading says.

A protocol is pure: bytes in, frames out; it never touches a port. The serial adapter
(``hardware.scale.serial_adapter``) owns the I/O and feeds received bytes to ``parse``.
The simulator uses the same protocol's ``respond`` to speak the vendor's frames.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from kiosk.core.inputs import Platform, WeightReading, WeightStatus
from kiosk.errors import ConfigError


class WeightUnit(StrEnum):
    KG = "kg"
    LB = "lb"
    G = "g"


@dataclass(frozen=True)
class UnitSettings:
    """How a scale's weight field is written: unit and implied decimals."""

    unit: WeightUnit = WeightUnit.KG
    decimals: int = 3

    def to_grams(self, digits: int) -> int:
        """Integer field value (decimal point removed) → integer grams, half-up."""
        scale: int = 10**self.decimals
        if self.unit is WeightUnit.G:
            num, den = digits, scale
        elif self.unit is WeightUnit.KG:
            num, den = digits * 1000, scale
        else:  # 1 lb = 453.59237 g exactly
            num, den = digits * 45_359_237, scale * 100_000
        sign = -1 if num < 0 else 1
        return sign * ((2 * abs(num) + den) // (2 * den))

    def from_grams(self, grams: int) -> int:
        """Integer grams → integer field value (decimal point removed), half-up."""
        scale: int = 10**self.decimals
        if self.unit is WeightUnit.G:
            num, den = grams * scale, 1
        elif self.unit is WeightUnit.KG:
            num, den = grams * scale, 1000
        else:
            num, den = grams * scale * 100_000, 45_359_237
        sign = -1 if num < 0 else 1
        return sign * ((2 * abs(num) + den) // (2 * den))

    def format(self, grams: int, int_digits: int = 1) -> str:
        """Grams → unsigned field text with a decimal point, e.g. ``01.234``."""
        value = abs(self.from_grams(grams))
        if self.decimals == 0:
            return str(value).zfill(int_digits)
        whole, frac = divmod(value, 10**self.decimals)
        return f"{str(whole).zfill(int_digits)}.{str(frac).zfill(self.decimals)}"


_UNIT_NAMES = {"kg": WeightUnit.KG, "g": WeightUnit.G, "lb": WeightUnit.LB, "lbs": WeightUnit.LB}
_NUMBER = re.compile(r"([+-]?) *([0-9]*)(?:\.([0-9]*))?")
_STRIP_BIT7 = bytes(range(128)) * 2


def unit_from_text(text: str) -> WeightUnit | None:
    """A unit written in a frame (``kg``, ``KG``, ``g``, ``lb``) → WeightUnit, else None."""
    return _UNIT_NAMES.get(text.strip().lower())


def strip_parity(data: bytes) -> bytes:
    """Clear bit 7 of every byte: a 7E1/7O1 scale read on an 8N1 port leaves parity there."""
    return data.translate(_STRIP_BIT7)


def field_to_grams(text: str, units: UnitSettings, unit: WeightUnit | None = None) -> int | None:
    """Weight field text (``' -1.234'``, ``'01234'``) → integer grams; None if not a number.

    A decimal point in the field wins over ``units.decimals``. ``unit`` is a unit written in
    the frame: it overrides ``units.unit``, and without a decimal point means 0 decimals."""
    m = _NUMBER.fullmatch(text.strip())
    if m is None or not (m.group(2) or m.group(3)) or len(text) > 32:
        return None
    sign, whole, frac = m.groups()
    # The field's own decimal point wins; a unit written in the frame without one means 0.
    decimals = len(frac) if frac is not None else units.decimals if unit is None else 0
    grams = UnitSettings(unit or units.unit, decimals).to_grams(int(whole + (frac or "") or "0"))
    return -grams if sign == "-" else grams


@dataclass(frozen=True)
class PortSettings:
    baudrate: int = 9600
    bytesize: int = 8  # 7 or 8
    parity: str = "N"  # pyserial constants: "N", "E", "O"
    stopbits: float = 1
    rtscts: bool = False


@dataclass(frozen=True)
class ScaleReading:
    """One weight frame, as the scale said it. ``weight_g`` is None when the frame
    carries no usable weight (motion-only status, over capacity, error)."""

    weight_g: int | None
    stable: bool
    at_zero: bool = False
    under_zero: bool = False
    over_capacity: bool = False
    net: bool = False  # a tare is applied
    tare_g: int | None = None
    error: str | None = None  # what the scale reported, e.g. "ES syntax error"
    raw: bytes = b""

    @property
    def flags(self) -> list[str]:
        names = ("stable", "at_zero", "under_zero", "over_capacity", "net")
        out = [n for n in names if getattr(self, n)]
        if not self.stable:
            out.append("motion")
        if self.error:
            out.append("error")
        return out

    def status(self) -> WeightStatus:
        if self.under_zero:
            return WeightStatus.UNDER_ZERO
        if self.over_capacity:
            return WeightStatus.OVER_CAPACITY
        return WeightStatus.OK

    def to_input(self, ts_ms: int, platform: Platform) -> WeightReading:
        weight = self.weight_g if self.weight_g is not None else 0
        return WeightReading(ts_ms, platform, weight, self.stable, self.status())


@dataclass(frozen=True)
class BarcodeFrame:
    """A barcode sent by a scanner-scale on the same cable (Magellan ``S08``)."""

    data: str
    symbology: str = ""
    raw: bytes = b""


@dataclass(frozen=True)
class ScaleErrorFrame:
    """The scale answered, but with an error or a frame we could not understand."""

    message: str
    raw: bytes = b""


Frame = ScaleReading | BarcodeFrame | ScaleErrorFrame


@dataclass
class SimulatedPan:
    """What the simulator's pan holds right now (the simulator drives it over time)."""

    weight_g: int = 0
    stable: bool = True
    tare_g: int = 0
    capacity_g: int = 15_000
    zero_offset_g: int = 0
    asleep: bool = False  # answers nothing
    extra: dict[str, int] = field(default_factory=dict)


class ScaleProtocol:
    """Base of every protocol. Subclasses set the class attributes and implement
    ``parse`` (host side) and ``respond`` (simulator side)."""

    name: ClassVar[str]
    description: ClassVar[str]
    port: ClassVar[PortSettings]
    default_units: ClassVar[UnitSettings] = UnitSettings()
    poll_command: ClassVar[bytes | None]  # None: the scale streams without being asked
    zero_command: ClassVar[bytes | None] = None
    tare_command: ClassVar[bytes | None] = None
    max_frame_bytes: ClassVar[int] = 64  # longer garbage is dropped, never buffered forever

    def __init__(self, units: UnitSettings | None = None) -> None:
        self.units = units or self.default_units

    def parse(self, buffer: bytes) -> tuple[list[Frame], bytes]:
        """Split received bytes into complete frames; return them and the unparsed rest.
        Must never raise: garbage becomes ScaleErrorFrame or is skipped to the next frame
        start, and the rest is capped at ``max_frame_bytes``."""
        raise NotImplementedError

    def respond(self, command: bytes, pan: SimulatedPan) -> bytes:
        """Simulator side: the vendor's reply to ``command`` for the pan's state."""
        raise NotImplementedError

    def stream_frame(self, pan: SimulatedPan) -> bytes:
        """Simulator side, streaming protocols only: one unsolicited frame."""
        raise NotImplementedError


SCALE_PROTOCOLS: dict[str, type[ScaleProtocol]] = {}


def register(cls: type[ScaleProtocol]) -> type[ScaleProtocol]:
    if cls.name in SCALE_PROTOCOLS:
        raise RuntimeError(f"duplicate scale protocol {cls.name!r}")
    SCALE_PROTOCOLS[cls.name] = cls
    return cls


def get_protocol(name: str, units: UnitSettings | None = None) -> ScaleProtocol:
    import hardware.scale.protocols  # noqa: F401  (registers the built-in protocols)

    try:
        cls = SCALE_PROTOCOLS[name]
    except KeyError:
        known = ", ".join(sorted(SCALE_PROTOCOLS))
        raise ConfigError(f"unknown scale protocol {name!r}; known: {known}") from None
    return cls(units)
