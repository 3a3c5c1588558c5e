"""Motion gate in front of the detector, after Frigate's ``ImprovedMotionDetector``.

Per frame: shrink to ``height`` px tall (nearest neighbour, BEFORE the grey conversion so
the full-size frame is touched once), grey, blur, ``absdiff`` against a running-average
background, threshold, dilate, contours. Contours over ``contour_area`` (in the small image)
become motion boxes scaled back to full-frame pixels.

- Idle frames stop at ``countNonZero`` of the threshold image: no dilate, no contours.
- Lightning/global change (lights, auto-exposure, a shadow over the whole counter): when
  motion covers more than ``lightning_threshold`` of the frame the gate recalibrates: it
  reports nothing and blends the background in fast until motion is under 5% in 4 boxes or
  fewer.
- Slow absorption: while there is motion, the background is blended in only after
  ``absorb_after`` consecutive motion frames, and then slowly (``frame_alpha``), so an item
  put down stays "motion" for a few seconds (about 200 frames at the defaults) and is then
  absorbed into the background. Tracked objects keep their regions through ``regions``.

``regions`` turns motion boxes and tracked boxes into a few square detection regions (Frigate
``process_frames``: tracked objects first, 1.35x margin, at least the model input size).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import ceil

import cv2
import numpy as np

from vision.types import BGRImage, Box


class MotionGate:
    def __init__(
        self,
        *,
        height: int = 100,
        threshold: int = 30,
        contour_area: float = 10.0,
        frame_alpha: float = 0.01,
        calibrating_alpha: float = 0.2,
        lightning_threshold: float = 0.8,
        absorb_after: int = 10,
    ) -> None:
        if height < 8 or not (0 < threshold < 255) or not (0 < frame_alpha <= 1):
            raise ValueError("bad motion gate options")
        self.height = height
        self.threshold = threshold
        self.contour_area = contour_area
        self.frame_alpha = frame_alpha
        self.calibrating_alpha = calibrating_alpha
        self.lightning_threshold = lightning_threshold
        self.absorb_after = absorb_after
        self.calibrating = False
        self.motion_frames = 0  # consecutive frames with motion
        self._avg: np.ndarray | None = None  # float32 background, small size
        self._frame_size: tuple[int, int] | None = None
        self._small_size = (0, 0)
        self._kernel = np.ones((3, 3), np.uint8)

    def reset(self) -> None:
        """Forget the background (camera moved, reconnected with another size)."""
        self._avg = None
        self._frame_size = None
        self.calibrating = False
        self.motion_frames = 0

    def update(self, frame: BGRImage) -> list[Box]:
        """Motion boxes in full-frame pixels; empty when idle or recalibrating."""
        if frame.ndim not in (2, 3) or frame.dtype != np.uint8:
            raise ValueError(f"expected a uint8 BGR or grey image, got {frame.shape}")
        fh, fw = frame.shape[:2]
        if self._frame_size != (fw, fh):
            self.reset()
            self._frame_size = (fw, fh)
            self._small_size = (max(1, round(fw * self.height / fh)), self.height)
        small = cv2.resize(frame, self._small_size, interpolation=cv2.INTER_NEAREST)
        if small.ndim == 3:
            small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        small = cv2.GaussianBlur(small, (3, 3), 1.0)
        if self._avg is None:
            self._avg = small.astype(np.float32)  # first frame: the background, no warm-up
            return []
        delta = cv2.absdiff(small, cv2.convertScaleAbs(self._avg))
        thresh = cv2.threshold(delta, self.threshold, 255, cv2.THRESH_BINARY)[1]
        if cv2.countNonZero(thresh) == 0:  # idle: the cheap path
            boxes: list[Box] = []
            pct = 0.0
        else:
            boxes, pct = self._contours(thresh, fw, fh)
        if pct > self.lightning_threshold:
            self.calibrating = True
        elif pct < 0.05 and len(boxes) <= 4:
            self.calibrating = False
        alpha = self.calibrating_alpha if self.calibrating else self.frame_alpha
        if boxes:
            self.motion_frames += 1
            if self.motion_frames >= self.absorb_after or self.calibrating:
                cv2.accumulateWeighted(small, self._avg, alpha)
        else:
            self.motion_frames = 0
            cv2.accumulateWeighted(small, self._avg, alpha)
        return [] if self.calibrating else boxes

    def _contours(self, thresh: np.ndarray, fw: int, fh: int) -> tuple[list[Box], float]:
        dilated = cv2.dilate(thresh, self._kernel, iterations=1)
        contours, _ = cv2.findContours(dilated, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        sw, sh = self._small_size
        fx, fy = fw / sw, fh / sh
        boxes = []
        total = 0.0
        for c in contours:
            area = cv2.contourArea(c)
            total += area
            if area > self.contour_area:
                x, y, w, h = cv2.boundingRect(c)
                boxes.append(Box(x * fx, y * fy, min(fw, (x + w) * fx), min(fh, (y + h) * fy)))
        return boxes, total / (sw * sh)

    @staticmethod
    def regions(
        motion: Sequence[Box], tracked: Sequence[Box], frame_size: tuple[int, int], min_size: int
    ) -> list[Box]:
        """See the module function ``regions``."""
        return regions(motion, tracked, frame_size, min_size)


# -- regions -------------------------------------------------------------------------------


def _union(boxes: Sequence[Box]) -> Box:
    return Box(
        min(b.x1 for b in boxes),
        min(b.y1 for b in boxes),
        max(b.x2 for b in boxes),
        max(b.y2 for b in boxes),
    )


def _side(b: Box, margin: float, min_size: int) -> float:
    return max(float(min_size), max(b.width, b.height) * margin)


def _square(b: Box, margin: float, min_size: int, fw: int, fh: int) -> Box:
    """A square around ``b`` (margin, at least ``min_size``), moved (not shrunk) into the
    frame; only a frame smaller than the square makes it a rectangle."""
    side = _side(b, margin, min_size)
    w, h = min(ceil(side), fw), min(ceil(side), fh)  # whole pixels: crops are integer
    cx, cy = b.center
    x1 = round(min(max(cx - w / 2, 0.0), fw - w))
    y1 = round(min(max(cy - h / 2, 0.0), fh - h))
    return Box(x1, y1, x1 + w, y1 + h)


def _cluster(boxes: Sequence[Box], margin: float, min_size: int) -> list[Box]:
    """Greedy merge: two clusters join when their union's square is no bigger than the larger
    of their own squares (merging costs no extra model pixels), so nearby motion blobs share
    one region while far-apart ones keep small regions instead of one huge, downscaled one."""
    clusters = sorted(boxes, key=lambda b: -b.area)
    merged = True
    while merged and len(clusters) > 1:
        merged = False
        for i in range(len(clusters)):
            for j in range(i + 1, len(clusters)):
                u = _union((clusters[i], clusters[j]))
                limit = max(
                    _side(clusters[i], margin, min_size), _side(clusters[j], margin, min_size)
                )
                if _side(u, margin, min_size) <= limit:
                    clusters[i] = u
                    del clusters[j]
                    merged = True
                    break
            if merged:
                break
    return clusters


def _covered(b: Box, regions: Sequence[Box], frac: float) -> bool:
    for r in regions:
        ix = max(0.0, min(b.x2, r.x2) - max(b.x1, r.x1))
        iy = max(0.0, min(b.y2, r.y2) - max(b.y1, r.y1))
        if b.area > 0 and ix * iy >= frac * b.area:
            return True
    return False


def regions(
    motion: Sequence[Box],
    tracked: Sequence[Box],
    frame_size: tuple[int, int],
    min_size: int,
    *,
    margin: float = 1.35,
    max_regions: int = 4,
) -> list[Box]:
    """Detection regions (full-frame pixels, inside the frame): tracked objects first, then
    motion not already inside a tracked region; at most ``max_regions`` (beyond that, the
    detector would cost more than one pass over the union, so the extras are merged)."""
    fw, fh = frame_size
    if min_size < 1:
        raise ValueError("min_size must be positive")
    frame = Box(0, 0, fw, fh)
    tracked = [b.clipped(fw, fh) for b in tracked if b.iou(frame) > 0]
    out = [_square(c, margin, min_size, fw, fh) for c in _cluster(tracked, margin, min_size)]
    rest = [b.clipped(fw, fh) for b in motion if not _covered(b, out, 0.9)]
    out += [_square(c, margin, min_size, fw, fh) for c in _cluster(rest, margin, min_size)]
    kept: list[Box] = []
    for r in sorted(out, key=lambda r: -r.area):  # drop one lying (almost) inside another
        if not _covered(r, kept, 0.95):
            kept.append(r)
    out = kept
    if len(out) > max_regions:
        out = [_square(_union(out), 1.0, min_size, fw, fh)]
    return out
