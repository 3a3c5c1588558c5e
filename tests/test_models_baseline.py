"""The colour-histogram kNN baseline on synthetic colour photos."""

from __future__ import annotations

import numpy as np
import pytest

from models.baseline import HistogramKNN, evaluate, hsv_histogram

COLOURS = {"tomato": (30, 30, 220), "lime": (40, 200, 60), "banana": (40, 220, 230)}


def photo(bgr: tuple[int, int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((96, 128, 3), 90, np.uint8)  # grey shelf
    y, x = rng.integers(10, 30, 2)
    img[y : y + 60, x : x + 80] = bgr
    noise = rng.normal(0, 12, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def test_histogram_is_normalised() -> None:
    h = hsv_histogram(photo(COLOURS["lime"], 0))
    assert h.ndim == 1 and np.dot(h, h) == pytest.approx(1.5, rel=1e-3)  # 1 + 0.5 (value)


def test_knn_ranks_the_right_colour_first() -> None:
    images, labels = [], []
    for i in range(5):
        for name, bgr in COLOURS.items():
            images.append(photo(bgr, i))
            labels.append(name)
    model = HistogramKNN.fit(images, labels, k=3)
    tests = [(photo(bgr, 100 + i), name) for i in range(4) for name, bgr in COLOURS.items()]
    metrics = evaluate(model, [t[0] for t in tests], [t[1] for t in tests], ks=(1, 3))
    assert metrics["top1"] == 1.0 and metrics["top3"] == 1.0
    ranked = model.rank(photo(COLOURS["tomato"], 7), top_k=3)
    assert ranked[0][0] == "tomato" and len(ranked) == 3
    assert ranked[0][1] >= ranked[1][1] >= ranked[2][1]


def test_fit_needs_matching_labels() -> None:
    with pytest.raises(ValueError):
        HistogramKNN.fit([photo(COLOURS["lime"], 0)], ["a", "b"])
