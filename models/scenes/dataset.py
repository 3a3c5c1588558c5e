"""Random checkout scenes and the YOLO-format detection data set made from them.

Each image has its own generator seeded by (seed, split, index), so a data set is the same
bytes for the same seed, whatever order or number of processes renders it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from models.scenes.background import lighting, render_background
from models.scenes.bags import render_bag
from models.scenes.catalog import Product, load_products
from models.scenes.compose import (
    CLASS_IDS,
    CLASS_NAMES,
    HAND_MIN_PIXELS,
    Label,
    Layer,
    Scene,
    frame_mask,
    motion_blur,
    place,
)
from models.scenes.hands import make_hand
from models.scenes.layout import Layout, load_layout
from models.scenes.packaging import Look, Sprite, render_package
from models.scenes.photos import (
    PRODUCE_CLASSES,
    PhotoLibrary,
    cutout_sprite,
    photo_library,
    produce_bag_sprite,
)
from models.scenes.produce import produce_sprite

Image = npt.NDArray[np.uint8]
SPLITS = ("train", "val", "test")
RENDERER_VERSION = 1


@dataclass
class Kit:
    """What scenes are made from: the layout, the catalog and the photos (if any)."""

    layout: Layout
    products: tuple[Product, ...]
    photos: PhotoLibrary | None

    @classmethod
    def load(cls, with_photos: bool = True, width: int = 640, height: int = 480) -> Kit:
        return cls(load_layout(width, height), load_products(), photo_library(with_photos))


def produce_item(product: Product, rng: np.random.Generator, kit: Kit, scale: float) -> Sprite:
    """Loose produce: a real cut-out of the matching class when photos exist, else drawn."""
    lib = kit.photos
    if lib is not None:
        name = next((v for k, v in PRODUCE_CLASSES.items() if k in product.name.lower()), None)
        cut = lib.cutout_for(name) if name else None
        if cut is not None and rng.random() < 0.7:
            return cutout_sprite(cut, rng, rng.uniform(85, 150) * scale)
        tex = lib.textures.get(name or "")
        if tex:
            return produce_bag_sprite(tex[int(rng.integers(len(tex)))], rng, 150 * scale)
    return produce_sprite(product, rng, scale)


def random_item(rng: np.random.Generator, kit: Kit, scale: float) -> Sprite:
    """Any item a shopper might put down: catalog packs, produce, or a real cut-out."""
    lib = kit.photos
    r = rng.random()
    if lib is not None and r < 0.18:
        cut = lib.cutouts[int(rng.integers(len(lib.cutouts)))]
        return cutout_sprite(cut, rng, rng.uniform(90, 190) * scale)
    if lib is not None and r < 0.24 and lib.produce:
        tex = lib.textures[lib.produce[int(rng.integers(len(lib.produce)))]]
        return produce_bag_sprite(tex[int(rng.integers(len(tex)))], rng, 150 * scale)
    product = kit.products[int(rng.integers(len(kit.products)))]
    if product.is_produce or (not product.gtins and not product.store_code):
        return produce_item(product, rng, kit, scale)
    picture = None
    if lib is not None and lib.textures and rng.random() < 0.4:
        keys = sorted(lib.textures)
        tex = lib.textures[keys[int(rng.integers(len(keys)))]]
        picture = tex[int(rng.integers(len(tex)))]
    look = Look(picture, float(rng.uniform(0.4, 1.0)), bool(rng.random() < 0.3))
    return render_package(product, rng, back=bool(rng.random() < 0.4), scale=scale, look=look)


def add_glare(layer: Layer, rng: np.random.Generator, strength: float) -> None:
    """A specular highlight on shiny packaging (it can wash out a printed code)."""
    h, w = layer.alpha.shape
    spot = np.zeros((h, w), np.float32)
    c = (int(rng.uniform(0.2, 0.8) * w), int(rng.uniform(0.2, 0.8) * h))
    ax = (max(2, int(rng.uniform(0.08, 0.3) * w)), max(2, int(rng.uniform(0.05, 0.2) * h)))
    cv2.ellipse(spot, c, ax, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    spot = cv2.GaussianBlur(spot, (0, 0), max(2.0, min(ax) / 2)) * strength * 255
    out = layer.bgr.astype(np.float32) + spot[..., None]
    layer.bgr = np.clip(out, 0, 255).astype(np.uint8)


def _in_rect(rng: np.random.Generator, rect: tuple[float, float, float, float], m: float = 0.1):
    x1, y1, x2, y2 = rect
    return (
        float(rng.uniform(x1 + m * (x2 - x1), x2 - m * (x2 - x1))),
        float(rng.uniform(y1 + m * (y2 - y1), y2 - m * (y2 - y1))),
    )


def _distractor(rng: np.random.Generator) -> Sprite:
    """Things on a checkout that are not items: receipts, phones, cards, wallets."""
    kind = int(rng.integers(3))
    if kind == 0:  # receipt
        w, h = int(rng.uniform(55, 80)), int(rng.uniform(110, 200))
        img = np.full((h, w, 3), int(rng.uniform(225, 250)), np.uint8)
        for y in range(8, h - 6, 7):
            cv2.line(img, (5, y), (int(rng.uniform(w * 0.4, w - 5)), y), (90, 90, 90), 1)
    elif kind == 1:  # phone
        w, h = int(rng.uniform(65, 80)), int(rng.uniform(130, 160))
        img = np.full((h, w, 3), 25, np.uint8)
        cv2.rectangle(
            img, (4, 8), (w - 5, h - 9), tuple(int(v) for v in rng.integers(30, 120, 3)), -1
        )
    else:  # card or wallet
        w, h = int(rng.uniform(80, 120)), int(rng.uniform(50, 80))
        img = np.empty((h, w, 3), np.uint8)
        img[:] = tuple(int(v) for v in rng.integers(20, 230, 3))
    alpha = np.full((h, w), 255, np.uint8)
    return Sprite(img, alpha, None, None)


def render_scene(rng: np.random.Generator, kit: Kit) -> tuple[Image, list[Label]]:
    """One random frame of the checkout and its labels (before final lighting and noise)."""
    lay = kit.layout
    W, H = lay.width, lay.height
    scene = Scene(render_background(rng, lay))
    light = rng.normal(0, 1, 2)
    light = light / max(float(np.linalg.norm(light)), 1e-6)
    # Camera height and lens differ between lanes: everything on the counter scales together.
    zoom = float(rng.uniform(0.7, 1.15))
    bag_rect = lay.rect("bagging")
    scan_rect = lay.rect("scan")
    for _ in range(int(rng.choice([0, 1, 1, 2]))):
        bag = render_bag(rng, zoom * rng.uniform(0.8, 1.15))
        centre = _in_rect(rng, bag_rect, 0.25)
        angle = float(rng.uniform(-30, 30))
        layer = place(bag.sprite, centre, angle)
        scene.shadow(layer, tuple(light * 6), 0.35, 11)
        scene.paste(layer, scene.new_object("bag"))
        opening = place(Sprite(bag.sprite.bgr, bag.opening), centre, angle)
        clip = frame_mask(opening, W, H)
        for _ in range(int(rng.choice([0, 0, 1, 2]))):
            item = random_item(rng, kit, zoom * rng.uniform(0.8, 1.0))
            oh, ow = opening.alpha.shape
            ox, oy = opening.x0 + ow / 2, opening.y0 + oh / 2
            il = place(
                item, (ox + rng.normal(0, 15), oy + rng.normal(0, 15)), float(rng.uniform(0, 360))
            )
            scene.paste(il, scene.new_object("item"), clip=clip, gain=0.65)
    for _ in range(int(rng.choice([0, 1, 1, 2, 3]))):
        item = random_item(rng, kit, zoom * rng.uniform(0.85, 1.1))
        r = rng.random()
        rect = scan_rect if r < 0.45 else bag_rect if r < 0.85 else (0, 0, W, H)
        if r < 0.2 and "produce_scale" in lay.zones:
            rect = lay.rect("produce_scale")
        layer = place(item, _in_rect(rng, rect, 0.1), float(rng.uniform(0, 360)))
        scene.shadow(layer, tuple(light * 4), 0.3, 7)
        scene.paste(layer, scene.new_object("item"))
    if rng.random() < 0.25:
        layer = place(_distractor(rng), _in_rect(rng, (0, 0, W, H)), float(rng.uniform(0, 360)))
        scene.shadow(layer, tuple(light * 3), 0.25, 5)
        scene.paste(layer, scene.new_object(None))
    n_hands = int(rng.choice([0, 1, 1, 1, 1, 2, 2]))
    for _ in range(n_hands):
        _held_item(rng, kit, scene, light, zoom)
    return lighting(scene.image, rng), scene.labels()


def _held_item(rng: np.random.Generator, kit: Kit, scene: Scene, light, zoom: float) -> None:
    lay = kit.layout
    W, H = lay.width, lay.height
    r = rng.random()
    rect = lay.rect("scan") if r < 0.65 else lay.rect("bagging") if r < 0.9 else (0, 0, W, H)
    grip = _in_rect(rng, rect, 0.05)
    speed = float(rng.choice([0.0, 0.0, rng.uniform(2, 8), rng.uniform(8, 30)]))
    ang = rng.uniform(0, 2 * np.pi)
    blur = (speed * float(np.cos(ang)), speed * float(np.sin(ang)))
    holding = rng.random() < 0.8
    item_layer = None
    if holding:
        lift = zoom * float(rng.uniform(1.0, 1.8))
        item = random_item(rng, kit, lift)
        item_layer = place(item, grip, float(rng.uniform(0, 360)), 1.0, blur)
        if rng.random() < 0.3:
            add_glare(item_layer, rng, float(rng.uniform(0.3, 0.9)))
    corners = item_layer.corners if item_layer is not None else None
    hand = make_hand(rng, (W, H), grip, item_corners=corners, scale=zoom)
    for part in (hand.arm, hand.palm, hand.fingers):
        if part is not None and speed >= 1.5:
            motion_blur(part, blur)
    scene.shadow(hand.arm, tuple(light * 10), 0.3, 15)
    scene.paste(hand.arm, scene.new_object(None))
    hobj = scene.new_object("hand", min_visible=0.0, min_pixels=HAND_MIN_PIXELS)
    scene.shadow(hand.palm, tuple(light * 8), 0.3, 13)
    scene.paste(hand.palm, hobj)
    if item_layer is not None:
        scene.shadow(item_layer, tuple(light * 14), 0.35, 17)
        scene.paste(item_layer, scene.new_object("item"))
    if hand.fingers is not None:
        scene.paste(hand.fingers, hobj)


def render_image(seed: int, split: int, index: int, kit: Kit) -> tuple[Image, list[Label], int]:
    """The image for one (seed, split, index) and its JPEG quality."""
    rng = np.random.default_rng([seed, split, index])
    image, labels = render_scene(rng, kit)
    return image, labels, int(rng.integers(60, 96))


def yolo_lines(labels: list[Label], width: int, height: int) -> list[str]:
    out = []
    for lab in labels:
        x1, y1, x2, y2 = lab.box
        cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
        out.append(
            f"{CLASS_IDS[lab.cls]} {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} "
            f"{(y2 - y1) / height:.6f}"
        )
    return out


_KITS: dict[bool, Kit] = {}


@dataclass(frozen=True)
class _Job:
    out_dir: Path
    split: str
    split_no: int
    index: int
    seed: int
    size: tuple[int, int]
    with_photos: bool


def _write_one(job: _Job) -> None:
    """Render and write one image and its label file (also runs in worker processes)."""
    kit = _KITS.get(job.with_photos)
    if kit is None:
        kit = _KITS[job.with_photos] = Kit.load(job.with_photos)
    W, H = kit.layout.width, kit.layout.height
    image, labels, quality = render_image(job.seed, job.split_no, job.index, kit)
    if job.size != (W, H):
        image = cv2.resize(image, job.size, interpolation=cv2.INTER_AREA)
    name = f"{job.split}_{job.index:06d}"
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"could not encode {name}")
    (job.out_dir / "images" / job.split / f"{name}.jpg").write_bytes(buf.tobytes())
    (job.out_dir / "labels" / job.split / f"{name}.txt").write_text(
        "".join(line + "\n" for line in yolo_lines(labels, W, H)), encoding="utf-8"
    )


def render_detection_dataset(
    out_dir: Path,
    *,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int = 0,
    imgsz: int = 640,
    with_photos: bool = True,
    workers: int = 1,
    progress: bool = False,
) -> Path:
    """Write an ultralytics YOLO data set (images/, labels/, data.yaml); return data.yaml.

    Images are ``imgsz`` wide (4:3); the same seed gives the same bytes for any ``workers``.
    """
    counts = {"train": n_train, "val": n_val, "test": n_test}
    if any(n < 0 for n in counts.values()) or imgsz < 32 or workers < 1:
        raise ValueError("image counts must be >= 0, imgsz >= 32 and workers >= 1")
    out_dir = Path(out_dir).resolve()
    kit = Kit.load(with_photos)
    _KITS[with_photos] = kit
    W, H = kit.layout.width, kit.layout.height
    size = (imgsz, round(imgsz * H / W))
    jobs = []
    for split_no, split in enumerate(SPLITS):
        for kind, ext in (("images", "jpg"), ("labels", "txt")):
            folder = out_dir / kind / split
            folder.mkdir(parents=True, exist_ok=True)
            # A re-render into the same folder must not keep images of an earlier, larger one.
            for stale in folder.glob(f"{split}_*.{ext}"):
                stale.unlink()
        (out_dir / "labels" / f"{split}.cache").unlink(missing_ok=True)  # ultralytics' index
        jobs += [
            _Job(out_dir, split, split_no, i, seed, size, with_photos) for i in range(counts[split])
        ]
    total = len(jobs)

    def report(done: int) -> None:
        if progress and (done % 50 == 0 or done == total):
            print(f"rendered {done}/{total}", file=sys.stderr, flush=True)

    if workers == 1 or total < 2 * workers:
        for done, job in enumerate(jobs, 1):
            _write_one(job)
            report(done)
    else:
        import multiprocessing as mp

        # fork shares the loaded photos; each image's generator is its own, so order is moot.
        with mp.get_context("fork").Pool(workers) as pool:
            for done, _ in enumerate(pool.imap_unordered(_write_one, jobs, chunksize=8), 1):
                report(done)
    names = "".join(f"  {i}: {n}\n" for i, n in enumerate(CLASS_NAMES))
    yaml_path = out_dir / "data.yaml"
    yaml_path.write_text(
        f"path: {json.dumps(str(out_dir))}\ntrain: images/train\nval: images/val\n"
        f"test: images/test\nnames:\n{names}",
        encoding="utf-8",
    )
    meta = {
        "renderer": f"models.scenes v{RENDERER_VERSION}",
        "seed": seed,
        "counts": counts,
        "imgsz": list(size),
        "with_photos": kit.photos is not None,
        "classes": list(CLASS_NAMES),
    }
    (out_dir / "render.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return yaml_path
