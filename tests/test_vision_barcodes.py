"""Barcode cascade on real rendered codes: validation, GTIN-14, rotation, ROI, several codes."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from tests.barcode_render import (
    RETAIL,
    Code,
    background,
    compose,
    degraded_set,
    paste,
    random_code,
    render,
    with_check,
)
from vision.barcodes import (
    BarcodeDecoder,
    BarcodeReader,
    OpenCVDecoder,
    RawCode,
    ZbarDecoder,
    ZxingDecoder,
    validate,
)
from vision.barcodes.cascade import Pass
from vision.types import Box


@pytest.fixture(scope="module")
def reader() -> BarcodeReader:
    return BarcodeReader()


def _frame(code: Code, ppm: float = 3.0, angle: float = 0.0, seed: int = 1) -> np.ndarray:
    return compose([code], random.Random(seed), size=(640, 480), ppm=ppm, angle=angle).image


# --------------------------------------------------------------------------------------------
# Every symbology reads and normalises to the right GTIN-14


@pytest.mark.parametrize(
    ("code", "symbology", "gtin"),
    [
        (Code("ean13", "5901234123457", None), "ean13", "05901234123457"),
        (Code("upca", "036000291452", None), "upca", "00036000291452"),
        (Code("ean8", "96385074", None), "ean8", "00000096385074"),
        (Code("upce", "01234565", None), "upce", "00012345000065"),
        (Code("gs1_128", "(01)09501101530003(10)AB12", None), "gs1_128", "09501101530003"),
        (Code("databar", "(01)09501101530003", None), "databar", "09501101530003"),
        (
            Code("databar_exp", "(01)09501101530003(3103)001234", None),
            "databar_exp",
            "09501101530003",
        ),
        (Code("databar_ltd", "(01)00012345678905", None), "databar_ltd", "00012345678905"),
        (Code("datamatrix", "(01)09501101530003(17)271231", None), "datamatrix", "09501101530003"),
        (Code("qr", "https://id.gs1.org/01/09501101530003/10/X1", None), "qr", "09501101530003"),
    ],
    ids=lambda v: v.symbology if isinstance(v, Code) else None,
)
def test_rendered_code_normalises_to_gtin14(
    reader: BarcodeReader, code: Code, symbology: str, gtin: str
) -> None:
    hits = reader.decode(_frame(code))
    assert [(h.symbology, h.gtin) for h in hits] == [(symbology, gtin)]
    assert hits[0].box is not None


def test_gs1_128_keeps_fnc1_as_group_separator(reader: BarcodeReader) -> None:
    code = Code("gs1_128", "(01)09501101530003(10)AB12(17)271231", None)
    (hit,) = reader.decode(_frame(code, ppm=2))
    assert hit.text == "0109501101530003" + "10AB12\x1d17271231"


def test_plain_code128_has_text_and_no_gtin(reader: BarcodeReader) -> None:
    (hit,) = reader.decode(_frame(Code("code128", "SCO-4711", None)))
    assert (hit.symbology, hit.text, hit.gtin) == ("code128", "SCO-4711", None)


def test_zbar_gs1_128_without_fnc1_marker_is_recognised() -> None:
    # zbar drops the leading FNC1: the content alone must make it GS1-128.
    img = render(Code("gs1_128", "(01)09501101530003(10)AB12", None), 3)
    (raw,) = ZbarDecoder().decode(np.pad(img, 30, constant_values=255))
    assert raw.symbology == "code128" and not raw.gs1
    hit = validate(raw)
    assert hit is not None and (hit.symbology, hit.gtin) == ("gs1_128", "09501101530003")


# --------------------------------------------------------------------------------------------
# Invalid reads are dropped


@pytest.mark.parametrize(
    "raw",
    [
        RawCode("5901234123458", "ean13", (), "zxing"),  # check digit should be 7
        RawCode("036000291453", "upca", (), "zbar"),
        RawCode("96385075", "ean8", (), "zbar"),
        RawCode("590123412345", "ean13", (), "zbar"),  # 12 digits is not an EAN-13
        RawCode("59O1234123457", "ean13", (), "zbar"),
        RawCode("0109501101530004", "databar", (), "zxing", True),
        RawCode("0109501101530003" + "99X", "gs1_128", (), "zxing", True),  # unknown AI
        RawCode("0109501101530003" + "17271399", "datamatrix", (), "zxing", True),  # month 13
        RawCode("", "qr", (), "zxing"),
        RawCode("ABC\x00", "code128", (), "zbar"),
        RawCode("12345", "pdf417", (), "zbar"),
    ],
    ids=lambda r: f"{r.symbology}:{r.text!r}",
)
def test_invalid_reads_are_dropped(raw: RawCode) -> None:
    assert validate(raw) is None


def test_gs1_datamatrix_with_bad_gtin_check_digit_is_not_read(reader: BarcodeReader) -> None:
    # The writer accepts it (DataMatrix has no GTIN check); zxing decodes it; we must not.
    bad = Code("datamatrix", "(01)09501101530004", None)
    raw = ZxingDecoder().decode(cv2.cvtColor(_frame(bad), cv2.COLOR_BGR2GRAY))
    assert [r.text for r in raw] == ["0109501101530004"]
    assert reader.decode(_frame(bad)) == []


def test_digital_link_with_bad_gtin_keeps_text_without_gtin() -> None:
    hit = validate(RawCode("https://id.gs1.org/01/09501101530004", "qr", (), "zxing"))
    assert hit is not None and hit.gtin is None


# --------------------------------------------------------------------------------------------
# Rotation, small codes, several codes, ROI


@pytest.mark.parametrize("angle", [45, 90, 180, -45])
@pytest.mark.parametrize("symbology", ["ean13", "code128", "gs1_128"])
def test_rotated_codes_read(reader: BarcodeReader, symbology: str, angle: float) -> None:
    code = random_code(symbology, random.Random(angle))
    ppm = 2.0 if symbology == "gs1_128" else 3.0
    hits = reader.decode(_frame(code, ppm=ppm, angle=angle))
    assert [h.gtin or h.text for h in hits] == [code.key]


def test_45_degrees_needs_the_rotated_pass() -> None:
    code = Code("code128", "SCO-4711-ABC", None)
    frame = _frame(code, angle=45)
    assert BarcodeReader(("zxing", "zbar")).decode(frame) == []
    (hit,) = BarcodeReader(("zxing", "zbar", "zxing+rot45")).decode(frame)
    assert hit.decoder == "zxing+rot45"


def test_small_code_reads_via_upscaling() -> None:
    code = Code("ean13", "5901234123457", None)
    frame = _frame(code, ppm=1.4, seed=3)  # aliased: zxing's own scan misses it
    assert BarcodeReader(("zxing",)).decode(frame) == []
    (hit,) = BarcodeReader(("zxing", "zxing+up2")).decode(frame)
    assert (hit.gtin, hit.decoder) == ("05901234123457", "zxing+up2")


def test_several_codes_in_one_frame(reader: BarcodeReader) -> None:
    rng = random.Random(5)
    codes = [random_code(s, rng) for s in ("ean13", "ean8", "databar")]
    scene = compose(codes, rng, size=(1280, 480), ppm=2.5)
    hits = reader.decode(scene.image)
    assert sorted(h.gtin or "" for h in hits) == sorted(c.key for c in codes)
    for code, corners in zip(codes, scene.corners, strict=True):
        (hit,) = [h for h in hits if h.gtin == code.key]
        xs, ys = [p[0] for p in corners], [p[1] for p in corners]
        assert hit.box is not None and hit.box.iou(Box(min(xs), min(ys), max(xs), max(ys))) > 0.3


@pytest.mark.parametrize("angle", [0, 90, 30])
def test_roi_returns_full_frame_boxes(reader: BarcodeReader, angle: float) -> None:
    rng = random.Random(9)
    code = random_code("ean13", rng)
    scene = compose([code], rng, size=(800, 600), ppm=2.5, angle=angle)
    xs, ys = [p[0] for p in scene.corners[0]], [p[1] for p in scene.corners[0]]
    label = Box(min(xs), min(ys), max(xs), max(ys))
    roi = label.expanded(1.3)
    (full,) = reader.decode(scene.image)
    (cropped,) = reader.decode(scene.image, roi=roi)
    assert cropped.gtin == code.key
    assert cropped.box is not None and full.box is not None
    assert cropped.box.iou(full.box) > 0.8
    assert cropped.box.iou(label) > 0.3
    clipped = roi.clipped(800, 600)
    assert clipped.x1 - 1 <= cropped.box.x1 and cropped.box.x2 <= clipped.x2 + 1


def test_roi_outside_or_degenerate_reads_nothing(reader: BarcodeReader) -> None:
    frame = _frame(Code("ean13", "5901234123457", None))
    assert reader.decode(frame, roi=Box(1000, 1000, 1200, 1200)) == []
    assert reader.decode(frame, roi=Box(10, 10, 12, 300)) == []


def test_gray_and_bgr_give_the_same_reads(reader: BarcodeReader) -> None:
    frame = _frame(Code("ean8", "96385074", None))
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    assert [h.gtin for h in reader.decode(gray)] == [h.gtin for h in reader.decode(frame)]


@pytest.mark.parametrize(
    "bad", [np.zeros((10, 10), np.float32), np.zeros((4, 4, 4), np.uint8), "image"]
)
def test_bad_images_are_a_clear_error(reader: BarcodeReader, bad: object) -> None:
    with pytest.raises(ValueError, match="image"):
        reader.decode(bad)  # type: ignore[arg-type]


def test_blank_and_tiny_frames_read_nothing(reader: BarcodeReader) -> None:
    assert reader.decode(np.full((480, 640), 255, np.uint8)) == []
    assert reader.decode(np.zeros((4, 4), np.uint8)) == []


def test_unknown_pass_or_bad_budget_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown pass"):
        BarcodeReader(("zxing", "zbar+twirl"))
    with pytest.raises(ValueError, match="unknown decoder"):
        BarcodeReader(("zxing", "tesseract"))
    with pytest.raises(ValueError, match="budget"):
        BarcodeReader(budget_ms=0)
    assert Pass.parse("zbar+rot45").name == "zbar+rot45"


def test_budget_skips_fallback_passes_but_never_the_first() -> None:
    """A clock that jumps 100 ms per reading: the budget is spent after the first pass."""
    ticks = iter(range(0, 10_000_000, 100))
    code = Code("code128", "SCO-4711-ABC", None)
    frame = _frame(code, angle=45)
    slow = BarcodeReader(("zxing", "zxing+rot45"), budget_ms=50, clock=lambda: next(ticks) / 1000)
    assert slow.decode(frame) == []  # the rotated pass would have read it
    assert slow.stats == {"zxing": 0, "zxing+rot45": 0, "rejected": 0}
    upright = _frame(Code("ean13", "5901234123457", None))
    assert [h.gtin for h in slow.decode(upright)] == ["05901234123457"]


class _MisreadingDecoder:
    """Stands in for a decoder that misdecodes: a different valid code where the real one is."""

    name = "zxing"

    def __init__(self, text: str, symbology: str = "ean13") -> None:
        self.text, self.symbology = text, symbology

    def decode(self, gray: np.ndarray) -> list[RawCode]:
        real = ZxingDecoder().decode(gray)
        return [RawCode(self.text, self.symbology, r.points, "zxing") for r in real]


def test_a_misread_ean_without_a_second_opinion_is_dropped() -> None:
    frame = _frame(Code("ean13", "5901234123457", None))
    wrong = "4006381333931"  # a valid EAN-13, but not the one printed
    liar = {"zxing": _MisreadingDecoder(wrong)}
    assert [
        h.text for h in BarcodeReader(("zxing",), verify=False, decoders=liar).decode(frame)
    ] == [wrong]
    checked = BarcodeReader(("zxing",), decoders=liar)
    assert checked.decode(frame) == []
    assert checked.stats["rejected"] == 1
    honest = {"zxing": _MisreadingDecoder("5901234123457")}
    assert [h.gtin for h in BarcodeReader(("zxing",), decoders=honest).decode(frame)] == [
        "05901234123457"
    ]


def test_a_1d_read_contradicted_in_place_is_dropped() -> None:
    # Code128 has a strong checksum, so it is only refused when another pass reads a
    # different code in the same place and none agrees.
    frame = _frame(Code("ean13", "5901234123457", None))
    liar = {"zxing": _MisreadingDecoder("SCO-4711", "code128")}
    assert BarcodeReader(("zxing",), decoders=liar).decode(frame) == []
    blank = np.full((480, 640), 255, np.uint8)
    alone = _MisreadingDecoder("SCO-4711", "code128")
    alone.decode = lambda gray: [RawCode("SCO-4711", "code128", ((300, 200), (400, 260)), "zxing")]  # type: ignore[method-assign]
    assert [h.text for h in BarcodeReader(("zxing",), decoders={"zxing": alone}).decode(blank)] == [
        "SCO-4711"
    ]


def test_check_digit_helper_matches_known_gtin() -> None:
    assert with_check("590123412345") == "5901234123457"


# --------------------------------------------------------------------------------------------
# Decode rate on a seeded degraded set: the cascade reads at least what each decoder reads


@pytest.mark.slow
def test_cascade_reads_at_least_each_single_decoder_on_a_degraded_set() -> None:
    scenes = degraded_set(2026, 1, symbologies=RETAIL)  # 10 conditions x 8 symbologies
    singles = {
        "zbar": ZbarDecoder(),
        "zxing": ZxingDecoder(try_invert=True),
        "opencv": OpenCVDecoder(),
    }
    reader = BarcodeReader()
    read = dict.fromkeys([*singles, "ours"], 0)
    for s in scenes:
        gray = cv2.cvtColor(s.image, cv2.COLOR_BGR2GRAY)
        for name, dec in singles.items():
            keys = {h.gtin or h.text for h in map(validate, dec.decode(gray)) if h is not None}
            read[name] += bool(keys & s.keys)
        read["ours"] += bool({h.gtin or h.text for h in reader.decode(s.image)} & s.keys)
    best = max(read[n] for n in singles)
    assert read["ours"] >= best, read
    # Rotation and low resolution alone cost the single decoders far more than 10% of the set.
    assert read["ours"] >= best + len(scenes) // 10, read


def test_every_adapter_fits_the_port_and_reads_an_ean13() -> None:
    # OpenCV's localiser wants a plain surround: a code on a light 720p card.
    frame = np.full((720, 1280), 200, np.uint8)
    code = render(Code("ean13", "5901234123457", None), 2)
    frame[100 : 100 + code.shape[0], 200 : 200 + code.shape[1]] = code
    for decoder in (ZxingDecoder(), ZbarDecoder(), OpenCVDecoder()):
        assert isinstance(decoder, BarcodeDecoder)
        raws = decoder.decode(frame)
        assert [(r.text[-13:], r.symbology, r.decoder) for r in raws] == [
            ("5901234123457", "ean13", decoder.name)
        ]
        assert raws[0].points, decoder.name


def test_exhaustive_merges_codes_that_need_different_passes() -> None:
    rng = random.Random(12)
    frame = background(rng, (1280, 600))
    paste(frame, render(Code("ean13", "5901234123457", None), 3), (300, 300), 0)
    paste(frame, render(Code("code128", "SCO-4711-ABC", None), 3), (900, 300), 45)
    first_hit_wins = BarcodeReader().decode(frame)
    assert [h.text for h in first_hit_wins] == ["5901234123457"]
    both = BarcodeReader(exhaustive=True).decode(frame)
    assert sorted(h.text for h in both) == ["5901234123457", "SCO-4711-ABC"]
