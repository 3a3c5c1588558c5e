"""Render real barcodes into synthetic camera frames and degrade them (tests and bench/).

Codes come from zxing-cpp's writer (zint backend): ``create_barcode(...).to_image(scale=k)``
gives k pixels per module; fractional module sizes are rendered at an integer scale and
resized with area averaging, like a camera's sensor does. Everything is seeded and offline.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

from kiosk.core.barcodes import gtin_check_digit

Image = npt.NDArray[np.uint8]

GROCERY_DIR = Path("/work/shared/data/grocery-store/dataset")

SYMBOLOGIES = (
    "ean13",
    "upca",
    "ean8",
    "upce",
    "code128",
    "gs1_128",
    "databar",
    "databar_exp",
    "databar_ltd",
    "datamatrix",
    "qr",
)
RETAIL = ("ean13", "upca", "ean8", "code128", "gs1_128", "databar", "databar_exp", "datamatrix")


@dataclass(frozen=True)
class Code:
    """A code to render: what goes in, and what a correct read must yield as its key."""

    symbology: str
    content: str  # what the writer gets
    gtin: str | None  # GTIN-14 a correct read normalises to
    text: str = ""  # for codes with no GTIN: the decoded text

    @property
    def key(self) -> str:
        return self.gtin or self.text


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def with_check(body: str) -> str:
    return body + str(gtin_check_digit(body))


def random_code(symbology: str, rng: random.Random) -> Code:
    """A random valid code of ``symbology`` with its expected GTIN-14 / text."""
    if symbology == "ean13":
        g = with_check(rng.choice("123456789") + _digits(rng, 11))
        return Code("ean13", g, g.zfill(14))
    if symbology == "upca":
        g = with_check(rng.choice("0123456789") + _digits(rng, 10))
        return Code("upca", g, g.zfill(14))
    if symbology == "ean8":
        g = with_check(rng.choice("123456789") + _digits(rng, 6))
        return Code("ean8", g, g.zfill(14))
    if symbology == "upce":
        # Number system 0, six digits ending 5-9: expands to 0 d1..d5 0000 d6.
        d = _digits(rng, 5) + rng.choice("56789")
        upca = with_check("0" + d[:5] + "0000" + d[5])
        return Code("upce", "0" + d + upca[-1], upca.zfill(14))
    if symbology == "code128":
        text = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ-") for _ in range(3)) + _digits(rng, 5)
        return Code("code128", text, None, text)
    gtin = with_check("0" + rng.choice("123456789") + _digits(rng, 11))
    if symbology == "databar_ltd":
        gtin = with_check("0" + rng.choice("01") + _digits(rng, 11))
    if symbology in ("gs1_128", "datamatrix"):
        batch = "".join(rng.choice("ABCDEFGH0123456789") for _ in range(4))
        return Code(symbology, f"(01){gtin}(10){batch}", gtin)
    if symbology == "databar_exp":
        return Code(symbology, f"(01){gtin}(3103){_digits(rng, 6)}", gtin)
    if symbology in ("databar", "databar_ltd"):
        return Code(symbology, f"(01){gtin}", gtin)
    if symbology == "qr":
        return Code("qr", f"https://id.gs1.org/01/{gtin}", gtin)
    raise ValueError(f"cannot render {symbology!r}")


_FORMATS = {
    "ean13": zxingcpp.BarcodeFormat.EAN13,
    "upca": zxingcpp.BarcodeFormat.UPCA,
    "ean8": zxingcpp.BarcodeFormat.EAN8,
    "upce": zxingcpp.BarcodeFormat.UPCE,
    "code128": zxingcpp.BarcodeFormat.Code128,
    "gs1_128": zxingcpp.BarcodeFormat.Code128,
    "databar": zxingcpp.BarcodeFormat.DataBar,
    "databar_exp": zxingcpp.BarcodeFormat.DataBarExp,
    "databar_ltd": zxingcpp.BarcodeFormat.DataBarLtd,
    "datamatrix": zxingcpp.BarcodeFormat.DataMatrix,
    "qr": zxingcpp.BarcodeFormat.QRCode,
}


def render(code: Code, ppm: float = 3.0) -> Image:
    """The code with its quiet zone at ``ppm`` pixels per module, black on white, gray."""
    kw = {"gs1": True} if code.symbology in ("gs1_128", "datamatrix") else {}
    bc = zxingcpp.create_barcode(code.content, _FORMATS[code.symbology], **kw)
    k = max(1, math.ceil(ppm))
    img = np.asarray(bc.to_image(scale=k), np.uint8)
    if code.symbology in ("datamatrix", "qr"):
        img = np.pad(img, 2 * k, constant_values=255)  # the writer leaves a thin margin
    if k != ppm:
        f = ppm / k
        img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    return img


# --------------------------------------------------------------------------------------------
# Scenes


def background(rng: random.Random, size: tuple[int, int], photo: Image | None = None) -> Image:
    """A BGR frame: a grocery photo when given, else a textured, shaded surface."""
    w, h = size
    if photo is not None:
        return cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)
    nrng = np.random.default_rng(rng.randrange(2**32))
    base = nrng.normal(120, 25, (h // 8 + 1, w // 8 + 1, 3)).clip(0, 255).astype(np.uint8)
    img = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    ramp = np.linspace(0.7, 1.2, w, dtype=np.float32)[None, :, None]
    return (img * ramp).clip(0, 255).astype(np.uint8)


def paste(frame: Image, label: Image, center: tuple[float, float], angle: float) -> Box4:
    """Paste a gray label onto a BGR frame, rotated by ``angle`` degrees; returns its corners."""
    h, w = label.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    m[0, 2] += center[0] - w / 2
    m[1, 2] += center[1] - h / 2
    fh, fw = frame.shape[:2]
    warped = cv2.warpAffine(label, m, (fw, fh), flags=cv2.INTER_LINEAR, borderValue=0)
    mask = cv2.warpAffine(np.full_like(label, 255), m, (fw, fh), flags=cv2.INTER_LINEAR)
    a = (mask.astype(np.float32) / 255)[:, :, None]
    frame[:] = (frame * (1 - a) + warped[:, :, None] * a).astype(np.uint8)
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], np.float64) @ m.T
    return tuple((float(x), float(y)) for x, y in corners)  # type: ignore[return-value]


Box4 = tuple[tuple[float, float], ...]


@dataclass
class Scene:
    image: Image  # BGR
    codes: list[Code]
    corners: list[Box4] = field(default_factory=list)
    condition: str = ""

    @property
    def keys(self) -> set[str]:
        return {c.key for c in self.codes}


def compose(
    codes: Sequence[Code],
    rng: random.Random,
    *,
    size: tuple[int, int] = (800, 600),
    ppm: float = 3.0,
    angle: float = 0.0,
    photo: Image | None = None,
    ink: int = 20,
    paper: int = 245,
) -> Scene:
    """Codes on labels spread left to right across a frame (one row per code)."""
    frame = background(rng, size, photo)
    w, h = size
    corners = []
    n = len(codes)
    for i, code in enumerate(codes):
        label = render(code, ppm)
        label = (ink + (label.astype(np.float32) / 255) * (paper - ink)).astype(np.uint8)
        cx = w * (i + 1) / (n + 1) if n > 1 else w / 2 + rng.uniform(-0.05, 0.05) * w
        cy = h / 2 + rng.uniform(-0.08, 0.08) * h
        corners.append(paste(frame, label, (cx, cy), angle))
    return Scene(frame, list(codes), corners)


# --------------------------------------------------------------------------------------------
# Degradations (each takes and returns a BGR frame)


def gaussian_blur(img: Image, sigma: float) -> Image:
    return cv2.GaussianBlur(img, (0, 0), sigma) if sigma > 0 else img


def motion_blur(img: Image, length: int, angle: float = 0.0) -> Image:
    k = np.zeros((length, length), np.float32)
    k[length // 2, :] = 1
    m = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1.0)
    k = cv2.warpAffine(k, m, (length, length))
    return cv2.filter2D(img, -1, k / max(k.sum(), 1e-6))


def glare(img: Image, rng: random.Random, strength: float = 0.8) -> Image:
    """A specular highlight: a bright soft ellipse that washes out part of the frame."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = rng.uniform(0.35, 0.65) * w, rng.uniform(0.35, 0.65) * h
    rx, ry = rng.uniform(0.08, 0.18) * w, rng.uniform(0.1, 0.25) * h
    g = np.exp(-(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)) * strength
    out = img.astype(np.float32) * (1 - 0.5 * g[:, :, None]) + 255 * g[:, :, None]
    return out.clip(0, 255).astype(np.uint8)


