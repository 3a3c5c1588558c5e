"""Shopping bags seen from above on the bagging area: reusable fabric or thin plastic.

An open bag is a body with a dark opening (where bagged items show, dimmed) and two handles.
The sprite carries the opening as its own mask so items can be drawn "inside" it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from models.scenes.packaging import Sprite, _fit_text

BAG_WORDS = ("FRESH MART", "THANK YOU", "ECO BAG", "SUPERSTORE", "REUSE ME", "MARKET")


@dataclass
class BagSprite:
    sprite: Sprite
    opening: npt.NDArray[np.uint8]  # 0/255, same size as the sprite


def render_bag(rng: np.random.Generator, scale: float = 1.0) -> BagSprite:
    plastic = rng.random() < 0.5
    w = int(rng.uniform(170, 240) * scale)
    h = int(rng.uniform(150, 215) * scale)
    margin = int(0.22 * h)  # room for the handles
    H = h + 2 * margin
    img = np.zeros((H, w, 3), np.uint8)
    alpha = np.zeros((H, w), np.uint8)
    if plastic:
        colour = np.array(
            (235, 235, 235) if rng.random() < 0.6 else rng.integers(60, 255, 3), np.float32
        )
    else:
        colour = rng.integers(20, 220, 3).astype(np.float32)
    body = np.array(
        [[w * 0.04, margin], [w * 0.96, margin], [w * 0.99, margin + h], [w * 0.01, margin + h]],
        np.int32,
    )
    cv2.fillConvexPoly(alpha, body, 255, cv2.LINE_AA)
    # Folds and wrinkles: stretched noise, stronger on plastic.
    k = 0.35 if plastic else 0.15
    n = cv2.resize(rng.random((5, 9), np.float32), (w, H), interpolation=cv2.INTER_CUBIC)
    img[:] = np.clip(colour[None, None, :] * (1 - k / 2 + k * n[..., None]), 0, 255)
    if plastic:
        for _ in range(int(rng.integers(4, 10))):
            p0 = (int(rng.uniform(0, w)), int(rng.uniform(margin, margin + h)))
            p1 = (int(p0[0] + rng.normal(0, w / 5)), int(p0[1] + rng.normal(0, h / 5)))
            shade = tuple(int(c * rng.uniform(0.75, 1.1)) for c in colour)
            cv2.line(img, p0, p1, shade, int(rng.integers(1, 4)), cv2.LINE_AA)
    elif rng.random() < 0.8:
        ink = (245, 245, 245) if colour.mean() < 128 else (30, 30, 30)
        word = BAG_WORDS[int(rng.integers(len(BAG_WORDS)))]
        _fit_text(
            img,
            word,
            (int(w * 0.15), int(margin + h * 0.72), int(w * 0.7), int(h * 0.18)),
            ink,
            cv2.FONT_HERSHEY_DUPLEX,
        )
    opening = np.zeros((H, w), np.uint8)
    oc = (w // 2, int(margin + h * rng.uniform(0.38, 0.5)))
    ax = (int(w * rng.uniform(0.3, 0.42)), int(h * rng.uniform(0.18, 0.3)))
    cv2.ellipse(opening, oc, ax, float(rng.uniform(-8, 8)), 0, 360, 255, -1, cv2.LINE_AA)
    inner = (colour * 0.3).astype(np.float32)
    sel = opening > 0
    img[sel] = inner.astype(np.uint8)
    # Handles: loops beyond the top and bottom edges of the body.
    hcol = tuple(int(c * 0.85) for c in colour)
    thick = max(3, int(w * (0.03 if plastic else 0.05)))
    for top in (True, False):
        cy = margin if top else margin + h
        hm = np.zeros_like(alpha)
        cv2.ellipse(
            hm,
            (w // 2, cy),
            (int(w * 0.22), int(margin * 0.85)),
            0,
            180 if top else 0,
            360 if top else 180,
            255,
            thick,
            cv2.LINE_AA,
        )
        img[hm > 0] = hcol
        alpha = np.maximum(alpha, hm)
    return BagSprite(Sprite(img, alpha, None, None), opening)
