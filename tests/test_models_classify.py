"""The committed produce classifier and detectors: cards, sha256, sco classify, accuracy."""

from __future__ import annotations

import json
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.cli import main as sco
from models.cards import MODELS_DIR, file_sha256, load_card
from models.classifier_data import DEFAULT_DATASET, class_names, read_split
from models.classify import ProduceClassifier, views

COMMITTED = ("produce-classifier", "item-detector", "item-detector-int8")


@pytest.mark.parametrize("stem", COMMITTED)
def test_committed_models_match_their_cards(stem: str) -> None:
    onnx = MODELS_DIR / f"{stem}.onnx"
    card = load_card(onnx)
    assert card.sha256 == file_sha256(onnx)
    assert onnx.stat().st_size <= 15 * 1024 * 1024
    assert card.licence == "AGPL-3.0" and card.command and card.metrics
    assert (MODELS_DIR / f"{stem}.md").read_text(encoding="utf-8").strip()


@pytest.mark.parametrize("stem", ["item-detector", "item-detector-int8"])
def test_committed_detectors_load_in_the_kiosk(stem: str) -> None:
    from vision.detector import YoloOnnxDetector, find_model

    det = YoloOnnxDetector(MODELS_DIR / f"{stem}.onnx")
    assert det.class_names == ("item", "hand", "bag")
    variant = "int8" if stem.endswith("int8") else "fp32"
    assert find_model(MODELS_DIR, "item-detector", variant).name == f"{stem}.onnx"


def test_classifier_labels_are_the_dataset_class_names() -> None:
    card = load_card(MODELS_DIR / "produce-classifier.onnx")
    assert len(card.classes) == 81
    if (DEFAULT_DATASET / "classes.csv").is_file():
        assert sorted(card.classes) == sorted(class_names())


def photo(tmp_path: Path, name: str) -> Path:
    img = np.zeros((120, 90, 3), np.uint8)
    img[:, :] = (40, 180, 60)
    path = tmp_path / name
    path.write_bytes(cv2.imencode(".jpg", img)[1].tobytes())
    return path


def test_sco_classify_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    photo(tmp_path, "green apple é.jpg")
    (tmp_path / "sub").mkdir()
    photo(tmp_path / "sub", "x.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    given = ["green apple é.jpg", "./sub/../sub/x.jpg", "broken.jpg", "missing.png"]
    rc = sco(["classify", "--json", "--top", "3", *given])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 1  # some images failed
    assert [line["path"] for line in lines] == given  # exactly as given, in order
    for line in lines[:2]:
        assert set(line) == {"path", "top"} and len(line["top"]) == 3
        assert all(set(t) == {"label", "score"} for t in line["top"])
        scores = [t["score"] for t in line["top"]]
        assert scores == sorted(scores, reverse=True) and 0 <= scores[-1] <= scores[0] <= 1
    for line in lines[2:]:
        assert set(line) == {"path", "error"} and line["error"]
    assert sco(["classify", "--json", given[0]]) == 0
    assert len(json.loads(capsys.readouterr().out)["top"]) == 5


def test_preprocessing_matches_ultralytics_eval_transform() -> None:
    pytest.importorskip("ultralytics", reason="the train extra is not installed")
    from PIL import Image
    from ultralytics.data.augment import classify_transforms

    rng = np.random.default_rng(0)
    small = cv2.resize(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8), (400, 300))
    ours = views(small, 160)[0]
    theirs = classify_transforms(160)(Image.fromarray(small[:, :, ::-1])).numpy()
    assert ours.shape == theirs.shape == (3, 160, 160)
    assert np.abs(ours - theirs).mean() < 0.02  # interpolation differs by a few grey levels


@pytest.mark.skipif(not (DEFAULT_DATASET / "val.txt").is_file(), reason="grocery dataset absent")
def test_true_class_in_top5_for_most_val_photos() -> None:
    samples = random.Random(0).sample(read_split(DEFAULT_DATASET, "val"), 30)
    clf = ProduceClassifier(MODELS_DIR / "produce-classifier.onnx")
    hits = sum(s.label in [lab for lab, _ in clf.classify_path(s.path, top_k=5)] for s in samples)
    assert hits >= 18, f"true class in the top 5 for only {hits}/30 val photos"
