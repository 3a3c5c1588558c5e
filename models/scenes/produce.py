"""Loose produce drawn procedurally (used when no real photos are available, and for variety).

Shapes by kind: round fruit (apples, oranges, tomatoes, kiwis, potatoes), long vegetables
(cucumbers, aubergines), banana hands, and leafy heads.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.scenes.catalog import Product
from models.scenes.packaging import Sprite, _shade_round

# name keyword -> (shape, BGR colour)
LOOKS: dict[str, tuple[str, tuple[int, int, int]]] = {
    "banana": ("banana", (40, 210, 235)),
    "apple": ("round", (40, 40, 200)),
    "cucumber": ("long", (40, 110, 40)),
    "tomato": ("round", (30, 40, 210)),
    "orange": ("round", (20, 140, 245)),
    "cabbage": ("leafy", (110, 200, 150)),
    "potato": ("round", (90, 150, 190)),
    "eggplant": ("long", (80, 30, 60)),
    "pepper": ("round", (40, 170, 60)),
    "garlic": ("round", (220, 225, 235)),
    "ginger": ("long", (110, 170, 210)),
    "kiwi": ("round", (50, 90, 120)),
    "avocado": ("round", (40, 70, 40)),
}


def look_of(product: Product) -> tuple[str, tuple[int, int, int]]:
    name = product.name.lower()
    for key, look in LOOKS.items():
        if key in name:
            return look
    return "round", (60, 160, 120)


def produce_sprite(product: Product, rng: np.random.Generator, scale: float = 1.0) -> Sprite:
    shape, colour = look_of(product)
    col = np.clip(np.asarray(colour, np.float32) + rng.normal(0, 12, 3), 0, 255)
    if shape == "banana":
        w, h = int(150 * scale), int(110 * scale)
    elif shape == "long":
        w, h = int(60 * scale), int(170 * scale)
    elif shape == "leafy":
        w = h = int(150 * scale)
    else:
        w = h = int(rng.uniform(70, 90) * scale)
    w, h = max(w, 8), max(h, 8)
    img = np.zeros((h, w, 3), np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    if shape == "banana":
        for i in range(int(rng.integers(3, 6))):
            r = int(h * (0.55 + 0.08 * i))
            cv2.ellipse(
                alpha,
                (w // 2, h - 4 + r - int(h * 0.75)),
                (int(w * 0.45), r),
                0,
                200,
                340,
                255,
                max(6, int(h * 0.14)),
                cv2.LINE_AA,
            )
    elif shape == "long":
        cv2.ellipse(
            alpha,
            (w // 2, h // 2),
            (w // 2 - 1, h // 2 - 1),
            float(rng.uniform(-6, 6)),
            0,
            360,
            255,
            -1,
            cv2.LINE_AA,
        )
    else:
        cv2.circle(alpha, (w // 2, h // 2), min(w, h) // 2 - 1, 255, -1, cv2.LINE_AA)
    img[:] = col.astype(np.uint8)
    if shape == "leafy":
        for _ in range(8):
            c = (int(rng.uniform(0.2, 0.8) * w), int(rng.uniform(0.2, 0.8) * h))
            cv2.ellipse(
                img,
                c,
                (int(w * 0.25), int(h * 0.12)),
                float(rng.uniform(0, 180)),
                0,
                360,
                tuple(int(v * 0.8) for v in col),
                2,
                cv2.LINE_AA,
            )
    speck = rng.normal(0, 6, (h, w, 1))
    img[:] = np.clip(img + speck, 0, 255).astype(np.uint8)
    _shade_round(img, alpha, 0.45, None)
    # A soft specular highlight.
    hl = np.zeros((h, w), np.float32)
    cv2.circle(hl, (int(w * 0.35), int(h * 0.3)), max(2, min(w, h) // 8), 1.0, -1)
    hl = cv2.GaussianBlur(hl, (0, 0), max(1.0, min(w, h) / 14)) * 0.45
    img[:] = np.clip(img + hl[..., None] * 255, 0, 255).astype(np.uint8)
    return Sprite(img, alpha, None, None)
