"""Training end to end on tiny data: one epoch, ONNX export, onnxruntime, card, int8.

Slow (tens of seconds on two cores) but real: a rendered detection set, ultralytics,
the exporter and onnxruntime, as ``sco train`` runs them. Skipped only without the
``train`` extra (CI installs it).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from models.cards import load_card

pytest.importorskip("ultralytics", reason="the train extra (ultralytics) is not installed")
pytest.importorskip("torch", reason="the train extra (torch) is not installed")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_detection_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from models.scenes import render_detection_dataset

    out = tmp_path_factory.mktemp("det")
    return render_detection_dataset(out, n_train=8, n_val=4, n_test=2, seed=3, imgsz=160)


def test_one_epoch_detector_exports_onnx_matching_its_card(
    tiny_detection_set: Path, tmp_path: Path
) -> None:
    import onnxruntime as ort

    from models import train as T
    from models.quantize import quantize_detector
    from vision.detector import YoloOnnxDetector

    spec = T.TrainSpec(
        task="detect", data=str(tiny_detection_set), out=str(tmp_path / "run"),
        model="yolo11n.yaml", epochs=1, imgsz=160, batch=4, seed=0,
        overrides={"cache": False, "mosaic": 0.0, "close_mosaic": 0},
    )  # fmt: skip
    best = T.train(spec)
    assert (tmp_path / "run" / "results.csv").is_file()
    assert (tmp_path / "run" / "curves.png").is_file()
    onnx = T.export_onnx(best, 160)
    classes = T.class_names_of(best)
    assert classes == ["item", "hand", "bag"]
    rel = T.release(
        onnx, tmp_path / "rel", name="item-detector", task="detect", classes=classes,
        imgsz=160, data=str(tiny_detection_set), command="test", extra={"head": "classic"},
    )  # fmt: skip
    card = load_card(rel.onnx)
    assert card.input_size == (160, 160) and card.classes == tuple(classes)
    assert rel.card.with_suffix(".md").is_file()
    sess = ort.InferenceSession(str(rel.onnx), providers=["CPUExecutionProvider"])
    x = np.zeros((1, 3, *card.input_size), np.float32)
    out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    # Classic YOLO head: 4 box values + one score per class, for every anchor.
    anchors = sum((160 // stride) ** 2 for stride in (8, 16, 32))
    assert out.shape == (1, 4 + len(card.classes), anchors)
    YoloOnnxDetector(rel.onnx)  # the kiosk's loader accepts it

    frames = [cv2.imread(str(p)) for p in sorted(Path(tiny_detection_set).parent.glob(
        "images/val/*.jpg"))]  # fmt: skip
    int8 = quantize_detector(rel.onnx, tmp_path / "rel" / "item-detector-int8.onnx", frames)
    sess8 = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    out8 = sess8.run(None, {sess8.get_inputs()[0].name: x})[0]
    assert out8.shape == out.shape
    ops = {n.op_type for n in __import__("onnx").load(str(int8)).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops


def _synthetic_classes(root: Path) -> None:
    colours = {"Red-Thing": (30, 30, 220), "Green-Thing": (40, 200, 60)}
    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("val", 3)):
        for name, bgr in colours.items():
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = np.clip(
                    np.full((64, 64, 3), bgr) + rng.normal(0, 15, (64, 64, 3)), 0, 255
                ).astype(np.uint8)
                cv2.imwrite(str(root / split / name / f"{i}.jpg"), img)


def test_one_epoch_classifier_exports_onnx_the_runtime_reads(tmp_path: Path) -> None:
    from models import train as T
    from models.classify import ProduceClassifier

    _synthetic_classes(tmp_path / "data")
    spec = T.TrainSpec(
        task="classify", data=str(tmp_path / "data"), out=str(tmp_path / "run"),
        model="yolo11n-cls.yaml", epochs=1, imgsz=32, batch=4, seed=0,
        overrides={"cache": False},
    )  # fmt: skip
    best = T.train(spec)
    onnx = T.export_onnx(best, 32)
    classes = T.class_names_of(best)
    assert sorted(classes) == ["Green-Thing", "Red-Thing"]
    rel = T.release(
        onnx, tmp_path / "rel", name="produce-classifier", task="classify", classes=classes,
        imgsz=32, data="synthetic", command="test",
    )  # fmt: skip
    clf = ProduceClassifier(rel.onnx, tta=("flip",))
    top = clf.classify(cv2.imread(str(tmp_path / "data" / "val" / "Red-Thing" / "0.jpg")))
    assert sorted(lab for lab, _ in top) == sorted(classes)
    assert sum(s for _, s in top) == pytest.approx(1.0, abs=1e-4)  # the export ends in softmax


def test_sco_train_classifier_from_the_closed_loop(tmp_path: Path) -> None:
    from kiosk.cli import main as sco
    from models.closed_loop import ClosedLoopRecorder
    from vision.types import Box

    rec = ClosedLoopRecorder(tmp_path / "cl", enabled=True)
    rng = np.random.default_rng(1)
    for i in range(10):
        frame = rng.integers(0, 60, (120, 160, 3), dtype=np.uint8)
        frame[40:80, 60:100] = (30, 30, 220) if i % 2 else (40, 200, 60)
        rec.save(frame, Box(60, 40, 100, 80), "4011" if i % 2 else "Granny-Smith")
    rc = sco([
        "train", "classifier", "--from-closed-loop", str(tmp_path / "cl"), "--epochs", "1",
        "--imgsz", "32", "--batch", "4", "--out", str(tmp_path / "run"), "--version", "cl-1",
        "--registry", str(tmp_path / "models"),
    ])  # fmt: skip
    assert rc == 0
    card = load_card(
        tmp_path / "models" / "produce-classifier" / "cl-1" / "produce-classifier.onnx"
    )
    assert sorted(card.classes) == ["4011", "Granny-Smith"]
    assert card.metrics["n"] == 2 and "top1" in card.metrics  # every 5th crop of a label is val
    assert (tmp_path / "run" / "curves.png").is_file()
