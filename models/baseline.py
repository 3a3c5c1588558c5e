"""Colour-histogram nearest-neighbour produce classifier: the baseline the CNN must beat.

Each photo becomes a normalised HSV histogram of its centre region (hue x saturation, plus a
value histogram); a query's labels are ranked by the best Bhattacharyya-like similarity
(sum of sqrt(p*q)) over the k nearest training photos of each class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

H_BINS, S_BINS, V_BINS = 18, 8, 8


def hsv_histogram(image: np.ndarray, size: int = 128) -> np.ndarray:
    """An L1-normalised HSV histogram feature of a BGR image (centre 80%, resized)."""
    h, w = image.shape[:2]
    dy, dx = h // 10, w // 10
    crop = image[dy : h - dy or h, dx : w - dx or w]
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    hs = cv2.calcHist([hsv], [0, 1], None, [H_BINS, S_BINS], [0, 180, 0, 256]).ravel()
    v = cv2.calcHist([hsv], [2], None, [V_BINS], [0, 256]).ravel()
    feat = np.concatenate([hs / max(hs.sum(), 1.0), 0.5 * v / max(v.sum(), 1.0)])
    return np.sqrt(feat.astype(np.float32))  # Hellinger: dot product = Bhattacharyya coeff.


@dataclass
class HistogramKNN:
    features: np.ndarray  # (N, D) sqrt-normalised histograms
    labels: list[str]
    k: int = 3

    @classmethod
    def fit(cls, images: Sequence[np.ndarray], labels: Sequence[str], k: int = 3) -> HistogramKNN:
        if len(images) != len(labels) or not images:
            raise ValueError("need as many labels as images, and at least one")
        feats = np.stack([hsv_histogram(im) for im in images])
        return cls(feats, list(labels), k)

    def rank(self, image: np.ndarray, top_k: int = 5) -> list[tuple[str, float]]:
        """Labels by the mean similarity of their ``k`` most similar training photos."""
        sims = self.features @ hsv_histogram(image)
        by_label: dict[str, list[float]] = {}
        for idx in np.argsort(-sims):
            lst = by_label.setdefault(self.labels[idx], [])
            if len(lst) < self.k:
                lst.append(float(sims[idx]))
        scored = sorted(
            ((lab, float(np.mean(v))) for lab, v in by_label.items()), key=lambda t: -t[1]
        )
        return scored[:top_k]


def evaluate(
    model: HistogramKNN, images: Sequence[np.ndarray], labels: Sequence[str], ks=(1, 3, 5)
) -> dict[str, float]:
    hits = dict.fromkeys(ks, 0)
    for image, label in zip(images, labels, strict=True):
        top = [lab for lab, _ in model.rank(image, max(ks))]
        for k in ks:
            hits[k] += label in top[:k]
    return {f"top{k}": hits[k] / max(1, len(labels)) for k in ks}


def grocery_baseline(dataset: str | Path, k: int = 3) -> dict[str, float]:
    """Fit on the grocery train split and measure top-1/3/5 on its val split."""
    from models.classifier_data import read_split
    from models.classify import read_image

    train = read_split(dataset, "train")
    val = read_split(dataset, "val")
    model = HistogramKNN.fit([read_image(s.path) for s in train], [s.label for s in train], k)
    return evaluate(model, [read_image(s.path) for s in val], [s.label for s in val])


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    from models.classifier_data import DEFAULT_DATASET

    print(json.dumps(grocery_baseline(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DATASET)))
