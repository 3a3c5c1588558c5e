"""Layered compositing with an object-id map, so labels come from what is actually visible.

Every pasted layer writes its object id into ``ids`` where it is opaque, after any earlier
layer; at the end each object's visible pixels are exactly ``ids == oid``. A label's box is the
tight box of those pixels and its visibility is visible / drawn area, so an item behind a hand
or inside a bag gets the right box, or none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from models.scenes.packaging import Sprite

Image = npt.NDArray[np.uint8]
CLASS_NAMES = ("item", "hand", "bag")
CLASS_IDS = {name: i for i, name in enumerate(CLASS_NAMES)}
# A hand is labelled by what shows of it (a hand under a big pack is still a hand), but not a
# sliver at the frame edge that no detector could call a hand.
HAND_MIN_PIXELS = 250


@dataclass
class Layer:
    """An RGBA patch whose top-left corner sits at (x0, y0) in frame pixels."""

    bgr: Image
    alpha: npt.NDArray[np.uint8]
    x0: int
    y0: int
    quad: npt.NDArray[np.float32] | None = None  # barcode corners, frame pixels
    corners: npt.NDArray[np.float32] | None = None  # the sprite's outline, frame pixels


@dataclass
class SceneObject:
    oid: int
    cls: str | None  # None: drawn and occluding, never labelled (arms, receipts)
    drawn: int = 0  # opaque pixels drawn, including any outside the frame
    bbox: tuple[int, int, int, int] | None = None  # union of its layers, frame-clipped
    meta: dict[str, object] = field(default_factory=dict)


@dataclass
class Label:
    oid: int
    cls: str
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 (exclusive) of visible pixels
    visible: float
    meta: dict[str, object]


def place(
    sprite: Sprite,
    center: tuple[float, float],
    angle: float = 0.0,
    scale: float = 1.0,
    blur: tuple[float, float] = (0.0, 0.0),
) -> Layer:
    """Rotate (degrees, counter-clockwise) and scale a sprite about its centre onto ``center``;
    ``blur`` is the motion during the exposure in pixels (dx, dy)."""
    h, w = sprite.alpha.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], np.float64) @ m.T
    pad = 1  # one spare pixel so anti-aliased edges are not cut
    cx, cy = (
        (corners[:, 0].min() + corners[:, 0].max()) / 2,
        (corners[:, 1].min() + corners[:, 1].max()) / 2,
    )
    bw = int(np.ceil(corners[:, 0].max() - corners[:, 0].min())) + 2 * pad
    bh = int(np.ceil(corners[:, 1].max() - corners[:, 1].min())) + 2 * pad
    x0 = round(center[0] - bw / 2)
    y0 = round(center[1] - bh / 2)
    # Shift so the sprite's rotated centre lands on the middle of the patch.
    m[0, 2] += bw / 2 - cx
    m[1, 2] += bh / 2 - cy
    bgr = cv2.warpAffine(sprite.bgr, m, (bw, bh), flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(sprite.alpha, m, (bw, bh), flags=cv2.INTER_LINEAR)
    quad = None
    if sprite.barcode_quad is not None:
        q = np.c_[sprite.barcode_quad, np.ones(4)] @ m.T
        quad = (q + np.array([x0, y0])).astype(np.float32)
    outline = (corners + np.array([bw / 2 - cx + x0, bh / 2 - cy + y0])).astype(np.float32)
    layer = Layer(bgr, alpha, x0, y0, quad, outline)
    if abs(blur[0]) + abs(blur[1]) >= 1.5:
        motion_blur(layer, blur)
    return layer


def motion_blur(layer: Layer, blur: tuple[float, float], taps: int = 9) -> None:
    """Smear a layer along its motion during the exposure: the mean of shifted copies of the
    premultiplied colour, so the edges blend into whatever lies under them. The layer grows
    to hold the smear."""
    dx, dy = blur
    length = max(abs(dx), abs(dy))
    if length < 1.5:
        return
    p = int(np.ceil(length / 2)) + 1
    a = cv2.copyMakeBorder(layer.alpha, p, p, p, p, cv2.BORDER_CONSTANT, value=0)
    a = a.astype(np.float32) * (1.0 / 255.0)
    pre = cv2.copyMakeBorder(layer.bgr, p, p, p, p, cv2.BORDER_CONSTANT, value=0)
    pre = pre.astype(np.float32) * a[..., None]
    h, w = a.shape
    acc_a = np.zeros_like(a)
    acc = np.zeros_like(pre)
    n = int(min(taps, np.ceil(length) + 1))
    for t in np.linspace(-0.5, 0.5, n):
        ox, oy = round(t * dx), round(t * dy)
        # acc[y, x] += src[y + oy, x + ox] over the overlap.
        ys, ye = max(0, -oy), min(h, h - oy)
        xs, xe = max(0, -ox), min(w, w - ox)
        acc_a[ys:ye, xs:xe] += a[ys + oy : ye + oy, xs + ox : xe + ox]
        acc[ys:ye, xs:xe] += pre[ys + oy : ye + oy, xs + ox : xe + ox]
    acc_a *= 1.0 / n
    acc *= 1.0 / n
    safe = np.maximum(acc_a, 1e-4)[..., None]
    layer.bgr = np.clip(acc / safe, 0, 255).astype(np.uint8)
    layer.alpha = np.clip(acc_a * 255.0, 0, 255).astype(np.uint8)
    layer.x0 -= p
    layer.y0 -= p


def frame_mask(layer: Layer, W: int, H: int) -> npt.NDArray[np.uint8]:
    """A W x H mask holding a placed layer's alpha (e.g. where bagged items may show)."""
    mask = np.zeros((H, W), np.uint8)
    h, w = layer.alpha.shape
    fx0, fy0 = max(layer.x0, 0), max(layer.y0, 0)
    fx1, fy1 = min(layer.x0 + w, W), min(layer.y0 + h, H)
    if fx1 > fx0 and fy1 > fy0:
        mask[fy0:fy1, fx0:fx1] = layer.alpha[
            fy0 - layer.y0 : fy1 - layer.y0, fx0 - layer.x0 : fx1 - layer.x0
        ]
    return mask


