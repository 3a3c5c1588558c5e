"""Vision evidence for the mismatch rules, on drawn frames through the real pipeline.

- A scanner read claims the item in the scan zone: it is scored against the claimed SKU's
  reference photos (the same pack scores higher as itself than as another product).
- Loose produce resting on the produce scale gets the produce recogniser's top-k as catalog
  SKUs: a real (tiny) ONNX classifier, run by the shipped ``ProduceClassifier``, mapped to
  the example catalog by ``vision.worker.produce_map``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from kiosk.core.inputs import ItemTrack
from kiosk.replay import DEFAULT_CATALOG, load_catalog_file
from models.cards import ModelCard, file_sha256, save_card
from models.classify import ProduceClassifier
from tests.test_vision_pipeline import PACK, H, W, _frame, _path
from tests.vision_models import build_blob_model
from vision.barcodes.cascade import BarcodeReader
from vision.barcodes.debounce import ReadDebouncer
from vision.detector import YoloOnnxDetector
from vision.identity import IdentityScorer, ReferenceGallery
from vision.identity_synth import design, render
from vision.motion import MotionGate
from vision.pipeline import PipelineSettings, VisionPipeline
from vision.tracker import IouTracker
from vision.types import Frame
from vision.worker import EXAMPLE_ZONES, ProduceRecogniser, produce_map
from vision.zones import ZoneMap, ZoneWatcher

# Colour classifier classes: three loose-produce kinds and one packaged product.
CLASSES = ("Banana", "Royal-Gala", "Cucumber", "Arla-Standard-Milk")
# Logits from the crop's mean R, G, B (0..1): yellow, red, green, white.
WEIGHTS = 2 * np.array(
    [[4, 6, -6, 3], [4, -6, 6, 3], [-6, -6, -6, 3]], np.float32
)  # rows R, G, B; columns the classes above
PLAIN = np.full((170, 250, 3), 245, np.uint8)  # a white pack with no barcode on it


def build_colour_classifier(directory: Path) -> Path:
    """A real ONNX classifier: softmax over a linear map of the image's mean colour."""
    x = "images"
    nodes = [
        helper.make_node("ReduceMean", [x], ["mean"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["mean", "w"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["output0"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "colour",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, len(CLASSES)])],
        [numpy_helper.from_array(WEIGHTS, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "colour.onnx"
    onnx.save(model, path)
    save_card(
        ModelCard(
            name="colour",
            task="classify",
            version="test",
            classes=CLASSES,
            input_size=(32, 32),
            onnx=path.name,
            sha256=file_sha256(path),
            licence="AGPL-3.0",
            data="none: a hand-built mean-colour graph for tests",
            command="tests/test_vision_pipeline_claims.py build_colour_classifier",
        ),
        directory,
    )
    return path


def _pipeline(tmp_path: Path, **kwargs: object) -> VisionPipeline:
    return VisionPipeline(
        motion=MotionGate(),
        tracker=IouTracker(frame_size=(W, H), max_age_ms=400),
        zones=ZoneWatcher(ZoneMap.load(EXAMPLE_ZONES), (W, H)),
        reader=BarcodeReader(),
        debouncer=ReadDebouncer(800),
        detector=YoloOnnxDetector(build_blob_model(tmp_path / "det", size=160)),
        settings=PipelineSettings(item_labels=("white", "red")),
        **kwargs,  # type: ignore[arg-type]
    )


def _gallery() -> ReferenceGallery:
    gallery = ReferenceGallery()
    gallery.add("SKU-PACK", [PLAIN, PLAIN[::-1, ::-1].copy(), PACK])
    gallery.add("SKU-OTHER", [render(design(3)), render(design(4))])
    return gallery


def _hold_in_scan_zone(pipeline: VisionPipeline, frames: int = 30) -> tuple[list[object], Frame]:
    """Carry the plain pack into the scan zone and hold it there; returns the last frame."""
    out: list[object] = []
    xs = [None] * 4 + [float(x) for x in range(-60, 170, 25)] + [170.0] * frames
    frame = _frame(None, 0)
    for i, x in enumerate(xs):
        frame = _frame(x, i, PLAIN)
        out += pipeline.process(frame)
    return out, frame


def test_a_scanner_claim_scores_the_item_in_the_scan_zone(tmp_path: Path) -> None:
    scores: dict[str, float | None] = {}
    for claimed in ("SKU-PACK", "SKU-OTHER"):
        pipeline = _pipeline(tmp_path / claimed, identity=IdentityScorer(_gallery()))
        seen, last = _hold_in_scan_zone(pipeline)
        assert not [i for i in seen if isinstance(i, ItemTrack) and i.sku]  # no code to read
        in_scan = [i for i in seen if isinstance(i, ItemTrack) and i.zone == "scan"]
        assert in_scan
        out = pipeline.claim(last, claimed)
        assert len(out) == 1 and isinstance(out[0], ItemTrack)
        update = out[0]
        assert update.track_id == in_scan[-1].track_id and update.sku == claimed
        assert update.zone == "scan" and not update.lost
        scores[claimed] = update.identity_score
        # Claimed twice (a re-read) is no news.
        assert pipeline.claim(last, claimed) == []
    assert scores["SKU-PACK"] is not None and scores["SKU-OTHER"] is not None
    assert scores["SKU-PACK"] > scores["SKU-OTHER"]


def test_a_claim_without_references_still_names_the_track(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    _, last = _hold_in_scan_zone(pipeline)
    (update,) = pipeline.claim(last, "SKU-PACK")
    assert isinstance(update, ItemTrack) and update.sku == "SKU-PACK"
    assert update.identity_score is None


def test_no_item_near_the_scan_zone_means_no_claim(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    frame = None
    for i in range(20):
        frame = _frame(None, i)
        pipeline.process(frame)
    assert frame is not None and pipeline.claim(frame, "SKU-PACK") == []
    # An item carried through to the bagging area long ago is not what the scanner saw.
    xs = _path()
    for i, x in enumerate(xs[:-40], start=20):
        frame = _frame(x, i, PLAIN)
        pipeline.process(frame)
    late = _frame(480.0, 20 + len(xs), PLAIN)
    late = Frame(late.image, late.ts_ms + 5_000, late.index, late.source)
    pipeline.process(late)
    assert pipeline.claim(late, "SKU-PACK") == []


def _apple() -> np.ndarray:
    apple = np.zeros((80, 80, 3), np.uint8)
    apple[:, :] = (20, 20, 230)  # BGR: red, what the blob detector calls "red"
    return apple


def _produce_frames(pipeline: VisionPipeline, rest: int = 30) -> list[ItemTrack]:
    """A red apple carried onto the produce scale, left there, then taken off."""
    out: list[ItemTrack] = []
    xs = [None] * 4 + [float(x) for x in range(-40, 160, 20)] + [160.0] * rest
    xs += [float(x) for x in range(160, -80, -30)] + [None] * 20
    for i, x in enumerate(xs):
        for item in pipeline.process(_frame(x, i, _apple(), center_y=336)):
            if isinstance(item, ItemTrack):
                out.append(item)
    return out


@pytest.fixture
def recogniser(tmp_path: Path) -> ProduceRecogniser:
    catalog = load_catalog_file(DEFAULT_CATALOG)
    classifier = ProduceClassifier(build_colour_classifier(tmp_path / "cls"), tta=())
    return ProduceRecogniser(classifier, lambda: catalog)


def test_produce_resting_on_the_scale_gets_catalog_candidates(
    tmp_path: Path, recogniser: ProduceRecogniser
) -> None:
    tracks = _produce_frames(_pipeline(tmp_path, produce=recogniser))
    named = [t for t in tracks if t.candidates]
    assert len(named) == 1  # once per stay on the scale
    update = named[0]
    assert update.zone == "produce_scale" and update.label == "red"
    skus = [sku for sku, _ in update.candidates]
    assert update.sku == skus[0] == "PRD-002"  # Royal-Gala -> the catalog's apples
    assert len(skus) == len(set(skus)) <= 3
    assert set(skus) <= {"PRD-001", "PRD-013", "PRD-002", "PRD-003"}  # no packaged class
    scores = [score for _, score in update.candidates]
    assert scores == sorted(scores, reverse=True) and 0 <= scores[-1] <= scores[0] <= 1
    # It was recognised only once it lay still, not while it was being put down.
    first_on_scale = next(t for t in tracks if t.zone == "produce_scale")
    assert update.ts_ms - first_on_scale.ts_ms >= 4 * 33
    # Later updates do not pass the guess off as an identification.
    later = [t for t in tracks if t.ts_ms > update.ts_ms and t.track_id == update.track_id]
    assert later and all(t.sku is None and not t.candidates for t in later)


def test_without_a_catalog_match_nothing_is_suggested(
    tmp_path: Path, recogniser: ProduceRecogniser
) -> None:
    empty = ProduceRecogniser(recogniser.classifier, lambda: [])
    tracks = _produce_frames(_pipeline(tmp_path, produce=empty))
    assert tracks and not [t for t in tracks if t.candidates or t.sku]


def test_produce_map_follows_the_card_and_the_catalog() -> None:
    catalog = load_catalog_file(DEFAULT_CATALOG)
    labels = (*CLASSES, "Kiwi", "Sweet-Potato", "Orange-Bell-Pepper", "Orange", "Lemon")
    mapping = {labels[i]: skus for i, skus in produce_map(labels, catalog).items()}
    assert mapping["Banana"] == ["PRD-001", "PRD-013"]  # organic or not: the camera can't tell
    assert mapping["Royal-Gala"] == ["PRD-002"]
    assert mapping["Kiwi"] == ["PRD-012"]  # "Kiwifruit"
    assert mapping["Orange"] == ["PRD-005"]
    # Packaged classes and kinds the catalog does not sell are left out.
    for absent in ("Arla-Standard-Milk", "Sweet-Potato", "Orange-Bell-Pepper", "Lemon"):
        assert absent not in mapping


@pytest.mark.slow
def test_a_scanner_sale_on_a_lane_names_the_item_the_camera_sees(tmp_path: Path) -> None:
    """Scanner lane, shipped detector, rendered frames: the camera reads the pack's own
    code, the handheld scanner sells another product meanwhile (a switch at the scanner);
    the lane tells vision, which names that SKU on the item in the scan zone."""
    import cv2

    from kiosk.app import Lane
    from kiosk.config import parse_config_text
    from kiosk.core.events import Event
    from kiosk.core.inputs import BarcodeRead
    from models.scenes import iter_scenario_frames
    from tests.conftest import EXAMPLES, wait_for

    frames = tmp_path / "frames"
    frames.mkdir()
    for image, truth in iter_scenario_frames("scan(DRK-001)", seed=3, with_photos=False):
        cv2.imwrite(str(frames / f"f{truth.index:04d}.png"), image)
    config = parse_config_text(
        f"""
        [kiosk]
        data_dir = "{tmp_path / "data"}"
        [catalog]
        path = "{EXAMPLES / "catalog.csv"}"
        [checkout]
        camera_scans = false
        [camera]
        enabled = true
        url = "folder:{frames}?fps=10"
        """
    )
    events: list[Event] = []
    lane = Lane(config, on_events=events.extend)
    seen: list[object] = []

    def record(item: object) -> None:
        seen.append(item)
        lane.put(item)  # type: ignore[arg-type]
        if isinstance(item, BarcodeRead) and item.source == "camera":
            # The shopper's handheld scanner reads pickles while the water is shown.
            lane.put(BarcodeRead(item.ts_ms, "6902111200086", "EAN13", "scanner"))

    lane.vision._put = record
    lane.start()
    try:
        assert wait_for(lambda: lane.vision.camera.ended, timeout_s=60)
    finally:
        lane.stop()
    reads = [i for i in seen if isinstance(i, BarcodeRead)]
    assert len(reads) == 1 and reads[0].track_id is not None  # the water's own code
    added = [e.data["line"]["sku"] for e in events if e.type.value == "item_added"]
    assert added == ["PAN-006"], [e.data for e in events if e.type.value == "input_rejected"]
    claimed = [i for i in seen if isinstance(i, ItemTrack) and i.sku == "PAN-006"]
    assert claimed and claimed[0].label == "item" and not claimed[0].lost
    # The item in the scan zone: the read's track, or its successor when a busy machine
    # dropped frames and the track broke.
    assert claimed[0].zone in ("scan", "produce_scale")
    assert claimed[0].track_id >= reads[0].track_id
