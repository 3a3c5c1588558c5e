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


def make_hand(
    rng: np.random.Generator,
    frame_size: tuple[int, int],
    grip: tuple[float, float],
    *,
    entry_x: float | None = None,
    holding: float = 0.0,
    style: HandStyle | None = None,
    scale: float = 1.0,
) -> Hand:
    """A hand whose palm centre is at ``grip``, its arm coming from the bottom edge.

    ``holding`` is the held item's half-width across the arm (0 for an empty hand): the
    fingers and thumb then close over its two edges.
    """
    W, H = frame_size
    style = style or HandStyle.random(rng)
    L = 78.0 * style.size * scale  # palm length
    ex = grip[0] + rng.uniform(-0.35, 0.35) * W if entry_x is None else entry_x
    entry = np.array([ex, H + L * 1.5])
    g = np.array(grip, np.float64)
    u = g - entry
    u /= max(float(np.linalg.norm(u)), 1e-6)
    v = np.array([-u[1], u[0]])
    wrist = g - u * L * 0.55
    pts = [
        entry,
        wrist,
        g + u * L * 1.2 + v * L,
        g + u * L * 1.2 - v * L,
        g - v * L * 1.1,
        g + v * L * 1.1,
    ]
    if holding:
        pts += [g + v * (holding + L * 0.3), g - v * (holding + L * 0.3)]
    arr = np.array(pts)
    x0, y0 = np.floor(arr.min(0) - L * 0.6).astype(int)
    x1, y1 = np.ceil(arr.max(0) + L * 0.6).astype(int)
    # Only what can reach the frame is drawn (a hand still below the edge is a sliver).
    x0, y0 = max(x0, -W), max(y0, -H)
    x0, y0 = min(x0, 2 * W), min(y0, H)
    x1, y1 = max(x1, x0 + 1), max(min(y1, H + 2), y0 + 1)
    w, h = int(x1 - x0), int(y1 - y0)
    off = np.array([x0, y0], np.float64)

    def loc(p):
        return p - off

    arm_m = np.zeros((h, w), np.uint8)
    arm_c = np.zeros((h, w, 3), np.uint8)
    fore_w = L * 0.62
    _capsule(arm_m, loc(entry), loc(wrist), fore_w)
    _shade(arm_c, arm_m, style.skin, int(fore_w / 3))
    if style.sleeve is not None:
        cuff = entry + (wrist - entry) * style.sleeve_frac
        sm = np.zeros_like(arm_m)
        _capsule(sm, loc(entry), loc(cuff), fore_w * 1.35)
        _shade(arm_c, sm, style.sleeve, int(fore_w / 3))
        arm_m = np.maximum(arm_m, sm)
    palm_m = np.zeros((h, w), np.uint8)
    centre = loc(g - u * L * 0.1)
    ang = float(np.degrees(np.arctan2(u[1], u[0])))
    cv2.ellipse(
        palm_m,
        (round(centre[0]), round(centre[1])),
        (round(L * 0.5), round(L * 0.42)),
        ang,
        0,
        360,
        255,
        -1,
        cv2.LINE_AA,
    )
    _capsule(palm_m, loc(wrist), centre, L * 0.6)
    fing_m = np.zeros((h, w), np.uint8)
    fw = L * 0.17
    if holding:
        # Fingertips over the far edge, thumb over the near edge, both across the arm.
        reach = holding + L * 0.1
        v = v if rng.random() < 0.5 else -v  # fingers on the left or the right edge
        for i in range(4):
            along = (i - 1.5) * fw * 1.1 + L * 0.05
            base = g + u * along + v * (reach - L * 0.35)
            tip = g + u * (along + rng.uniform(-3, 3)) + v * (reach + L * 0.02 * i)
            _capsule(fing_m, loc(base), loc(tip), fw)
        tb = g - v * (reach - L * 0.3) - u * L * 0.2
        tt = g - v * (reach + L * 0.05) + u * L * 0.1
        _capsule(fing_m, loc(tb), loc(tt), fw * 1.2)
    else:
        spread = rng.uniform(0.0, 0.25)
        for i in range(4):
            d = u + v * ((i - 1.5) * spread)
            d /= np.linalg.norm(d)
            base = g + u * L * 0.3 + v * (i - 1.5) * fw * 1.05
            tip = base + d * L * rng.uniform(0.45, 0.65) * (1 - 0.12 * abs(i - 1.5))
            _capsule(palm_m, loc(base), loc(tip), fw)
        side = 1 if rng.random() < 0.5 else -1
        tb = g - u * L * 0.15 + v * side * L * 0.3
        tt = tb + (u * 0.6 + v * side * 0.8) * L * 0.45
        _capsule(palm_m, loc(tb), loc(tt), fw * 1.2)
    palm_c = np.zeros((h, w, 3), np.uint8)
    _shade(palm_c, palm_m, style.skin, int(fw / 2))
    arm = _trim(Layer(arm_c, arm_m, int(x0), int(y0)))
    palm = _trim(Layer(palm_c, palm_m, int(x0), int(y0)))
    fingers = None
    if holding:
        fing_c = np.zeros((h, w, 3), np.uint8)
        _shade(fing_c, fing_m, style.skin, int(fw / 2))
        fingers = _trim(Layer(fing_c, fing_m, int(x0), int(y0)))
    return Hand(arm, palm, fingers, (float(g[0]), float(g[1])), style.skin)
