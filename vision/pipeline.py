"""Camera frames in, the core's timestamped inputs out: the motion-gated vision pipeline.

Per frame (Frigate's pattern, research/vision.md §3):

1. The motion gate compares a 100 px-tall copy with its background: an idle lane costs a
   fraction of a millisecond and nothing else runs.
2. With motion (or every ``recheck_every`` frames while items rest somewhere) the detector
   runs on a few regions around the motion and the tracked items, not on the whole frame,
   so small items are seen at the model's full resolution.
3. The tracker associates detections; between detector runs it coasts.
4. Zones turn track positions into enter/leave transitions.
5. The barcode cascade decodes only where an item is in the scan zone (or where there is
   motion in it before the detector has confirmed anything), every frame while it is there;
   the debouncer makes one read of one presentation.
6. A read on a track names the SKU the item claims; the identity scorer says how much the
   item looks like it, with an evidence crop kept for the core's alerts. A scanner read
   names it too (``claim``): the lane tells vision what the scanner sold, and the item in the
   scan zone is scored against that SKU.
7. Loose produce resting on the produce scale with no code read gets the produce
   recogniser's top-k (``ItemTrack.candidates``) once it has lain still a few frames.

Outputs are ``BarcodeRead`` (source "camera", with the track) and ``ItemTrack`` updates: on
zone transitions, on loss, when an identity score is known and when produce is recognised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from kiosk.core.inputs import BarcodeRead, Input, ItemTrack
from vision.detector import merge_detections
from vision.motion import regions as detection_regions
from vision.tracker import Track
from vision.types import BarcodeHit, BGRImage, Box, Detections, Frame, ZoneTransition

logger = logging.getLogger(__name__)


class Detector(Protocol):
    class_names: tuple[str, ...]
    input_h: int
    input_w: int

    def detect(self, image: BGRImage, region: Box | None = None) -> Detections: ...


class Reader(Protocol):
    def decode(self, image: BGRImage, roi: Box | None = None) -> list[BarcodeHit]: ...


class Identity(Protocol):
    def score(self, crop: BGRImage, sku: str) -> float | None: ...


class Produce(Protocol):
    """Top-k catalog SKUs for a crop of loose produce, best first (vision.worker builds one)."""

    def candidates(self, crop: BGRImage) -> list[tuple[str, float]]: ...


class Evidence(Protocol):
    def keep(
        self,
        frame: Frame,
        boxes: Sequence[Box] = (),
        *,
        crop: Box | None = None,
        reason: str = "",
    ) -> str: ...

    def remember(self, frame: Frame) -> None: ...


class CropRecorder(Protocol):
    """The closed loop (models/closed_loop.py): labelled item crops for retraining."""

    def save(self, image: BGRImage, box: Box, label: str, *, source: str = "barcode") -> object: ...


@dataclass
class PipelineSettings:
    # Detector on every Nth frame with motion; the tracker coasts between. 2 halves the
    # detector cost (bench/vision.py: 1.34x -> 0.90x bare inference per busy frame) and
    # still sees an item at 15 Hz, enough to follow a hand across the scan zone.
    detect_every: int = 2
    max_regions: int = 2
    recheck_every: int = 15  # frames between re-detections of resting items (no motion)
    decode_zones: tuple[str, ...] = ("scan", "produce_scale")
    item_labels: tuple[str, ...] = ("item",)
    min_identity_px: int = 24  # crops smaller than this are not worth an identity score
    parallel_decode: bool = True  # decode on a second thread while the detector runs
    # A scanner read arrives after the item was shown; one that left the scan zone this
    # recently (on its way to bagging) is still the item the scanner saw.
    claim_window_ms: int = 1500
    produce_rest_frames: int = 5  # frames lying still on the produce scale before recognising
    produce_still_px: float = 4.0  # centre movement per frame that still counts as lying still


@dataclass
class StageTimes:
    """Milliseconds spent per stage, summed over frames (the benchmark reads these)."""

    frames: int = 0
    detector_runs: int = 0
    decode_runs: int = 0
    ms: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(
            ("motion", "detect", "track", "zones", "decode", "identity", "total"), 0.0
        )
    )

    def per_frame(self) -> dict[str, float]:
        n = max(self.frames, 1)
        return {stage: total / n for stage, total in self.ms.items()}


@dataclass
class _TrackInfo:
    zone: str = "outside"
    sku: str | None = None
    identity: float | None = None
    code_key: str | None = None  # the debouncer's key of the code read on this track
    scan_entered_ms: int | None = None  # last entry into the scan zone
    scan_left_ms: int | None = None
    still_frames: int = 0  # frames lying still on the produce scale
    last_centre: tuple[float, float] | None = None
    recognised: bool = False  # produce candidates already sent for this stay on the scale


class VisionPipeline:
    def __init__(
        self,
        *,
        motion: object,
        tracker: object,
        zones: object,
        reader: Reader,
        debouncer: object,
        detector: Detector | None = None,
        identity: Identity | None = None,
        evidence: Evidence | None = None,
        closed_loop: CropRecorder | None = None,
        produce: Produce | None = None,
        sku_for_code: Callable[[str], str | None] = lambda code: None,
        settings: PipelineSettings | None = None,
    ) -> None:
        self.motion = motion
        self.tracker = tracker
        self.zones = zones
        self.reader = reader
        self.debouncer = debouncer
        self.detector = detector
        self.identity = identity
        self.evidence = evidence
        self.closed_loop = closed_loop
        self.produce = produce
        self.sku_for_code = sku_for_code
        self.settings = settings or PipelineSettings()
        self.times = StageTimes()
        self._info: dict[int, _TrackInfo] = {}
        self._tracks: list[Track] = []
        self._motion_frames = 0
        self._pool: ThreadPoolExecutor | None = None

    # --- one frame ----------------------------------------------------------------------

    def process(self, frame: Frame) -> list[Input]:
        t_start = time.perf_counter()
        times = self.times
        times.frames += 1
        out: list[Input] = []

        t0 = time.perf_counter()
        motion_boxes: list[Box] = self.motion.update(frame.image)  # type: ignore[attr-defined]
        if self.evidence is not None:  # the seconds before an alert can be saved later
            self.evidence.remember(frame)
        times.ms["motion"] += (time.perf_counter() - t0) * 1000

        # Decode where items were as of the last frame, on the other core while the
        # detector runs on this one (onnxruntime, zxing-cpp, zbar and OpenCV all release
        # the GIL): a busy frame costs about max(detect, decode), not their sum.
        due = self._detection_due(frame, motion_boxes)
        decode_regions = self._decode_regions(frame, motion_boxes)
        pending: Future[list[tuple[BarcodeHit, int | None]]] | None = None
        if decode_regions and due and self.settings.parallel_decode:
            pending = self._decoder_pool().submit(self._decode_hits, frame, decode_regions)

        self._detect_and_track(frame, motion_boxes, due)

        t0 = time.perf_counter()
        transitions: list[ZoneTransition] = self.zones.update(  # type: ignore[attr-defined]
            self._tracks, frame.index, frame.ts_ms
        )
        times.ms["zones"] += (time.perf_counter() - t0) * 1000
        out.extend(self._transition_inputs(frame, transitions))

        hits = pending.result() if pending else self._decode_hits(frame, decode_regions)
        out.extend(self._reads(frame, hits))
        if self.produce is not None:
            out.extend(self._recognise_produce(frame))

        times.ms["total"] += (time.perf_counter() - t_start) * 1000
        return out

    def _decoder_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="vision-decode")
        return self._pool

    @property
    def live_tracks(self) -> list[Track]:
        """The tracks of the last processed frame that are still alive (for previews)."""
        return [t for t in self._tracks if not t.lost]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _detection_due(self, frame: Frame, motion_boxes: list[Box]) -> bool:
        if self.detector is None:
            return False
        if motion_boxes:
            self._motion_frames += 1
            return (self._motion_frames - 1) % self.settings.detect_every == 0
        live = any(not t.lost for t in self._tracks)
        return live and frame.index % self.settings.recheck_every == 0

    def _detect_and_track(self, frame: Frame, motion_boxes: list[Box], due: bool) -> None:
        if self.detector is None:
            return
        settings = self.settings
        live = [t for t in self._tracks if not t.lost]
        t0 = time.perf_counter()
        if not due:
            if motion_boxes:  # between detector runs the tracker predicts
                self._tracks = self.tracker.coast(frame.ts_ms, frame.index)  # type: ignore[attr-defined]
            # else: nothing moved, so resting tracks stay where they are, for free
            self.times.ms["track"] += (time.perf_counter() - t0) * 1000
            return
        width, height = frame.size
        # Every live track is inside some region (extras are merged, not dropped), so a
        # resting item is re-seen instead of aging out and coming back as a "new" item.
        regions = detection_regions(
            motion_boxes,
            [t.box for t in live],
            (width, height),
            _model_side(self.detector),
            max_regions=settings.max_regions,
        )
        detections = self._detect_regions(frame.image, regions)
        self.times.detector_runs += len(regions)
        t1 = time.perf_counter()
        self.times.ms["detect"] += (t1 - t0) * 1000
        self._tracks = self.tracker.update(  # type: ignore[attr-defined]
            detections, frame.ts_ms, frame.index
        )
        self.times.ms["track"] += (time.perf_counter() - t1) * 1000

    def _detect_regions(self, image: BGRImage, regions: list[Box]) -> Detections:
        assert self.detector is not None
        parts = [self.detector.detect(image, region) for region in regions]
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return Detections.empty(self.detector.class_names)
        # Overlapping regions see an item twice; a box cut by a region's edge ranks below
        # the fuller view of the same item.
        height, width = image.shape[:2]
        return merge_detections(parts, regions, (width, height))

    # --- zones --------------------------------------------------------------------------

    def _transition_inputs(self, frame: Frame, transitions: list[ZoneTransition]) -> list[Input]:
        """One ``ItemTrack`` per track whose zones changed (or that was lost) this frame."""
        out: list[Input] = []
        by_id = {t.track_id: t for t in self._tracks}
        changed: dict[int, list[ZoneTransition]] = {}
        for change in transitions:
            changed.setdefault(change.track_id, []).append(change)
        for ended in self._tracks:
            if ended.lost and ended.track_id in self._info and ended.track_id not in changed:
                changed[ended.track_id] = []  # lost outside every zone: still say it ended
        for track_id, changes in changed.items():
            track = by_id.get(track_id)
            info = self._info.setdefault(track_id, _TrackInfo())
            lost = track is None or bool(track.lost)
            zone = "outside" if lost else self.zones.primary_zone(track_id)  # type: ignore[attr-defined]
            # Out of every decode zone (the produce scale sits inside the scan zone: moving
            # off it is not leaving), so showing the code again is a new presentation.
            still_in = lost is False and bool(
                self.zones.zones_of(track_id) & set(self.settings.decode_zones)  # type: ignore[attr-defined]
            )
            left_decode_zone = not still_in and any(
                not c.entered and c.zone in self.settings.decode_zones for c in changes
            )
            if left_decode_zone and info.code_key is not None:
                self.debouncer.item_left(info.code_key)  # type: ignore[attr-defined]
            info.zone = zone
            for c in changes:
                if c.zone == "scan":
                    if c.entered:
                        info.scan_entered_ms, info.scan_left_ms = c.ts_ms, None
                    else:
                        info.scan_left_ms = c.ts_ms
                elif c.zone == "produce_scale" and not c.entered:
                    info.recognised, info.still_frames = False, 0  # a new stay recognises again
            snapshot = next((c.snapshot_id for c in changes if c.snapshot_id), None)
            entered_bagging = any(c.entered and c.zone == "bagging" for c in changes)
            if snapshot is None and entered_bagging and self.evidence and track is not None:
                snapshot = self.evidence.keep(
                    frame, [track.box], crop=track.box.expanded(1.2), reason="enter bagging"
                )
            label = track.label if track is not None else "item"
            score = float(track.score) if track is not None else 0.0
            out.append(
                ItemTrack(
                    frame.ts_ms,
                    track_id,
                    label,
                    zone,
                    score,
                    info.sku,
                    lost,
                    info.identity,
                    snapshot,
                )
            )
            if lost:
                self._info.pop(track_id, None)
        return out

    # --- barcodes and identity ------------------------------------------------------------

    def _decode_regions(
        self, frame: Frame, motion_boxes: list[Box]
    ) -> list[tuple[Box, int | None]]:
        width, height = frame.size
        zones_of = self.zones.zones_of  # type: ignore[attr-defined]
        wanted = set(self.settings.decode_zones)
        items = [
            t
            for t in self._tracks
            if not t.lost and t.label in self.settings.item_labels and zones_of(t.track_id) & wanted
        ]
        if items:
            return [(t.box.expanded(1.25).clipped(width, height), t.track_id) for t in items]
        if not motion_boxes:
            return []
        if self.detector is not None and any(
            t.label in self.settings.item_labels and not t.lost for t in self._tracks
        ):
            # The detector knows where the items are and none is in a decode zone: motion
            # there is only the trail of an item that just left (its code already read).
            return []
        # Before the detector confirms an item (or with no detector at all), decode where
        # something moves inside a decode zone.
        zone_of = self.zones.zone_map.zone_of  # type: ignore[attr-defined]
        return [
            (box.expanded(1.25).clipped(width, height), None)
            for box in _merge_boxes(motion_boxes)
            if zone_of(box, (width, height)) in wanted
        ]

    def _decode_hits(
        self, frame: Frame, regions: list[tuple[Box, int | None]]
    ) -> list[tuple[BarcodeHit, int | None]]:
        t0 = time.perf_counter()
        hits: list[tuple[BarcodeHit, int | None]] = []
        for roi, track_id in regions:
            self.times.decode_runs += 1
            hits.extend((hit, track_id) for hit in self.reader.decode(frame.image, roi))
        self.times.ms["decode"] += (time.perf_counter() - t0) * 1000
        return hits

    def _reads(self, frame: Frame, hits: list[tuple[BarcodeHit, int | None]]) -> list[Input]:
        fresh: list[BarcodeHit] = self.debouncer.update(  # type: ignore[attr-defined]
            [h for h, _ in hits], frame.ts_ms
        )
        out: list[Input] = []
        live = {t.track_id for t in self._tracks if not t.lost}
        for hit in fresh:
            track_id = next((tid for h, tid in hits if h == hit), None)
            if track_id not in live:
                track_id = None  # the track ended while its code was being decoded
            out.append(BarcodeRead(frame.ts_ms, hit.text, hit.symbology, "camera", track_id))
            if track_id is not None:
                out.extend(self._identify(frame, track_id, hit))
        return out

    def _identify(self, frame: Frame, track_id: int, hit: BarcodeHit) -> list[Input]:
        track = next((t for t in self._tracks if t.track_id == track_id), None)
        if track is None:
            return []
        info = self._info.setdefault(track_id, _TrackInfo())
        info.code_key = hit.gtin or hit.text
        info.sku = self.sku_for_code(info.code_key)
        info.identity = None
        t0 = time.perf_counter()
        x1, y1, x2, y2 = track.box.clipped(*frame.size).as_int()
        crop = frame.image[y1:y2, x1:x2]
        if (
            self.identity is not None
            and info.sku is not None
            and min(crop.shape[:2]) >= self.settings.min_identity_px
        ):
            info.identity = self.identity.score(crop, info.sku)
        self.times.ms["identity"] += (time.perf_counter() - t0) * 1000
        snapshot = None
        if self.evidence is not None:
            snapshot = self.evidence.keep(frame, [track.box], crop=track.box, reason="read")
        if info.sku is not None:  # a good read on a tracked item: a labelled training crop
            self._record(frame, track.box, info.sku, "barcode")
        return [
            ItemTrack(
                frame.ts_ms,
                track_id,
                track.label,
                info.zone,
                float(track.score),
                info.sku,
                False,
                info.identity,
                snapshot,
            )
        ]

    # --- scanner claims -----------------------------------------------------------------

    def claim(self, frame: Frame, sku: str) -> list[Input]:
        """The lane sold ``sku`` from a scanner read: score the item in the scan zone (the
        one that entered last; else the one that left it last, within ``claim_window_ms``)
        against it. Nothing when no item is there, or when it already carries that SKU."""
        track = self._claimed_track(frame.ts_ms)
        if track is None:
            return []
        info = self._info.setdefault(track.track_id, _TrackInfo())
        if info.sku == sku:
            return []  # a camera read of this code already named (and scored) it
        info.sku, info.identity = sku, None
        t0 = time.perf_counter()
        x1, y1, x2, y2 = track.box.clipped(*frame.size).as_int()
        crop = frame.image[y1:y2, x1:x2]
        if self.identity is not None and min(crop.shape[:2]) >= self.settings.min_identity_px:
            info.identity = self.identity.score(crop, sku)
        self.times.ms["identity"] += (time.perf_counter() - t0) * 1000
        snapshot = None
        if self.evidence is not None:
            snapshot = self.evidence.keep(frame, [track.box], crop=track.box, reason="claim")
        zone = self.zones.primary_zone(track.track_id)  # type: ignore[attr-defined]
        return [
            ItemTrack(
                frame.ts_ms,
                track.track_id,
                track.label,
                zone,
                float(track.score),
                sku,
                False,
                info.identity,
                snapshot,
            )
        ]

    def _claimed_track(self, now_ms: int) -> Track | None:
        inside: list[tuple[int, Track]] = []
        left: list[tuple[int, Track]] = []
        for track in self._tracks:
            info = self._info.get(track.track_id)
            if track.lost or track.label not in self.settings.item_labels or info is None:
                continue
            if "scan" in self.zones.zones_of(track.track_id):  # type: ignore[attr-defined]
                inside.append((info.scan_entered_ms or 0, track))
            elif (
                info.scan_left_ms is not None
                and now_ms - info.scan_left_ms <= self.settings.claim_window_ms
            ):
                left.append((info.scan_left_ms, track))
        for group in (inside, left):
            if group:
                return max(group, key=lambda pair: pair[0])[1]
        return None

    # --- produce ------------------------------------------------------------------------

    def _recognise_produce(self, frame: Frame) -> list[Input]:
        """Top-k for each item that has lain still on the produce scale, once per stay."""
        assert self.produce is not None
        out: list[Input] = []
        for track in self._tracks:
            if track.lost or track.label not in self.settings.item_labels:
                continue
            if "produce_scale" not in self.zones.zones_of(track.track_id):  # type: ignore[attr-defined]
                continue
            info = self._info.setdefault(track.track_id, _TrackInfo())
            centre = track.box.center
            last, info.last_centre = info.last_centre, centre
            if info.recognised or info.code_key is not None:
                continue  # done for this stay, or a barcode names it
            still = (
                last is not None
                and max(abs(centre[0] - last[0]), abs(centre[1] - last[1]))
                <= self.settings.produce_still_px
            )
            info.still_frames = info.still_frames + 1 if still else 0
            if info.still_frames < self.settings.produce_rest_frames:
                continue
            x1, y1, x2, y2 = track.box.clipped(*frame.size).as_int()
            if min(y2 - y1, x2 - x1) < self.settings.min_identity_px:
                continue
            t0 = time.perf_counter()
            candidates = tuple(self.produce.candidates(frame.image[y1:y2, x1:x2]))
            self.times.ms["identity"] += (time.perf_counter() - t0) * 1000
            info.recognised = True
            if not candidates:
                continue  # nothing the catalog sells looks like it
            # The top-1 is a guess, not an identification: later updates do not carry it.
            snapshot = None
            if self.evidence is not None:
                snapshot = self.evidence.keep(frame, [track.box], crop=track.box, reason="produce")
            out.append(
                ItemTrack(
                    frame.ts_ms,
                    track.track_id,
                    track.label,
                    self.zones.primary_zone(track.track_id),  # type: ignore[attr-defined]
                    float(track.score),
                    candidates[0][0],
                    False,
                    None,
                    snapshot,
                    candidates,
                )
            )
        return out

    # --- closed loop --------------------------------------------------------------------

    def label_produce(self, frame: Frame, label: str) -> bool:
        """The shopper picked ``label`` for what is on the produce scale: keep its crop."""
        on_scale = [
            t
            for t in self._tracks
            if not t.lost and "produce_scale" in self.zones.zones_of(t.track_id)  # type: ignore[attr-defined]
        ]
        if len(on_scale) != 1:
            return False  # nothing, or several things: no trustworthy label
        return self._record(frame, on_scale[0].box, label, "produce")

    def _record(self, frame: Frame, box: Box, label: str, source: str) -> bool:
        if self.closed_loop is None:
            return False
        try:
            return bool(self.closed_loop.save(frame.image, box, _safe_label(label), source=source))
        except Exception:  # a full disk must not stop the pipeline
            logger.exception("closed loop: crop not saved")
            return False


def _merge_boxes(boxes: list[Box]) -> list[Box]:
    """One box around overlapping motion boxes, so a code split by a hand decodes whole."""
    merged: list[Box] = []
    for box in sorted(boxes, key=lambda b: b.x1):
        if merged and merged[-1].expanded(1.2).iou(box) > 0:
            last = merged[-1]
            merged[-1] = Box(
                min(last.x1, box.x1),
                min(last.y1, box.y1),
                max(last.x2, box.x2),
                max(last.y2, box.y2),
            )
        else:
            merged.append(box)
    return merged


def _model_side(detector: Detector) -> int:
    return max(int(detector.input_h), int(detector.input_w))


def _safe_label(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label).strip("._") or "x"
