"""YoloOnnxDetector on real (tiny, hand-built) ONNX models: letterbox, decode, NMS, back-map."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.cards import ModelCardError, load_card, save_card
from tests.vision_models import build_blob_model
from vision.detector import DetectorError, Letterbox, YoloOnnxDetector, find_model
from vision.types import Box, Detections

W, H = 640, 480


def frame_with(*squares: tuple[int, int, int, int, tuple[int, int, int]]) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    for x1, y1, x2, y2, bgr in squares:
        cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), bgr, thickness=-1)
    return img


WHITE, RED = (255, 255, 255), (0, 0, 255)  # BGR


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("models")
    build_blob_model(d, name="classic", head="classic", pad=200)
    build_blob_model(d, name="e2e", head="end2end", pad=20)
    return d


def assert_box_near(actual: Box, expected: tuple[float, float, float, float], tol: float) -> None:
    got = (actual.x1, actual.y1, actual.x2, actual.y2)
    assert np.allclose(got, expected, atol=tol), f"{got} != {expected} (tol {tol})"


@pytest.mark.parametrize("name", ["classic", "e2e"])
def test_square_in_region_found_at_full_frame_place(models: Path, name: str) -> None:
    det = YoloOnnxDetector(models / f"{name}.onnx")
    img = frame_with((400, 300, 460, 360, WHITE))
    region = Box(320, 200, 640, 480)  # 320 x 280 -> 128 x 112, padded 8 px top and bottom
    found = det.detect(img, region)
    assert len(found) == 1
    (d,) = list(found)
    assert d.label == "white" and d.score > 0.9
    # one model pixel is 2.5 frame pixels here; linear resize may blur one pixel more
    assert_box_near(d.box, (400, 300, 460, 360), tol=2 * 2.5 + 0.5)


@pytest.mark.parametrize("name", ["classic", "e2e"])
def test_whole_frame_and_small_region_upscaled(models: Path, name: str) -> None:
    det = YoloOnnxDetector(models / f"{name}.onnx")
    img = frame_with((100, 50, 140, 90, WHITE), (500, 380, 600, 460, RED))
    whole = {d.label: d for d in det.detect(img)}
    assert set(whole) == {"white", "red"}
    assert_box_near(whole["red"].box, (500, 380, 600, 460), tol=2 * 5 + 0.5)
    # a 64 x 64 region is upscaled 2x into the model: sharper boxes than the whole frame
    small = list(det.detect(img, Box(90, 40, 154, 104)))
    assert [d.label for d in small] == ["white"]
    assert_box_near(small[0].box, (100, 50, 140, 90), tol=1.0)


def test_nms_merges_duplicates_and_keeps_classes_apart(models: Path, tmp_path: Path) -> None:
    det = YoloOnnxDetector(models / "classic.onnx")
    img = frame_with((100, 100, 200, 200, WHITE), (140, 140, 240, 240, RED))
    tensor, _ = det.preprocess(img)
    raw = det.infer(tensor)
    assert (raw[0, 4:] >= det.conf).sum() == 6  # three grown copies per class
    found = det.detect(img)
    # the two classes overlap (IoU about 0.3 here, and NMS is per class anyway): both stay
    assert sorted(d.label for d in found) == ["red", "white"]
    loose = YoloOnnxDetector(models / "classic.onnx", iou=0.99)
    assert len(loose.detect(img)) == 6  # nothing merged when the IoU bar is that high


def test_confidence_threshold(models: Path) -> None:
    img = frame_with((100, 100, 300, 300, WHITE))
    cv2.rectangle(img, (150, 150), (249, 249), (0, 0, 0), -1)  # a hole: fills 75% of the box
    for name in ("classic", "e2e"):
        scores = [d.score for d in YoloOnnxDetector(models / f"{name}.onnx").detect(img)]
        assert len(scores) == 1 and 0.65 < scores[0] < 0.85
        assert len(YoloOnnxDetector(models / f"{name}.onnx", conf=0.9).detect(img)) == 0


def test_empty_frame_gives_empty_detections(models: Path) -> None:
    det = YoloOnnxDetector(models / "classic.onnx")
    found = det.detect(np.zeros((H, W, 3), np.uint8))
    assert len(found) == 0 and found.class_names == ("white", "red")


def test_boxes_clipped_to_frame(models: Path) -> None:
    # classic copies grow past the blob; at the frame edge they must be clipped
    det = YoloOnnxDetector(models / "classic.onnx", iou=0.99)
    img = frame_with((0, 0, 80, 80, WHITE))
    found = det.detect(img)
    assert len(found) == 3
    for d in found:
        assert d.box.x1 >= 0 and d.box.y1 >= 0 and d.box.x2 <= W and d.box.y2 <= H
    # and to the region: past its edge the model saw only grey padding
    img = frame_with((100, 100, 180, 180, WHITE))
    found = det.detect(img, Box(100, 100, 228, 228))
    assert len(found) == 3
    assert all(d.box.x1 >= 100 and d.box.y1 >= 100 for d in found)


def test_letterbox_round_trip() -> None:
    lb = Letterbox(0.5, 0.5, 0, 16, 100, 50)
    xyxy = np.array([[10, 26, 30, 46]], np.float32)
    assert lb.to_frame(xyxy).tolist() == [[120, 70, 160, 110]]


def test_region_outside_frame_refused(models: Path) -> None:
    det = YoloOnnxDetector(models / "classic.onnx")
    with pytest.raises(DetectorError, match="outside"):
        det.detect(np.zeros((H, W, 3), np.uint8), Box(700, 10, 800, 100))
    with pytest.raises(DetectorError, match="uint8"):
        det.detect(np.zeros((H, W), np.uint8))


@pytest.mark.parametrize(
    ("head", "corrupt", "message"),
    [
        ("classic", "nan", "NaN"),
        ("end2end", "nan", "NaN"),
        ("classic", "logits", "sigmoid"),
        ("end2end", "logits", "sigmoid"),
    ],
)
def test_malformed_outputs_give_clear_errors(
    tmp_path: Path, head: str, corrupt: str, message: str
) -> None:
    det = YoloOnnxDetector(build_blob_model(tmp_path, head=head, corrupt=corrupt))
    with pytest.raises(DetectorError, match=message):
        det.detect(frame_with((100, 100, 200, 200, WHITE)))


@pytest.mark.parametrize("head", ["classic", "end2end"])
def test_output_shape_off_by_a_row_refused_at_load(tmp_path: Path, head: str) -> None:
    with pytest.raises(DetectorError, match=f"not a {head} head for 2 classes"):
        YoloOnnxDetector(build_blob_model(tmp_path, head=head, corrupt="extra_row"))


def test_run_time_output_shape_checked(models: Path) -> None:
    # a model with symbolic output dims can only be caught when it runs
    classic = YoloOnnxDetector(models / "classic.onnx")
    with pytest.raises(DetectorError, match=r"expected \(1, 6, N\)"):
        classic.decode(np.zeros((1, 7, 100), np.float32))
    with pytest.raises(DetectorError, match=r"expected \(1, \., \.\)"):
        classic.decode(np.zeros((6, 100), np.float32))
    e2e = YoloOnnxDetector(models / "e2e.onnx")
    with pytest.raises(DetectorError, match=r"expected \(1, N, 6\)"):
        e2e.decode(np.zeros((1, 300, 7), np.float32))
    nan_score = np.zeros((1, 6, 10), np.float32)
    nan_score[0, 5, 3] = np.nan  # a NaN score would otherwise fail "> conf" and vanish
    with pytest.raises(DetectorError, match="NaN or infinity in its scores"):
        classic.decode(nan_score)
    bad_class = np.array([[[0, 0, 10, 10, 0.9, 5]]], np.float32)
    with pytest.raises(DetectorError, match="class id"):
        e2e.decode(bad_class)
    flipped = np.array([[[10, 10, 0, 0, 0.9, 0]]], np.float32)
    with pytest.raises(DetectorError, match="out of order"):
        e2e.decode(flipped)


def test_model_without_card_refused(tmp_path: Path) -> None:
    path = build_blob_model(tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(ModelCardError, match="not found"):
        YoloOnnxDetector(path)


def test_wrong_sha256_refused(tmp_path: Path) -> None:
    path = build_blob_model(tmp_path)
    card = load_card(path)
    with open(path, "ab") as fh:
        fh.write(b"\0")  # a damaged copy
    with pytest.raises(ModelCardError, match="sha256"):
        YoloOnnxDetector(path)
    with pytest.raises(ModelCardError, match="sha256"):
        YoloOnnxDetector(path, card=card)


def test_card_shape_mismatch_refused(tmp_path: Path) -> None:
    path = build_blob_model(tmp_path, size=128, pad=10)
    card = load_card(path)
    with pytest.raises(DetectorError, match="input shape"):
        YoloOnnxDetector(path, card=dataclasses.replace(card, input_size=(320, 320)))
    with pytest.raises(DetectorError, match="not a classic head for 3 classes"):
        YoloOnnxDetector(path, card=dataclasses.replace(card, classes=("a", "b", "c")))
    no_head = dataclasses.replace(card, classes=("a", "b", "c"), extra={})
    with pytest.raises(DetectorError, match="matches neither"):
        YoloOnnxDetector(path, card=no_head)
    with pytest.raises(DetectorError, match="not a end2end head"):
        YoloOnnxDetector(path, card=dataclasses.replace(card, extra={"head": "end2end"}))
    with pytest.raises(DetectorError, match="detect"):
        YoloOnnxDetector(path, card=dataclasses.replace(card, task="classify"))


def test_ambiguous_head_needs_the_card_to_say(tmp_path: Path) -> None:
    # 2 classes: a classic head (1, 6, N) with N = 6 reads as (1, N, 6) too
    path = build_blob_model(tmp_path, head="classic", copies=3, pad=0)
    card = load_card(path)
    with pytest.raises(DetectorError, match="either head"):
        YoloOnnxDetector(path, card=dataclasses.replace(card, extra={}))
    det = YoloOnnxDetector(path, card=card)  # the builder's card says "classic"
    assert det.head == "classic"


def test_dynamic_input_model_and_options(tmp_path: Path) -> None:
    path = build_blob_model(tmp_path, dynamic_input=True, dynamic_output=True, pad=5)
    for level in ("all", "basic", "disable"):
        det = YoloOnnxDetector(path, threads=2, optimisation=level)
        (d,) = list(det.detect(frame_with((200, 200, 300, 300, WHITE))))
        assert_box_near(d.box, (200, 200, 300, 300), tol=2 * 5 + 0.5)
    with pytest.raises(DetectorError, match="optimisation"):
        YoloOnnxDetector(path, optimisation="turbo")


def test_int8_variant_picked_by_card(tmp_path: Path) -> None:
    build_blob_model(tmp_path, name="items-fp32")
    build_blob_model(tmp_path, name="items-int8", variant="int8")
    for name in ("items-fp32", "items-int8"):  # both cards name the same model
        card = load_card(tmp_path / f"{name}.json")
        save_card(dataclasses.replace(card, name="items"), tmp_path)
    (tmp_path / "zones.json").write_text("{}")  # not a card: skipped
    path = find_model(tmp_path, "items", "int8")
    assert path.name == "items-int8.onnx"
    assert YoloOnnxDetector(path).variant == "int8"
    assert YoloOnnxDetector(find_model(tmp_path, "items")).variant == "fp32"
    with pytest.raises(DetectorError, match="no model cards named 'items', variant 'fp16'"):
        find_model(tmp_path, "items", "fp16")


def test_candidate_cap_bounds_nms(models: Path) -> None:
    det = YoloOnnxDetector(models / "classic.onnx", conf=0.0, iou=0.99, max_candidates=4)
    img = frame_with((100, 100, 200, 200, WHITE), (300, 300, 400, 400, RED))
    tensor, _ = det.preprocess(img)
    assert det.infer(tensor).shape[2] == 206  # 6 proposals + 200 zero-score pads
    found = det.detect(img)
    assert len(found) == 4 and min(found.scores) >= 0.8  # the best four survive the cap


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cfg", "end2end", "head"),
    [
        ("yolov8n.yaml", None, "classic"),
        ("yolo26n.yaml", None, "classic"),
        ("yolo26n.yaml", True, "end2end"),
    ],
)
def test_real_ultralytics_exports_load_and_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cfg: str, end2end: bool | None, head: str
) -> None:
    """Untrained nets built from Ultralytics' own YAML (nothing downloaded), exported as the
    models issue will export them: the shapes, heads and decode must fit real graphs."""
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    ultralytics = pytest.importorskip("ultralytics")
    from models.cards import ModelCard, file_sha256

    extra = {} if end2end is None else {"end2end": end2end}
    model = ultralytics.YOLO(cfg)
    exported = Path(model.export(format="onnx", imgsz=160, simplify=False, **extra))
    path = tmp_path / exported.name
    if exported != path:
        exported.replace(path)
    names = tuple(f"class{i}" for i in range(80))
    card = ModelCard(path.stem, "detect", "t", names, (160, 160), path.name, file_sha256(path))
    save_card(card, tmp_path)
    det = YoloOnnxDetector(path, conf=0.0)
    assert det.head == head
    found = det.detect(frame_with((100, 100, 200, 200, WHITE)), Box(50, 50, 250, 250))
    assert len(found) <= det.max_det and found.class_names == names
    assert all(50 <= d.box.x1 <= d.box.x2 <= 250 for d in found)  # back inside the region


@pytest.mark.slow
def test_real_int8_quantised_export_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The models issue's int8 path (QDQ, head kept in float) gives a model we load and run."""
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    ultralytics = pytest.importorskip("ultralytics")
    from models.cards import ModelCard, file_sha256
    from models.quantize import quantize_detector

    fp32 = Path(ultralytics.YOLO("yolov8n.yaml").export(format="onnx", imgsz=160, simplify=False))
    int8 = quantize_detector(fp32, tmp_path / "det-int8.onnx", [frame_with((1, 1, 50, 50, RED))])
    names = tuple(f"class{i}" for i in range(80))
    for path, variant in ((fp32, "fp32"), (int8, "int8")):
        card = ModelCard(
            "det", "detect", "t", names, (160, 160), path.name, file_sha256(path),
            extra={"variant": variant, "head": "classic"},
        )  # fmt: skip
        save_card(card, path.parent)
    det = YoloOnnxDetector(int8, conf=0.0)
    assert det.variant == "int8"
    found = det.detect(frame_with((100, 100, 200, 200, WHITE)))
    assert 0 < len(found) <= det.max_det


