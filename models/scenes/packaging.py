"""Procedural packaging seen from above: boxes, cartons, bottles, cans, cups, pouches, trays.

Each product's design (colours, layout, size) comes from its SKU, so it is the same in every
scene; each call adds instance variation (lighting, crumple) from the caller's generator.
A sprite is a BGR image with an alpha mask; its ``barcode_quad`` says where the printed symbol
lies, so scenes know when a code faces the camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from models.scenes.barcodes import draw_symbol, symbol_modules
from models.scenes.catalog import Product

Image = npt.NDArray[np.uint8]
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX)

# Face sizes in pixels at counter height (scale 1): (width range, height range).
SIZES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "box": ((120, 170), (80, 120)),
    "carton": ((80, 100), (150, 185)),
    "case": ((200, 230), (140, 160)),
    "bottle": ((66, 80), (180, 215)),
    "can": ((66, 76), (115, 130)),
    "cup": ((95, 115), (95, 115)),
    "jar": ((80, 95), (80, 95)),
    "pouch": ((115, 150), (150, 190)),
    "sack": ((170, 190), (230, 260)),
    "tray": ((150, 190), (110, 140)),
}


@dataclass
class Sprite:
    bgr: Image
    alpha: npt.NDArray[np.uint8]
    barcode_quad: npt.NDArray[np.float32] | None = None  # 4 x 2 sprite pixels, symbol corners
    code: str | None = None  # the payload printed in the quad


@dataclass(frozen=True)
class Design:
    kind: str
    size: tuple[int, int]
    base: tuple[int, int, int]
    accent: tuple[int, int, int]
    ink: tuple[int, int, int]
    font: int
    pattern: int


@dataclass(frozen=True)
class Look:
    """Per-instance printing choices: a product photo on the front, how much of the back the
    code fills (1.0: as large as fits; real packs print it smaller), an upright view."""

    picture: Image | None = None
    code_fill: float = 1.0
    upright: bool = False


PLAIN = Look()


def _hsv_colour(h: float, s: float, v: float) -> tuple[int, int, int]:
    px = np.uint8([[[int(h) % 180, int(s), int(v)]]])
    b, g, r = cv2.cvtColor(px, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def design_of(product: Product) -> Design:
    """The product's stable look, from its SKU alone."""
    rng = np.random.default_rng(product.key)
    kind = product.kind
    (w0, w1), (h0, h1) = SIZES.get(kind, SIZES["box"])
    hue = rng.uniform(0, 180)
    base = _hsv_colour(hue, rng.uniform(120, 255), rng.uniform(120, 250))
    if rng.random() < 0.2:  # white or dark packs are common
        base = (235, 235, 235) if rng.random() < 0.6 else (40, 35, 30)
    accent = _hsv_colour(hue + rng.uniform(40, 140), rng.uniform(150, 255), rng.uniform(150, 255))
    lum = 0.114 * base[0] + 0.587 * base[1] + 0.299 * base[2]
    ink = (20, 20, 20) if lum > 140 else (245, 245, 245)
    return Design(
        kind,
        (int(rng.integers(w0, w1 + 1)), int(rng.integers(h0, h1 + 1))),
        base,
        accent,
        ink,
        FONTS[int(rng.integers(len(FONTS)))],
        int(rng.integers(4)),
    )


