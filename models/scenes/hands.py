"""Procedural hands and arms reaching in from the bottom edge of a top-down view.

A hand comes as three layers drawn at different depths: the arm (sleeve and forearm), the palm
under a held item, and the fingers and thumb wrapped over the item's edges. Only the palm and
fingers are labelled ``hand``; the arm occludes but is not a hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from models.scenes.compose import Layer

# BGR skin tones, light to dark; gloves are rarer.
SKIN_TONES = (
    (196, 212, 240),
    (170, 192, 232),
    (140, 170, 220),
    (112, 148, 205),
    (90, 126, 186),
    (70, 100, 160),
    (52, 76, 128),
    (42, 58, 96),
)
GLOVES = ((200, 120, 60), (40, 40, 40), (230, 230, 235))


@dataclass
class Hand:
    arm: Layer
    palm: Layer
    fingers: Layer | None  # drawn over a held item; None for an empty hand (part of palm)
    grip: tuple[float, float]
    skin: tuple[int, int, int]


@dataclass(frozen=True)
class HandStyle:
    skin: tuple[int, int, int]
    sleeve: tuple[int, int, int] | None
    sleeve_frac: float
    size: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> HandStyle:
        if rng.random() < 0.08:
            skin = GLOVES[int(rng.integers(len(GLOVES)))]
        else:
            base = np.array(SKIN_TONES[int(rng.integers(len(SKIN_TONES)))], np.float32)
            skin = tuple(int(v) for v in np.clip(base + rng.normal(0, 8, 3), 0, 255))
        sleeve = None
        if rng.random() < 0.75:
            sleeve = tuple(int(v) for v in rng.integers(0, 256, 3))
        return cls(skin, sleeve, float(rng.uniform(0.2, 0.85)), float(rng.uniform(0.85, 1.2)))


def _shade(patch: npt.NDArray[np.uint8], mask: npt.NDArray[np.uint8], colour, k: int) -> None:
    """Fill ``mask`` with ``colour``, darker at the edges so limbs look round (``k``: edge
    softness in pixels)."""
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0 or h == 0:
        return
    m = mask[y : y + h, x : x + w]
    k = max(3, k | 1)
    soft = cv2.blur(m, (k, k))
    # f = 0.72 + 0.33 * soft/255, per channel, as a lookup table on the softened mask.
    lut = np.clip(np.outer(0.72 + 0.33 * np.arange(256) / 255.0, colour), 0, 255).astype(np.uint8)
    shaded = cv2.LUT(cv2.merge([soft, soft, soft]), lut.reshape(256, 1, 3))
    dst = patch[y : y + h, x : x + w]
    np.copyto(dst, shaded, where=(m > 0)[..., None])


def _trim(layer: Layer) -> Layer:
    """Crop a layer to its opaque pixels (hand layers start as one shared, large canvas)."""
    x, y, w, h = cv2.boundingRect(layer.alpha)
    if w == 0 or h == 0:
        return Layer(layer.bgr[:1, :1], layer.alpha[:1, :1], layer.x0, layer.y0)
    return Layer(
        np.ascontiguousarray(layer.bgr[y : y + h, x : x + w]),
        np.ascontiguousarray(layer.alpha[y : y + h, x : x + w]),
        layer.x0 + x,
        layer.y0 + y,
    )


def _capsule(mask, p0, p1, width: float) -> None:
    cv2.line(
        mask,
        (round(p0[0]), round(p0[1])),
        (round(p1[0]), round(p1[1])),
        255,
        max(2, round(width)),
        cv2.LINE_AA,
    )


def _limb(mask, p0, p1, w0: float, w1: float) -> None:
    """A tapered limb from p0 (width w0) to p1 (width w1), rounded at p1."""
    d = np.asarray(p1, np.float64) - np.asarray(p0, np.float64)
    n = float(np.linalg.norm(d))
    if n < 1e-6:
        return
    perp = np.array([-d[1], d[0]]) / n
    pts = np.array([p0 + perp * w0 / 2, p1 + perp * w1 / 2, p1 - perp * w1 / 2,
                    p0 - perp * w0 / 2])  # fmt: skip
    cv2.fillConvexPoly(mask, np.round(pts).astype(np.int32), 255, cv2.LINE_AA)
    cv2.circle(mask, (round(p1[0]), round(p1[1])), max(1, round(w1 / 2)), 255, -1, cv2.LINE_AA)


def _nails(patch, mask, tips, dirs, fw: float, skin) -> None:
    """Paler nails at the finger tips (seen from the back of the hand)."""
    nail = tuple(int(min(255, c * 1.12 + 25)) for c in skin)
    for tip, d in zip(tips, dirs, strict=True):
        c = tip - d * fw * 0.35
        ang = float(np.degrees(np.arctan2(d[1], d[0])))
        axes = (max(1, round(fw * 0.28)), max(1, round(fw * 0.22)))
        cv2.ellipse(patch, (round(c[0]), round(c[1])), axes, ang, 0, 360, nail, -1, cv2.LINE_AA)


def make_hand(
    rng: np.random.Generator,
    frame_size: tuple[int, int],
    grip: tuple[float, float],
    *,
    entry_x: float | None = None,
    item_corners: npt.NDArray[np.float32] | None = None,
    style: HandStyle | None = None,
    scale: float = 1.0,
) -> Hand:
    """A hand reaching ``grip`` from the bottom edge.

    Without an item, ``grip`` is the palm centre of an open hand. With ``item_corners`` (the
    held item's outline in frame pixels, centred on ``grip``) the hand either holds the item by
    its near edge (back of the hand below it, thumb over its face) or grips it across (the
    fingertips over one side edge, the thumb over the other).
    """
    W, H = frame_size
    style = style or HandStyle.random(rng)
    L = 78.0 * style.size * scale  # palm length
    fw = L * 0.17  # finger width
    ex = grip[0] + rng.uniform(-0.35, 0.35) * W if entry_x is None else entry_x
    entry = np.array([ex, H + L * 1.5])
    g = np.array(grip, np.float64)
    u = g - entry
    u /= max(float(np.linalg.norm(u)), 1e-6)
    v = np.array([-u[1], u[0]]) * (1 if rng.random() < 0.5 else -1)  # mirror: left or right
    under: list[tuple[np.ndarray, np.ndarray, float]] = []  # fingers hidden under the item
    over: list[tuple[np.ndarray, np.ndarray, float]] = []  # fingers drawn over the item
    open_fingers: list[tuple[np.ndarray, np.ndarray, float]] = []
    if item_corners is not None:
        rel = np.asarray(item_corners, np.float64) - g
        along, across = rel @ u, rel @ v
        near, left, right = -along.min(), -across.min(), across.max()
        side_grip = left + right < 2.2 * L and rng.random() < 0.5
        if side_grip:
            palm = g - u * L * 0.15
            for i in range(4):
                off = u * ((i - 1.2) * fw * 1.05)
                base = g + v * (right - L * 0.25) + off
                tip = g + v * (right + L * rng.uniform(0.03, 0.09)) + off
                over.append((base, tip, fw))
            over.append((g - v * (left + L * 0.06) - u * L * 0.2,
                         g - v * (left - L * 0.22) + u * L * 0.02, fw * 1.2))  # fmt: skip
        else:
            palm = g - u * (near + L * 0.02)
            for i in range(4):
                base = palm + u * L * 0.35 + v * (i - 1.5) * fw * 1.05
                under.append((base, base + u * L * 0.6, fw))
            tb = palm + v * L * 0.32 - u * L * 0.05
            over.append((tb, tb + (u * 0.85 - v * 0.25) * L * 0.62, fw * 1.2))
    else:
        palm = g
        spread = rng.uniform(0.0, 0.25)
        for i in range(4):
            d = u + v * ((i - 1.5) * spread)
            d /= np.linalg.norm(d)
            base = palm + u * L * 0.3 + v * (i - 1.5) * fw * 1.05
            tip = base + d * L * rng.uniform(0.45, 0.65) * (1 - 0.12 * abs(i - 1.5))
            open_fingers.append((base, tip, fw))
        tb = palm - u * L * 0.15 + v * L * 0.3
        open_fingers.append((tb, tb + (u * 0.6 + v * 0.8) * L * 0.45, fw * 1.2))
    wrist = palm - u * L * 0.6
    pts = [entry, wrist, palm + u * L + v * L, palm + u * L - v * L, palm - v * L, palm + v * L]
    pts += [p for f in under + over + open_fingers for p in f[:2]]
    arr = np.array(pts)
    x0, y0 = np.floor(arr.min(0) - L * 0.6).astype(int)
    x1, y1 = np.ceil(arr.max(0) + L * 0.6).astype(int)
    # Only what can reach the frame is drawn (a hand still below the edge is a sliver).
    x0, y0 = max(x0, -W), max(y0, -H)
    x0, y0 = min(x0, 2 * W), min(y0, H)
    x1, y1 = max(x1, x0 + 1), max(min(y1, H + 2), y0 + 1)
    w, h = int(x1 - x0), int(y1 - y0)
    off = np.array([x0, y0], np.float64)

    arm_m = np.zeros((h, w), np.uint8)
    arm_c = np.zeros((h, w, 3), np.uint8)
    _limb(arm_m, entry - off, wrist - off, L * 0.85, L * 0.55)
    _shade(arm_c, arm_m, style.skin, int(L / 5))
    if style.sleeve is not None:
        cuff = entry + (wrist - entry) * style.sleeve_frac
        sm = np.zeros_like(arm_m)
        _limb(sm, entry - off - u * L, cuff - off, L * 1.15, L * (1.15 - 0.3 * style.sleeve_frac))
        _shade(arm_c, sm, style.sleeve, int(L / 4))
        arm_m = np.maximum(arm_m, sm)
    palm_m = np.zeros((h, w), np.uint8)
    pc = palm - off
    ang = float(np.degrees(np.arctan2(u[1], u[0])))
    cv2.ellipse(palm_m, (round(pc[0]), round(pc[1])), (round(L * 0.5), round(L * 0.42)), ang,
                0, 360, 255, -1, cv2.LINE_AA)  # fmt: skip
    _limb(palm_m, wrist - off, pc, L * 0.55, L * 0.7)
    for base, tip, width in under + open_fingers:
        _capsule(palm_m, base - off, tip - off, width)
    palm_c = np.zeros((h, w, 3), np.uint8)
    _shade(palm_c, palm_m, style.skin, int(fw / 2))
    if open_fingers:
        _nails(palm_c, palm_m, [t - off for _, t, _ in open_fingers],
               [(t - b) / max(np.linalg.norm(t - b), 1e-6) for b, t, _ in open_fingers], fw,
               style.skin)  # fmt: skip
    arm = _trim(Layer(arm_c, arm_m, int(x0), int(y0)))
    palm_layer = _trim(Layer(palm_c, palm_m, int(x0), int(y0)))
    fingers = None
    if over:
        fing_m = np.zeros((h, w), np.uint8)
        for base, tip, width in over:
            _capsule(fing_m, base - off, tip - off, width)
        fing_c = np.zeros((h, w, 3), np.uint8)
        _shade(fing_c, fing_m, style.skin, int(fw / 2))
        _nails(fing_c, fing_m, [t - off for _, t, _ in over],
               [(t - b) / max(np.linalg.norm(t - b), 1e-6) for b, t, _ in over], fw,
               style.skin)  # fmt: skip
        fingers = _trim(Layer(fing_c, fing_m, int(x0), int(y0)))
    return Hand(arm, palm_layer, fingers, (float(g[0]), float(g[1])), style.skin)
