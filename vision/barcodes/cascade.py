"""The barcode cascade: a fast first pass, then fallback passes only when it read nothing.

Each pass is one decoder on one transformed copy of the (grey) frame or region. The passes
and their order were chosen by measurement; the figures are at ``DEFAULT_PASSES``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vision.barcodes.decoders import (
    BarcodeDecoder,
    GrayImage,
    Points,
    ZbarDecoder,
    ZxingDecoder,
    as_gray,
)
from vision.barcodes.normalise import validate
from vision.types import BarcodeHit, BGRImage, Box

Affine = npt.NDArray[np.float64]  # 2 x 3: maps a transformed image's pixels to the source's
# A transform returns the new image and the affine back to its input (None: pixel for pixel),
# or None when it does not apply to this image (an upscale of an already large one).
Transform = Callable[[GrayImage], tuple[GrayImage, Affine | None] | None]

_MAX_UPSCALED_SIDE = 2600  # past this an upscale pass costs more than a frame is worth


# --------------------------------------------------------------------------------------------
# Image transforms


def _u8(image: object) -> GrayImage:
    """OpenCV's results typed as what they are here: uint8 grey images."""
    return image  # type: ignore[return-value]


def _rotate(angle: float) -> Transform:
    def run(gray: GrayImage) -> tuple[GrayImage, Affine | None]:
        h, w = gray.shape
        c, s = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
        nw, nh = int(w * c + h * s + 0.5), int(w * s + h * c + 0.5)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        m[0, 2] += nw / 2 - w / 2
        m[1, 2] += nh / 2 - h / 2
        # Fill with the median so the new corners add no strong edges for the decoders.
        fill = int(np.median(gray[:: max(1, h // 64), :: max(1, w // 64)]))
        out = cv2.warpAffine(gray, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=fill)
        return _u8(out), np.asarray(cv2.invertAffineTransform(m), np.float64)

    return run


def _scale(factor: float) -> Transform:
    def run(gray: GrayImage) -> tuple[GrayImage, Affine | None] | None:
        h, w = gray.shape
        factor_ = factor
        if factor > 1 and max(h, w) * factor > _MAX_UPSCALED_SIDE:
            factor_ = _MAX_UPSCALED_SIDE / max(h, w)
            if factor_ <= 1.2:
                return None
        interp = cv2.INTER_CUBIC if factor_ > 1 else cv2.INTER_AREA
        out = _u8(cv2.resize(gray, None, fx=factor_, fy=factor_, interpolation=interp))
        sx, sy = w / out.shape[1], h / out.shape[0]
        return out, np.array([[sx, 0, 0], [0, sy, 0]], np.float64)

    return run


def _fit(max_side: int) -> Transform:
    """Downscale large photos: zbar is slow on them and their codes span many pixels."""

    def run(gray: GrayImage) -> tuple[GrayImage, Affine | None] | None:
        side = max(gray.shape)
        return None if side <= max_side * 1.2 else _scale(max_side / side)(gray)

    return run


def _sharpen(gray: GrayImage) -> tuple[GrayImage, Affine | None]:
    blur = cv2.GaussianBlur(gray, (0, 0), 1.5)
    return _u8(cv2.addWeighted(gray, 2.0, blur, -1.0, 0)), None


def _otsu(gray: GrayImage) -> tuple[GrayImage, Affine | None]:
    _, out = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return _u8(out), None


def _adaptive(gray: GrayImage) -> tuple[GrayImage, Affine | None]:
    out = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 31, 5)
    return _u8(out), None


def _clahe(gray: GrayImage) -> tuple[GrayImage, Affine | None]:
    return _u8(cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(gray)), None


def _stretch(gray: GrayImage) -> tuple[GrayImage, Affine | None]:
    lo, hi = np.percentile(gray[::2, ::2], (1, 99))
    if hi - lo < 8:
        return gray, None
    out = np.clip((gray.astype(np.float32) - lo) * (255.0 / (hi - lo)), 0, 255)
    return out.astype(np.uint8), None


def _identity(gray: GrayImage) -> tuple[GrayImage, Affine | None]:
    return gray, None


TRANSFORMS: dict[str, Transform] = {
    "": _identity,
    "rot45": _rotate(45),
    "rot-45": _rotate(-45),
    "rot30": _rotate(30),
    "rot-30": _rotate(-30),
    "up2": _scale(2.0),
    "up1.5": _scale(1.5),
    "fit1600": _fit(1600),
    "fit800": _fit(800),
    "sharpen": _sharpen,
    "otsu": _otsu,
    "adaptive": _adaptive,
    "clahe": _clahe,
    "stretch": _stretch,
}


@dataclass(frozen=True)
class Pass:
    """One decoder on one transformed copy; ``name`` is how hits report it ("zbar+rot45")."""

    decoder: str
    transform: str = ""

    @property
    def name(self) -> str:
        return f"{self.decoder}+{self.transform}" if self.transform else self.decoder

    @classmethod
    def parse(cls, name: str) -> Pass:
        decoder, _, transform = name.partition("+")
        if transform not in TRANSFORMS:
            raise ValueError(f"unknown pass {name!r}; transforms: {sorted(TRANSFORMS)}")
        return cls(decoder, transform)


# Chosen with `python bench/barcodes.py --passes` (2-core VM, 800x600 frames, one code each,
# 8 retail symbologies, 15 candidate passes run on the frames the first zxing pass missed).
# Frames rescued / frames missed, and ms per pass, over five seeded sets (texture or grocery
# photo backgrounds; all conditions, or blur+lowres+mixed only):
#
#   pass            rescued of 98 / 86 / 78 / 92 / 97 missed     ms
#   zxing+rot45     57 / 60 /  1 / 46 / 62                       12-32
#   zxing+up2       20 / 21 / 48 / 14 / 24                       19-31
#   zxing+sharpen   18 / 15 / 22 / 14 / 15                       12-19
#   zxing+clahe     27 / 12 / 23 / 27 / 14                       10-23
#   zxing+otsu      25 /  7 / 19 / 25 /  7  (global: fails on busy photo backgrounds)
#   zbar            57 / 39 / 36 / 48 / 42  (overlaps the above)  23-40
#   zbar+rot45, zbar+up2/sharpen/clahe: no more than zbar alone beyond the zxing passes,
#   at 25-110 ms.
#
# The greedy order (most still-missed frames rescued per ms) was rot45, then up2 / sharpen /
# clahe (which of them first varied by set), leaving 5-15 frames missed after every pass.
# zbar alone added only 1-3 frames after the zxing passes on these renders, but it is the
# other decoder family (scanline edges on grey levels, no binariser) and the most tolerant
# of blur on real cameras (research/vision.md §1.3), so it runs last: first to go when the
# per-frame budget is short.
DEFAULT_PASSES: tuple[str, ...] = (
    "zxing",
    "zxing+rot45",
    "zxing+up2",
    "zxing+sharpen",
    "zxing+clahe",
    "zbar",
)

# Still photos (``sco decode``): no time budget, so the slower passes follow; the fit passes
# only apply to large photos, where a downscaled copy concentrates a blurred code.
STILL_PASSES: tuple[str, ...] = (
    *DEFAULT_PASSES,
    "zbar+fit1600",
    "zxing+fit800",
    "zbar+rot45",
    "zxing+otsu",
    "zbar+clahe",
    "zbar+up2",
    "zxing+adaptive",
    "zbar+adaptive",
    "zxing+rot30",
    "zxing+rot-30",
)


# Second opinions for 1D reads (see BarcodeReader._confirmed), cheapest and most often
# agreeing first. Measured on the 320-frame bench set (seed 2026): zxing's first pass made 5
# EAN/UPC misreads with valid check digits; requiring a second pass to agree dropped 4 of
# them and 1 of 116 correct EAN/UPC reads. A DataBar Expanded misread at 1.4 px/module was
# caught because another pass read a different code in the same place. The one left was a
# UPC-E that zxing found inside a 30°-tilted EAN-13 and zxing+up2 found again: a UPC-E needs
# the other decoder to agree.
VERIFY_PASSES: tuple[str, ...] = (
    "zbar",
    "zxing+up2",
    "zxing+sharpen",
    "zbar+up2",
    "zxing+rot45",
    "zxing+rot-45",
)
_WEAK_CHECK = frozenset({"ean13", "ean8", "upca", "upce"})
TRUST_S = 1.0  # a code confirmed this recently needs no second opinion again


def still_reader() -> BarcodeReader:
    """A reader for still photos: every pass, no budget, zbar's stderr noise silenced."""
    return BarcodeReader(STILL_PASSES, decoders={"zbar": ZbarDecoder(quiet=True)})


class BarcodeReader:
    """Decode every barcode in a frame or a region of it; boxes come back in frame pixels.

    The first pass runs on every call. The others run, in order, only while nothing has been
    read (``exhaustive=True`` runs them all and merges), and only while the per-frame
    ``budget_ms`` allows: a pass is skipped when its running average cost (per megapixel,
    scaled to this image or region) would overrun the budget, so the worst case stays near
    the budget on a loaded 2-core machine (the second-opinion checks below are small crops
    and are not counted against it).

    Each 1D read is checked by a second opinion on a crop around it (``verify``; see
    ``VERIFY_PASSES``), so one decoder's misread does not become a sale. Every hit is
    validated (``normalise.validate``); duplicates across passes and decoders (same GTIN or
    text, overlapping place) are merged, first pass wins.
    """

    def __init__(
        self,
        passes: Sequence[str] = DEFAULT_PASSES,
        *,
        budget_ms: float | None = None,
        exhaustive: bool = False,
        verify: bool = True,
        decoders: dict[str, BarcodeDecoder] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not passes:
            raise ValueError("a reader needs at least one pass")
        if budget_ms is not None and budget_ms <= 0:
            raise ValueError(f"budget_ms must be positive, got {budget_ms}")
        self.passes = tuple(Pass.parse(p) for p in passes)
        self.decoders = dict(decoders) if decoders else {}
        for p in self.passes:
            if p.decoder not in self.decoders:
                self.decoders[p.decoder] = _make_decoder(p.decoder)
        self.budget_ms = budget_ms
        self.exhaustive = exhaustive
        self._clock = clock
        # running average cost per pass, in ms per megapixel of the image or region decoded
        self._ms_per_mpx: dict[str, float] = {}
        self.verify = verify
        self._trust: dict[str, float] = {}  # key -> clock time it was last confirmed
        self._verify_passes = tuple(Pass.parse(v) for v in VERIFY_PASSES)
        # Second opinions come from decoders of their own (zbar may be shared: its only
        # option is how quiet it is), never from a decoder injected for a pass.
        self._verifiers: dict[str, BarcodeDecoder] = {}
        for p in self._verify_passes:
            if p.decoder not in self._verifiers:
                shared = self.decoders.get(p.decoder) if p.decoder == "zbar" else None
                self._verifiers[p.decoder] = shared or _make_decoder(p.decoder)
        # hits per pass, and reads dropped because a second opinion did not back them
        self.stats: dict[str, int] = {p.name: 0 for p in self.passes} | {"rejected": 0}

    def decode(self, image: BGRImage | GrayImage, roi: Box | None = None) -> list[BarcodeHit]:
        gray = as_gray(image)
        ox = oy = 0
        if roi is not None:
            x1, y1, x2, y2 = roi.clipped(gray.shape[1], gray.shape[0]).as_int()
            if x2 - x1 < 8 or y2 - y1 < 8:
                return []
            gray, ox, oy = gray[y1:y2, x1:x2], x1, y1
        if gray.shape[0] < 8 or gray.shape[1] < 8:
            return []
        start = self._clock()
        mpx = gray.size / 1e6
        hits: list[BarcodeHit] = []
        for i, p in enumerate(self.passes):
            if i and hits and not self.exhaustive:
                break
            if i and self.budget_ms is not None:
                spent = (self._clock() - start) * 1000
                if spent + self._ms_per_mpx.get(p.name, 0.0) * mpx > self.budget_ms:
                    # Decay the estimate of a skipped pass, so one slow run (a noisy
                    # neighbour) does not keep it out for good.
                    if p.name in self._ms_per_mpx:
                        self._ms_per_mpx[p.name] *= 0.9
                    continue
            t0 = self._clock()
            found = self._run(p, gray, ox, oy)
            rate = (self._clock() - t0) * 1000 / max(mpx, 1e-3)
            old = self._ms_per_mpx.get(p.name)
            self._ms_per_mpx[p.name] = rate if old is None else 0.8 * old + 0.2 * rate
            for hit in found:
                if any(_same(hit, h) for h in hits):
                    continue
                if self.verify and not self._trusted(hit, p, gray, ox, oy):
                    self.stats["rejected"] += 1
                    continue
                hits.append(hit)
                self.stats[p.name] += 1
        return hits

    def _trusted(self, hit: BarcodeHit, by: Pass, gray: GrayImage, ox: int, oy: int) -> bool:
        """Confirmed now, or confirmed in the last ``TRUST_S`` (video: the same code in the
        next frames costs no second opinion)."""
        key, now = hit.gtin or hit.text, self._clock()
        if now - self._trust.get(key, -1e9) < TRUST_S:
            return True
        if not self._confirmed(hit, by, gray, ox, oy):
            return False
        if len(self._trust) > 64:
            self._trust = {k: t for k, t in self._trust.items() if now - t < TRUST_S}
        self._trust[key] = now
        return True

    def _confirmed(self, hit: BarcodeHit, by: Pass, gray: GrayImage, ox: int, oy: int) -> bool:
        """A second opinion on a 1D read, from other passes on a crop around it.

        EAN/UPC (one mod-10 check digit) need another pass to read the same code there; other
        1D codes are refused only when another pass reads a *different* code there and none
        agrees. QR and DataMatrix carry Reed-Solomon error correction: taken as read.
        """
        if hit.symbology in ("qr", "datamatrix") or hit.box is None:
            return True
        key = hit.gtin or hit.text
        h, w = gray.shape
        b = hit.box.expanded(1.6)
        x1, y1 = max(0, int(b.x1 - ox) - 16), max(0, int(b.y1 - oy) - 16)
        x2, y2 = min(w, int(b.x2 - ox) + 16), min(h, int(b.y2 - oy) + 16)
        crop = gray[y1:y2, x1:x2]
        other = False
        for p in self._verify_passes:
            if p == by or crop.shape[0] < 8 or crop.shape[1] < 8:
                continue
            if hit.symbology == "upce" and p.decoder == by.decoder:
                continue  # a decoder that found a UPC-E inside an EAN-13 finds it again
            keys = {k.gtin or k.text for k in self._run(p, crop, 0, 0, self._verifiers)}
            if key in keys:
                return True
            other = other or bool(keys)
        return not (hit.symbology in _WEAK_CHECK or other)

    def _run(
        self,
        p: Pass,
        gray: GrayImage,
        ox: int,
        oy: int,
        decoders: dict[str, BarcodeDecoder] | None = None,
    ) -> list[BarcodeHit]:
        transformed = TRANSFORMS[p.transform](gray)
        if transformed is None:
            return []
        img, back = transformed
        out = []
        for raw in (decoders or self.decoders)[p.decoder].decode(img):
            box = _box(raw.points, back, ox, oy)
            hit = validate(raw, box, p.name)
            if hit is not None:
                out.append(hit)
        return out


def _make_decoder(name: str) -> BarcodeDecoder:
    if name == "zxing":
        return ZxingDecoder()
    if name == "zxing_g":
        return ZxingDecoder(binarizer="global")
    if name == "zbar":
        return ZbarDecoder()
    if name == "opencv":
        from vision.barcodes.decoders import OpenCVDecoder

        return OpenCVDecoder()
    raise ValueError(f"unknown decoder {name!r} (zxing, zbar, opencv)")


def _box(points: Points, back: Affine | None, ox: int, oy: int) -> Box | None:
    if not points:
        return None
    pts = np.asarray(points, np.float64)
    if back is not None:
        pts = pts @ back[:, :2].T + back[:, 2]
    xs, ys = pts[:, 0] + ox, pts[:, 1] + oy
    return Box(float(xs.min()), float(ys.min()), float(xs.max()) + 1, float(ys.max()) + 1)


def _same(a: BarcodeHit, b: BarcodeHit) -> bool:
    """One physical code read twice: same content, and places that overlap (or are unknown)."""
    if (a.gtin or a.text) != (b.gtin or b.text):
        return False
    if a.box is None or b.box is None:
        return True
    return a.box.expanded(1.2).iou(b.box.expanded(1.2)) > 0.0
