"""The lane's vision thread: camera frames through the pipeline into the engine's queue.

Built from the ``[camera]``, ``[vision]`` and ``[models]`` sections. The pipeline is built
on the first frame (zones are calibrated in normalised coordinates and need the frame size).
A broken model or zones file is reported once and the lane goes on without that stage:
vision makes checkout safer but the shopper can still scan with the scanner.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.core.inputs import Input
from kiosk.errors import KioskError
from vision.barcodes.cascade import BarcodeReader
from vision.barcodes.debounce import ReadDebouncer
from vision.camera import Camera
from vision.motion import MotionGate
from vision.pipeline import PipelineSettings, VisionPipeline
from vision.tracker import IouTracker
from vision.types import BGRImage, Frame
from vision.zones import ZoneMap, ZoneWatcher

if TYPE_CHECKING:
    from backend_client.snapshots import SnapshotSpool

logger = logging.getLogger(__name__)

EXAMPLE_ZONES = Path(__file__).resolve().parent.parent / "examples" / "zones.json"
CLAIM_MAX_AGE_S = 2.0  # a scanner claim older than this (camera stalled) is dropped
# Evidence frames stay sharp only where items are handled; elsewhere (the aisle, the
# shopper) they are blurred before encoding, as the demo camera's are.
SHARP_ZONES = ("scan", "produce_scale", "bagging")

# The shipped produce classifier's card names the Grocery Store data set's fine classes
# (varieties). A store sells by kind, so each loose-produce class maps to the kind's word,
# which names the catalog's product ("Fuji apples", "Organic bananas"). Packaged classes
# (milk, juice, yoghurt) carry barcodes and are left out, as are kinds the catalog lacks.
PRODUCE_KINDS: dict[str, str] = {
    "Anjou": "pear", "Conference": "pear", "Kaiser": "pear",
    "Golden-Delicious": "apple", "Granny-Smith": "apple", "Pink-Lady": "apple",
    "Red-Delicious": "apple", "Royal-Gala": "apple",
    "Asparagus": "asparagus", "Aubergine": "eggplant", "Avocado": "avocado",
    "Banana": "banana", "Beef-Tomato": "tomato", "Regular-Tomato": "tomato",
    "Vine-Tomato": "tomato", "Brown-Cap-Mushroom": "mushroom", "Cabbage": "cabbage",
    "Cantaloupe": "cantaloupe", "Carrots": "carrot", "Cucumber": "cucumber",
    "Floury-Potato": "potato", "Solid-Potato": "potato", "Sweet-Potato": "sweet potato",
    "Galia-Melon": "melon", "Honeydew-Melon": "melon", "Watermelon": "watermelon",
    "Garlic": "garlic", "Ginger": "ginger", "Green-Bell-Pepper": "green bell pepper",
    "Red-Bell-Pepper": "red bell pepper", "Orange-Bell-Pepper": "orange bell pepper",
    "Yellow-Bell-Pepper": "yellow bell pepper", "Kiwi": "kiwi", "Leek": "leek",
    "Lemon": "lemon", "Lime": "lime", "Mango": "mango", "Nectarine": "nectarine",
    "Orange": "orange", "Papaya": "papaya", "Passion-Fruit": "passion fruit",
    "Peach": "peach", "Pineapple": "pineapple", "Plum": "plum",
    "Pomegranate": "pomegranate", "Red-Beet": "beet", "Red-Grapefruit": "grapefruit",
    "Satsumas": "satsuma", "Yellow-Onion": "onion", "Zucchini": "zucchini",
}  # fmt: skip


class ProduceRecogniser:
    """The produce classifier's top-k as catalog SKUs (``VisionPipeline``'s ``produce``).

    A SKU's score is the summed probability of the classes of its kind (five apple
    varieties all say "apple"); products of one kind (bananas, organic bananas) score alike,
    because a camera cannot read "organic". The class-to-SKU map follows the catalog when
    ``products()`` returns a new catalog object.
    """

    def __init__(
        self, classifier: Any, products: Callable[[], Iterable[Any]], *, top_k: int = 3
    ) -> None:
        self.classifier = classifier
        self._products = products
        self.top_k = top_k
        self._source: object = None
        self._skus: dict[int, list[str]] = {}  # class index -> SKUs of that kind

    def skus_by_class(self) -> dict[int, list[str]]:
        source = self._products()
        if source is not self._source:
            self._source, self._skus = source, produce_map(self.classifier.labels, source or ())
        return self._skus

    def candidates(self, crop: BGRImage) -> list[tuple[str, float]]:
        mapping = self.skus_by_class()
        if not mapping:
            return []
        probs = self.classifier.probabilities(crop)
        scores: dict[str, float] = {}
        for index, skus in mapping.items():
            for sku in skus:
                scores[sku] = scores.get(sku, 0.0) + float(probs[index])
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])  # stable: catalog order on ties
        return [(sku, round(min(score, 1.0), 4)) for sku, score in ranked[: self.top_k]]


def produce_map(labels: Iterable[str], products: Iterable[Any]) -> dict[int, list[str]]:
    """Classifier class index -> SKUs of loose produce (a PLU) whose English name names the
    class's kind as a word ("apple" in "Fuji apples"; "orange" not in "orange bell pepper"
    unless the class is that pepper)."""
    loose = [p for p in products if getattr(p, "plu", None)]
    out: dict[int, list[str]] = {}
    for index, label in enumerate(labels):
        kind = PRODUCE_KINDS.get(label)
        if kind is None:
            continue
        word = re.compile(rf"\b{re.escape(kind)}(e?s|fruits?)?\b", re.IGNORECASE)
        skus = [p.sku for p in loose if word.search(p.name_en) and not _longer_kind(p, kind)]
        if skus:
            out[index] = skus
    return out


def _longer_kind(product: Any, kind: str) -> bool:
    """ "Sweet potatoes" is not a potato, "bell peppers" not an orange: a longer kind
    that contains this one and also names the product wins."""
    name = product.name_en.lower()
    return any(
        kind in other and other != kind and other in name for other in PRODUCE_KINDS.values()
    )


def build_pipeline(
    sections: dict[str, dict[str, Any]],
    data_dir: str | Path,
    frame_size: tuple[int, int],
    *,
    sku_for_code: Callable[[str], str | None] = lambda code: None,
    config: Any = None,
    products: Callable[[], Iterable[Any]] | None = None,
    spool: SnapshotSpool | None = None,
    kiosk_id: str = "",
    boot_id: str = "",
) -> VisionPipeline:
    """A pipeline for frames of ``frame_size`` (width, height) as the config describes.

    ``products`` returns the catalog (its ``Product`` objects) the produce recogniser
    names SKUs from; without it produce on the scale is not recognised.
    ``spool`` (the lane's MQTT snapshot spool, with the lane's ``kiosk_id`` and the link's
    ``boot_id``) also sends each evidence JPEG to the tablets and the backend on
    ``snap/<id>``; without it evidence is kept locally only.
    Raises KioskError for a bad zones file (the lane cannot place items without zones);
    a missing or broken detector, classifier, references or evidence folder only disable
    that stage.
    """
    vision = sections["vision"]
    zones = ZoneMap.load(vision["zones_file"] or EXAMPLE_ZONES)
    detector = _detector(sections, vision, config)
    identity = _identity(vision)
    evidence = _evidence(
        vision, data_dir, _privacy_mask(zones, frame_size), spool, kiosk_id, boot_id
    )
    closed_loop = _closed_loop(config)
    return VisionPipeline(
        motion=MotionGate(),
        tracker=IouTracker(frame_size=frame_size),
        zones=ZoneWatcher(zones, frame_size),
        reader=BarcodeReader(budget_ms=vision["decode_budget_ms"]),
        debouncer=ReadDebouncer(vision["read_gap_ms"]),
        detector=detector,
        identity=identity,
        evidence=evidence,
        closed_loop=closed_loop,
        produce=_produce(sections, config, products),
        sku_for_code=sku_for_code,
        settings=PipelineSettings(
            detect_every=vision["detect_every"], max_regions=vision["max_regions"]
        ),
    )


def _detector(sections: dict[str, dict[str, Any]], vision: dict[str, Any], config: Any) -> Any:
    from vision.detector import YoloOnnxDetector

    variant = "int8" if vision["detector_int8"] else "fp32"
    try:
        if vision["detector_model"]:
            path = Path(vision["detector_model"])
        else:
            from models.registry import configured_model

            path = configured_model(
                config or {"models": sections.get("models", {})}, "item-detector", variant=variant
            )
        return YoloOnnxDetector(
            path, threads=vision["detector_threads"], conf=vision["detector_conf"]
        )
    except (KioskError, OSError) as err:
        logger.error("vision: no item detector (%s); barcodes only", err)
        return None


def _identity(vision: dict[str, Any]) -> Any:
    if not vision["references_dir"]:
        return None
    from vision.identity import IdentityScorer, ReferenceGallery

    try:
        from vision.identity_embed import OnnxEmbedder

        # The produce classifier's penultimate layer, when shipped, adds a learned view.
        gallery = ReferenceGallery.load(
            Path(vision["references_dir"]), embedder=OnnxEmbedder.optional()
        )
        scorer = IdentityScorer(gallery)
        scorer.calibrate()  # seconds for a big gallery: now, not at the first scanned item
        return scorer
    except (KioskError, OSError) as err:
        logger.error("vision: identity check off (%s)", err)
        return None


def _produce(
    sections: dict[str, dict[str, Any]], config: Any, products: Callable[[], Iterable[Any]] | None
) -> ProduceRecogniser | None:
    if products is None:
        return None
    from models.classify import ProduceClassifier
    from models.registry import configured_model

    try:
        path = configured_model(
            config or {"models": sections.get("models", {})}, "produce-classifier"
        )
        classifier = ProduceClassifier(path)
    except (KioskError, OSError) as err:
        logger.error("vision: no produce recogniser (%s)", err)
        return None
    return ProduceRecogniser(classifier, products)


def _privacy_mask(zones: ZoneMap, frame_size: tuple[int, int]) -> Any:
    """255 inside the item zones (kept sharp), 0 elsewhere (blurred in every snapshot)."""
    from vision.evidence import mask_from_polygons

    sharp = [
        [(float(x), float(y)) for x, y in z.pixels(frame_size).reshape(-1, 2)]
        for z in zones.zones
        if z.name in SHARP_ZONES
    ]
    return mask_from_polygons(frame_size[0], frame_size[1], sharp)


def _evidence(
    vision: dict[str, Any],
    data_dir: str | Path,
    privacy_mask: Any,
    spool: SnapshotSpool | None,
    kiosk_id: str,
    boot_id: str,
) -> Any:
    from vision.evidence import EvidenceStore

    directory = Path(vision["evidence_dir"] or Path(data_dir) / "evidence")
    if spool is not None and not (kiosk_id and boot_id):
        # The backend refuses snapshots without them; keep the evidence locally instead.
        logger.error("vision: snapshots not sent to the backend (no kiosk id or boot id)")
        spool = None
    try:
        return EvidenceStore(
            directory,
            max_bytes=vision["evidence_max_mb"] * 1024 * 1024,
            max_age_s=vision["evidence_max_age_h"] * 3600,
            max_count=100_000,
            spool=spool,
            kiosk_id=kiosk_id if spool is not None else "",
            boot_id=boot_id if spool is not None else "",
            privacy_mask=privacy_mask,
        )
    except (KioskError, OSError) as err:
        logger.error("vision: evidence snapshots off (%s)", err)
        return None


def _closed_loop(config: Any) -> Any:
    if config is None:
        return None
    from models.closed_loop import ClosedLoopRecorder

    try:
        recorder = ClosedLoopRecorder.from_config(config)
    except (KioskError, OSError) as err:
        logger.error("vision: closed-loop crops off (%s)", err)
        return None
    return recorder if recorder.enabled else None


class VisionWorker:
    """Pulls the newest frame, runs the pipeline, hands each input to ``put``."""

    def __init__(
        self,
        camera: Camera,
        make_pipeline: Callable[[tuple[int, int]], VisionPipeline],
        put: Callable[[Input], None],
    ) -> None:
        self.camera = camera
        self._make_pipeline = make_pipeline
        self._put = put
        self.pipeline: VisionPipeline | None = None
        self.error = ""  # why vision stopped, if it did
        self.frames = 0
        self._stop = threading.Event()
        self._produce_picks: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._claims: queue.SimpleQueue[tuple[str, float]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="lane-vision", daemon=True)

    def produce_picked(self, label: str) -> None:
        """Any thread: the shopper sold ``label`` from the produce scale; the next frame's
        crop of the item there goes to the closed loop (when it is switched on)."""
        self._produce_picks.put(label)

    def item_claimed(self, sku: str) -> None:
        """Any thread: the lane sold ``sku`` from a scanner read; the next frame scores the
        item in the scan zone against it (an ``ItemTrack`` with its identity score)."""
        self._claims.put((sku, time.monotonic()))

    def start(self) -> None:
        self.camera.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.camera.stop()
        if self.pipeline is not None:
            self.pipeline.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            frame = self.camera.latest(timeout=0.5)
            if frame is None:
                continue
            try:
                self._process(frame)
            except KioskError as err:
                # A bad zones file cannot fix itself; say it once and stop watching.
                self.error = str(err)
                logger.error("vision stopped: %s", err)
                return
            except Exception:  # one bad frame must not end vision for the day
                logger.exception("vision: frame %d failed", frame.index)
                time.sleep(0.05)

    def _process(self, frame: Frame) -> None:
        if self.pipeline is None or self._size != frame.size:
            if self.pipeline is not None:
                self.pipeline.close()
            self.pipeline = self._make_pipeline(frame.size)
            self._size = frame.size
        for item in self.pipeline.process(frame):
            self._put(item)
        while not self._produce_picks.empty():
            self.pipeline.label_produce(frame, self._produce_picks.get())
        while not self._claims.empty():
            sku, claimed_at = self._claims.get()
            if time.monotonic() - claimed_at > CLAIM_MAX_AGE_S:
                continue  # the camera was away: whatever is in the scan zone now is not it
            for item in self.pipeline.claim(frame, sku):
                self._put(item)
        self.frames += 1
        # For a screen preview: the frame just processed and where its items are. A tuple
        # swapped in one assignment, so any thread may read it without a lock.
        tracks = [(t.box, t.track_id, t.label) for t in self.pipeline.live_tracks]
        self.latest_view = (frame, tracks)

    _size: tuple[int, int] = (0, 0)
    latest_view: tuple[Frame, list[tuple[Any, int, str]]] | None = None

    def health(self) -> dict[str, Any]:
        stats = self.camera.stats
        out: dict[str, Any] = {
            "connected": stats.connected,
            "fps": round(stats.fps, 1),
            "dropped": stats.dropped,
            "reconnects": stats.reconnects,
            "frames_processed": self.frames,
            "error": self.error or stats.last_error,
        }
        if self.pipeline is not None:
            out["ms_per_frame"] = {
                k: round(v, 2) for k, v in self.pipeline.times.per_frame().items()
            }
        return out
