"""Identity check on drawn packages: the same design under light, rotation, scale and a hand
over it scores above a different design; unusable crops and unknown SKUs give None."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from kiosk.errors import ModelError
from models.cards import ModelCard, file_sha256, save_card
from vision.identity import (
    DEFAULT_CALIBRATION,
    IdentityError,
    IdentityScorer,
    ReferenceGallery,
    fit_calibration,
    roc_auc,
)
from vision.identity_embed import OnnxEmbedder, penultimate_output
from vision.identity_features import appearance, barcode_mask
from vision.identity_synth import camera_view, design, render, variant

SKUS = {f"sku-{i}": render(design(i)) for i in range(6)}


@pytest.fixture(scope="module")
def gallery() -> ReferenceGallery:
    rng = np.random.default_rng(1)
    g = ReferenceGallery()
    for sku, face in SKUS.items():
        g.add(sku, [camera_view(face, rng, occlude=0.0) for _ in range(3)])
    return g


@pytest.fixture(scope="module")
def scorer(gallery: ReferenceGallery) -> IdentityScorer:
    return IdentityScorer(gallery)


CONDITIONS = {
    "dim light": {"gain": 0.55, "angle": 0.0, "scale": 1.0, "occlude": 0.0},
    "bright light": {"gain": 1.45, "angle": 0.0, "scale": 1.0, "occlude": 0.0},
    "turned 90": {"gain": 1.0, "angle": 90.0, "scale": 1.0, "occlude": 0.0},
    "turned 37": {"gain": 1.0, "angle": 37.0, "scale": 1.0, "occlude": 0.0},
    "far away": {"gain": 1.0, "angle": 0.0, "scale": 0.45, "occlude": 0.0},
    "hand over a third": {"gain": 1.0, "angle": 200.0, "scale": 0.9, "occlude": 0.35},
}


@pytest.mark.parametrize("condition", sorted(CONDITIONS))
def test_same_design_scores_above_every_other_design(
    scorer: IdentityScorer, condition: str
) -> None:
    rng = np.random.default_rng(7)
    for sku, face in SKUS.items():
        crop = camera_view(face, rng, **CONDITIONS[condition])
        own = scorer.score(crop, sku)
        assert own is not None and 0.0 <= own <= 1.0
        others = [scorer.score(crop, other) for other in SKUS if other != sku]
        assert all(o is not None and own > o for o in others), (sku, own, others)
        assert scorer.rank(crop, 1)[0][0] == sku


def test_scores_are_calibrated_probabilities(scorer: IdentityScorer) -> None:
    rng = np.random.default_rng(3)
    same, different = [], []
    for i, (sku, face) in enumerate(SKUS.items()):
        crop = camera_view(face, rng)
        same.append(scorer.score(crop, sku))
        different.append(scorer.score(crop, list(SKUS)[(i + 1) % len(SKUS)]))
    # Fitted on this gallery's own pairs: a real match is likely, a wrong one unlikely.
    assert scorer.calibration.pairs > 0 and scorer.calibration is not DEFAULT_CALIBRATION
    assert np.median(same) > 0.5 > np.median(different)


def test_a_look_alike_flavour_scores_below_the_real_one() -> None:
    rng = np.random.default_rng(5)
    g = ReferenceGallery()
    for i in range(4):
        base = design(i)
        g.add(f"brand-{i}", [camera_view(render(base), rng, occlude=0) for _ in range(3)])
        g.add(
            f"brand-{i}-v",
            [camera_view(render(variant(base, i)), rng, occlude=0) for _ in range(3)],
        )
    s = IdentityScorer(g)
    wins = 0
    for i in range(4):
        crop = camera_view(render(design(i)), rng, occlude=0.1)
        own, twin = s.score(crop, f"brand-{i}"), s.score(crop, f"brand-{i}-v")
        assert own is not None and twin is not None
        wins += own > twin
    assert wins >= 3


def test_rank_is_sorted_and_bounded(scorer: IdentityScorer) -> None:
    crop = camera_view(SKUS["sku-2"], np.random.default_rng(0))
    ranked = scorer.rank(crop, k=4)
    assert len(ranked) == 4 and ranked[0][0] == "sku-2"
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    assert len(scorer.rank(crop, k=50)) == len(SKUS)


def test_unusable_crops_and_unknown_skus_give_none(scorer: IdentityScorer) -> None:
    blank = np.full((120, 90, 3), 128, np.uint8)
    tiny = camera_view(SKUS["sku-0"], np.random.default_rng(0))[:10, :10]
    glare = np.full((100, 100, 3), 255, np.uint8)
    glare[::2] = 250
    crop = camera_view(SKUS["sku-0"], np.random.default_rng(0))
    assert scorer.score(blank, "sku-0") is None
    assert scorer.score(tiny, "sku-0") is None
    assert scorer.score(glare, "sku-0") is None
    assert scorer.score(np.zeros((50, 50), np.uint8), "sku-0") is None  # not BGR
    assert scorer.score(crop, "no-such-sku") is None
    assert scorer.rank(blank) == []


def test_a_sku_added_later_is_scored_from_a_few_photos() -> None:
    rng = np.random.default_rng(11)
    g = ReferenceGallery()
    for i in range(4):
        g.add(f"old-{i}", [camera_view(render(design(i)), rng, occlude=0) for _ in range(2)])
    s = IdentityScorer(g)
    newcomer = render(design(99))
    assert s.score(newcomer, "new") is None
    g.add("new", [camera_view(newcomer, rng, occlude=0)])  # one photo, after the scorer exists
    crop = camera_view(newcomer, rng, angle=130.0, gain=0.8, occlude=0.2)
    own = s.score(crop, "new")
    assert own is not None and all(own > s.score(crop, f"old-{i}") for i in range(4))
    assert s.rank(crop, 1)[0][0] == "new"


def test_gallery_loads_a_directory_and_skips_unreadable_images(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(2)
    for i, ext in ((0, ".jpg"), (1, ".png")):
        d = tmp_path / f"sku-{i}"
        d.mkdir()
        for j in range(2):
            cv2.imwrite(str(d / f"{j}{ext}"), camera_view(render(design(i)), rng, occlude=0))
    (tmp_path / "sku-0" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    (tmp_path / "sku-0" / "readme.txt").write_text("not an image")
    (tmp_path / "empty-sku").mkdir()
    (tmp_path / "only-broken").mkdir()
    (tmp_path / "only-broken" / "x.png").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        g = ReferenceGallery.load(tmp_path)
    assert g.skus() == ["sku-0", "sku-1"]
    assert len(g.references("sku-0")) == 2 and "broken.jpg" in caplog.text
    with pytest.raises(IdentityError):
        ReferenceGallery.load(tmp_path / "missing")
    with pytest.raises(ValueError):
        g.add("", [render(design(0))])


def test_colour_histogram_ignores_rotation_and_brightness() -> None:
    face = render(design(4))
    a = appearance(face)
    b = appearance(cv2.rotate(face, cv2.ROTATE_90_CLOCKWISE))
    c = appearance(cv2.convertScaleAbs(face, alpha=0.6))
    other = appearance(render(design(5)))
    assert a and b and c and other
    assert float(a.hist_sqrt @ b.hist_sqrt) > 0.97
    assert float(a.hist_sqrt @ c.hist_sqrt) > float(a.hist_sqrt @ other.hist_sqrt)


def test_roc_auc_and_calibration_fit() -> None:
    assert roc_auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert roc_auc(np.array([1.0]), np.array([1.0])) == 0.5
    assert roc_auc(np.array([1.0, 3.0]), np.array([2.0])) == 0.5
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(1, 0.5, (200, 2)), rng.normal(-1, 0.5, (200, 2))])
    y = np.array([1] * 200 + [0] * 200)
    cal = fit_calibration(x, y)
    assert cal.auc is not None and cal.auc > 0.95 and all(w > 0 for w in cal.weights)
    p = cal.probability(np.array([[1.0, 1.0], [-1.0, -1.0], [0.0, 0.0]]))
    assert p[0] > 0.9 and p[1] < 0.1 and 0.2 < p[2] < 0.8


def _tiny_classifier(path: Path) -> None:
    """A real ONNX classifier: conv -> relu -> global pool -> flatten -> gemm -> softmax."""
    rng = np.random.default_rng(0)
    conv_w = numpy_helper.from_array(rng.normal(0, 0.5, (8, 3, 3, 3)).astype(np.float32), "cw")
    fc_w = numpy_helper.from_array(rng.normal(0, 0.5, (3, 8)).astype(np.float32), "fw")
    fc_b = numpy_helper.from_array(np.zeros(3, np.float32), "fb")
    nodes = [
        helper.make_node("Conv", ["images", "cw"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["feat"]),
        helper.make_node("Gemm", ["feat", "fw", "fb"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["output0"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3])],
        [conv_w, fc_w, fc_b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_embedding_from_a_classifier_penultimate_layer(tmp_path: Path) -> None:
    model_path = tmp_path / "produce-classifier.onnx"
    _tiny_classifier(model_path)
    assert penultimate_output(onnx.load(str(model_path))) == "feat"
    card = ModelCard(
        name="produce-classifier",
        task="classify",
        version="test",
        classes=("a", "b", "c"),
        input_size=(32, 32),
        onnx=model_path.name,
        sha256=file_sha256(model_path),
    )
    save_card(card, tmp_path)
    embedder = OnnxEmbedder(model_path)
    vec = embedder.embed(render(design(1)))
    assert vec.shape == (8,) and abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5
    rng = np.random.default_rng(4)
    g = ReferenceGallery(embedder=embedder)
    for i in range(3):
        g.add(f"sku-{i}", [camera_view(render(design(i)), rng, occlude=0) for _ in range(3)])
    s = IdentityScorer(g)
    crop = camera_view(render(design(1)), rng)
    assert s.rank(crop, 1)[0][0] == "sku-1"
    assert len(s.calibration.weights) == 3  # the embedding is one of the combined features
    assert OnnxEmbedder.optional(tmp_path / "absent.onnx") is None
    model_path.write_bytes(model_path.read_bytes() + b"tampered")
    with pytest.raises(ModelError, match="sha256"):
        OnnxEmbedder(model_path)


def test_a_switched_barcode_label_does_not_lend_its_product_the_match() -> None:
    """The ticket switch itself: the claimed product's barcode stuck on another item. The
    label belongs to the claimed SKU, so it must not count as evidence for it."""
    rng = np.random.default_rng(21)
    cheap, dear = design(30), design(31)
    g = ReferenceGallery()
    for sku, d in (("cheap", cheap), ("dear", dear)):
        g.add(sku, [camera_view(render(d, barcode_scale=2), rng, occlude=0) for _ in range(3)])
    for i in range(4):
        g.add(f"other-{i}", [camera_view(render(design(40 + i), barcode_scale=2), rng)])
    s = IdentityScorer(g)
    switched = render(replace(dear, gtin13=cheap.gtin13), barcode_scale=2)
    crop = camera_view(switched, rng, occlude=0.1)
    claimed, real = s.score(crop, "cheap"), s.score(crop, "dear")
    assert claimed is not None and real is not None
    assert claimed < 0.5 < real


def test_barcode_mask_covers_the_printed_barcode_and_little_else() -> None:
    for seed in range(3):
        face = render(design(seed), barcode_scale=2)
        bars = np.zeros(face.shape[:2], bool)
        h, w = face.shape[:2]
        bars[h - 8 - 110 : h - 8, w - 8 - 226 : w - 8] = True  # where render() prints it
        mask = barcode_mask(cv2.cvtColor(face, cv2.COLOR_BGR2GRAY))
        assert mask[bars].mean() > 0.8
        assert mask[~bars].mean() < 0.15


def test_calibration_is_fitted_once_and_retried_while_the_gallery_is_too_small() -> None:
    rng = np.random.default_rng(8)
    g = ReferenceGallery()
    g.add("only", [camera_view(render(design(0)), rng, occlude=0)])
    s = IdentityScorer(g)
    assert s.calibration is DEFAULT_CALIBRATION  # one SKU: nothing to tell apart
    for i in range(1, 6):
        g.add(f"sku-{i}", [camera_view(render(design(i)), rng, occlude=0) for _ in range(3)])
    fitted = s.calibration
    assert fitted.pairs > 0
    g.add("late", [camera_view(render(design(9)), rng, occlude=0)])
    assert s.calibration is fitted  # adding a SKU mid-shift does not stall on a refit
    assert s.calibrate() is s.calibration and s.calibration is not fitted
    fixed = IdentityScorer(g, calibration=DEFAULT_CALIBRATION)
    assert fixed.calibration is DEFAULT_CALIBRATION
