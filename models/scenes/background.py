"""The checkout counter seen from above: materials, the scanner window, the produce scale,
the bagging platform, and the light over it all.

Built at quarter resolution and upscaled (smooth structure is cheap), then given full-resolution
grain; a frame costs a few milliseconds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from models.scenes.layout import Layout

Image = npt.NDArray[np.uint8]

MATERIALS = ("steel", "laminate", "plastic", "stone", "wood", "dark")


def _material(rng: np.random.Generator, w: int, h: int, kind: str) -> npt.NDArray[np.float32]:
    """A w x h BGR float texture of one counter material."""
    if kind == "steel":
        base = rng.uniform(140, 205)
        # Brushed: noise stretched along x gives streaks.
        streak = cv2.resize(
            rng.normal(0, 1, (h, max(4, w // 40))).astype(np.float32),
            (w, h),
            interpolation=cv2.INTER_LINEAR,
        )
        tex = base + 9 * streak
        col = np.stack([tex * 1.02, tex, tex * 0.97], -1)
    elif kind == "wood":
        base = np.array([rng.uniform(60, 120), rng.uniform(100, 160), rng.uniform(150, 210)])
        y = np.linspace(0, rng.uniform(20, 60), h, dtype=np.float32)[:, None]
        wob = cv2.resize(rng.normal(0, 1, (4, 8)).astype(np.float32), (w, h))
        rings = np.sin(y + 3 * wob) * 0.5 + 0.5
        col = base[None, None, :] * (0.8 + 0.25 * rings[..., None])
    else:
        if kind == "laminate":
            base = np.array([rng.uniform(170, 235)] * 3) + rng.normal(0, 8, 3)
        elif kind == "plastic":
            hue = np.array([rng.uniform(60, 200), rng.uniform(60, 200), rng.uniform(60, 200)])
            base = hue * rng.uniform(0.6, 1.0)
        elif kind == "stone":
            base = np.array([rng.uniform(90, 180)] * 3) + rng.normal(0, 10, 3)
        else:
            base = np.array([rng.uniform(25, 60)] * 3) + rng.normal(0, 4, 3)
        blot = cv2.resize(
            rng.normal(0, 1, (6, 8)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
        )
        col = base[None, None, :] * (1 + 0.05 * blot[..., None])
        if kind == "stone":
            speck = (rng.random((h, w)) < 0.04).astype(np.float32) * rng.normal(0, 40, (h, w))
            col = col + speck[..., None]
    return col.astype(np.float32)


def render_background(rng: np.random.Generator, layout: Layout) -> Image:
    """A fresh counter with its fixtures; lighting is applied later, over the whole frame."""
    W, H = layout.width, layout.height
    q = 4
    w, h = W // q, H // q
    canvas = _material(rng, w, h, str(rng.choice(MATERIALS)))
    # The bagging platform is often a different material.
    if rng.random() < 0.6:
        x1, y1, x2, y2 = (int(v / q) for v in layout.rect("bagging"))
        m = rng.uniform(-0.03, 0.03) * W / q
        x1, x2 = int(x1 + m), int(x2 + m)
        canvas[y1:y2, x1:x2] = _material(rng, x2 - x1, y2 - y1, str(rng.choice(MATERIALS)))
    canvas = cv2.resize(canvas, (W, H), interpolation=cv2.INTER_LINEAR)
    img = np.clip(canvas, 0, 255).astype(np.uint8)
    sx1, sy1, sx2, sy2 = layout.rect("scan")
    # Scanner window: dark glass with a reflection, sometimes red laser lines.
    if rng.random() < 0.85:
        gw = rng.uniform(0.45, 0.8) * (sx2 - sx1)
        gh = rng.uniform(0.2, 0.35) * (sy2 - sy1)
        gx = (sx1 + sx2) / 2 - gw / 2 + rng.uniform(-0.1, 0.1) * (sx2 - sx1)
        gy = sy1 + rng.uniform(0.1, 0.3) * (sy2 - sy1)
        p1, p2 = (int(gx), int(gy)), (int(gx + gw), int(gy + gh))
        frame_col = tuple(int(v) for v in rng.uniform(20, 90, 3))
        cv2.rectangle(img, (p1[0] - 6, p1[1] - 6), (p2[0] + 6, p2[1] + 6), frame_col, -1)
        glass = tuple(int(v) for v in rng.uniform(15, 50, 3))
        cv2.rectangle(img, p1, p2, glass, -1)
        if rng.random() < 0.5:
            for _ in range(int(rng.integers(1, 4))):
                ya = int(rng.uniform(p1[1], p2[1]))
                yb = int(rng.uniform(p1[1], p2[1]))
                cv2.line(img, (p1[0], ya), (p2[0], yb), (40, 40, 230), 1, cv2.LINE_AA)
    if "produce_scale" in layout.zones and rng.random() < 0.8:
        px1, py1, px2, py2 = (int(v) for v in layout.rect("produce_scale"))
        steel = np.clip(_material(rng, px2 - px1, py2 - py1, "steel"), 0, 255).astype(np.uint8)
        cv2.rectangle(img, (px1 - 3, py1 - 3), (px2 + 3, py2 + 3), (50, 50, 50), -1)
        img[py1:py2, px1:px2] = steel
    if rng.random() < 0.5:  # painted zone outlines or tape
        col = tuple(int(v) for v in rng.uniform(0, 255, 3))
        for name in ("scan", "bagging"):
            pts = layout.zones[name].astype(np.int32)
            cv2.polylines(img, [pts], True, col, int(rng.integers(1, 4)), cv2.LINE_AA)
    return img


@dataclass(frozen=True)
class Lighting:
    """One lighting setup: an illumination field and a colour/exposure lookup table.

    A video keeps one setup for all its frames (only the sensor noise changes); a data set
    draws a new one per image.
    """

    field: npt.NDArray[np.float32]  # H x W multiplier
    lut: npt.NDArray[np.uint8]  # 256 x 1 x 3
    noise: float
    defocus: float = 0.0  # Gaussian sigma in pixels, 0 = sharp

    @classmethod
    def random(cls, rng: np.random.Generator, W: int, H: int, *, defocus: bool = True) -> Lighting:
        # Smooth illumination field: a tilted plane plus a soft spot, at low resolution.
        gy, gx = np.mgrid[0:12, 0:16].astype(np.float32)
        a, b = rng.normal(0, 0.02, 2)
        field = 1 + a * (gx - 8) + b * (gy - 6)
        cx, cy, r = rng.uniform(0, 16), rng.uniform(0, 12), rng.uniform(4, 14)
        spot = np.exp(-((gx - cx) ** 2 + (gy - cy) ** 2) / (2 * r * r))
        field += rng.uniform(-0.1, 0.2) * spot
        if rng.random() < 0.3:  # the shopper's own shadow, falling in from the bottom edge
            bx = rng.uniform(2, 14)
            body = np.exp(-((gx - bx) ** 2) / (2 * rng.uniform(2, 5) ** 2) - (11 - gy) / 4)
            field *= 1 - rng.uniform(0.15, 0.4) * np.clip(body, 0, 1)
        field = cv2.resize(field.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
        # Colour temperature and exposure as one per-channel lookup table with a gamma.
        temp = rng.uniform(-1, 1)
        gains = np.array([1 - 0.12 * temp, 1.0, 1 + 0.12 * temp]) * rng.uniform(0.7, 1.08)
        gamma = rng.uniform(0.9, 1.35)
        x = np.arange(256, dtype=np.float32) / 255.0
        lut = np.stack([np.clip(255 * (x**gamma) * g, 0, 255) for g in gains], -1)
        blur = float(rng.uniform(0.8, 1.6)) if rng.random() < 0.12 else 0.0  # slightly out of focus
        blur = blur if defocus else 0.0
        return cls(field, lut.astype(np.uint8).reshape(256, 1, 3), float(rng.uniform(1.0, 6.0)),
                   blur)  # fmt: skip

    def apply(self, img: Image, rng: np.random.Generator) -> Image:
        H, W = img.shape[:2]
        if self.defocus > 0:
            img = cv2.GaussianBlur(img, (0, 0), self.defocus)
        out = cv2.LUT(img, self.lut).astype(np.float32)
        out *= self.field[..., None]
        # Sensor noise: a window of a fixed noise bank (drawing fresh noise costs more than
        # the rest of the frame), placed by this frame's generator.
        bank = _noise_bank(H, W)
        oy = int(rng.integers(0, bank.shape[0] - H + 1))
        ox = int(rng.integers(0, bank.shape[1] - W + 1))
        out += bank[oy : oy + H, ox : ox + W] * np.float32(self.noise)
        return np.clip(out, 0, 255).astype(np.uint8)


def lighting(img: Image, rng: np.random.Generator) -> Image:
    """Uneven light, colour temperature, exposure and sensor noise over the finished frame."""
    H, W = img.shape[:2]
    return Lighting.random(rng, W, H).apply(img, rng)


@functools.lru_cache(maxsize=4)
def _noise_bank(H: int, W: int) -> npt.NDArray[np.float32]:
    bank = np.random.default_rng(0x5EED).normal(0, 1, (H + H // 2, W + W // 2, 3))
    return bank.astype(np.float32)
