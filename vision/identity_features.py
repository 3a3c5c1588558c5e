"""Appearance features for the identity check: a masked colour histogram and ORB keypoints.

Both are chosen for what a checkout camera does to an item: it turns (ORB and a histogram are
rotation invariant), it moves nearer or further (images are brought to one size and ORB
works on a pyramid), the light changes (hue and saturation do not move with brightness,
grey pixels are binned by brightness relative to the crop's own highlights, and ORB sees a
contrast-equalised image) and hands cover part of it (both are local sums or matches, so a
covered part removes votes instead of changing the rest).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vision.types import BGRImage

SIDE = 256  # every image is brought to this longer side before any feature is taken
MIN_SIDE = 16  # a crop smaller than this (either side) says nothing reliable
MIN_CONTRAST = 4.0  # grey-level std below this is a blank crop (a wall, a covered lens)
HUE_BINS, SAT_BINS, GREY_BINS = 24, 4, 8  # chosen on the grocery photos (bench)
CENTRE_SIGMA = 0.35  # of the side; 0.3-0.45 measured within 1 AUC point
CHROMA_MIN = 48  # saturation (0..255) below which a pixel's hue is noise
HIST_BINS = HUE_BINS * SAT_BINS + GREY_BINS
ORB_FEATURES = 300
RATIO = 0.8  # Lowe's ratio test
RANSAC_PX = 6.0


@dataclass(frozen=True)
class Appearance:
    """What the identity check keeps of one image (a reference or a query crop)."""

    hist_sqrt: npt.NDArray[np.float32]  # sqrt of the normalised histogram (for Bhattacharyya)
    points: npt.NDArray[np.float32]  # N x 2 keypoint positions
    descriptors: npt.NDArray[np.uint8]  # N x 32 ORB descriptors (N may be 0)
    embedding: npt.NDArray[np.float32] | None = None  # unit vector, when a model is used


_weights_cache: dict[tuple[int, int], npt.NDArray[np.float32]] = {}


def _centre_weights(h: int, w: int) -> npt.NDArray[np.float32]:
    # A detector's box holds the item in its middle and background at its edges: weight
    # pixels by a broad Gaussian so the border counts less without a segmentation model.
    key = (h, w)
    if key not in _weights_cache:
        ys = (np.arange(h, dtype=np.float32) - (h - 1) / 2) / (CENTRE_SIGMA * h)
        xs = (np.arange(w, dtype=np.float32) - (w - 1) / 2) / (CENTRE_SIGMA * w)
        _weights_cache[key] = np.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2))
    return _weights_cache[key]


def normalised(image: BGRImage) -> BGRImage | None:
    """The image at the working size, or None when it is unusable (too small, blank)."""
    if image is None or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        return None
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        return None
    scale = SIDE / max(h, w)
    if scale != 1.0:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        image = cv2.resize(
            image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interp
        )
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if float(grey.std()) < MIN_CONTRAST:
        return None
    return image


def barcode_mask(grey: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Where printed barcodes are: dense, strongly one-directional edges (bars).

    Every package carries one and, within a GS1 prefix, they look alike; worse, in a ticket
    switch the barcode is the part that belongs to the claimed product. Features there are
    evidence about the label, not the item, so they are left out.
    """
    g = grey.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    win = (15, 15)
    jxx, jyy, jxy = cv2.blur(gx * gx, win), cv2.blur(gy * gy, win), cv2.blur(gx * gy, win)
    coherence = np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2) / (jxx + jyy + 1e-6)
    density = cv2.blur((gx * gx + gy * gy > 60.0**2).astype(np.float32), win)
    mask = ((coherence > 0.8) & (density > 0.35)).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    return cv2.dilate(mask, np.ones((7, 7), np.uint8)) > 0


