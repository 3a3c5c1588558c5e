"""Scales that stream frames without being asked. Two formats, told apart by the first byte:

Mettler Toledo standard continuous output (research/hardware.md §1.6, from a Rust parser in the
code index; 7E1):
    <STX> SWA SWB SWC wwwwww tttttt <CR> [checksum]
    SWA bits 0-2 decimal point code: exponent = 2 - code  (2 = "X", 5 = "X.XXX")
    SWB bit0 net, bit1 negative, bit2 out of range, bit3 motion, bit4 1 = kg / 0 = lb
    SWC bits 0-2 unit override, 1 = grams (🟡 Toledo indicator manuals; 0 = SWB's kg/lb)
    checksum: 7-bit sum of all 18 bytes ≡ 0 (mod 128), only when the indicator enables it
CAS / A&D-style text lines (§1.6, 🟡 integrations, not a CAS manual):
    ST,GS,+  1.234kg<CR><LF>   ST stable | US unstable | OL overload; GS gross | NT net
    ST,+  1.234kg<CR><LF>      the same without the gross/net field (A&D-style)
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
    unit_from_text,
)

STX, CR, LF = 0x02, 0x0D, 0x0A
TOLEDO_LEN = 17  # STX .. CR, without the optional checksum
NET, NEGATIVE, OUT_OF_RANGE, MOTION, KG = 1, 2, 4, 8, 16  # SWB bits
ALWAYS_ONE = 0x20  # bit 5 of SWA/SWB/SWC
INCREMENT_X1 = 0x08  # SWA bits 3-4 = 01: count by 1
_CAS = re.compile(r"(ST|US|OL) *, *(?:(GS|NT) *, *)?([+-]?) *([0-9.]*) *([A-Za-z]*) *$")


def checksum(frame: bytes) -> int:
    """The byte that makes the 7-bit sum of the whole frame 0 (mod 128)."""
    return -sum(frame) & 0x7F


@register
class Continuous(ScaleProtocol):
    name = "continuous"
    description = "Streaming scales: Toledo continuous <STX>SWA SWB SWC weight tare<CR>, CAS lines"
    port = PortSettings(baudrate=9600, bytesize=7, parity="E", stopbits=1)  # 7E1 (typical ❓)
    default_units = UnitSettings()  # kg, 3 decimals; each frame states its own unit
    poll_command: ClassVar[bytes | None] = None  # streams without being asked

    def __init__(
        self,
        units: UnitSettings | None = None,
        *,
        checksum: bool = False,
        stream_format: str = "toledo",
    ) -> None:
        super().__init__(units)
        # With checksum=True a Toledo frame waits for its checksum byte and is verified;
        # otherwise a byte after the CR (checksum or not) is skipped as inter-frame noise.
        self.checksum = checksum
        self.stream_format = stream_format

    def parse(self, buffer: bytes) -> tuple[list[Frame], bytes]:
        buf = strip_parity(buffer)  # 7-bit protocol: bit 7 may hold parity on an 8-bit port
        frames: list[Frame] = []
        i, n = 0, len(buf)
        while True:
            stx, lf = buf.find(STX, i), buf.find(LF, i)
            if stx >= 0 and (lf < 0 or stx < lf):
                # Toledo frame: the bytes before STX are noise (or a previous checksum).
                cr = buf.find(CR, stx + 1)
                nxt = buf.find(STX, stx + 1, cr if cr >= 0 else n)
                if nxt >= 0:
                    if nxt > stx + 1:  # a lone 0x02 is a checksum byte or noise: skip it
                        raw = buf[stx:nxt]
                        frames.append(ScaleErrorFrame("Toledo partial frame: STX before CR", raw))
                    i = nxt
                    continue
                whole = cr - stx + 1 == TOLEDO_LEN
                end = cr + 2 if self.checksum and whole else cr + 1
                if cr < 0 or end > n:
                    rest = buf[stx:]
                    break
                frames.append(self.toledo(buf[stx:end]))
                i = end
            elif lf >= 0:
                raw, i = buf[i : lf + 1], lf + 1
                line = raw.strip(b"\r\n\x00 ")
                if len(raw) > self.max_frame_bytes:
                    frames.append(ScaleErrorFrame(f"line too long ({len(raw)} bytes)", raw))
                elif line:
                    frames.append(self.cas(line.decode("ascii"), raw))
            else:
                rest = buf[i:]
                break
        if len(rest) > self.max_frame_bytes:
            frames.append(ScaleErrorFrame(f"{len(rest)} bytes without a frame end dropped", rest))
            rest = b""
        return frames, rest

    def toledo(self, raw: bytes) -> Frame:
        body = raw[:TOLEDO_LEN]
        if len(body) != TOLEDO_LEN or body[-1] != CR:
            return ScaleErrorFrame(f"Toledo frame is {len(body)} bytes, expected 17", raw)
        if self.checksum and sum(raw) & 0x7F:
            return ScaleErrorFrame("Toledo checksum mismatch", raw)
        swa, swb, swc = body[1], body[2], body[3]
        weight, tare = body[4:10].decode("ascii"), body[10:16].decode("ascii")
        if not (weight.isdigit() and tare.isdigit()):  # ASCII only: parity was stripped
            return ScaleErrorFrame(f"Toledo weight/tare not digits: {weight!r} {tare!r}", raw)
        decimals = max(0, (swa & 7) - 2)  # exponent 2 - code; X00/X0 fields are scaled below
        factor = 10 ** max(0, 2 - (swa & 7))
        unit = WeightUnit.G if swc & 7 == 1 else WeightUnit.KG if swb & KG else WeightUnit.LB
        units = UnitSettings(unit, decimals)
        grams = units.to_grams(int(weight) * factor)
        tare_g = units.to_grams(int(tare) * factor)
        negative, out_of_range = bool(swb & NEGATIVE), bool(swb & OUT_OF_RANGE)
        return ScaleReading(
            weight_g=None if out_of_range else -grams if negative else grams,
            stable=not swb & MOTION,
            at_zero=grams == 0 and not out_of_range,
            under_zero=negative and (grams != 0 or out_of_range),
            over_capacity=out_of_range and not negative,
            net=bool(swb & NET),
            tare_g=tare_g,
            raw=raw,
        )

    def cas(self, line: str, raw: bytes) -> Frame:
        m = _CAS.search(line)
        if m is None:
            return ScaleErrorFrame(f"unrecognised continuous line {line!r}", raw)
        state, mode, sign, value, unit_text = m.groups()
        net = mode == "NT"
        if state == "OL":
            return ScaleReading(None, stable=False, over_capacity=True, net=net, raw=raw)
        unit = unit_from_text(unit_text) if unit_text else None
        if unit_text and unit is None:
            return ScaleErrorFrame(f"continuous unit {unit_text!r} not supported", raw)
        grams = field_to_grams(sign + value, self.units, unit)
        if grams is None:
            return ScaleErrorFrame(f"continuous weight not a number: {value!r}", raw)
        return ScaleReading(
            weight_g=grams,
            stable=state == "ST",
            at_zero=grams == 0,
            under_zero=grams < 0,
            net=net,
            raw=raw,
        )

    def respond(self, command: bytes, pan: SimulatedPan) -> bytes:
        return b""  # nothing to ask: the scale streams (see stream_frame)

    def stream_frame(self, pan: SimulatedPan) -> bytes:
        if pan.asleep:
            return b""
        if self.stream_format == "cas":
            return self.cas_line(pan)
        return self.toledo_frame(pan)

    def toledo_frame(self, pan: SimulatedPan) -> bytes:
        units = self.units
        swa = ALWAYS_ONE | INCREMENT_X1 | min(7, units.decimals + 2)
        swb = ALWAYS_ONE | (KG if units.unit is not WeightUnit.LB else 0)
        swb |= (NET if pan.tare_g else 0) | (0 if pan.stable else MOTION)
        swb |= NEGATIVE if pan.weight_g < 0 else 0
        swb |= OUT_OF_RANGE if pan.weight_g > pan.capacity_g else 0
        swc = ALWAYS_ONE | (1 if units.unit is WeightUnit.G else 0)
        weight = min(999_999, abs(units.from_grams(pan.weight_g)))
        tare = min(999_999, abs(units.from_grams(pan.tare_g)))
        frame = bytes([STX, swa, swb, swc]) + b"%06d%06d\r" % (weight, tare)
        return frame + bytes([checksum(frame)])

    def cas_line(self, pan: SimulatedPan) -> bytes:
        state = "OL" if pan.weight_g > pan.capacity_g else "ST" if pan.stable else "US"
        mode = "NT" if pan.tare_g else "GS"
        sign = "-" if pan.weight_g < 0 else "+"
        field = f"{self.units.format(pan.weight_g):>8}"
        return f"{state},{mode},{sign}{field}{self.units.unit.value}\r\n".encode()
