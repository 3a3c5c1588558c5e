"""NCI / Weigh-Tronix SCP-01 and SCP-02 (NCR-style POS scales, Avery Berkel ECR mode).

Frames per research/hardware.md §1.3, from the Weigh-Tronix NCI SCP-01 documentation quoted by
an Arduino Weigh-Tronix simulator, and the lightspeedbulk ``NCI`` class (9600 7E1):

    W<CR> → <LF>xxxx.xxuu<CR><LF>hh..<CR><ETX>     weight + unit (lb, kg, oz, g) + status
          → <LF>xxlb xx.xoz<CR><LF>hh..<CR><ETX>   lb-oz mode
          → <LF>cccccccuu<CR><LF>hh..<CR><ETX>     non-weight display contents
    S<CR> / Z<CR> → <LF>hh..<CR><ETX>              status only
    unknown       → <LF>?<CR><ETX>
SCP-02 writes an 'S' before the status bytes (<LF>Shh<CR><ETX>); both are accepted.
"""

from __future__ import annotations

import re
from typing import ClassVar

from hardware.scale.base import (
    Frame,
    PortSettings,
    ScaleErrorFrame,
    ScaleProtocol,
    ScaleReading,
    SimulatedPan,
    UnitSettings,
    WeightUnit,
    field_to_grams,
    register,
    strip_parity,
)

LF, ETX = 0x0A, 0x03
# Status bytes have bits 4 and 5 always 1 (0x30-0x3F), bit 6 = "another byte follows".
_FRAME = re.compile(rb"(?:\n([^\r\n]*)\r)?\n(S?)([\x30-\x3f\x70-\x7f]{2,3})\r\Z")
_UNKNOWN = re.compile(rb"\n\?\r\Z")
_WEIGHT = re.compile(r"([+-]? *[0-9.]+) *([A-Za-z]{0,2})")
_LB_OZ = re.compile(r"([0-9]+) *[Ll][Bb] +([0-9]+(?:\.[0-9]*)?) *[Oo][Zz]")
_UNITS = {"LB": WeightUnit.LB, "KG": WeightUnit.KG, "G": WeightUnit.G}
# Error bits per status byte (byte 1 bits 2-3, byte 2 bits 2-3, byte 3 bit 3).
_ERRORS = (
    ((4, "RAM error"), (8, "EEPROM error")),
    ((4, "ROM error"), (8, "faulty calibration")),
    ((8, "initial zero error"),),
)
OZ_PER_LB = 16


def oz_to_grams(text: str) -> int | None:
    """Ounces → grams (1 oz = 453.59237 / 16 g), half-up."""
    m = re.fullmatch(r" *([+-]?) *([0-9]*)(?:\.([0-9]*))? *", text)
    if m is None or not (m.group(2) or m.group(3)):
        return None
    sign, whole, frac = m.group(1), m.group(2), m.group(3) or ""
    num = int(whole + frac or "0") * 45_359_237
    den: int = 10 ** len(frac) * 100_000 * OZ_PER_LB
    grams = (2 * num + den) // (2 * den)
    return -grams if sign == "-" else grams