def colour_histogram(
    image: BGRImage, ignore: npt.NDArray[np.bool_] | None = None
) -> npt.NDArray[np.float32] | None:
    """Hue x saturation bins for coloured pixels plus relative-brightness bins for grey ones,
    centre-weighted, with specular highlights and deep shadow left out; sums to 1."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV_FULL)
    h = hsv[..., 0].astype(np.float32)
    s = hsv[..., 1].astype(np.int32)
    v = hsv[..., 2].astype(np.float32)
    weight = _centre_weights(*image.shape[:2]).copy()
    glare = (v > 235) & (s < 30)
    weight[glare | (v < 20)] = 0.0
    if ignore is not None:
        weight[ignore] = 0.0
    total = float(weight.sum())
    if total < 1e-3 * weight.size:
        return None
    chroma = (s >= CHROMA_MIN) & (v >= 40)
    hist = np.zeros(HIST_BINS, np.float64)
    # Hue: soft-assigned to the two nearest bins so a small hue shift moves mass smoothly.
    hc = h[chroma] * (HUE_BINS / 256.0) - 0.5
    lo = np.floor(hc)
    frac = hc - lo
    lo_bin = lo.astype(np.int64) % HUE_BINS
    hi_bin = (lo_bin + 1) % HUE_BINS
    s_bin = np.minimum(SAT_BINS - 1, (s[chroma] - CHROMA_MIN) * SAT_BINS // (256 - CHROMA_MIN))
    wc = weight[chroma]
    hist[: HUE_BINS * SAT_BINS] += np.bincount(
        lo_bin * SAT_BINS + s_bin, wc * (1 - frac), HUE_BINS * SAT_BINS
    )
    hist[: HUE_BINS * SAT_BINS] += np.bincount(
        hi_bin * SAT_BINS + s_bin, wc * frac, HUE_BINS * SAT_BINS
    )
    grey = ~chroma & (weight > 0)
    if grey.any():
        # Brightness relative to the crop's own bright end: a dimmer lamp scales V, not this.
        ref = max(float(np.percentile(v[weight > 0], 98)), 1.0)
        g_bin = np.minimum(GREY_BINS - 1, (v[grey] / ref * GREY_BINS).astype(np.int64))
        hist[HUE_BINS * SAT_BINS :] += np.bincount(g_bin, weight[grey], GREY_BINS)
    norm = hist.sum()
    if norm <= 0:
        return None
    return (hist / norm).astype(np.float32)


_clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4))
_orb = cv2.ORB_create(nfeatures=ORB_FEATURES, fastThreshold=12)


def orb_features(
    grey: npt.NDArray[np.uint8], ignore: npt.NDArray[np.bool_] | None = None
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    mask = None if ignore is None else np.where(ignore, 0, 255).astype(np.uint8)
    keypoints, descriptors = _orb.detectAndCompute(_clahe.apply(grey), mask)
    if descriptors is None or not keypoints:
        return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    points = np.array([k.pt for k in keypoints], np.float32)
    return points, descriptors


def appearance(image: BGRImage) -> Appearance | None:
    """Features of one image; None when it is unusable (too small, blank, all glare)."""
    norm = normalised(image)
    if norm is None:
        return None
    grey = cv2.cvtColor(norm, cv2.COLOR_BGR2GRAY)
    bars = barcode_mask(grey)
    hist = colour_histogram(norm, bars)
    if hist is None:
        return None
    points, descriptors = orb_features(grey, bars)
    return Appearance(np.sqrt(hist).astype(np.float32), points, descriptors)


_matcher = cv2.BFMatcher(cv2.NORM_HAMMING)


def orb_inliers(query: Appearance, ref: Appearance) -> int:
    """Ratio-test matches that agree on one homography (RANSAC inliers); 0 when too few.

    Repeated patterns (barcode bars, stripes) fail the ratio test, and matches that do not
    fit one plane-to-plane mapping are dropped, so printed artwork counts and texture does not.
    """
    if len(query.descriptors) < 8 or len(ref.descriptors) < 8:
        return 0
    pairs = _matcher.knnMatch(query.descriptors, ref.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < 8:
        return 0
    src = query.points[[m.queryIdx for m in good]]
    dst = ref.points[[m.trainIdx for m in good]]
    homography, mask = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_PX)
    if homography is None or mask is None:
        return 0
    # A mapping that folds the image over or crushes it to a line is a chance fit.
    det = float(np.linalg.det(homography[:2, :2]))
    if not (0.05 < abs(det) < 20.0) or det < 0:
        return 0
    return int(mask.sum())