def test_merge_across_regions_prefers_the_uncut_view(models: Path) -> None:
    from vision.detector import merge_detections

    det = YoloOnnxDetector(models / "e2e.onnx")
    img = frame_with((200, 200, 300, 300, WHITE))
    img[240:250, 280:290] = 0  # a small hole: the full view fills 99% of its box
    full_region, cut_region = Box(150, 150, 350, 350), Box(50, 150, 250, 350)
    full, cut = det.detect(img, full_region), det.detect(img, cut_region)
    assert len(full) == len(cut) == 1 and cut.scores[0] > full.scores[0]  # the cut one is solid
    naive = merge_detections([full, cut])
    assert len(naive) == 1 and naive.xyxy[0][2] < 260  # plain NMS keeps the cut half
    merged = merge_detections([full, cut], [full_region, cut_region], (W, H))
    assert len(merged) == 1
    assert_box_near(next(iter(merged)).box, (200, 200, 300, 300), tol=4)
    assert merged.scores[0] == full.scores[0]  # ranked lower, reported as the model said
    # a second item elsewhere survives; empty parts and mismatched inputs
    other = det.detect(frame_with((500, 50, 540, 90, RED)), Box(450, 0, 640, 190))
    assert len(merge_detections([full, other, Detections.empty(det.class_names)])) == 2
    assert len(merge_detections([])) == 0
    with pytest.raises(DetectorError, match="regions"):
        merge_detections([full, cut], [full_region])
