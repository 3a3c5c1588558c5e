"""IoU tracker with a centroid fallback and short memory, run between detector passes.

The detector runs only on some frames (motion-gated regions); ``coast`` moves tracks by their
constant-velocity prediction in between, so zones and snapshots see a box every frame.

- Association: greedy on IoU of the predicted box (best pairs first); detections and
  tracks left over are paired by centre distance when it is within ``centroid_gate`` x the
  track's box diagonal (a fast swipe past the scanner can move further than the box is wide,
  where IoU is 0). Class-agnostic: the label is a vote, so a flickering class stays one track.
- A track is confirmed after ``min_hits`` matches and lost ``max_age_ms`` after its last
  match, or as soon as its prediction leaves the frame (when ``frame_size`` is given).
  Only confirmed tracks are reported; each lost one is reported exactly once.
- ``label`` is the majority over the recent labels and ``score`` the median of recent scores
  (Frigate's false-positive logic: one confident frame does not make an item, nor does one
  weak frame unmake it).
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter, deque
from dataclasses import dataclass

from vision.types import Box, Detection, Detections


@dataclass(frozen=True)
class Track:
    """A snapshot of one tracked item, as reported to zones and the core."""

    track_id: int
    box: Box
    label: str
    score: float
    first_seen_ms: int
    last_seen_ms: int  # last time a detection matched
    first_frame: int
    last_frame: int  # last frame a detection matched
    velocity: tuple[float, float]  # box centre, pixels per second
    hits: int
    lost: bool = False
    predicted: bool = False  # box is a prediction (no detection this frame)


@dataclass
class _State:
    track_id: int
    box: Box
    first_seen_ms: int
    first_frame: int
    last_seen_ms: int
    last_frame: int
    labels: deque[str]
    scores: deque[float]
    velocity: tuple[float, float] = (0.0, 0.0)
    hits: int = 1
    confirmed: bool = False

    def predict(self, ts_ms: int) -> Box:
        dt = max(0, ts_ms - self.last_seen_ms) / 1000.0
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        b = self.box
        return Box(b.x1 + dx, b.y1 + dy, b.x2 + dx, b.y2 + dy)

    def label(self) -> str:
        counts = Counter(self.labels)
        best = max(counts.values())
        # ties go to the most recent of the tied labels, so a true change wins promptly
        return next(lb for lb in reversed(self.labels) if counts[lb] == best)

    def snapshot(self, box: Box, lost: bool, predicted: bool) -> Track:
        return Track(
            self.track_id,
            box,
            self.label(),
            float(statistics.median(self.scores)),
            self.first_seen_ms,
            self.last_seen_ms,
            self.first_frame,
            self.last_frame,
            self.velocity,
            self.hits,
            lost,
            predicted,
        )


def _diag(b: Box) -> float:
    return float((b.width**2 + b.height**2) ** 0.5)


class IouTracker:
    def __init__(
        self,
        *,
        iou_threshold: float = 0.3,
        centroid_gate: float = 1.0,
        min_hits: int = 2,
        max_age_ms: int = 1000,
        history: int = 10,
        velocity_smoothing: float = 0.5,
        frame_size: tuple[int, int] | None = None,
    ) -> None:
        if not (0 < iou_threshold <= 1 and min_hits >= 1 and max_age_ms >= 0 and history >= 1):
            raise ValueError("bad tracker options")
        self.iou_threshold = iou_threshold
        self.centroid_gate = centroid_gate
        self.min_hits = min_hits
        self.max_age_ms = max_age_ms
        self.history = history
        self.alpha = velocity_smoothing
        self.frame_size = frame_size  # when known: predictions clipped, off-frame = lost
        self._ids = itertools.count(1)
        self._tracks: list[_State] = []
        self._last_ts: int | None = None

    @property
    def active(self) -> list[Track]:
        """Every live track, confirmed or not, at its last box (for debugging and regions)."""
        return [t.snapshot(t.box, False, False) for t in self._tracks]

    def update(self, detections: Detections, ts_ms: int, frame_index: int) -> list[Track]:
        """Feed one detector pass; returns confirmed tracks (this frame) and newly lost ones."""
        self._check_time(ts_ms)
        dets = list(detections)
        predicted = [t.predict(ts_ms) for t in self._tracks]
        pairs = self._associate(predicted, dets)
        matched_t = {ti for ti, _ in pairs}
        matched_d = {di for _, di in pairs}
        out: list[Track] = []
        for ti, di in pairs:
            self._match(self._tracks[ti], dets[di], ts_ms, frame_index)
        survivors: list[_State] = []
        for ti, t in enumerate(self._tracks):
            if ti in matched_t:
                survivors.append(t)
                if t.confirmed:
                    out.append(t.snapshot(t.box, False, False))
            elif ts_ms - t.last_seen_ms > self.max_age_ms or self._off_frame(predicted[ti]):
                if t.confirmed:
                    out.append(t.snapshot(self._clip(predicted[ti]), True, True))
            else:
                survivors.append(t)
                if t.confirmed:
                    out.append(t.snapshot(self._clip(predicted[ti]), False, True))
        for di, d in enumerate(dets):
            if di not in matched_d:
                t = self._new(d, ts_ms, frame_index)
                survivors.append(t)
                if t.confirmed:
                    out.append(t.snapshot(t.box, False, False))
        self._tracks = survivors
        return sorted(out, key=lambda tr: tr.track_id)

    def coast(self, ts_ms: int, frame_index: int) -> list[Track]:
        """No detector pass this frame: predicted boxes for confirmed tracks, newly lost ones."""
        return self.update(Detections.empty(()), ts_ms, frame_index)

    # -- internals ----------------------------------------------------------------------

    def _check_time(self, ts_ms: int) -> None:
        if self._last_ts is not None and ts_ms < self._last_ts:
            raise ValueError(f"time went backwards: {ts_ms} < {self._last_ts}")
        self._last_ts = ts_ms

    def _off_frame(self, b: Box) -> bool:
        if self.frame_size is None:
            return False
        fw, fh = self.frame_size
        return b.x2 <= 0 or b.y2 <= 0 or b.x1 >= fw or b.y1 >= fh

    def _clip(self, b: Box) -> Box:
        return b if self.frame_size is None else b.clipped(*self.frame_size)

    def _associate(self, boxes: list[Box], dets: list[Detection]) -> list[tuple[int, int]]:
        if not boxes or not dets:
            return []
        cands = []
        for ti, tb in enumerate(boxes):
            for di, d in enumerate(dets):
                iou = tb.iou(d.box)
                if iou >= self.iou_threshold:
                    cands.append((iou, ti, di))
        pairs: list[tuple[int, int]] = []
        used_t: set[int] = set()
        used_d: set[int] = set()
        for _, ti, di in sorted(cands, key=lambda c: (-c[0], c[1], c[2])):
            if ti not in used_t and di not in used_d:
                pairs.append((ti, di))
                used_t.add(ti)
                used_d.add(di)
        dist = []
        for ti, tb in enumerate(boxes):
            if ti in used_t:
                continue
            (tx, ty), gate = tb.center, self.centroid_gate * _diag(tb)
            for di, d in enumerate(dets):
                if di in used_d:
                    continue
                dx, dy = d.box.center
                r = ((dx - tx) ** 2 + (dy - ty) ** 2) ** 0.5
                if r <= gate:
                    dist.append((r, ti, di))
        for _, ti, di in sorted(dist):
            if ti not in used_t and di not in used_d:
                pairs.append((ti, di))
                used_t.add(ti)
                used_d.add(di)
        return pairs

    def _new(self, d: Detection, ts_ms: int, frame_index: int) -> _State:
        t = _State(
            next(self._ids),
            d.box,
            ts_ms,
            frame_index,
            ts_ms,
            frame_index,
            deque([d.label], maxlen=self.history),
            deque([d.score], maxlen=self.history),
        )
        t.confirmed = t.hits >= self.min_hits
        return t

    def _match(self, t: _State, d: Detection, ts_ms: int, frame_index: int) -> None:
        dt = (ts_ms - t.last_seen_ms) / 1000.0
        if dt > 0:
            (ox, oy), (nx, ny) = t.box.center, d.box.center
            vx, vy = (nx - ox) / dt, (ny - oy) / dt
            a = self.alpha if t.hits > 1 else 1.0  # the first step has no history to smooth
            t.velocity = (a * vx + (1 - a) * t.velocity[0], a * vy + (1 - a) * t.velocity[1])
        t.box = d.box
        t.last_seen_ms, t.last_frame = ts_ms, frame_index
        t.labels.append(d.label)
        t.scores.append(d.score)
        t.hits += 1
        t.confirmed = t.confirmed or t.hits >= self.min_hits
