"""Scale protocol parsers: documented frames, simulator round trips, and fuzzing.

Frames come from research/hardware.md §1.1-1.6 (Odoo / JumpMind for the 8217, InstrumentKit
for MT-SICS, the Weigh-Tronix NCI document and lightspeedbulk for NCI, CORE-POS for Magellan,
the Toledo continuous-output parser and CAS-style lines for streaming scales).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.scale.base import (
    SCALE_PROTOCOLS,
    BarcodeFrame,
    Frame,
    ScaleErrorFrame,
    ScaleProtocol,
    ScaleReading,
    SimulatedPan,
    UnitSettings,
    WeightUnit,
    get_protocol,
)
from hardware.scale.protocols.continuous import Continuous, checksum
from hardware.scale.protocols.magellan import Magellan
from hardware.scale.protocols.nci import Nci

NAMES = ["toledo8217", "sics", "nci", "magellan", "continuous"]
KG3 = UnitSettings(WeightUnit.KG, 3)
LB2 = UnitSettings(WeightUnit.LB, 2)
G0 = UnitSettings(WeightUnit.G, 0)
LB_1_25 = 567  # 1.25 lb = 566.99 g
LB_2_50 = 1134  # 2.50 lb = 1133.98 g


def with_parity(data: bytes, odd: bool = False) -> bytes:
    """What an 8N1 port reads from a 7E1/7O1 scale: the parity bit lands in bit 7."""
    out = bytearray()
    for b in data:
        ones = bin(b).count("1") % 2
        out.append(b | 0x80 if ones != odd else b)
    return bytes(out)


def toledo_cont(swa: int, swb: int, swc: int, weight: str, tare: str) -> bytes:
    frame = bytes([0x02, swa, swb, swc]) + weight.encode() + tare.encode() + b"\r"
    return frame + bytes([checksum(frame)])


def feed(proto: ScaleProtocol, chunks: list[bytes]) -> tuple[list[Frame], bytes]:
    frames: list[Frame] = []
    rest = b""
    for chunk in chunks:
        new, rest = proto.parse(rest + chunk)
        frames.extend(new)
    return frames, rest


def only(proto: ScaleProtocol, data: bytes) -> Frame:
    frames, _ = proto.parse(data)
    assert len(frames) == 1, frames
    return frames[0]


R = ScaleReading
# (protocol, units, bytes on the wire, expected frame type, expected attributes)
CASES: list[tuple[str, UnitSettings | None, bytes, type, dict[str, Any]]] = [
    # --- Toledo 8217 (Odoo measureRegexp / statusRegexp, JumpMind, lightspeedbulk) ---
    ("toledo8217", None, b"\x02  1.234\r", R, {"weight_g": 1234, "stable": True}),
    ("toledo8217", None, b"\x0201.234N\r", R, {"weight_g": 1234, "net": True}),
    ("toledo8217", None, b"\x02 0.000\r", R, {"weight_g": 0, "at_zero": True}),
    ("toledo8217", None, b"\x0201234\r", R, {"weight_g": 1234}),  # implied 3 decimals
    ("toledo8217", None, b"\x021.5\r", R, {"weight_g": 1500}),  # field's own point wins
    ("toledo8217", None, b"\x02?A\r", R, {"weight_g": None, "stable": False}),  # motion
    ("toledo8217", None, b"\x02?B\r", R, {"weight_g": None, "over_capacity": True}),
    ("toledo8217", None, b"\x02?D\r", R, {"under_zero": True, "stable": True}),  # Odoo doc
    ("toledo8217", None, b"\x02 ?A\r", R, {"weight_g": None, "stable": False}),
    ("toledo8217", None, b"\x02?Q\r", R, {"at_zero": True, "stable": False}),
    ("toledo8217", None, b"\x02?a\r", R, {"net": True, "stable": False}),
    ("toledo8217", LB2, b"\x0201.25\r", R, {"weight_g": LB_1_25}),
    ("toledo8217", LB2, b"\x020125\r", R, {"weight_g": LB_1_25}),  # "no point: / 100"
    ("toledo8217", None, b"\x02 1.2x4\r", ScaleErrorFrame, {}),
    ("toledo8217", None, b"\x02?AX\r", ScaleErrorFrame, {}),  # status frame without CR
    # --- MT-SICS (InstrumentKit mt_sics.py) ---
    ("sics", None, b"S S      1.234 kg\r\n", R, {"weight_g": 1234, "stable": True}),
    ("sics", None, b"S D      1.234 kg\r\n", R, {"weight_g": 1234, "stable": False}),
    ("sics", None, b"S S     100.00 g\r\n", R, {"weight_g": 100}),
    ("sics", None, b"S S      0.000 kg\r\n", R, {"weight_g": 0, "at_zero": True}),
    ("sics", None, b"S S     -0.012 kg\r\n", R, {"weight_g": -12, "under_zero": True}),
    ("sics", None, b"S S      2.500 lb\r\n", R, {"weight_g": LB_2_50}),
    ("sics", G0, b"S S      1.234 kg\r\n", R, {"weight_g": 1234}),  # frame unit wins
    ("sics", None, b"S S 1234 g\r\n", R, {"weight_g": 1234}),
    ("sics", None, b"S +\r\n", R, {"weight_g": None, "over_capacity": True}),
    ("sics", None, b"S -\r\n", R, {"weight_g": None, "under_zero": True}),
    ("sics", None, b"S I\r\n", R, {"weight_g": None, "stable": False, "error": "not ready"}),
    ("sics", None, b"Z A\r\n", R, {"weight_g": 0, "at_zero": True}),
    ("sics", None, b"T S      0.250 kg\r\n", R, {"weight_g": 0, "tare_g": 250, "net": True}),
    ("sics", None, b"ES\r\n", ScaleErrorFrame, {"message": "ES syntax error"}),
    ("sics", None, b"ET\r\n", ScaleErrorFrame, {"message": "ET transmission error"}),
    ("sics", None, b"EL\r\n", ScaleErrorFrame, {"message": "EL logical error"}),
    ("sics", None, b"Z I\r\n", ScaleErrorFrame, {}),
    ("sics", None, b"S S      1.234 oz\r\n", ScaleErrorFrame, {}),
    # --- NCI SCP-01 / SCP-02 (Weigh-Tronix document, lightspeedbulk) ---
    ("nci", LB2, b"\n0001.25LB\r\n00\r\x03", R, {"weight_g": LB_1_25, "stable": True}),
    ("nci", None, b"\n01.234KG\r\nS00\r\x03", R, {"weight_g": 1234}),  # SCP-02
    ("nci", None, b"\n01.234kg\r\n10\r\x03", R, {"weight_g": 1234, "stable": False}),
    ("nci", None, b"\n00.000KG\r\n20\r\x03", R, {"weight_g": 0, "at_zero": True}),
    ("nci", None, b"\n01\r\x03", R, {"weight_g": None, "under_zero": True}),
    ("nci", None, b"\nS02\r\x03", R, {"weight_g": None, "over_capacity": True}),
    ("nci", None, b"\n01.234KG\r\n0p4\r\x03", R, {"weight_g": 1234, "net": True}),
    ("nci", None, b"\n00500G\r\n00\r\x03", R, {"weight_g": 500}),
    ("nci", LB2, b"\n0001.25\r\n00\r\x03", R, {"weight_g": LB_1_25}),  # configured unit
    ("nci", None, b"\n02lb 03.5oz\r\n00\r\x03", R, {"weight_g": 907 + 99}),
    ("nci", None, b"\n0008.0OZ\r\n00\r\x03", R, {"weight_g": 227}),  # 0.5 lb
    ("nci", None, b"\n?\r\x03", ScaleErrorFrame, {}),
    ("nci", None, b"\n40\r\x03", ScaleErrorFrame, {"message": "NCI status: RAM error"}),
    ("nci", None, b"\n08\r\x03", ScaleErrorFrame, {"message": "NCI status: faulty calibration"}),
    # --- Magellan single-cable (CORE-POS SPH_Magellan_Scale.cs, ssd.c) ---
    ("magellan", None, b"S1101234\r", R, {"weight_g": 1234, "stable": True}),
    ("magellan", None, b"S110000\r", R, {"weight_g": 0, "at_zero": True}),
    ("magellan", None, b"S14401234\r", R, {"weight_g": 1234, "stable": True}),
    ("magellan", None, b"S140\r", R, {"weight_g": None, "error": "not ready"}),
    ("magellan", None, b"S141\r", R, {"weight_g": None, "stable": False}),
    ("magellan", None, b"S142\r", R, {"over_capacity": True}),
    ("magellan", None, b"S143\r", R, {"weight_g": 0, "stable": True, "at_zero": True}),
    ("magellan", None, b"S145\r", R, {"under_zero": True}),
    ("magellan", LB2, b"S1100250\r", R, {"weight_g": LB_2_50}),
    ("magellan", None, b"S144\r", ScaleErrorFrame, {}),
    ("magellan", None, b"S146\r", ScaleErrorFrame, {}),
    ("magellan", None, b"S08A012345678905\r", BarcodeFrame, {"data": "012345678905"}),
    ("magellan", None, b"S08A012345678905\r", BarcodeFrame, {"symbology": "UPCA"}),
    ("magellan", None, b"S08E01234565\r", BarcodeFrame, {"symbology": "UPCE"}),
    ("magellan", None, b"S08F4006381333931\r", BarcodeFrame, {"symbology": "EAN13"}),
    ("magellan", None, b"S08FF96385074\r", BarcodeFrame, {"symbology": "EAN8"}),
    ("magellan", None, b"S08R40101044123456789\r", BarcodeFrame, {"symbology": "DATABAR"}),
    ("magellan", None, b"S08R40101044123456789\r", BarcodeFrame, {"data": "0101044123456789"}),
    ("magellan", None, b"S08B1CODE39\r", BarcodeFrame, {"symbology": "CODE39"}),
    ("magellan", None, b"S08B3ABC-123\r", BarcodeFrame, {"symbology": "CODE128"}),
    ("magellan", None, b"S08Z123\r", BarcodeFrame, {"symbology": "Z", "data": "123"}),
    # --- Toledo continuous output: STX SWA SWB SWC weight tare CR checksum ---
    ("continuous", None, toledo_cont(0x2D, 0x30, 0x20, "001234", "000000"), R,
     {"weight_g": 1234, "stable": True, "net": False}),
    ("continuous", None, toledo_cont(0x2D, 0x38, 0x20, "001234", "000000"), R,
     {"weight_g": 1234, "stable": False}),
    ("continuous", None, toledo_cont(0x2D, 0x31, 0x20, "000500", "000250"), R,
     {"weight_g": 500, "net": True, "tare_g": 250}),
    ("continuous", None, toledo_cont(0x2D, 0x32, 0x20, "000012", "000000"), R,
     {"weight_g": -12, "under_zero": True}),
    ("continuous", None, toledo_cont(0x2D, 0x34, 0x20, "016000", "000000"), R,
     {"weight_g": None, "over_capacity": True}),
    ("continuous", None, toledo_cont(0x2D, 0x36, 0x20, "000000", "000000"), R,
     {"weight_g": None, "under_zero": True}),
    ("continuous", None, toledo_cont(0x2D, 0x30, 0x20, "000000", "000000"), R,
     {"weight_g": 0, "at_zero": True}),
    ("continuous", KG3, toledo_cont(0x2C, 0x20, 0x20, "000250", "000000"), R,
     {"weight_g": LB_2_50}),  # SWB bit4 = 0: lb, SWA code 4: two decimals
    ("continuous", None, toledo_cont(0x2A, 0x30, 0x21, "001234", "000000"), R,
     {"weight_g": 1234}),  # SWC unit code 1: grams
    ("continuous", None, toledo_cont(0x29, 0x30, 0x20, "000012", "000000"), R,
     {"weight_g": 120_000}),  # SWA code 1: "X0" (tens of kg)
    ("continuous", None, b"\x02-0 0012x4000000\r", ScaleErrorFrame, {}),
    ("continuous", None, b"\x02-0 01234000000\r", ScaleErrorFrame, {}),  # 16 bytes
    # --- CAS / A&D-style lines ---
    ("continuous", None, b"ST,GS,+  1.234kg\r\n", R, {"weight_g": 1234, "stable": True}),
    ("continuous", None, b"US,GS,+  1.234kg\r\n", R, {"weight_g": 1234, "stable": False}),
    ("continuous", None, b"ST,NT,+  0.500kg\r\n", R, {"weight_g": 500, "net": True}),
    ("continuous", None, b"OL,GS,+  .    kg\r\n", R, {"weight_g": None, "over_capacity": True}),
    ("continuous", None, b"ST,GS,-  0.012kg\r\n", R, {"weight_g": -12, "under_zero": True}),
    ("continuous", None, b"ST,GS,+   2.50lb\r\n", R, {"weight_g": LB_2_50}),
    ("continuous", None, b"ST,GS,+   1234 g\r\n", R, {"weight_g": 1234}),
    ("continuous", None, b"ST,+0001.234 kg\r\n", R, {"weight_g": 1234}),
    ("continuous", LB2, b"ST,GS,+   2.50\r\n", R, {"weight_g": LB_2_50}),  # configured unit
    ("continuous", None, b"ST,GS,+  1.234oz\r\n", ScaleErrorFrame, {}),
    ("continuous", None, b"HELLO\r\n", ScaleErrorFrame, {}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "units", "data", "kind", "attrs"), CASES)
def test_documented_frames(
    name: str, units: UnitSettings | None, data: bytes, kind: type, attrs: dict[str, Any]
) -> None:
    proto = get_protocol(name, units)
    frame = only(proto, data)
    assert isinstance(frame, kind), frame
    for key, want in attrs.items():
        got = getattr(frame, key)
        if key == "message":
            assert got.startswith(want), got
        else:
            assert got == want, (key, frame)
    # The same bytes with the parity bit in bit 7 (7-bit scale on an 8N1 port).
    odd = proto.port.parity == "O"
    assert proto.parse(with_parity(data, odd)) == proto.parse(data)
    # Split across two chunks at every point.
    for cut in range(1, len(data)):
        assert feed(proto, [data[:cut], data[cut:]])[0] == [frame]


def test_nci_non_weight_display_is_reported() -> None:
    frame = only(get_protocol("nci"), b"\n-------KG\r\n00\r\x03")
    assert isinstance(frame, ScaleReading) and frame.weight_g is None
    assert frame.error and "-------" in frame.error


def test_continuous_checksum_checked_when_enabled() -> None:
    good = toledo_cont(0x2D, 0x30, 0x20, "001234", "000000")
    strict = Continuous(checksum=True)
    assert isinstance(only(strict, good), ScaleReading)
    bad = good[:-1] + bytes([(good[-1] + 1) & 0x7F])
    assert only(strict, bad) == ScaleErrorFrame("Toledo checksum mismatch", bad)
    frames, rest = strict.parse(good[:-1])  # waits for the checksum byte
    assert frames == [] and rest == good[:-1]


@pytest.mark.parametrize("name", NAMES)
def test_garbage_before_a_frame_is_skipped(name: str) -> None:
    proto = get_protocol(name)
    good = sample(proto, SimulatedPan(1234))
    frames, rest = proto.parse(b"\x00\xff\x13garbage" + good)
    readings = [f for f in frames if isinstance(f, ScaleReading)]
    assert [r.weight_g for r in readings] == [1234] and len(rest) <= 1  # continuous: checksum


@pytest.mark.parametrize("name", NAMES)
def test_oversized_garbage_is_dropped_with_an_error(name: str) -> None:
    proto = get_protocol(name)
    start = {"toledo8217": b"\x02", "nci": b"\n", "continuous": b"\x02"}.get(name, b"")
    frames, rest = proto.parse(start + b"9" * (proto.max_frame_bytes + 10))
    assert rest == b"" and any(isinstance(f, ScaleErrorFrame) for f in frames)
    # and the next frame still parses
    good = sample(proto, SimulatedPan(1234))
    frames, _ = proto.parse(rest + good)
    assert [getattr(f, "weight_g", None) for f in frames] == [1234]


@pytest.mark.parametrize("name", NAMES)
def test_registry_and_port_settings(name: str) -> None:
    proto = get_protocol(name)
    assert SCALE_PROTOCOLS[name] is type(proto) and proto.description
    port = proto.port
    expected = {
        "toledo8217": (7, "E"),
        "sics": (8, "N"),
        "nci": (7, "E"),
        "magellan": (7, "O"),
        "continuous": (7, "E"),
    }[name]
    assert (port.baudrate, port.bytesize, port.parity) == (9600, *expected)
    polls = {
        "toledo8217": b"W",
        "sics": b"SI\r\n",
        "nci": b"W\r",
        "magellan": b"S14\r",
        "continuous": None,
    }
    assert proto.poll_command == polls[name]


@pytest.mark.parametrize("name", NAMES)
def test_asleep_scale_says_nothing(name: str) -> None:
    proto = get_protocol(name)
    assert sample(proto, SimulatedPan(1234, asleep=True)) == b""


def test_sics_commands() -> None:
    sics = get_protocol("sics")
    pan = SimulatedPan(1234, stable=False)
    assert sics.respond(b"S\r\n", pan) == b"S I\r\n"
    assert sics.respond(b"SI\r\n", pan) == b"S D      1.234 kg\r\n"
    assert sics.respond(b"Z\r\n", SimulatedPan(3)) == b"Z A\r\n"
    assert sics.respond(b"T\r\n", SimulatedPan(250)) == b"T S      0.250 kg\r\n"
    assert sics.respond(b"XYZ\r\n", pan) == b"ES\r\n"


def test_magellan_s11_waits_for_stability_and_barcodes_round_trip() -> None:
    mag = Magellan()
    assert mag.respond(b"S11\r", SimulatedPan(500, stable=False)) == b""
    assert mag.respond(b"S11\r", SimulatedPan(500)) == b"S1100500\r"
    for sym, data in [("UPCA", "012345678905"), ("EAN8", "96385074"), ("EAN13", "4006381333931")]:
        frame = only(mag, mag.barcode_frame(data, sym))
        assert frame == BarcodeFrame(data, sym, mag.barcode_frame(data, sym))


def test_nci_scp02_and_unknown_command() -> None:
    nci = Nci(scp02=True)
    assert nci.respond(b"W\r", SimulatedPan(1234)) == b"\n01.234KG\r\nS00\r\x03"
    assert isinstance(only(nci, nci.respond(b"X\r", SimulatedPan())), ScaleErrorFrame)


# ---------------------------------------------------------------- round trips
UNITS = {
    "toledo8217": [KG3, LB2],
    "sics": [KG3, LB2, G0],
    "nci": [KG3, LB2],
    "magellan": [G0, LB2],
    "continuous": [KG3, LB2, G0],
}
NET_IN_FRAME = {"toledo8217", "nci", "continuous"}


def sample(proto: ScaleProtocol, pan: SimulatedPan) -> bytes:
    if proto.poll_command is None:
        return proto.stream_frame(pan)
    return proto.respond(proto.poll_command, pan)


def tolerance(units: UnitSettings) -> int:
    """Half a field step in grams, rounded up."""
    return -(-UnitSettings(units.unit, units.decimals).to_grams(1) // 2) + 1


def check_consistent(proto: ScaleProtocol, pan: SimulatedPan, frames: list[Frame]) -> None:
    assert len(frames) == 1, frames
    r = frames[0]
    assert isinstance(r, ScaleReading), r
    tol = tolerance(proto.units)
    over, under = pan.weight_g > pan.capacity_g, pan.weight_g < 0
    assert r.over_capacity == over, r
    if under and -pan.weight_g > tol:
        assert r.under_zero, r
    if not under:
        assert not r.under_zero, r
    if not over and not under:
        assert r.stable == pan.stable, r
        if pan.stable:
            assert r.weight_g is not None
        if pan.stable and pan.weight_g == 0:
            assert r.at_zero
    if r.weight_g is not None:
        assert abs(r.weight_g - pan.weight_g) <= tol, (r, pan)
    if proto.name in NET_IN_FRAME:
        assert r.net == bool(pan.tare_g)


GRID = [
    SimulatedPan(w, s, t)
    for w in (0, 1, 5, 1234, 14_999, 15_000, 15_001, 40_000, -1, -5, -1500)
    for s in (True, False)
    for t in (0, 250)
]


@pytest.mark.parametrize(("name", "units"), [(n, u) for n in NAMES for u in UNITS[n]])
def test_round_trip_grid(name: str, units: UnitSettings) -> None:
    proto = get_protocol(name, units)
    for pan in GRID:
        check_consistent(proto, pan, proto.parse(sample(proto, pan))[0])


@pytest.mark.parametrize("fmt", ["toledo", "cas"])
def test_continuous_formats_round_trip(fmt: str) -> None:
    for checked in (False, True):
        proto = Continuous(checksum=checked and fmt == "toledo", stream_format=fmt)
        for pan in GRID:
            check_consistent(proto, pan, proto.parse(proto.stream_frame(pan))[0])


# ---------------------------------------------------------------- hypothesis
pans = st.builds(
    SimulatedPan,
    weight_g=st.integers(-3000, 20_000),
    stable=st.booleans(),
    tare_g=st.sampled_from([0, 0, 125, 1000]),
    capacity_g=st.sampled_from([6000, 15_000]),
)
protocols = st.sampled_from(NAMES).flatmap(
    lambda n: st.sampled_from(UNITS[n]).map(lambda u: get_protocol(n, u))
)


@settings(max_examples=300)
@given(proto=protocols, data=st.lists(st.binary(max_size=120), max_size=6))
def test_parse_never_raises_and_rest_is_capped(proto: ScaleProtocol, data: list[bytes]) -> None:
    rest = b""
    for chunk in data:
        frames, rest = proto.parse(rest + chunk)
        assert len(rest) <= proto.max_frame_bytes
        assert all(isinstance(f, ScaleReading | BarcodeFrame | ScaleErrorFrame) for f in frames)


@settings(max_examples=200)
@given(
    proto=protocols,
    stream=st.lists(pans, min_size=1, max_size=6),
    cuts=st.lists(st.integers(0, 400), max_size=8),
    parity=st.booleans(),
)
def test_chunking_does_not_change_frames(
    proto: ScaleProtocol, stream: list[SimulatedPan], cuts: list[int], parity: bool
) -> None:
    data = b"".join(sample(proto, pan) for pan in stream)
    if isinstance(proto, Magellan):
        data += proto.barcode_frame("4006381333931", "EAN13")
    if parity:
        data = with_parity(data, odd=proto.port.parity == "O")
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    whole, rest = proto.parse(data)
    assert feed(proto, chunks) == (whole, rest)
    assert not any(isinstance(f, ScaleErrorFrame) for f in whole)


@settings(max_examples=300)
@given(proto=protocols, pan=pans)
def test_respond_then_parse_matches_the_pan(proto: ScaleProtocol, pan: SimulatedPan) -> None:
    check_consistent(proto, pan, proto.parse(sample(proto, pan))[0])