def perspective(img: Image, rng: random.Random, strength: float = 0.15) -> Image:
    h, w = img.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    d = strength * min(w, h)
    dst = src + np.float32([[rng.uniform(-d, d), rng.uniform(-d, d)] for _ in range(4)])
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


def cylinder(img: Image, strength: float = 0.5) -> Image:
    """Wrap the frame round a vertical cylinder (a can or bottle): bars squeeze at the sides."""
    h, w = img.shape[:2]
    r = w / (2 * max(strength, 1e-3))
    x = np.arange(w, dtype=np.float32) - w / 2
    src = (w / 2 + r * np.arcsin(np.clip(x / r, -1, 1))).astype(np.float32)
    map_x = np.repeat(src[None, :], h, axis=0)
    map_y = np.repeat(np.arange(h, dtype=np.float32)[:, None], w, axis=1)
    return cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def noise(img: Image, rng: random.Random, sigma: float = 12.0) -> Image:
    nrng = np.random.default_rng(rng.randrange(2**32))
    return (img + nrng.normal(0, sigma, img.shape)).clip(0, 255).astype(np.uint8)


def jpeg(img: Image, quality: int = 40) -> Image:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


# --------------------------------------------------------------------------------------------
# Degraded sets


CONDITIONS = (
    "clean",
    "blur",
    "rot30",
    "rot45",
    "rot_random",
    "lowres",
    "glare",
    "perspective",
    "noise_jpeg",
    "mixed",
)


