"""Datalogic Magellan single-cable RS-232 scanner-scale (scale and scanner on one port).

Frames per research/hardware.md §1.5, from CORE-POS ``NewMagellan/SPH_Magellan_Scale.cs`` and
IS4C ``ssd.c`` (9600 7O1, RTS on; every command and reply ends in <CR>):

    S11<CR> → S11xxxxx     valid (stable) weight, sent once the scale is stable
    S14<CR> → S140 not ready | S141 motion | S142 over capacity | S143 stable zero
              | S144xxxxx stable non-zero weight | S145 under zero
    (unasked) S08<id><data>  a barcode: A UPC-A, E UPC-E, F EAN-13, R DataBar, B1 Code 39
The weight field is in the scanner's configured unit: grams by default here (metric), or
hundredths of a pound (``UnitSettings(WeightUnit.LB, 2)``).
"""

from __future__ import annotations

import re
from typing import ClassVar

from hardware.scale.base import (
    BarcodeFrame,
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

CR = 0x0D
_START = re.compile(rb"S(?:08|1[14])")
# Label identifiers after S08, longest first. A, E, F, R, B1 from CORE-POS ParseData; FF
# (EAN-8), B2 (Interleaved 2 of 5), B3 (Code 128) and R4 (DataBar, label prefix in the
# Magellan 8300 guide, App. G) from Datalogic manuals (🟡). Unknown ids keep the raw letter.
SYMBOLOGIES = (
    ("FF", "EAN8"),
    ("B1", "CODE39"),
    ("B2", "ITF"),
    ("B3", "CODE128"),
    ("R4", "DATABAR"),
    ("A", "UPCA"),
    ("E", "UPCE"),
    ("F", "EAN13"),
    ("R", "DATABAR"),
)
_WEIGHT_DIGITS = re.compile(r"[0-9]{1,6}")


@register
class Magellan(ScaleProtocol):
    name = "magellan"
    description = "Datalogic Magellan single-cable: S14 → S140-S145/S144xxxxx, S11xxxxx, S08 scans"
    port = PortSettings(baudrate=9600, bytesize=7, parity="O", stopbits=1)  # CORE-POS 7O1
    default_units = UnitSettings(WeightUnit.G, 0)  # metric: 5-digit field in grams
    # S14 (monitor) answers at once with motion / over / under / zero / weight, which is what
    # a bagging scale needs; S11 stays silent until the scale settles, so a lack of answer
    # would look like a dead scale. CORE-POS polls S14 too.
    poll_command: ClassVar[bytes | None] = b"S14\r"
    weight_command: ClassVar[bytes] = b"S11\r"
    max_frame_bytes: ClassVar[int] = 128  # DataBar Expanded labels reach ~80 characters

    def parse(self, buffer: bytes) -> tuple[list[Frame], bytes]:
        buf = strip_parity(buffer)  # 7O1: bit 7 may hold parity on an 8-bit port
        frames: list[Frame] = []
        i = 0
        while (cr := buf.find(CR, i)) >= 0:
            line, i = buf[i:cr], cr + 1
            m = _START.search(line)
            if m is None:
                if line.strip():
                    frames.append(ScaleErrorFrame(f"Magellan: no S08/S11/S14 in {line!r}", line))
                continue
            raw = line[m.start() :] + b"\r"  # garbage before the frame start is dropped
            if len(raw) > self.max_frame_bytes:
                frames.append(ScaleErrorFrame(f"Magellan frame too long ({len(raw)} bytes)", raw))
            else:
                frames.append(self.parse_frame(raw[:-1].decode("ascii"), raw))
        rest = buf[i:]
        if len(rest) > self.max_frame_bytes:
            frames.append(ScaleErrorFrame(f"Magellan: {len(rest)} bytes without CR dropped", rest))
            rest = b""
        return frames, rest

    def parse_frame(self, text: str, raw: bytes) -> Frame:
        if text.startswith("S08"):
            return barcode(text[3:].strip(), raw)
        if text.startswith("S11"):
            return self.weight(text[3:], raw)
        code, tail = text[3:4], text[4:]
        if code == "4":
            return self.weight(tail, raw)
        if tail.strip():
            return ScaleErrorFrame(f"Magellan S14{code} with trailing data {tail!r}", raw)
        if code == "0":
            return ScaleReading(None, stable=False, error="not ready", raw=raw)
        if code == "1":
            return ScaleReading(None, stable=False, raw=raw)
        if code == "2":
            return ScaleReading(None, stable=False, over_capacity=True, raw=raw)
        if code == "3":
            return ScaleReading(0, stable=True, at_zero=True, raw=raw)
        if code == "5":
            return ScaleReading(None, stable=False, under_zero=True, raw=raw)
        return ScaleErrorFrame(f"Magellan: unknown scale status {text!r}", raw)

    def weight(self, digits: str, raw: bytes) -> Frame:
        if not _WEIGHT_DIGITS.fullmatch(digits.strip()):
            return ScaleErrorFrame(f"Magellan weight field not digits: {digits!r}", raw)
        grams = field_to_grams(digits, self.units)
        assert grams is not None  # digits only
        return ScaleReading(grams, stable=True, at_zero=grams == 0, raw=raw)

    def respond(self, command: bytes, pan: SimulatedPan) -> bytes:
        if pan.asleep:
            return b""
        cmd = strip_parity(command).strip()
        if cmd not in (b"S11", b"S14"):
            return b""  # S00/S01/S334/...: acted on, no reply
        if pan.weight_g > pan.capacity_g:
            return b"S142\r"
        if pan.weight_g < 0:
            return b"S145\r"
        if not pan.stable:
            # S11 answers only once the scale is stable; S14 reports the motion.
            return b"" if cmd == b"S11" else b"S141\r"
        field = str(self.units.from_grams(pan.weight_g)).zfill(5).encode()
        if cmd == b"S11":
            return b"S11" + field + b"\r"
        return b"S143\r" if pan.weight_g == 0 else b"S144" + field + b"\r"

    def barcode_frame(self, data: str, symbology: str = "UPCA") -> bytes:
        """Simulator side: an unasked scan, ``S08`` + label identifier + data + CR."""
        ident = next((k for k, v in SYMBOLOGIES if v == symbology), symbology)
        return b"S08" + ident.encode() + data.encode() + b"\r"


def barcode(body: str, raw: bytes) -> Frame:
    """``<id><data>`` after S08 → BarcodeFrame; an unknown id keeps its raw letter."""
    for ident, name in SYMBOLOGIES:
        if body.startswith(ident) and len(body) > len(ident):
            return BarcodeFrame(body[len(ident) :], name, raw)
    if len(body) < 2:
        return ScaleErrorFrame(f"Magellan S08 without label data {body!r}", raw)
    return BarcodeFrame(body[1:], body[0], raw)
