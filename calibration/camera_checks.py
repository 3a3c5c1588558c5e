"""Camera checks: pure functions from frames (and the zones file) to :class:`CheckResult`.

Each takes BGR frames as the camera gives them and returns the measured figure, the limits
it was judged against and, when it is not a pass, what to do about it. Thresholds and the
measurements they came from are in docs/calibration.md ("Camera").

- ``sharpness``: variance of the Laplacian over the test card when it is in view (a known
  target, so the figure means the same on every lane), else over the scan zone.
- ``exposure``: mean luminance and the fractions clipped dark and bright.
- ``glare``: the largest saturated blob inside the scan and bagging zones.
- ``pixels_per_module``: from the test card's markers (known millimetre spacing), checked
  against the card's EAN-13 (95 modules first bar to last) when it decodes.
- ``read_rate``: the lane's real barcode cascade on N frames: frames that read the code / N.
- ``zone_alignment``: corner markers laid on the scan zone's corners vs the zones file.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from calibration.results import CheckResult, Verdict
from calibration.test_card import (
    ARUCO_DICT,
    CARD_MARKER_IDS,
    CORNER_MARKER_IDS,
    EAN13_MODULES,
    CardLayout,
)
from vision.zones import ZoneMap

DEVICE = "camera"
BGR = npt.NDArray[np.uint8]
Gray = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.uint8]

# Limits. Sharpness on the card (docs/calibration.md has the table they came from): a sharp
# card gives 1400-2000 at 2.5-4 px/module; a Gaussian blur of sigma 1 px drops it to 170-340,
# 1.5 px to 70-165 (with sensor noise), where the cascade stops reading at 2.5 px/module.
SHARPNESS_FAIL = 200.0
SHARPNESS_WARN = 500.0
SHARPNESS_ZONE_FAIL = 40.0  # over the scan zone when no card is in view: content dependent
SHARPNESS_ZONE_WARN = 100.0
EXPOSURE_MEAN = (60.0, 200.0)  # FAIL outside; WARN outside the inner band
EXPOSURE_MEAN_GOOD = (80.0, 180.0)
DARK_LEVEL, BRIGHT_LEVEL = 8, 250
CLIPPED_FAIL, CLIPPED_WARN = 0.10, 0.03  # fraction of the zone
GLARE_LEVEL = 250
GLARE_FAIL, GLARE_WARN = 0.04, 0.02  # largest saturated blob, fraction of the zones
PPM_FAIL, PPM_WARN = 2.0, 3.0  # pixels per module: decoding needs 2, ideally 3
PPM_DISAGREE = 0.15  # markers and code disagree by more: wrong --module-mm or a bad print
READ_RATE_FAIL, READ_RATE_WARN = 0.80, 0.95
ALIGN_FAIL_PCT, ALIGN_WARN_PCT = 4.0, 2.0  # of the frame's shorter side (2 %: zone margin)


def _gray(frame: BGR | Gray) -> Gray:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.size == 0:
        raise ValueError("a frame must be a non-empty uint8 image")
    if frame.ndim == 3:
        return np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), np.uint8)
    return frame


def zone_mask(
    frame_size: tuple[int, int], zones: ZoneMap | None, names: Sequence[str] = ("scan",)
) -> Mask:
    """255 inside any of the named zones (all of the frame when there are no zones)."""
    w, h = frame_size
    mask = np.zeros((h, w), np.uint8)
    polys = [z for z in zones.zones if z.name in names] if zones else []
    if not polys:
        mask[:] = 255
        return mask
    for z in polys:
        pts = np.round(z.pixels((w, h)).reshape(-1, 2)).astype(np.int32)
        cv2.fillPoly(mask, [pts], 255)
    return mask


# --------------------------------------------------------------------------------------------
# markers


@dataclass(frozen=True)
class Markers:
    corners: dict[int, npt.NDArray[np.float64]]  # id -> 4 x 2 image corners (TL, TR, BR, BL)

    def center(self, marker_id: int) -> tuple[float, float]:
        c = self.corners[marker_id].mean(axis=0)
        return float(c[0]), float(c[1])


def find_markers(frame: BGR | Gray) -> Markers:
    """Every ArUco marker of the card's dictionary in view, by id."""
    gray = _gray(frame)
    dictionary = cv2.aruco.getPredefinedDictionary(ARUCO_DICT)
    detector = cv2.aruco.ArucoDetector(dictionary, cv2.aruco.DetectorParameters())
    corners, ids, _ = detector.detectMarkers(gray)
    found: dict[int, npt.NDArray[np.float64]] = {}
    if ids is not None:
        for c, i in zip(corners, ids.ravel(), strict=True):
            found.setdefault(int(i), np.asarray(c, np.float64).reshape(4, 2))
    return Markers(found)