@register
class Nci(ScaleProtocol):
    name = "nci"
    description = "NCI/Weigh-Tronix SCP-01/02: W<CR> → <LF>weight<CR><LF>status<CR><ETX>"
    port = PortSettings(baudrate=9600, bytesize=7, parity="E", stopbits=1)  # 7E1 (typical ❓)
    default_units = UnitSettings()  # kg, 3 decimals ("01.234KG", SCP-02 layout)
    poll_command: ClassVar[bytes | None] = b"W\r"
    zero_command: ClassVar[bytes | None] = b"Z\r"
    status_command: ClassVar[bytes] = b"S\r"

    def __init__(self, units: UnitSettings | None = None, *, scp02: bool = False) -> None:
        super().__init__(units)
        self.status_prefix = b"S" if scp02 else b""  # respond() only; parse accepts both

    def parse(self, buffer: bytes) -> tuple[list[Frame], bytes]:
        buf = strip_parity(buffer)  # 7E1: bit 7 may hold parity on an 8-bit port
        frames: list[Frame] = []
        i = 0
        while (etx := buf.find(ETX, i)) >= 0:
            segment, i = buf[i:etx], etx + 1
            lf = segment.find(LF)
            if lf < 0:
                continue  # no frame start before ETX: garbage
            raw = segment[lf:] + b"\x03"
            if len(raw) > self.max_frame_bytes:
                frames.append(ScaleErrorFrame(f"NCI frame too long ({len(raw)} bytes)", raw))
            else:
                frames.append(self.parse_frame(segment, raw))
        lf = buf.find(LF, i)
        rest = buf[lf:] if lf >= 0 else b""
        if len(rest) > self.max_frame_bytes:
            frames.append(ScaleErrorFrame(f"NCI: {len(rest)} bytes without ETX dropped", rest))
            rest = b""
        return frames, rest

    def parse_frame(self, segment: bytes, raw: bytes) -> Frame:
        if _UNKNOWN.search(segment):
            return ScaleErrorFrame("NCI: scale answered '?' (unknown command)", raw)
        m = _FRAME.search(segment)
        if m is None:
            return ScaleErrorFrame("NCI frame without valid status bytes", raw)
        line, status = m.group(1), m.group(3)
        pairs = zip(status, _ERRORS, strict=False)  # byte 3 is optional
        errors = [text for byte, table in pairs for bit, text in table if byte & bit]
        if errors:
            return ScaleErrorFrame("NCI status: " + ", ".join(errors), raw)
        s1, s2 = status[0], status[1]
        s3 = status[2] if len(status) > 2 else 0x30
        grams, error = self.weight(line.decode("ascii")) if line is not None else (None, None)
        over = bool(s2 & 2)
        return ScaleReading(
            weight_g=None if over else grams,
            stable=not s1 & 1,
            at_zero=bool(s1 & 2),
            under_zero=bool(s2 & 1) or (grams is not None and grams < 0),
            over_capacity=over,
            net=bool(s3 & 4),
            error=error,
            raw=raw,
        )

    def weight(self, line: str) -> tuple[int | None, str | None]:
        """Weight line → (grams, None), or (None, what the display showed)."""
        if m := _LB_OZ.fullmatch(line.strip()):
            lb = field_to_grams(m.group(1), self.units, WeightUnit.LB)
            oz = oz_to_grams(m.group(2))
            if lb is not None and oz is not None:
                return lb + oz, None
        if m := _WEIGHT.fullmatch(line.strip()):
            unit_text = m.group(2).upper()
            if unit_text == "OZ":
                return oz_to_grams(m.group(1)), None
            if not unit_text or unit_text in _UNITS:
                unit = _UNITS.get(unit_text)
                # No unit letters: the configured unit and decimals apply.
                grams = field_to_grams(m.group(1), self.units, unit)
                if grams is not None:
                    return grams, None
        return None, f"display shows {line.strip()!r}"

    def status_bytes(self, pan: SimulatedPan) -> bytes:
        s1 = 0x30 | (0 if pan.stable else 1) | (2 if pan.weight_g == 0 else 0)
        s2 = 0x30 | (1 if pan.weight_g < 0 else 0) | (2 if pan.weight_g > pan.capacity_g else 0)
        if not pan.tare_g:
            return self.status_prefix + bytes([s1, s2])
        return self.status_prefix + bytes([s1, s2 | 0x40, 0x30 | 4])  # byte 3: net weight

    def respond(self, command: bytes, pan: SimulatedPan) -> bytes:
        if pan.asleep:
            return b""
        cmd = strip_parity(command).strip()
        status = b"\n" + self.status_bytes(pan) + b"\r\x03"
        if cmd in (b"S", b"Z"):
            return status
        if cmd != b"W":
            return b"\n?\r\x03"
        if pan.weight_g < 0 or pan.weight_g > pan.capacity_g:
            return status  # no weight to show: status bytes carry under/over
        digits = 2 if self.units.decimals >= 3 else 4  # "01.234KG" (SCP-02), "0001.25LB"
        field = self.units.format(pan.weight_g, int_digits=digits)
        unit = self.units.unit.value.upper().encode()
        return b"\n" + field.encode() + unit + b"\r" + status
