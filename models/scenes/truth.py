"""Ground truth of scenario videos, and the checks that decide what a frame shows.

Per frame: every labelled object's box, class, track, zone and visibility, and for items the
barcode printed on the face towards the camera, whether it shows uncovered, and whether
zxing-cpp actually reads it in that frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

from kiosk.core.barcodes import normalize_gtin
from kiosk.errors import BarcodeError
from models.scenes.compose import CLASS_NAMES, Scene, place
from models.scenes.packaging import Sprite

Image = npt.NDArray[np.uint8]


@dataclass
class ObjectTruth:
    track_id: int
    cls: str
    box: tuple[int, int, int, int]
    zone: str | None
    visible: float
    sku: str | None = None
    code: str | None = None  # the barcode payload on the face towards the camera
    barcode_visible: bool = False  # the printed code is in frame and not covered
    decodable: bool = False  # zxing-cpp reads it in this frame


@dataclass
class FrameTruth:
    index: int
    ts_ms: int
    action: int  # index into the script, -1 for the tail
    objects: list[ObjectTruth] = field(default_factory=list)

    @property
    def decodable_codes(self) -> list[str]:
        return [o.code for o in self.objects if o.decodable and o.code]


@dataclass
class ActionSpan:
    index: int
    action: str
    kind: str
    sku: str | None
    barcode_sku: str | None
    first_frame: int
    last_frame: int
    track_id: int | None  # the item (or bag) it moved


@dataclass
class GroundTruth:
    script: list[str]
    seed: int
    fps: int
    width: int
    height: int
    frames: list[FrameTruth]
    actions: list[ActionSpan]
    video: str = ""
    path: Path | None = None  # where the JSON was written

    def barcodes(self) -> list[dict[str, object]]:
        """Per item track showing a code: the code, its GTIN-14 and the frames it was seen
        (in frame, uncovered) and decoded."""
        out: dict[tuple[int, str], dict[str, object]] = {}
        for fr in self.frames:
            for o in fr.objects:
                if not o.code or not o.barcode_visible:
                    continue
                entry = out.setdefault(
                    (o.track_id, o.code),
                    {"track_id": o.track_id, "code": o.code, "gtin": gtin14(o.code),
                     "sku": o.sku, "visible_frames": [], "decodable_frames": []},
                )  # fmt: skip
                entry["visible_frames"].append(fr.index)  # type: ignore[attr-defined]
                if o.decodable:
                    entry["decodable_frames"].append(fr.index)  # type: ignore[attr-defined]
        return list(out.values())

    def to_dict(self) -> dict[str, object]:
        return {
            "schema": "opensco.scenario-truth/1",
            "script": self.script,
            "seed": self.seed,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "classes": list(CLASS_NAMES),
            "video": self.video,
            "actions": [asdict(a) for a in self.actions],
            "barcodes": self.barcodes(),
            "frames": [
                {
                    "index": f.index,
                    "ts_ms": f.ts_ms,
                    "action": f.action,
                    "objects": [asdict(o) for o in f.objects],
                }
                for f in self.frames
            ],
        }


def gtin14(code: str) -> str | None:
    """The GTIN-14 a decoder reports for a printed payload (UPC-E expanded), else None."""
    try:
        return normalize_gtin(code, "UPC-E" if len(code) == 8 and code[0] in "01" else "")
    except BarcodeError:
        try:
            return normalize_gtin(code)
        except BarcodeError:
            return None


def quad_shown(scene: Scene, oid: int, quad: npt.NDArray[np.float32]) -> float:
    """The fraction of the printed symbol's area that shows: in the frame, not covered."""
    x, y, w, h = cv2.boundingRect(np.round(quad).astype(np.int32))
    if w <= 0 or h <= 0:
        return 0.0
    poly = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(poly, np.round(quad - [x, y]).astype(np.int32), 1)
    total = int(np.count_nonzero(poly))
    fx0, fy0 = max(x, 0), max(y, 0)
    fx1, fy1 = min(x + w, scene.width), min(y + h, scene.height)
    if total == 0 or fx1 <= fx0 or fy1 <= fy0:
        return 0.0
    inside = poly[fy0 - y : fy1 - y, fx0 - x : fx1 - x] > 0
    shown = int(np.count_nonzero(scene.ids[fy0:fy1, fx0:fx1][inside] == oid))
    return shown / total


def sprite_reads(sprite: Sprite, angle: float = 15.0) -> bool:
    """Does the sprite's printed code read when the sprite is shown on white, turned by
    ``angle`` degrees (resampled, as a held pack is)?"""
    if sprite.code is None:
        return False
    layer = place(sprite, (0, 0), angle)
    a = layer.alpha.astype(np.float32)[..., None] / 255.0
    img = (layer.bgr * a + 255 * (1 - a)).astype(np.uint8)
    img = cv2.copyMakeBorder(img, 16, 16, 16, 16, cv2.BORDER_CONSTANT, value=(255,) * 3)
    want = gtin14(sprite.code) or sprite.code
    return any(r.valid and (gtin14(r.text) or r.text) == want for r in zxingcpp.read_barcodes(img))


def decodes(image: Image, quad: npt.NDArray[np.float32], code: str) -> bool:
    """Does zxing-cpp read ``code`` here: in the region around the symbol, or in that region
    turned upright (what a decoder with rotation passes sees; no upscaling)?"""
    want = gtin14(code) or code

    def reads(img: Image) -> bool:
        try:
            results = zxingcpp.read_barcodes(img)
        except (ValueError, RuntimeError):
            return False
        return any(r.valid and (gtin14(r.text) or r.text) == want for r in results)

    x, y, w, h = cv2.boundingRect(np.round(quad).astype(np.int32))
    m = max(12, int(0.15 * max(w, h)))
    H, W = image.shape[:2]
    if reads(image[max(0, y - m) : min(H, y + h + m), max(0, x - m) : min(W, x + w + m)]):
        return True
    tl, tr, _br, bl = (np.asarray(p, np.float64) for p in quad)
    ux, uy = tr - tl, bl - tl
    sw, sh = float(np.linalg.norm(ux)), float(np.linalg.norm(uy))
    if sw < 8 or sh < 8:
        return False
    mx, my = 0.12 * sw, 0.12 * sh
    src = np.float32([tl - ux / sw * mx - uy / sh * my, tr + ux / sw * mx - uy / sh * my,
                      bl - ux / sw * mx + uy / sh * my])  # fmt: skip
    ow, oh = round(sw + 2 * mx), round(sh + 2 * my)
    dst = np.float32([[0, 0], [ow, 0], [0, oh]])
    upright = cv2.warpAffine(image, cv2.getAffineTransform(src, dst), (ow, oh),
                             flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    return reads(upright)