def card_homography(markers: Markers, layout: CardLayout) -> npt.NDArray[np.float64] | None:
    """Card millimetres -> frame pixels, from every corner of the card markers in view."""
    ids = [i for i in CARD_MARKER_IDS if i in markers.corners]
    if not ids:
        return None
    src = np.vstack([layout.marker_corners_mm(i) for i in ids])
    dst = np.vstack([markers.corners[i] for i in ids])
    h, _ = cv2.findHomography(src, dst, 0)
    return None if h is None else np.asarray(h, np.float64)


def _project(h: npt.NDArray[np.float64], pts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out = cv2.perspectiveTransform(pts.reshape(-1, 1, 2).astype(np.float64), h)
    return np.asarray(out, np.float64).reshape(-1, 2)


def _card_mask(frame_size: tuple[int, int], h: npt.NDArray[np.float64], layout: CardLayout) -> Mask:
    w, hh = frame_size
    box = np.array([[0, 0], [layout.width_mm, 0], [layout.width_mm, layout.height_mm],
                    [0, layout.height_mm]], np.float64)  # fmt: skip
    mask = np.zeros((hh, w), np.uint8)
    cv2.fillPoly(mask, [np.round(_project(h, box)).astype(np.int32)], 255)
    return mask


# --------------------------------------------------------------------------------------------
# sharpness, exposure, glare


def laplacian_variance(gray: Gray, mask: Mask | None = None) -> float:
    lap = cv2.Laplacian(gray, cv2.CV_64F)
    values = lap[mask > 0] if mask is not None else lap
    return float(values.var()) if values.size else 0.0


def sharpness(
    frame: BGR, zones: ZoneMap | None = None, layout: CardLayout | None = None
) -> CheckResult:
    gray = _gray(frame)
    size = (gray.shape[1], gray.shape[0])
    layout = layout or CardLayout()
    h = card_homography(find_markers(gray), layout)
    if h is not None:
        where, fail, warn = "test card", SHARPNESS_FAIL, SHARPNESS_WARN
        mask = _card_mask(size, h, layout)
    else:
        where, fail, warn = "scan zone", SHARPNESS_ZONE_FAIL, SHARPNESS_ZONE_WARN
        mask = zone_mask(size, zones)
    value = laplacian_variance(gray, mask)
    verdict = Verdict.FAIL if value < fail else Verdict.WARN if value < warn else Verdict.PASS
    advice = ""
    if verdict is not Verdict.PASS:
        advice = (
            f"The image over the {where} is soft (Laplacian variance {value:.0f}, needs "
            f"{warn:.0f}). Focus the lens on the scan-zone height, clean the lens and its "
            "window, and check the camera is not vibrating; shorter exposure stops motion blur."
        )
        if h is None:
            advice += " Lay the test card in the scan zone for a figure that compares lanes."
    return CheckResult(
        "camera.sharpness", DEVICE, verdict,
        figures={"laplacian_variance": round(value, 1), "measured_on": where},
        limits={"fail_below": fail, "warn_below": warn},
        advice=advice, ts=time.time(),
    )  # fmt: skip


def exposure(frame: BGR, zones: ZoneMap | None = None) -> CheckResult:
    gray = _gray(frame)
    values = gray[zone_mask((gray.shape[1], gray.shape[0]), zones) > 0]
    mean = float(values.mean())
    dark = float((values <= DARK_LEVEL).mean())
    bright = float((values >= BRIGHT_LEVEL).mean())
    p5, p95 = (float(v) for v in np.percentile(values, (5, 95)))
    fail = not EXPOSURE_MEAN[0] <= mean <= EXPOSURE_MEAN[1] or max(dark, bright) > CLIPPED_FAIL
    good = EXPOSURE_MEAN_GOOD[0] <= mean <= EXPOSURE_MEAN_GOOD[1]
    warn = not good or max(dark, bright) > CLIPPED_WARN
    verdict = Verdict.FAIL if fail else Verdict.WARN if warn else Verdict.PASS
    advice = ""
    if verdict is not Verdict.PASS:
        if mean < EXPOSURE_MEAN_GOOD[0] or dark > CLIPPED_WARN:
            advice = (
                f"The scan zone is too dark (mean {mean:.0f} of 255, {dark:.0%} black). Add "
                "light over the counter or raise the camera's exposure/gain; keep exposure "
                "short enough that a moving pack stays sharp."
            )
        else:
            advice = (
                f"The scan zone is too bright (mean {mean:.0f} of 255, {bright:.0%} white). "
                "Lower the exposure or gain, or dim or diffuse the light over the counter."
            )
    return CheckResult(
        "camera.exposure", DEVICE, verdict,
        figures={"mean": round(mean, 1), "p5": p5, "p95": p95,
                 "clipped_dark": round(dark, 4), "clipped_bright": round(bright, 4)},
        limits={"mean_fail_outside": list(EXPOSURE_MEAN),
                "mean_warn_outside": list(EXPOSURE_MEAN_GOOD),
                "clipped_fail_above": CLIPPED_FAIL, "clipped_warn_above": CLIPPED_WARN},
        unit="grey level 0-255", advice=advice, ts=time.time(),
    )  # fmt: skip


def glare(frame: BGR, zones: ZoneMap | None = None) -> CheckResult:
    """The largest blob of saturated pixels inside the scan and bagging zones."""
    gray = _gray(frame)
    mask = zone_mask((gray.shape[1], gray.shape[0]), zones, ("scan", "bagging"))
    hot = ((gray >= GLARE_LEVEL) & (mask > 0)).astype(np.uint8)
    opened = cv2.morphologyEx(hot, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))  # no lone pixels
    hot = np.asarray(opened, np.uint8)
    n, _labels, stats, centroids = cv2.connectedComponentsWithStats(hot, connectivity=8)
    zone_px = max(1, int((mask > 0).sum()))
    largest, where = 0, None
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] > largest:
            largest = int(stats[i, cv2.CC_STAT_AREA])
            where = (round(float(centroids[i][0])), round(float(centroids[i][1])))
    frac = largest / zone_px
    verdict = (
        Verdict.FAIL if frac > GLARE_FAIL else Verdict.WARN if frac > GLARE_WARN else Verdict.PASS
    )
    advice = ""
    if verdict is not Verdict.PASS:
        advice = (
            f"A washed-out highlight covers {frac:.1%} of the zones around pixel {where}: a "
            "light or window reflects off the counter into the camera. Move or diffuse that "
            "light, tilt the camera a few degrees, or use a matte counter mat."
        )
    return CheckResult(
        "camera.glare", DEVICE, verdict,
        figures={"largest_blob_fraction": round(frac, 4), "largest_blob_px": largest,
                 "saturated_fraction": round(float(hot.sum()) / zone_px, 4),
                 "largest_blob_at": list(where) if where else None},
        limits={"fail_above": GLARE_FAIL, "warn_above": GLARE_WARN},
        advice=advice, ts=time.time(),
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# pixels per module


def _ppm_from_code(gray: Gray, gtin: str) -> float | None:
    """The card's EAN-13, if it decodes: first bar to last bar is 95 modules."""
    from vision.barcodes import ZxingDecoder

    for raw in ZxingDecoder().decode(gray):
        if raw.symbology == "ean13" and raw.text == gtin and len(raw.points) == 4:
            tl, tr, br, bl = (np.array(p) for p in raw.points)
            length = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2 + 1
            return float(length / EAN13_MODULES)
    return None


def pixels_per_module(frame: BGR, layout: CardLayout | None = None) -> CheckResult:
    layout = layout or CardLayout()
    gray = _gray(frame)
    h = card_homography(find_markers(gray), layout)
    from_markers = from_code = None
    along = across = None
    if h is not None:
        c = np.array(layout.code_center_mm, np.float64)
        pts = c + np.array([[-0.5, 0], [0.5, 0], [0, -0.5], [0, 0.5]])  # 1 mm each way
        p = _project(h, pts)
        along = float(np.linalg.norm(p[1] - p[0])) * layout.module_mm
        across = float(np.linalg.norm(p[3] - p[2])) * layout.module_mm
        from_markers = along
    from_code = _ppm_from_code(gray, layout.gtin)
    value = from_markers if from_markers is not None else from_code
    figures: dict[str, object] = {
        "px_per_module": None if value is None else round(value, 2),
        "from_markers": None if from_markers is None else round(from_markers, 2),
        "from_code": None if from_code is None else round(from_code, 2),
        "across_code": None if across is None else round(across, 2),
        "module_mm": layout.module_mm,
    }
    limits = {"fail_below": PPM_FAIL, "warn_below": PPM_WARN}
    if value is None:
        return CheckResult(
            "camera.px_per_module",
            DEVICE,
            Verdict.FAIL,
            figures,
            limits,
            "px/module",
            "No test card found in the frame. Lay the printed card flat in the scan zone with "
            "all four corner squares visible, or the camera's resolution is far too low.",
            ts=time.time(),
        )
    verdict = (
        Verdict.FAIL if value < PPM_FAIL else Verdict.WARN if value < PPM_WARN else Verdict.PASS
    )
    advice = ""
    if verdict is not Verdict.PASS:
        advice = (
            f"A {layout.module_mm:g} mm barcode module spans {value:.1f} camera pixels; decoding "
            f"needs {PPM_FAIL:g}, ideally {PPM_WARN:g} or more. Lower the camera, use a narrower "
            "lens or a higher resolution (e.g. 1920x1080 instead of 1280x720), or shrink the "
            "scan zone."
        )
    if from_markers and from_code and abs(from_code / from_markers - 1) > PPM_DISAGREE:
        verdict = Verdict.WARN if verdict is Verdict.PASS else verdict
        advice += (
            f" The code measures {from_code:.2f} px/module but the markers {from_markers:.2f}: "
            "check the card was printed at actual size with the module width given."
        )
    return CheckResult(
        "camera.px_per_module", DEVICE, verdict, figures, limits, "px/module",
        advice.strip(), ts=time.time(),
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# read rate


def normalise_code(code: str) -> str:
    """A GTIN as digits (8, 12, 13 or 14) -> GTIN-14, as BarcodeHit.gtin carries it."""
    digits = code.strip()
    if not digits.isdigit() or len(digits) not in (8, 12, 13, 14):
        raise ValueError(f"expected a GTIN of 8, 12, 13 or 14 digits, got {code!r}")
    return digits.zfill(14)


def read_rate(
    frames: Iterable[BGR],
    code: str,
    *,
    reader: object | None = None,
    budget_ms: float | None = None,
) -> CheckResult:
    """Run the lane's barcode cascade on each frame; a frame counts when it reads ``code``."""
    from vision.barcodes import BarcodeReader

    want = normalise_code(code)
    cascade = reader if reader is not None else BarcodeReader(budget_ms=budget_ms)
    n = reads = wrong = 0
    per_frame: list[float] = []
    ms: list[float] = []
    for frame in frames:
        t0 = time.perf_counter()
        hits = cascade.decode(frame)  # type: ignore[attr-defined]
        ms.append((time.perf_counter() - t0) * 1000)
        n += 1
        ok = any(h.gtin == want for h in hits)
        reads += ok
        wrong += any((h.gtin or h.text) != want for h in hits)
        per_frame.append(1.0 if ok else 0.0)
    limits = {"fail_below": READ_RATE_FAIL, "warn_below": READ_RATE_WARN}
    if n == 0:
        return CheckResult(
            "camera.read_rate", DEVICE, Verdict.FAIL, {"frames": 0}, limits,
            advice="The camera gave no frames.", ts=time.time(),
        )  # fmt: skip
    rate = reads / n
    verdict = (
        Verdict.FAIL if rate < READ_RATE_FAIL
        else Verdict.WARN if rate < READ_RATE_WARN or wrong else Verdict.PASS
    )  # fmt: skip
    advice = ""
    if rate < READ_RATE_WARN:
        advice = (
            f"The code read in {reads} of {n} frames ({rate:.0%}). Run the sharpness, exposure "
            "and pixels-per-module checks: a soft, dark or too-small image is the usual cause; "
            "present the code flat and slower."
        )
    if wrong:
        advice += f" {wrong} frame(s) read a different code: keep other codes out of view."
    return CheckResult(
        "camera.read_rate", DEVICE, verdict,
        figures={"frames": n, "reads": reads, "rate": round(rate, 4), "other_codes": wrong,
                 "code": want, "decode_ms_mean": round(float(np.mean(ms)), 1)},
        limits=limits, advice=advice.strip(), series={"read": per_frame}, ts=time.time(),
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# zone alignment


def expected_corners(
    zones: ZoneMap, zone: str, frame_size: tuple[int, int]
) -> npt.NDArray[np.float64]:
    """The zone's TL, TR, BR, BL vertices in pixels (extremes of x+y and x-y)."""
    match = [z for z in zones.zones if z.name == zone]
    if not match:
        raise ValueError(f"no zone {zone!r} in the zones file (has {', '.join(zones.names)})")
    pts = match[0].pixels(frame_size).reshape(-1, 2).astype(np.float64)
    s, d = pts[:, 0] + pts[:, 1], pts[:, 0] - pts[:, 1]
    return np.array([pts[s.argmin()], pts[d.argmax()], pts[s.argmax()], pts[d.argmin()]])


def zone_alignment(frame: BGR, zones: ZoneMap, zone: str = "scan") -> CheckResult:
    """Corner markers 10-13 laid on the zone's corners vs where the zones file has them."""
    gray = _gray(frame)
    h, w = gray.shape
    expected = expected_corners(zones, zone, (w, h))
    markers = find_markers(gray)
    seen = [i for i, mid in enumerate(CORNER_MARKER_IDS) if mid in markers.corners]
    limits = {"fail_above_pct": ALIGN_FAIL_PCT, "warn_above_pct": ALIGN_WARN_PCT}
    if not seen:
        return CheckResult(
            "camera.zone_alignment", DEVICE, Verdict.FAIL, {"markers_seen": 0}, limits, "%",
            f"No corner markers seen. Lay the four cut-out markers with their centres on the "
            f"corners of the {zone} zone, all in view of the camera.", ts=time.time(),
        )  # fmt: skip
    measured = np.array([markers.center(CORNER_MARKER_IDS[i]) for i in seen])
    delta = measured - expected[seen]
    dist = np.linalg.norm(delta, axis=1)
    worst_px = float(dist.max())
    worst_pct = 100 * worst_px / min(w, h)
    shift = delta.mean(axis=0)
    verdict = (
        Verdict.FAIL if worst_pct > ALIGN_FAIL_PCT
        else Verdict.WARN if worst_pct > ALIGN_WARN_PCT or len(seen) < 4 else Verdict.PASS
    )  # fmt: skip
    advice = ""
    if worst_pct > ALIGN_WARN_PCT:
        sx, sy = float(shift[0]), float(shift[1])
        advice = (
            f"The {zone} zone's corners are up to {worst_px:.0f} px ({worst_pct:.1f} % of the "
            f"frame) from where the zones file has them; on average the markers sit "
            f"{abs(sx):.0f} px {'right' if sx >= 0 else 'left'} and {abs(sy):.0f} px "
            f"{'down' if sy >= 0 else 'up'} of it. The camera has moved: re-aim it, or redraw "
            "the zones (the measured corners are in this result)."
        )
    if len(seen) < 4:
        advice += f" Only {len(seen)} of 4 corner markers seen."
    corners = {
        name: [round(float(x) / w, 4), round(float(y) / h, 4)]
        for name, (x, y) in zip(("tl", "tr", "br", "bl"), measured if len(seen) == 4 else [],
                                strict=False)
    }  # fmt: skip
    return CheckResult(
        "camera.zone_alignment", DEVICE, verdict,
        figures={"zone": zone, "markers_seen": len(seen), "max_offset_px": round(worst_px, 1),
                 "max_offset_pct": round(worst_pct, 2),
                 "shift_px": [round(float(shift[0]), 1), round(float(shift[1]), 1)],
                 "shift_pct": [round(100 * float(shift[0]) / w, 2),
                               round(100 * float(shift[1]) / h, 2)],
                 "measured_corners": corners},
        limits=limits, unit="% of the frame's shorter side", advice=advice.strip(),
        ts=time.time(),
    )  # fmt: skip


def frame_checks(
    frame: BGR, zones: ZoneMap | None = None, layout: CardLayout | None = None
) -> list[CheckResult]:
    """The single-frame checks: sharpness, exposure, glare, and px/module and alignment when
    the card or corner markers are in view (else SKIPPED, saying why)."""
    layout = layout or CardLayout()
    out = [sharpness(frame, zones, layout), exposure(frame, zones), glare(frame, zones)]
    markers = find_markers(frame)
    if any(i in markers.corners for i in CARD_MARKER_IDS):
        out.append(pixels_per_module(frame, layout))
    else:
        out.append(CheckResult("camera.px_per_module", DEVICE, Verdict.SKIPPED,
                               advice="No test card in view.", ts=time.time()))  # fmt: skip
    if zones is not None and any(i in markers.corners for i in CORNER_MARKER_IDS):
        out.append(zone_alignment(frame, zones))
    else:
        why = "no zones file given" if zones is None else "no corner markers in view"
        out.append(CheckResult("camera.zone_alignment", DEVICE, Verdict.SKIPPED,
                               advice=f"Not checked: {why}.", ts=time.time()))  # fmt: skip
    return out
