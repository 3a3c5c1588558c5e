"""Real cut-outs and textures from the Grocery Store Dataset, when it is on this machine.

Iconic images are products on white: flood-filling the white from the border leaves a clean
cut-out (white inside a milk carton stays). Shelf photos give produce textures for clear
produce bags. The folder is read in place, never copied; without it the library is empty and
the renderer stays procedural.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from models.scenes.packaging import Sprite

GROCERY_ROOT = Path("/work/shared/data/grocery-store/dataset")
TEXTURES_PER_CLASS = 3
TEXTURE_SIDE = 192

# Catalog produce names -> Grocery Store classes (coarse or fine).
PRODUCE_CLASSES = {
    "banana": "Banana",
    "apple": "Royal-Gala",
    "cucumber": "Cucumber",
    "tomato": "Regular-Tomato",
    "orange": "Orange",
    "cabbage": "Cabbage",
    "potato": "Floury-Potato",
    "eggplant": "Aubergine",
    "pepper": "Green-Bell-Pepper",
    "garlic": "Garlic",
    "ginger": "Ginger",
    "kiwi": "Kiwi",
    "avocado": "Avocado",
}


@dataclass(frozen=True)
class Cutout:
    name: str  # fine class name, e.g. "Granny-Smith"
    group: str  # Fruit | Vegetables | Packages
    bgr: npt.NDArray[np.uint8]
    alpha: npt.NDArray[np.uint8]


@dataclass(frozen=True)
class PhotoLibrary:
    cutouts: tuple[Cutout, ...]
    textures: dict[str, tuple[npt.NDArray[np.uint8], ...]]  # fine class -> square crops
    produce: tuple[str, ...] = ()  # the texture classes that are fruit or vegetables

    def cutout_for(self, name: str) -> Cutout | None:
        for c in self.cutouts:
            if c.name == name:
                return c
        return None


def _cut_white(img: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8] | None:
    """Alpha of the object: near-white regions that touch the border are background."""
    white = (img.min(axis=2) > 228).astype(np.uint8)
    n, lab = cv2.connectedComponents(white, connectivity=4)
    border = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    bg = np.isin(lab, border[border > 0] if n > 1 else [])
    alpha = np.where(bg, 0, 255).astype(np.uint8)
    alpha = cv2.morphologyEx(alpha, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    if np.count_nonzero(alpha) < 0.05 * alpha.size:
        return None
    return cv2.GaussianBlur(alpha, (3, 3), 0)


def _crop(c_bgr, alpha) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    x, y, w, h = cv2.boundingRect((alpha > 127).astype(np.uint8))
    return c_bgr[y : y + h, x : x + w].copy(), alpha[y : y + h, x : x + w].copy()


@functools.lru_cache(maxsize=2)
def _load(root: str) -> PhotoLibrary | None:
    base = Path(root)
    iconic = base / "iconic-images-and-descriptions"
    if not iconic.is_dir():
        return None
    cutouts = []
    for path in sorted(iconic.rglob("*_Iconic.jpg")):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            continue
        alpha = _cut_white(img)
        if alpha is None:
            continue
        group = path.relative_to(iconic).parts[0]
        bgr, a = _crop(img, alpha)
        cutouts.append(Cutout(path.name.removesuffix("_Iconic.jpg"), group, bgr, a))
    textures: dict[str, tuple[npt.NDArray[np.uint8], ...]] = {}
    produce: list[str] = []
    train = base / "train"
    for folder in sorted(p for p in train.rglob("*") if p.is_dir()):
        if folder.relative_to(train).parts[0] in ("Fruit", "Vegetables"):
            produce.append(folder.name)
        files = sorted(folder.glob("*.jpg"))[:TEXTURES_PER_CLASS]
        crops = []
        for f in files:
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                continue
            h, w = img.shape[:2]
            s = min(h, w) * 3 // 4  # the centre, where the produce pile is
            crop = img[(h - s) // 2 : (h + s) // 2, (w - s) // 2 : (w + s) // 2]
            crops.append(
                cv2.resize(crop, (TEXTURE_SIDE, TEXTURE_SIDE), interpolation=cv2.INTER_AREA)
            )
        if crops:
            textures[folder.name] = tuple(crops)
    if not cutouts:
        return None
    return PhotoLibrary(tuple(cutouts), textures, tuple(p for p in produce if p in textures))


def photo_library(enabled: bool = True) -> PhotoLibrary | None:
    """The library for ``GROCERY_ROOT`` (read once per process), or None when absent."""
    if not enabled:
        return None
    return _load(str(GROCERY_ROOT))


def cutout_sprite(cut: Cutout, rng: np.random.Generator, size: float) -> Sprite:
    """A cut-out scaled so its longer side is ``size`` pixels, slightly recoloured."""
    h, w = cut.alpha.shape
    f = size / max(h, w)
    nw, nh = max(4, round(w * f)), max(4, round(h * f))
    bgr = cv2.resize(cut.bgr, (nw, nh), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(cut.alpha, (nw, nh), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        bgr = cv2.flip(bgr, 1)
        alpha = cv2.flip(alpha, 1)
    gain = rng.uniform(0.85, 1.1, 3)
    bgr = np.clip(bgr * gain[None, None, :], 0, 255).astype(np.uint8)
    return Sprite(bgr, alpha, None, None)


def produce_bag_sprite(
    texture: npt.NDArray[np.uint8], rng: np.random.Generator, size: float
) -> Sprite:
    """Loose produce in a clear bag: the photo texture inside a lumpy translucent film, with
    creases, shine and the twisted neck at the top."""
    w = max(12, round(size * rng.uniform(0.75, 1.0)))
    h = max(12, round(size))
    neck = max(4, h // 6)
    tex = cv2.resize(texture, (w, h), interpolation=cv2.INTER_AREA)
    alpha = np.zeros((h, w), np.uint8)
    # A lumpy body: overlapping ellipses where the produce pushes the film out.
    for _ in range(int(rng.integers(4, 8))):
        ax = (int(rng.uniform(0.2, 0.35) * w), int(rng.uniform(0.18, 0.3) * h))
        r = max(ax)  # keep the lump inside the sprite whatever its angle
        c = (int(rng.uniform(min(r, w / 2), max(w - r, w / 2))),
             int(rng.uniform(min(2 * neck + r, h / 2), max(h - r, h / 2))))  # fmt: skip
        cv2.ellipse(alpha, c, ax, float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)
    top = np.array([[w * 0.42, 0], [w * 0.58, 0], [w * 0.7, neck * 2], [w * 0.3, neck * 2]])
    cv2.fillConvexPoly(alpha, top.astype(np.int32), 255, cv2.LINE_AA)
    film = cv2.resize(rng.random((5, 4), np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    haze = 0.2 + 0.3 * film
    haze[: neck * 2] = 0.75  # the gathered neck is mostly film
    bgr = tex.astype(np.float32) * (1 - haze[..., None]) + 235 * haze[..., None]
    for _ in range(int(rng.integers(2, 5))):  # creases and shine on the film
        p0 = (int(rng.uniform(0, w)), int(rng.uniform(neck, h)))
        p1 = (int(p0[0] + rng.normal(0, w / 4)), int(p0[1] + rng.normal(0, h / 4)))
        cv2.line(bgr, p0, p1, (250, 250, 250), int(rng.integers(1, 4)), cv2.LINE_AA)
    tie = tuple(int(v) for v in rng.integers(0, 256, 3))
    cv2.rectangle(bgr, (int(w * 0.4), neck), (int(w * 0.6), neck + max(2, neck // 2)), tie, -1)
    return Sprite(np.clip(bgr, 0, 255).astype(np.uint8), alpha, None, None)
