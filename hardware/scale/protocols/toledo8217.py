"""Mettler Toledo 8217 (and 8213) polled protocol.

Frames per research/hardware.md §1.1, from Odoo ``serial_scale_driver.py`` (Toledo8217Protocol),
JumpMind OpenPOS ``MettlerCheckoutScale`` and lightspeedbulk ``Toledo8213``:

    host → scale   W                      request weight (one byte, no terminator)
    scale → host   <STX>  1.234<CR>       weight OK; optional trailing 'N' = net (tare active)
    scale → host   <STX>?<status><CR>     no weight: the status byte says why
    host → scale   Z / T / C              zero / tare / clear tare (no reply documented)
    host → scale   B                      confidence test result → <STX>@<CR> (JumpMind)
"""

from __future__ import annotations

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
)

STX, CR, QUERY = 0x02, 0x0D, 0x3F

# Status byte bits (§1.1; Odoo / JumpMind / lightspeedbulk masks & 0x1F). Bit 6 is treated
# as the constant 1 that makes the byte printable ('@' = no flags): §1.1 note, not verified.
MOTION, OVER, UNDER, OUTSIDE_ZERO_RANGE, CENTER_OF_ZERO, NET = 1, 2, 4, 8, 16, 32
PRINTABLE = 0x40


def status_reading(status: int, raw: bytes) -> ScaleReading:
    """``<STX>?<status><CR>``: no weight, only the flags."""
    return ScaleReading(
        weight_g=None,
        stable=not status & MOTION,
        at_zero=bool(status & CENTER_OF_ZERO),
        under_zero=bool(status & UNDER),
        over_capacity=bool(status & OVER),
        net=bool(status & NET),
        error="outside zero capture range" if status & OUTSIDE_ZERO_RANGE else None,
        raw=raw,
    )


@register
class Toledo8217(ScaleProtocol):
    name = "toledo8217"
    description = "Mettler Toledo 8217/8213: W → <STX>weight<CR> or <STX>?status<CR>"
    port = PortSettings(baudrate=9600, bytesize=7, parity="E", stopbits=1)  # Odoo: 9600 7E1
    default_units = UnitSettings()  # kg, 3 decimals (Odoo reads the field as kg)
    poll_command: ClassVar[bytes | None] = b"W"  # Odoo measureCommand, no terminator
    zero_command: ClassVar[bytes | None] = b"Z"  # Odoo ScaleProtocol zeroCommand
    tare_command: ClassVar[bytes | None] = b"T"  # Odoo ScaleProtocol tareCommand
    clear_tare_command: ClassVar[bytes] = b"C"  # Odoo clearCommand

    def parse(self, buffer: bytes) -> tuple[list[Frame], bytes]:
        buf = strip_parity(buffer)  # 7E1: bit 7 may hold parity on an 8-bit port
        frames: list[Frame] = []
        i, n = 0, len(buf)
        while True:
            s = buf.find(STX, i)
            if s < 0:
                return frames, b""  # no frame start: everything was garbage
            if s + 1 < n and buf[s + 1] == QUERY:
                # Status frame: exactly one status byte (any value), then CR.
                if s + 3 >= n:
                    rest = buf[s:]
                    break
                raw = buf[s : s + 4]
                if buf[s + 3] == CR:
                    frames.append(status_reading(buf[s + 2], raw))
                    i = s + 4
                else:
                    frames.append(ScaleErrorFrame("8217 status frame without CR", raw))
                    i = s + 1
                continue
            cr = buf.find(CR, s + 1)
            nxt = buf.find(STX, s + 1, cr if cr >= 0 else n)
            if nxt >= 0:
                frames.append(ScaleErrorFrame("8217 partial frame: STX before CR", buf[s:nxt]))
                i = nxt
                continue
            if cr < 0:
                rest = buf[s:]
                break
            raw = buf[s : cr + 1]
            if len(raw) > self.max_frame_bytes:
                frames.append(ScaleErrorFrame(f"8217 frame too long ({len(raw)} bytes)", raw))
            else:
                frames.extend(self._weight_frame(raw))
            i = cr + 1
        if len(rest) > self.max_frame_bytes:
            frames.append(ScaleErrorFrame(f"8217: {len(rest)} bytes without CR dropped", rest))
            rest = b""
        return frames, rest

    def _weight_frame(self, raw: bytes) -> list[Frame]:
        body = raw[1:-1].decode("ascii")
        if body == "@":
            return []  # confidence test passed (JumpMind): not a reading
        if body == "E":
            return []  # echo-mode acknowledgement (Odoo probe): not a reading
        status = body.lstrip()
        if len(status) == 2 and status[0] == "?":  # older Odoo statusRegexp: \x02\s*(\?.)\r
            return [status_reading(ord(status[1]), raw)]
        net = body.endswith("N")  # Odoo measureRegexp: [0-9.]+N?
        grams = field_to_grams(body[:-1] if net else body, self.units)
        if grams is None:
            return [ScaleErrorFrame(f"8217 weight field not a number: {body!r}", raw)]
        return [
            ScaleReading(
                weight_g=grams,
                stable=True,  # the 8217 sends a weight only when it is valid and settled
                at_zero=grams == 0,
                under_zero=grams < 0,
                net=net,
                raw=raw,
            )
        ]

    def respond(self, command: bytes, pan: SimulatedPan) -> bytes:
        cmd = strip_parity(command).strip()
        if pan.asleep:
            return b""
        if cmd == b"B":
            return b"\x02@\r"  # confidence test passed
        if cmd != b"W":
            return b""  # Z/T/C: acted on, no reply documented
        return self.weight_reply(pan)

    def weight_reply(self, pan: SimulatedPan) -> bytes:
        status = PRINTABLE
        if not pan.stable:
            status |= MOTION
        if pan.weight_g > pan.capacity_g:
            status |= OVER
        if pan.weight_g < 0:
            status |= UNDER
        if status != PRINTABLE:
            if pan.weight_g == 0:
                status |= CENTER_OF_ZERO
            if pan.tare_g:
                status |= NET
            return bytes([STX, QUERY, status, CR])
        field = self.units.format(pan.weight_g, int_digits=2)  # e.g. "01.234" kg, "02.50" lb
        return b"\x02" + field.encode() + (b"N" if pan.tare_g else b"") + b"\r"