def _fit_text(img: Image, text: str, box: tuple[int, int, int, int], colour, font: int) -> None:
    """Print ``text`` centred in box (x, y, w, h), shrunk to fit."""
    x, y, w, h = box
    if w < 8 or h < 6 or not text:
        return
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, 2)
    scale = min(w / max(tw, 1), h / max(th, 1)) * 0.9
    thick = max(1, round(scale * 2))
    (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
    org = (x + (w - tw) // 2, y + (h + th) // 2)
    cv2.putText(img, text, org, font, scale, colour, thick, cv2.LINE_AA)


def _words(product: Product) -> tuple[str, str]:
    ascii_name = product.name.encode("ascii", "ignore").decode()
    parts = ascii_name.replace(",", " ").split()
    brand = " ".join(parts[:2]) if len(parts) > 2 else (parts[0] if parts else product.sku)
    rest = " ".join(parts[2:] if len(parts) > 2 else parts[1:])
    return brand, rest


def _artwork(
    product: Product, d: Design, w: int, h: int, rng: np.random.Generator, look: Look = PLAIN
) -> Image:
    """The front face: brand block, stripes or a logo disc, a product photo, name text."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = d.base
    brand, rest = _words(product)
    if look.picture is not None and w > 24 and h > 24:
        # The product photo most packs carry, in the lower part of the face.
        pw, ph = int(w * 0.8), int(h * (0.4 if h > w else 0.45))
        pic = cv2.resize(look.picture, (pw, ph), interpolation=cv2.INTER_AREA)
        y = int(h * 0.5)
        img[y : y + ph, (w - pw) // 2 : (w - pw) // 2 + pw] = pic[: h - y]
    if d.pattern == 0:
        cv2.rectangle(img, (0, int(h * 0.62)), (w, int(h * 0.8)), d.accent, -1)
    elif d.pattern == 1:
        cv2.circle(img, (int(w * 0.5), int(h * 0.62)), int(min(w, h) * 0.28), d.accent, -1)
    elif d.pattern == 2:
        for i in range(0, w + h, max(8, (w + h) // 9)):
            cv2.line(img, (i, 0), (i - h, h), d.accent, max(2, w // 25))
    else:
        cv2.rectangle(
            img,
            (int(w * 0.08), int(h * 0.08)),
            (int(w * 0.92), int(h * 0.92)),
            d.accent,
            max(2, w // 30),
        )
    horizontal = w >= h
    if horizontal:
        _fit_text(
            img,
            brand.upper(),
            (int(w * 0.1), int(h * 0.12), int(w * 0.8), int(h * 0.3)),
            d.ink,
            d.font,
        )
        _fit_text(
            img,
            rest,
            (int(w * 0.1), int(h * 0.45), int(w * 0.8), int(h * 0.14)),
            d.ink,
            cv2.FONT_HERSHEY_SIMPLEX,
        )
    else:
        _fit_text(
            img,
            brand.upper(),
            (int(w * 0.08), int(h * 0.15), int(w * 0.84), int(h * 0.2)),
            d.ink,
            d.font,
        )
        _fit_text(
            img,
            rest,
            (int(w * 0.08), int(h * 0.38), int(w * 0.84), int(h * 0.1)),
            d.ink,
            cv2.FONT_HERSHEY_SIMPLEX,
        )
    return img


def _print_barcode(
    img: Image, code: str, fmt: str, rng: np.random.Generator, region=None, fill: float = 1.0
) -> npt.NDArray[np.float32]:
    """Print the symbol (with its white quiet zones) on ``img``; return its corners."""
    h, w = img.shape[:2]
    x0, y0, rw, rh = region if region is not None else (0, 0, w, h)
    if fill < 1.0:  # a smaller code somewhere in the region
        nw, nh = max(8, int(rw * fill)), max(8, int(rh * fill))
        x0 += int((rw - nw) * rng.uniform(0, 1))
        y0 += int((rh - nh) * rng.uniform(0, 1))
        rw, rh = nw, nh
    rotate = rh > rw * 1.15  # run the bars along the longer side so the code can be large
    long_side, short_side = (rh, rw) if rotate else (rw, rh)
    modules = symbol_modules(code, fmt)
    ppm = max(0.5, min(2.6, 0.9 * long_side / modules, 0.9 * short_side / (modules * 0.3)))
    if 1.0 <= ppm < 1.5:
        ppm = 1.0  # whole modules print sharp; 1.0-1.5 px per module smears and fails readers
    # Short packs get truncated bars (as printers do on small items), never a smaller code.
    ratio = float(np.clip(0.9 * short_side / (modules * ppm), 0.3, 0.55))
    sym = draw_symbol(code, fmt, ppm, ratio)
    if rotate:
        sym = cv2.rotate(sym, cv2.ROTATE_90_CLOCKWISE)
    sh, sw = sym.shape
    sx = x0 + int((rw - sw) * rng.uniform(0.3, 0.7))
    sy = y0 + int((rh - sh) * rng.uniform(0.3, 0.7))
    sx, sy = max(0, min(sx, w - sw)), max(0, min(sy, h - sh))
    sh, sw = min(sh, h - sy), min(sw, w - sx)
    img[sy : sy + sh, sx : sx + sw] = sym[:sh, :sw, None]
    return np.array([[sx, sy], [sx + sw, sy], [sx + sw, sy + sh], [sx, sy + sh]], np.float32)


def _shade_round(img: Image, alpha: npt.NDArray[np.uint8], depth: float, axis: int | None) -> None:
    """Darken towards the edges (a cylinder along ``axis``, or a dome when None)."""
    h, w = alpha.shape
    if axis is None:
        dist = cv2.distanceTransform((alpha > 0).astype(np.uint8), cv2.DIST_L2, 3)
        r = max(float(dist.max()), 1.0)
        f = 1.0 - depth * (1.0 - np.sqrt(np.clip(dist / r, 0, 1)))
    else:
        n = w if axis == 0 else h
        t = np.abs(np.linspace(-1, 1, n, dtype=np.float32))
        prof = 1.0 - depth * t**2
        prof = prof + 0.25 * depth * np.exp(-(((np.linspace(-1, 1, n) + 0.35) / 0.15) ** 2))
        f = prof[None, :] if axis == 0 else prof[:, None]
    img[:] = np.clip(img.astype(np.float32) * f[..., None], 0, 255).astype(np.uint8)


def _rounded_alpha(w: int, h: int, r: int) -> npt.NDArray[np.uint8]:
    a = np.zeros((h, w), np.uint8)
    r = max(1, min(r, w // 2, h // 2))
    cv2.rectangle(a, (r, 0), (w - 1 - r, h - 1), 255, -1)
    cv2.rectangle(a, (0, r), (w - 1, h - 1 - r), 255, -1)
    for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
        cv2.circle(a, (cx, cy), r, 255, -1, cv2.LINE_AA)
    return a


def _flat_face(product: Product, d: Design, w: int, h: int, back: bool, rng, code_fmt,
               look: Look = PLAIN) -> Sprite:  # fmt: skip
    """Boxes, cartons, cases, trays: a flat printed face."""
    img = _artwork(product, d, w, h, rng, look)
    quad = None
    code = None
    if back and code_fmt is not None:
        img[:] = np.clip(np.asarray(d.base, np.int16) * 0.9 + 20, 0, 255).astype(np.uint8)
        _fit_text(
            img,
            "INGREDIENTS " + product.sku,
            (4, 4, w - 8, max(8, h // 10)),
            d.ink,
            cv2.FONT_HERSHEY_SIMPLEX,
        )
        quad = _print_barcode(img, *code_fmt, rng, (2, h // 8, w - 4, h - h // 8 - 2),
                              look.code_fill)  # fmt: skip
        code = code_fmt[0]
    if d.kind == "tray":
        # A clear film over food: paler, with a rim.
        img[:] = (img.astype(np.uint16) * 3 // 4 + 60).astype(np.uint8)
        cv2.rectangle(img, (0, 0), (w - 1, h - 1), (225, 225, 225), max(3, w // 22))
    else:
        cv2.rectangle(img, (0, 0), (w - 1, h - 1), tuple(int(c * 0.7) for c in d.base), 2)
    alpha = _rounded_alpha(w, h, 3 if d.kind != "tray" else max(6, w // 12))
    return Sprite(img, alpha, quad, code)


def _cylinder_side(product: Product, d: Design, w: int, h: int, back: bool, rng, code_fmt,
                   look: Look = PLAIN) -> Sprite:  # fmt: skip
    """Bottles and cans lying on the counter: a shaded body with a label band."""
    img = np.empty((h, w, 3), np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    if d.kind == "bottle":
        neck = int(h * 0.22)
        body = tuple(int(0.6 * c + 0.4 * 200) for c in d.accent)
        img[:] = body
        cv2.rectangle(alpha, (0, neck), (w - 1, h - 1), 255, -1)
        pts = np.array([[0, neck], [w // 3, neck // 3], [2 * w // 3, neck // 3], [w - 1, neck]])
        cv2.fillConvexPoly(alpha, pts, 255, cv2.LINE_AA)
        cap = (int(w * 0.3), 0, int(w * 0.4), neck // 3 + 2)
        cv2.rectangle(alpha, cap[:2], (cap[0] + cap[2], cap[3]), 255, -1)
        cv2.rectangle(img, cap[:2], (cap[0] + cap[2], cap[3]), d.base, -1)
        band = (int(h * 0.3), int(h * 0.95))
    else:
        img[:] = (190, 190, 195)
        alpha[:] = 255
        band = (int(h * 0.08), int(h * 0.92))
    lab = _artwork(product, d, w, band[1] - band[0], rng, look)
    quad = None
    code = None
    if back and code_fmt is not None:
        quad = _print_barcode(lab, *code_fmt, rng, None, look.code_fill)
        quad[:, 1] += band[0]
        code = code_fmt[0]
    img[band[0] : band[1]] = lab
    _shade_round(img, alpha, 0.45, 0)
    return Sprite(img, alpha, quad, code)


def _round_top(product: Product, d: Design, w: int, back: bool, rng, code_fmt,
               look: Look = PLAIN) -> Sprite:  # fmt: skip
    """Cups and jars from above: a lid, or the wrapped side with the code when turned."""
    if back and code_fmt is not None:
        side = Design("can", d.size, d.base, d.accent, d.ink, d.font, d.pattern)
        return _cylinder_side(product, side, w, int(w * 1.2), True, rng, code_fmt, look)
    img = np.empty((w, w, 3), np.uint8)
    img[:] = d.base
    alpha = np.zeros((w, w), np.uint8)
    c = w // 2
    cv2.circle(alpha, (c, c), c - 1, 255, -1, cv2.LINE_AA)
    lid = d.accent if d.kind == "jar" else (210, 210, 215)
    cv2.circle(img, (c, c), int(c * 0.86), lid, -1, cv2.LINE_AA)
    brand, _ = _words(product)
    _fit_text(
        img,
        brand.upper(),
        (int(w * 0.2), int(w * 0.38), int(w * 0.6), int(w * 0.22)),
        d.ink if d.kind == "jar" else d.base,
        d.font,
    )
    _shade_round(img, alpha, 0.3, None)
    return Sprite(img, alpha, None, None)


def _upright_top(d: Design, w: int, rng) -> Sprite:
    """A bottle or can standing up, seen from straight above: cap or lid, shoulder, rim."""
    size = max(16, int(w * (1.05 if d.kind == "can" else 1.0)))
    img = np.zeros((size, size, 3), np.uint8)
    alpha = np.zeros((size, size), np.uint8)
    c = size // 2
    cv2.circle(alpha, (c, c), c - 1, 255, -1, cv2.LINE_AA)
    if d.kind == "can":
        img[:] = (200, 200, 205)
        cv2.circle(img, (c, c), int(c * 0.82), (170, 170, 175), max(1, size // 30), cv2.LINE_AA)
        tab = (int(c * 0.55), int(c * 0.25))
        cv2.ellipse(img, (c, int(c * 0.7)), tab, 0, 0, 360, (150, 150, 155), -1, cv2.LINE_AA)
        cv2.circle(img, (c, int(c * 1.3)), int(c * 0.12), (90, 90, 95), -1, cv2.LINE_AA)
        _shade_round(img, alpha, 0.25, None)
    else:
        body = tuple(int(0.6 * x + 0.4 * 200) for x in d.accent)
        img[:] = body
        _shade_round(img, alpha, 0.5, None)
        cv2.circle(img, (c, c), int(c * 0.55), tuple(int(x * 0.9) for x in body), 2, cv2.LINE_AA)
        cv2.circle(img, (c, c), int(c * 0.38), d.base, -1, cv2.LINE_AA)  # cap
        for a in range(0, 360, 20):  # cap ridges
            r0, r1 = c * 0.3, c * 0.38
            t = np.radians(a)
            cv2.line(img, (int(c + r0 * np.cos(t)), int(c + r0 * np.sin(t))),
                     (int(c + r1 * np.cos(t)), int(c + r1 * np.sin(t))),
                     tuple(int(x * 0.7) for x in d.base), 1, cv2.LINE_AA)  # fmt: skip
    return Sprite(img, alpha, None, None)


def _pouch(product: Product, d: Design, w: int, h: int, back: bool, rng, code_fmt,
           look: Look = PLAIN) -> Sprite:  # fmt: skip
    """Bags and sacks: crimped seams, crumple shading, shiny highlights."""
    img = _artwork(product, d, w, h, rng, look)
    quad, code = None, None
    if back and code_fmt is not None:
        quad = _print_barcode(img, *code_fmt, rng, (4, h // 6, w - 8, h - h // 3),
                              look.code_fill)  # fmt: skip
        code = code_fmt[0]
    alpha = _rounded_alpha(w, h, max(4, w // 10))
    seam = max(4, h // 14)
    for y in (0, h - seam):
        img[y : y + seam] = (img[y : y + seam].astype(np.uint16) * 3 // 4).astype(np.uint8)
        teeth = np.arange(0, w, max(3, w // 24))
        edge = 0 if y == 0 else h - 1
        for x in teeth[::2]:
            alpha[max(0, edge - 2) : edge + 3, x : x + max(2, w // 48)] = 0
    # Crumples: low-frequency brightness noise, plus a specular streak.
    k = rng.uniform(0.15, 0.3)
    noise = cv2.resize(rng.random((4, 3), np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    f = 1 - k / 2 + k * noise
    img[:] = np.clip(img * f[..., None], 0, 255).astype(np.uint8)
    return Sprite(img, alpha, quad, code)


def render_package(
    product: Product,
    rng: np.random.Generator,
    *,
    back: bool = False,
    scale: float = 1.0,
    barcode: tuple[str, str] | None = None,
    look: Look = PLAIN,
) -> Sprite:
    """The product seen from above; ``back`` shows the face with the barcode.

    ``scale`` is the size relative to a pack lying on the counter (a pack lifted towards the
    camera looks bigger); drawing happens at that size so the printed code is resampled once.
    """
    d = design_of(product)
    w, h = d.size
    # Small per-instance size wobble (printing, perspective of a tilted pack).
    w = max(12, round(w * scale * rng.uniform(0.95, 1.05)))
    h = max(12, round(h * scale * rng.uniform(0.95, 1.05)))
    code_fmt = barcode if barcode is not None else product.barcode()
    if d.kind in ("bottle", "can"):
        if look.upright and not back:
            return _upright_top(d, w, rng)
        return _cylinder_side(product, d, w, h, back, rng, code_fmt, look)
    if d.kind in ("cup", "jar"):
        return _round_top(product, d, w, back, rng, code_fmt, look)
    if d.kind in ("pouch", "sack"):
        return _pouch(product, d, w, h, back, rng, code_fmt, look)
    return _flat_face(product, d, w, h, back, rng, code_fmt, look)
