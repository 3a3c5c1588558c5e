"""Synthetic packaged goods for the identity check's tests and benchmark.

Ticket switching uses packaged goods: a box whose barcode belongs to a cheaper product. These
are drawn with OpenCV (coloured faces, bands, logos, text and a real EAN-13 from zxing-cpp)
and photographed again by ``camera_view`` (rotation, scale, light, a hand over part of it).
``variant`` makes a look-alike: the same brand layout with another band colour and name,
which is the hard case (a cheaper flavour of the same brand).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import zxingcpp

from vision.types import BGRImage

_WORDS = (
    "FRESH", "CRUNCH", "OATY", "GOLD", "NORDIC", "SUNNY", "MILKO", "BRAVO", "ZEST", "PRIMA",
    "VITA", "KORN", "TERRA", "LUNA", "NOVA", "ALPI", "MARE", "SOLO", "FIKA", "BOREAL",
)  # fmt: skip
_SHAPES = ("circle", "triangle", "star", "square", "diamond")
_PATTERNS = ("none", "stripes", "dots", "waves", "checks")


@dataclass(frozen=True)
class PackageDesign:
    base: tuple[int, int, int]
    accent: tuple[int, int, int]
    ink: tuple[int, int, int]
    brand: str
    product: str
    shape: str
    pattern: str
    gtin13: str
    seed: int


def _ean13(seed: int) -> str:
    body = f"20{seed:010d}"[-12:]
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _colour(rng: np.random.Generator, dark: bool = False) -> tuple[int, int, int]:
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(90, 256), rng.integers(60, 140)
                      if dark else rng.integers(150, 256)]]])  # fmt: skip
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def design(seed: int) -> PackageDesign:
    """A random but reproducible package design (one SKU)."""
    rng = np.random.default_rng(seed)
    return PackageDesign(
        base=_colour(rng),
        accent=_colour(rng, dark=True),
        ink=(20, 20, 20) if rng.random() < 0.6 else (250, 250, 250),
        brand=str(rng.choice(_WORDS)),
        product=" ".join(str(w) for w in rng.choice(_WORDS, 2, replace=False)),
        shape=str(rng.choice(_SHAPES)),
        pattern=str(rng.choice(_PATTERNS)),
        gtin13=_ean13(seed),
        seed=seed,
    )


def variant(base: PackageDesign, seed: int) -> PackageDesign:
    """A look-alike: same brand, layout, logo and base colour; another accent and product name."""
    rng = np.random.default_rng(seed + 10_000)
    return replace(
        base,
        accent=_colour(rng, dark=True),
        product=" ".join(str(w) for w in rng.choice(_WORDS, 2, replace=False)),
        gtin13=_ean13(seed + 10_000),
        seed=seed + 10_000,
    )


def _logo(
    img: BGRImage, shape: str, centre: tuple[int, int], r: int, colour: tuple[int, int, int]
) -> None:
    cx, cy = centre
    if shape == "circle":
        cv2.circle(img, centre, r, colour, -1, cv2.LINE_AA)
        cv2.circle(img, centre, r // 2, (255, 255, 255), 3, cv2.LINE_AA)
        return
    if shape == "star":
        angles = np.linspace(-np.pi / 2, 3.5 * np.pi, 10, endpoint=False)
        radii = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
    elif shape == "triangle":
        angles, radii = np.linspace(-np.pi / 2, 1.5 * np.pi, 3, endpoint=False), np.full(3, r)
    elif shape == "diamond":
        angles, radii = np.linspace(0, 2 * np.pi, 4, endpoint=False), np.full(4, r)
    else:
        angles, radii = np.linspace(np.pi / 4, 2.25 * np.pi, 4, endpoint=False), np.full(4, r)
    pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
    cv2.fillPoly(img, [pts.astype(np.int32)], colour, cv2.LINE_AA)


def _pattern(img: BGRImage, pattern: str, colour: tuple[int, int, int], y0: int, y1: int) -> None:
    w = img.shape[1]
    if pattern == "stripes":
        for x in range(-w, w, 28):
            cv2.line(img, (x, y1), (x + (y1 - y0), y0), colour, 6, cv2.LINE_AA)
    elif pattern == "dots":
        for y in range(y0 + 12, y1, 26):
            for x in range(12 + (y // 26 % 2) * 13, w, 26):
                cv2.circle(img, (x, y), 5, colour, -1, cv2.LINE_AA)
    elif pattern == "waves":
        xs = np.arange(0, w, 4)
        for y in range(y0 + 10, y1, 22):
            pts = np.stack([xs, y + 6 * np.sin(xs / 11.0)], 1).astype(np.int32)
            cv2.polylines(img, [pts], False, colour, 3, cv2.LINE_AA)
    elif pattern == "checks":
        for y in range(y0, y1, 20):
            for x in range((y - y0) // 20 % 2 * 20, w, 40):
                cv2.rectangle(img, (x, y), (x + 19, min(y1, y + 19)), colour, -1)


def render(
    d: PackageDesign, width: int = 240, height: int = 320, *, barcode_scale: int = 1
) -> BGRImage:
    """The package's front face, filling the image (its EAN-13 printed bottom right)."""
    img = np.full((height, width, 3), d.base, np.uint8)
    band0, band1 = int(height * 0.42), int(height * 0.62)
    _pattern(img, d.pattern, d.accent, 0, band0)
    cv2.rectangle(img, (0, band0), (width, band1), d.accent, -1)
    _logo(img, d.shape, (width // 2, int(height * 0.22)), int(width * 0.16), d.accent)
    font = cv2.FONT_HERSHEY_DUPLEX
    for text, y, scale in ((d.brand, band0 - 8, 1.1), (d.product, band1 - 12, 0.6)):
        (tw, _), _ = cv2.getTextSize(text, font, scale, 2)
        ink = d.ink if text == d.brand else (255, 255, 255)
        cv2.putText(img, text, ((width - tw) // 2, y), font, scale, ink, 2, cv2.LINE_AA)
    code = np.asarray(
        zxingcpp.create_barcode(d.gtin13, zxingcpp.BarcodeFormat.EAN13).to_image(
            scale=barcode_scale
        )
    )
    bh, bw = code.shape[:2]
    x0, y0 = width - bw - 8, height - bh - 8
    if x0 >= 0 and y0 > band1:
        img[y0 : y0 + bh, x0 : x0 + bw] = cv2.cvtColor(code, cv2.COLOR_GRAY2BGR)
    return img


def camera_view(
    face: BGRImage,
    rng: np.random.Generator,
    *,
    angle: float | None = None,
    scale: float | None = None,
    gain: float | None = None,
    occlude: float | None = None,
    background: tuple[int, int, int] = (170, 170, 165),
) -> BGRImage:
    """The face as a detector crop would show it: turned, resized, relit, partly covered by
    a hand, slightly blurred and noisy, with the background the box's corners let in."""
    angle = float(rng.uniform(0, 360)) if angle is None else angle
    scale = float(rng.uniform(0.5, 1.3)) if scale is None else scale
    gain = float(rng.uniform(0.6, 1.4)) if gain is None else gain
    occlude = float(rng.uniform(0.0, 0.3)) if occlude is None else occlude
    h, w = face.shape[:2]
    side = int(np.hypot(h, w)) + 4
    canvas = np.full((side, side, 3), background, np.uint8)
    canvas[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = face
    rot = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
    canvas = cv2.warpAffine(canvas, rot, (side, side), borderValue=background)
    # The detector's box is the rotated face's bounding box.
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    rad = np.deg2rad(angle)
    turned = corners @ np.array([[np.cos(rad), -np.sin(rad)], [np.sin(rad), np.cos(rad)]])
    half = np.abs(turned).max(0)
    x0, y0 = (side / 2 - half).astype(int).clip(0)
    x1, y1 = (side / 2 + half).astype(int).clip(max=side)
    crop = canvas[y0:y1, x0:x1]
    crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if occlude > 0:
        ch, cw = crop.shape[:2]
        skin = (
            int(rng.integers(60, 120)),
            int(rng.integers(110, 170)),
            int(rng.integers(170, 230)),
        )
        ax = (int(cw * occlude * 1.2), int(ch * occlude * 0.9))
        edge = (int(rng.choice([0, cw])), int(rng.uniform(0.2, 0.8) * ch))
        cv2.ellipse(crop, edge, ax, float(rng.uniform(0, 180)), 0, 360, skin, -1, cv2.LINE_AA)
    # Light: overall gain, a warm/cool tint and a gradient across the item.
    tint = np.array([rng.uniform(0.9, 1.1), 1.0, rng.uniform(0.9, 1.1)], np.float32)
    ramp = np.linspace(1 - 0.15 * rng.random(), 1.0, crop.shape[1], dtype=np.float32)
    lit = crop.astype(np.float32) * gain * tint[None, None, :] * ramp[None, :, None]
    lit += rng.normal(0, 3.0, lit.shape).astype(np.float32)
    out = np.clip(lit, 0, 255).astype(np.uint8)
    return cv2.GaussianBlur(out, (3, 3), 0.8)
