"""Mettler Toledo MT-SICS (Standard Interface Command Set), level 0/1 weighing commands.

Frames per research/hardware.md §1.2, from InstrumentKit ``mettler_toledo/mt_sics.py`` and the
``mettler_toledo_device`` README (9600 8N1, every command and reply ends in <CR><LF>):

    S  → S S <value> <unit>            stable weight; S I = not executable (no stability)
    SI → S S|D <value> <unit>          immediate weight, D = dynamic (in motion)
         S + / S -                     overload / underload
    Z  → Z A | Z I | Z + | Z -         zero done / not done / above / below the zero range
    T  → T S <tare> <unit> | T I ...   tare set (value = tare weight)
    ES / ET / EL                       syntax / transmission / logical error (whole line)
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
    field_to_grams,
    register,
    strip_parity,
    unit_from_text,
)

LF = 0x0A
# "<cmd> <status> [value unit]" split on whitespace (InstrumentKit); anchored at the line end
# so garbage before the reply is skipped.
_REPLY = re.compile(r"(SIR|SI|S|ZI|Z|TI|T) +([SDAI+\-L])(?: +([+-]? *[0-9.]+) *([A-Za-z]*))? *$")
_GENERAL = re.compile(r"(?:^|[^A-Z])(E[STL])$")
_GENERAL_ERRORS = {"ES": "syntax error", "ET": "transmission error", "EL": "logical error"}
_STATUS_ERRORS = {
    "I": "not executable (busy or not ready)",
    "L": "logical error",
    "+": "upper limit exceeded",
    "-": "lower limit exceeded",
}


@register
class Sics(ScaleProtocol):
    name = "sics"
    description = "Mettler Toledo MT-SICS: SI/S → 'S S|D value unit', Z, T, ES/ET/EL"
    port = PortSettings(baudrate=9600, bytesize=8, parity="N", stopbits=1)  # SICS default 8N1
    default_units = UnitSettings()  # kg, 3 decimals; the unit in each reply overrides it
    # SI answers at once (S D while in motion), so a poll always gets the current state.
    poll_command: ClassVar[bytes | None] = b"SI\r\n"
    stable_command: ClassVar[bytes] = b"S\r\n"  # waits for stability, S I on timeout
    zero_command: ClassVar[bytes | None] = b"Z\r\n"
    tare_command: ClassVar[bytes | None] = b"T\r\n"

    def parse(self, buffer: bytes) -> tuple[list[Frame], bytes]:
        # 8N1, but a 7-bit configured balance on an 8-bit port may set bit 7: mask it.
        buf = strip_parity(buffer)
        frames: list[Frame] = []
        i = 0
        while (lf := buf.find(LF, i)) >= 0:
            raw = buf[i : lf + 1]
            i = lf + 1
            line = raw.rstrip(b"\r\n").decode("ascii")
            if not line.strip():
                continue
            if len(raw) > self.max_frame_bytes:
                frames.append(ScaleErrorFrame(f"SICS line too long ({len(raw)} bytes)", raw))
                continue
            frames.append(self.parse_line(line.rstrip(), raw))
        rest = buf[i:]
        if len(rest) > self.max_frame_bytes:
            frames.append(ScaleErrorFrame(f"SICS: {len(rest)} bytes without CR LF dropped", rest))
            rest = b""
        return frames, rest

    def parse_line(self, line: str, raw: bytes) -> Frame:
        general = _GENERAL.search(line)
        if general:
            code = general.group(1)
            return ScaleErrorFrame(f"{code} {_GENERAL_ERRORS[code]}", raw)
        m = _REPLY.search(line)
        if m is None:
            return ScaleErrorFrame(f"unrecognised SICS reply {line!r}", raw)
        cmd, status, value, unit_text = m.groups()
        grams: int | None = None
        if value is not None:
            unit = unit_from_text(unit_text) if unit_text else None
            if unit_text and unit is None:
                return ScaleErrorFrame(f"SICS unit {unit_text!r} not supported", raw)
            grams = field_to_grams(value, self.units, unit)
            if grams is None:
                return ScaleErrorFrame(f"SICS value not a number: {value!r}", raw)
        if cmd.startswith("S"):
            return self._weight(status, grams, raw)
        if cmd.startswith("Z") and status == "A":
            # "Z A": zero set, the balance now reads gross zero.
            return ScaleReading(weight_g=0, stable=True, at_zero=True, raw=raw)
        if cmd.startswith("T") and status == "S" and grams is not None:
            # "T S <tare>": tare taken, the display now reads net zero.
            return ScaleReading(0, True, at_zero=True, net=grams != 0, tare_g=grams, raw=raw)
        reason = _STATUS_ERRORS.get(status, f"status {status!r}")
        return ScaleErrorFrame(f"{cmd} {status}: {reason}", raw)

    def _weight(self, status: str, grams: int | None, raw: bytes) -> Frame:
        if status == "+":
            return ScaleReading(None, stable=False, over_capacity=True, raw=raw)
        if status == "-":
            return ScaleReading(None, stable=False, under_zero=True, raw=raw)
        if status == "I":
            return ScaleReading(None, stable=False, error="not ready", raw=raw)
        if status in "SD" and grams is not None:
            return ScaleReading(
                weight_g=grams,
                stable=status == "S",
                at_zero=grams == 0,
                under_zero=grams < 0,
                raw=raw,
            )
        return ScaleErrorFrame(f"S {status}: {_STATUS_ERRORS.get(status, 'no weight')}", raw)

    def value(self, grams: int) -> bytes:
        """'<value> <unit>' with the value right-aligned in 10 characters (MT-SICS layout)."""
        sign = "-" if self.units.from_grams(grams) < 0 else ""
        return f"{sign + self.units.format(grams):>10} {self.units.unit.value}".encode()

    def respond(self, command: bytes, pan: SimulatedPan) -> bytes:
        if pan.asleep:
            return b""
        cmd = strip_parity(command).strip().decode("ascii", "replace")
        over, under = pan.weight_g > pan.capacity_g, pan.weight_g < 0
        if cmd in ("S", "SI", "SIR"):
            if over:
                return b"S +\r\n"
            if under:
                return b"S -\r\n"
            if cmd == "S" and not pan.stable:
                return b"S I\r\n"  # S waits for stability; the simulator reports timeout
            status = b"S" if pan.stable else b"D"
            return b"S " + status + b" " + self.value(pan.weight_g) + b"\r\n"
        if cmd in ("Z", "ZI"):
            if over or under:
                return b"Z " + (b"+" if over else b"-") + b"\r\n"
            return b"Z A\r\n" if pan.stable or cmd == "ZI" else b"Z I\r\n"
        if cmd in ("T", "TI"):
            if over or under:
                return b"T " + (b"+" if over else b"-") + b"\r\n"
            if not pan.stable and cmd == "T":
                return b"T I\r\n"
            # The new tare is the gross load now on the pan (respond runs before the change).
            return b"T S " + self.value(pan.weight_g + pan.tare_g) + b"\r\n"
        return b"ES\r\n"