def degraded_scene(
    condition: str,
    symbology: str,
    rng: random.Random,
    *,
    size: tuple[int, int] = (800, 600),
    photo: Image | None = None,
    n_codes: int = 1,
    scale: float = 1.0,
) -> Scene:
    """One frame of ``condition`` with ``n_codes`` random codes of ``symbology``.

    ``scale`` multiplies the module size (and so every blur in module units): a large
    ``size`` with ``scale`` 2-3 looks like a phone photo rather than a camera frame."""
    codes = [random_code(symbology, rng) for _ in range(n_codes)]
    ppm = rng.uniform(2.2, 3.2)
    if symbology in ("gs1_128", "databar_exp"):
        ppm = rng.uniform(1.8, 2.4)  # long symbols must fit a frame at any angle
    angle = rng.uniform(-8, 8)
    if condition == "rot30":
        angle = rng.choice((-1, 1)) * rng.uniform(27, 33)
    elif condition == "rot45":
        angle = rng.choice((-1, 1)) * rng.uniform(42, 48)
    elif condition == "rot_random":
        angle = rng.uniform(0, 360)
    elif condition == "lowres":
        ppm = rng.uniform(1.3, 1.6)
    elif condition == "mixed":
        # A hand-held photo: mostly upright or sideways, a little of everything at once.
        ppm *= rng.uniform(0.6, 1.1)
        angle = rng.choice((0, 90, 180, 270)) + rng.uniform(-20, 20)
    scene = compose(codes, rng, size=size, ppm=ppm * scale, angle=angle, photo=photo)
    ppm *= scale
    img = scene.image
    if condition == "blur":
        if rng.random() < 0.5:
            img = gaussian_blur(img, ppm * rng.uniform(0.35, 0.55))
        else:
            img = motion_blur(img, max(3, round(ppm * rng.uniform(1.0, 1.6))), rng.uniform(-20, 20))
    elif condition == "glare":
        img = glare(img, rng, rng.uniform(0.6, 0.95))
    elif condition == "perspective":
        img = perspective(img, rng, rng.uniform(0.12, 0.2))
    elif condition == "noise_jpeg":
        img = jpeg(noise(img, rng, rng.uniform(8, 16)), rng.randint(25, 50))
    elif condition == "mixed":
        img = cylinder(img, rng.uniform(0.0, 0.5))
        img = perspective(img, rng, rng.uniform(0.0, 0.12))
        if rng.random() < 0.4:
            img = glare(img, rng, rng.uniform(0.4, 0.8))
        img = gaussian_blur(img, ppm * rng.uniform(0.1, 0.4))
        img = jpeg(noise(img, rng, rng.uniform(3, 10)), rng.randint(50, 85))
    scene.image = img
    scene.condition = condition
    return scene


def degraded_set(
    seed: int,
    per_cell: int,
    *,
    conditions: Sequence[str] = CONDITIONS,
    symbologies: Sequence[str] = RETAIL,
    size: tuple[int, int] = (800, 600),
    photos: Sequence[Image] = (),
    scale: float = 1.0,
) -> list[Scene]:
    """``per_cell`` frames per (condition, symbology), reproducible from ``seed``."""
    rng = random.Random(seed)
    out = []
    for cond in conditions:
        for sym in symbologies:
            for _ in range(per_cell):
                photo = rng.choice(photos) if photos else None
                scene = degraded_scene(cond, sym, rng, size=size, photo=photo, scale=scale)
                out.append(scene)
    return out


def grocery_photos(limit: int, seed: int = 0) -> list[Image]:
    """A few real grocery photos as backgrounds, or [] when the dataset is absent."""
    if not GROCERY_DIR.is_dir():
        return []
    paths = sorted(GROCERY_DIR.glob("train/**/*.jpg"))
    random.Random(seed).shuffle(paths)
    out = []
    for p in paths[:limit]:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is not None:
            out.append(img)
    return out