class Scene:
    """A frame being composed: the image, the id map and what each id is."""

    def __init__(self, background: Image) -> None:
        self.image = background
        self.height, self.width = background.shape[:2]
        self.ids = np.zeros((self.height, self.width), np.int32)
        self.objects: dict[int, SceneObject] = {}

    def new_object(self, cls: str | None, **meta: object) -> SceneObject:
        obj = SceneObject(len(self.objects) + 1, cls, meta=dict(meta))
        self.objects[obj.oid] = obj
        return obj

    def _region(self, layer: Layer) -> tuple[int, int, int, int, int, int] | None:
        h, w = layer.alpha.shape
        fx0, fy0 = max(layer.x0, 0), max(layer.y0, 0)
        fx1, fy1 = min(layer.x0 + w, self.width), min(layer.y0 + h, self.height)
        if fx1 <= fx0 or fy1 <= fy0:
            return None
        return fx0, fy0, fx1, fy1, fx0 - layer.x0, fy0 - layer.y0

    def shadow(self, layer: Layer, offset: tuple[float, float], strength: float, soft: int) -> None:
        """Darken the frame under a shifted, softened copy of the layer's silhouette."""
        shifted = Layer(
            layer.bgr, layer.alpha, layer.x0 + round(offset[0]), layer.y0 + round(offset[1])
        )
        r = self._region(shifted)
        if r is None or strength <= 0:
            return
        fx0, fy0, fx1, fy1, lx, ly = r
        a = layer.alpha[ly : ly + fy1 - fy0, lx : lx + fx1 - fx0]
        k = max(3, soft | 1)
        a = cv2.blur(a, (k, k)).astype(np.float32) * (strength / 255.0)
        dst = self.image[fy0:fy1, fx0:fx1]
        dst[:] = (dst * (1.0 - a[..., None])).astype(np.uint8)

    def paste(
        self,
        layer: Layer,
        obj: SceneObject,
        *,
        clip: npt.NDArray[np.uint8] | None = None,
        gain: float = 1.0,
    ) -> None:
        """Draw a layer for ``obj``; ``clip`` (frame-sized 0..255) limits where it shows,
        ``gain`` darkens it (an item deep inside a bag)."""
        obj.drawn += int(np.count_nonzero(layer.alpha > 127))
        r = self._region(layer)
        if r is None:
            return
        fx0, fy0, fx1, fy1, lx, ly = r
        a8 = layer.alpha[ly : ly + fy1 - fy0, lx : lx + fx1 - fx0]
        src = layer.bgr[ly : ly + fy1 - fy0, lx : lx + fx1 - fx0]
        if clip is not None:
            a8 = ((a8.astype(np.uint16) * clip[fy0:fy1, fx0:fx1]) // 255).astype(np.uint8)
        a = a8.astype(np.float32) / 255.0
        dst = self.image[fy0:fy1, fx0:fx1]
        srcf = src.astype(np.float32) * gain if gain != 1.0 else src
        dst[:] = (dst * (1.0 - a[..., None]) + srcf * a[..., None]).astype(np.uint8)
        self.ids[fy0:fy1, fx0:fx1][a8 > 127] = obj.oid
        b = (fx0, fy0, fx1, fy1)
        if obj.bbox is None:
            obj.bbox = b
        else:
            ob = obj.bbox
            obj.bbox = (min(ob[0], b[0]), min(ob[1], b[1]), max(ob[2], b[2]), max(ob[3], b[3]))

    def labels(self, min_visible: float = 0.25, min_side: int = 5) -> list[Label]:
        """Tight boxes of each labelled object's visible pixels; hidden objects are dropped."""
        out = []
        for obj in self.objects.values():
            if obj.cls is None or obj.bbox is None or obj.drawn == 0:
                continue
            x0, y0, x1, y1 = obj.bbox
            mask = (self.ids[y0:y1, x0:x1] == obj.oid).astype(np.uint8)
            visible = int(np.count_nonzero(mask))
            if visible == 0:
                continue
            frac = visible / obj.drawn
            need = float(obj.meta.get("min_visible", min_visible))  # type: ignore[arg-type]
            min_px = int(obj.meta.get("min_pixels", 0))  # type: ignore[call-overload]
            if frac < need or visible < min_px:
                continue
            bx, by, bw, bh = cv2.boundingRect(mask)
            if bw < min_side or bh < min_side:
                continue
            box = (x0 + bx, y0 + by, x0 + bx + bw, y0 + by + bh)
            out.append(Label(obj.oid, obj.cls, box, frac, obj.meta))
        return out
