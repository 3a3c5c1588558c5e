"""Camera calibration checks on synthetic frames: the test card rendered at known scales, the
lane renderer's frames, and degraded copies of both (blur, darkness, glare, a moved camera)."""

from __future__ import annotations

import argparse
import json
import re
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp

from calibration import camera_checks as cc
from calibration.camera_cli import register
from calibration.results import Verdict
from calibration.test_card import (
    CARD_GTIN,
    CORNER_MARKER_IDS,
    CardLayout,
    card_frame,
    paste_marker,
)
from vision.zones import ZoneMap

ZONES = Path(__file__).resolve().parent.parent / "examples" / "zones.json"
LAYOUT = CardLayout()


@pytest.fixture(scope="module")
def zones() -> ZoneMap:
    return ZoneMap.load(ZONES)


@pytest.fixture(scope="module")
def lane_frame() -> np.ndarray:
    """A good frame from the lane renderer: the counter, bags, nothing wrong with it."""
    from models.scenes.video import iter_scenario_frames

    image, _ = next(iter(iter_scenario_frames("basket", 1, check_decode=False, with_photos=False)))
    return image


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma)


def highlight(img: np.ndarray, center: tuple[float, float], radius: float) -> np.ndarray:
    """A specular reflection: a soft ellipse that washes the middle out to white."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = np.exp(-(((xx - center[0]) / radius) ** 2 + ((yy - center[1]) / (radius * 1.3)) ** 2))
    out = img.astype(np.float32) * (1 - 0.5 * g[:, :, None]) + 300 * g[:, :, None]
    return out.clip(0, 255).astype(np.uint8)


# --- sharpness, exposure, glare -------------------------------------------------------------


def test_sharp_card_passes_and_blurred_card_fails() -> None:
    frame, _ = card_frame(LAYOUT, 3.0, frame_size=(1280, 960), angle_deg=8)
    good = cc.sharpness(frame, layout=LAYOUT)
    assert good.verdict is Verdict.PASS and good.figures["measured_on"] == "test card"
    soft = cc.sharpness(blur(frame, 1.0), layout=LAYOUT)
    assert soft.verdict is Verdict.WARN
    bad = cc.sharpness(blur(frame, 1.8), layout=LAYOUT)
    assert bad.verdict is Verdict.FAIL and "Focus" in bad.advice
    assert bad.figures["laplacian_variance"] < good.figures["laplacian_variance"] / 5


def test_lane_frame_sharpness_over_the_scan_zone(lane_frame, zones) -> None:
    good = cc.sharpness(lane_frame, zones)
    assert good.verdict is Verdict.PASS and good.figures["measured_on"] == "scan zone"
    assert cc.sharpness(blur(lane_frame, 1.5), zones).verdict is Verdict.FAIL


def test_exposure_good_dark_and_overexposed(lane_frame, zones) -> None:
    assert cc.exposure(lane_frame, zones).verdict is Verdict.PASS
    dark = cc.exposure((lane_frame * 0.25).astype(np.uint8), zones)
    assert dark.verdict is Verdict.FAIL and "too dark" in dark.advice
    bright = cc.exposure(np.clip(lane_frame * 2.2, 0, 255).astype(np.uint8), zones)
    assert bright.verdict is Verdict.FAIL and "too bright" in bright.advice
    assert bright.figures["clipped_bright"] > 0.1


def test_glare_inside_the_zones_fails_and_outside_is_ignored(lane_frame, zones) -> None:
    h, w = lane_frame.shape[:2]
    assert cc.glare(lane_frame, zones).verdict is Verdict.PASS
    bad = cc.glare(highlight(lane_frame, (0.25 * w, 0.45 * h), 0.14 * w), zones)
    assert bad.verdict is Verdict.FAIL
    x, y = bad.figures["largest_blob_at"]
    assert 0.05 * w < x < 0.45 * w and 0.1 * h < y < 0.9 * h  # reported where it is
    # The same highlight in the gap between the scan and bagging zones does not count.
    gap = cc.glare(highlight(lane_frame, (0.5 * w, 0.03 * h), 0.02 * w), zones)
    assert gap.verdict is Verdict.PASS


# --- pixels per module ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ppm", "verdict"), [(1.5, Verdict.FAIL), (2.5, Verdict.WARN), (4.0, Verdict.PASS)]
)
def test_px_per_module_measured_within_10_percent(ppm: float, verdict: Verdict) -> None:
    frame, _ = card_frame(LAYOUT, ppm, frame_size=(1280, 960), angle_deg=-12)
    r = cc.pixels_per_module(frame, LAYOUT)
    assert r.figures["px_per_module"] == pytest.approx(ppm, rel=0.10)
    assert r.verdict is verdict
    if r.figures["from_code"] is not None:  # the code, when it decodes, agrees
        assert r.figures["from_code"] == pytest.approx(ppm, rel=0.10)


def test_px_per_module_without_a_card_fails_and_frame_checks_skip_it(lane_frame) -> None:
    r = cc.pixels_per_module(lane_frame)
    assert r.verdict is Verdict.FAIL and "No test card" in r.advice
    by_check = {r.check: r for r in cc.frame_checks(lane_frame)}
    assert by_check["camera.px_per_module"].verdict is Verdict.SKIPPED
    assert by_check["camera.zone_alignment"].verdict is Verdict.SKIPPED


# --- read rate ------------------------------------------------------------------------------


def test_read_rate_counts_the_frames_that_read_with_the_real_cascade() -> None:
    sharp = [card_frame(LAYOUT, 3.0, frame_size=(800, 600), angle_deg=a)[0] for a in (0, 5, -5, 9)]
    blurred = blur(sharp[0], 3.0 * 0.8)  # 0.8 module: no decoder reads this
    frames = [sharp[0], blurred, sharp[1], sharp[2], blurred, sharp[3]]
    r = cc.read_rate(frames, CARD_GTIN)
    assert (r.figures["frames"], r.figures["reads"]) == (6, 4)
    assert r.series["read"] == [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    assert r.verdict is Verdict.FAIL and r.figures["other_codes"] == 0
    assert cc.read_rate(sharp, CARD_GTIN).verdict is Verdict.PASS
    with pytest.raises(ValueError):
        cc.read_rate(sharp, "12ab")


# --- zone alignment -------------------------------------------------------------------------


def markers_on_zone(zones: ZoneMap, shift: tuple[float, float], ids=CORNER_MARKER_IDS):
    frame, _ = card_frame(LAYOUT, 2.0, frame_size=(1280, 960), center=(640, 1500))  # card out
    corners = cc.expected_corners(zones, "scan", (1280, 960))
    for mid, (x, y) in zip(CORNER_MARKER_IDS, corners, strict=True):
        if mid in ids:
            paste_marker(frame, mid, (x + shift[0], y + shift[1]), 64)
    return frame


def test_alignment_passes_in_place_and_detects_a_shifted_camera(zones) -> None:
    ok = cc.zone_alignment(markers_on_zone(zones, (0, 0)), zones)
    assert ok.verdict is Verdict.PASS and ok.figures["markers_seen"] == 4
    assert ok.figures["max_offset_px"] < 2.0
    moved = cc.zone_alignment(markers_on_zone(zones, (48, -20)), zones)
    assert moved.verdict is Verdict.FAIL
    assert moved.figures["shift_px"] == pytest.approx([48, -20], abs=2.0)
    assert moved.figures["shift_pct"][0] == pytest.approx(100 * 48 / 1280, abs=0.2)
    assert "right" in moved.advice and "up" in moved.advice
    # The measured corners are a zone the technician can adopt.
    assert moved.figures["measured_corners"]["tl"] == pytest.approx(
        [(0.05 * 1280 + 48) / 1280, (0.1 * 960 - 20) / 960], abs=0.003
    )
    partial = cc.zone_alignment(markers_on_zone(zones, (0, 0), ids=(10, 11, 12)), zones)
    assert partial.verdict is Verdict.WARN and "3 of 4" in partial.advice
    none = cc.zone_alignment(markers_on_zone(zones, (0, 0), ids=()), zones)
    assert none.verdict is Verdict.FAIL


# --- the PDF --------------------------------------------------------------------------------


def parse_pdf(data: bytes) -> dict[int, bytes]:
    """Objects by number, found through the xref table (so its offsets are checked too)."""
    start = int(re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", data).group(1))
    assert data[start:].startswith(b"xref")
    lines = data[start:].split(b"\n")
    first, count = map(int, lines[1].split())
    objects = {}
    for n in range(first + 1, first + count):
        offset = int(lines[2 + n - first][:10])
        assert data[offset:].startswith(f"{n} 0 obj".encode()), n
        end = data.index(b"endobj", offset)
        objects[n] = data[offset:end]
    return objects


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_card_pdf_is_true_scale_and_holds_a_readable_card(tmp_path: Path) -> None:
    out = tmp_path / "card.pdf"
    assert run_cli("camera", "card", str(out)) == 0
    data = out.read_bytes()
    assert data.startswith(b"%PDF-1.")
    objects = parse_pdf(data)
    pages = [o for o in objects.values() if b"/Type /Page " in o]
    assert len(pages) == 2
    box = [float(v) for v in re.search(rb"/MediaBox \[([^\]]+)\]", pages[0]).group(1).split()]
    assert box[2] * 25.4 / 72 == pytest.approx(210, abs=0.1)  # A4 in millimetres
    assert box[3] * 25.4 / 72 == pytest.approx(297, abs=0.1)
    # The card image: decompress it, read its code, and check the size it is placed at.
    card_obj = next(o for o in objects.values() if b"/Subtype /Image" in o and b"/Width 9" in o)
    w = int(re.search(rb"/Width (\d+)", card_obj).group(1))
    h = int(re.search(rb"/Height (\d+)", card_obj).group(1))
    stream = card_obj[card_obj.index(b"stream\n") + 7 : card_obj.rindex(b"\nendstream")]
    pixels = np.frombuffer(zlib.decompress(stream), np.uint8).reshape(h, w)
    reads = zxingcpp.read_barcodes(pixels)
    assert [r.text for r in reads] == [CARD_GTIN]
    content = b"".join(objects.values())
    placed_w_pt = float(
        re.search(rb"q ([\d.]+) 0 0 [\d.]+ [\d.]+ [\d.]+ cm /Im0", content).group(1)
    )
    assert placed_w_pt * 25.4 / 72 == pytest.approx(LAYOUT.width_mm, abs=0.01)
    # 95 modules first bar to last, at the placed scale: the module is 0.33 mm.
    cols = np.where(pixels[h // 2, :].astype(int) < 128)[0]
    bar_cols = cols[(cols > w * 0.2) & (cols < w * 0.8)]
    module_mm = (bar_cols.max() - bar_cols.min() + 1) / 95 * LAYOUT.width_mm / w
    assert module_mm == pytest.approx(0.33, rel=0.02)
    assert run_cli("camera", "card", str(tmp_path / "x.pdf"), "--module-mm", "5") == 2


# --- the CLI on a still image ---------------------------------------------------------------


def test_cli_check_and_align_on_still_frames(tmp_path: Path, capsys, zones) -> None:
    frame, _ = card_frame(LAYOUT, 4.0, frame_size=(1280, 960), center=(500, 480))
    still = tmp_path / "card.png"
    cv2.imwrite(str(still), frame)
    assert run_cli("camera", "check", str(still), "--zones", str(ZONES), "--json") == 0
    body = json.loads(capsys.readouterr().out)
    by_check = {r["check"]: r for r in body["results"]}
    assert by_check["camera.px_per_module"]["verdict"] == "pass"
    assert by_check["camera.px_per_module"]["figures"]["px_per_module"] == pytest.approx(4, 0.1)
    assert by_check["camera.sharpness"]["verdict"] == "pass"
    dark = tmp_path / "dark.png"
    cv2.imwrite(str(dark), (frame * 0.2).astype(np.uint8))
    assert run_cli("camera", "check", str(dark)) == 1
    assert "FAIL    camera.exposure" in capsys.readouterr().out
    moved = tmp_path / "moved.png"
    cv2.imwrite(str(moved), markers_on_zone(zones, (60, 0)))
    assert run_cli("camera", "align", str(moved), "--zones", str(ZONES)) == 1
    assert "camera has moved" in capsys.readouterr().out
    # Bad input: a clear message and exit 2 (arguments) or 1 (no frames), never a traceback.
    assert run_cli("camera", "align", str(moved), "--zones", str(tmp_path / "none.json")) == 2
    assert run_cli("camera", "align", str(moved), "--zones", str(ZONES), "--zone", "nope") == 2
    assert run_cli("camera", "check", str(tmp_path / "missing.png")) == 1
    assert run_cli("camera", "read-rate", str(still), "--code", "x", "--count", "3") == 2
    err = capsys.readouterr().err
    assert "zones file not found" in err and "no zone 'nope'" in err
