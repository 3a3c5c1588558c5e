"""Metrics of exported models: the ONNX files themselves, as the kiosk would run them.

- classifier: top-1/3/5 over a grocery split (``classes.csv`` + ``<split>.txt``) or an
  ImageFolder (``<data>/<split>/<label>/*.jpg``, e.g. a closed-loop tree);
- detector: mAP50 and mAP50-95 per class on a YOLO ``data.yaml`` split, through ultralytics'
  validator running the ONNX file (needs the ``train`` extra);
- speed: median milliseconds of one ``session.run`` per thread count.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.errors import KioskError
from models.cards import load_card

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class EvaluateError(KioskError):
    """The model or the data cannot be evaluated."""


def classifier_samples(data: str | Path, split: str = "val") -> list[tuple[Path, str]]:
    root = Path(data)
    if (root / "classes.csv").is_file():
        from models.classifier_data import read_split

        return [(s.path, s.label) for s in read_split(root, split)]
    folder = root / split if (root / split).is_dir() else root
    samples = [
        (p, d.name)
        for d in sorted(folder.iterdir())
        if d.is_dir()
        for p in sorted(d.iterdir())
        if p.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not samples:
        raise EvaluateError(f"{folder}: no <label>/<image> files")
    return samples


def evaluate_classifier(
    model: str | Path,
    data: str | Path,
    *,
    split: str = "val",
    tta: Sequence[str] | None = None,
    threads: int = 1,
) -> dict[str, Any]:
    from models.classify import ProduceClassifier, top_k_accuracy

    clf = ProduceClassifier(model, threads=threads, tta=tta)
    samples = classifier_samples(data, split)
    unknown = sorted({lab for _, lab in samples} - set(clf.labels))
    if unknown:
        raise EvaluateError(f"labels the model does not know: {unknown[:5]}")
    metrics: dict[str, Any] = dict(top_k_accuracy(clf, samples))
    metrics.update(n=len(samples), split=split, tta=list(clf.tta))
    return metrics


def evaluate_detector(
    model: str | Path, data_yaml: str | Path, *, split: str = "test", imgsz: int = 0
) -> dict[str, Any]:
    """mAP50 / mAP50-95 overall and per class, from ultralytics' validator on the ONNX."""
    try:
        from ultralytics import YOLO
    except ImportError as err:
        raise EvaluateError(f"detector evaluation needs the train extra ({err})") from None
    card = load_card(model)
    size = imgsz or card.input_size[0]
    res = YOLO(str(model), task="detect").val(
        data=str(data_yaml), split=split, imgsz=size, batch=1, device="cpu",
        plots=False, verbose=False, workers=0,
    )  # fmt: skip
    box = res.box
    per_class: dict[str, dict[str, float]] = {}
    for i, c in enumerate(box.ap_class_index):
        per_class[card.classes[int(c)]] = {
            "mAP50": round(float(box.ap50[i]), 4),
            "mAP50-95": round(float(box.ap[i]), 4),
        }
    return {
        "split": split,
        "mAP50": round(float(box.map50), 4),
        "mAP50-95": round(float(box.map), 4),
        "precision": round(float(box.mp), 4),
        "recall": round(float(box.mr), 4),
        "per_class": per_class,
    }


def onnx_ms_per_frame(
    model: str | Path, *, threads: int = 1, runs: int = 30, warmup: int = 3
) -> float:
    """Median ms of one inference on a fixed random input (pre/post-processing excluded)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    for _ in range(warmup):
        sess.run(None, {inp.name: x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, {inp.name: x})
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2)


def speed(model: str | Path, threads: Sequence[int] = (1, 2), runs: int = 30) -> dict[str, float]:
    return {f"ms_per_frame_{t}t": onnx_ms_per_frame(model, threads=t, runs=runs) for t in threads}
