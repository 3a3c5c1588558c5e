"""Inference cost of the committed models: detector fp32 vs int8, and the produce classifier.

Run: .venv/bin/python bench/models.py [--runs N] [--threads 1,2]

Median milliseconds of one onnxruntime ``session.run`` (fixed input, pre/post-processing
excluded: letterbox and NMS cost about 2 ms, see docs research), per thread count, with the
int8/fp32 ratio measured in the same run. The classifier is also timed with its TTA views.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from models.cards import MODELS_DIR, load_card
from models.evaluate import onnx_ms_per_frame

MODELS = ("item-detector", "item-detector-int8", "produce-classifier")


def classifier_tta_ms(threads: int, runs: int) -> dict[str, float]:
    """ms per photo through ProduceClassifier (preprocessing included), per TTA setting."""
    import statistics
    import time

    from models.classify import ProduceClassifier

    image = np.random.default_rng(0).integers(0, 255, (348, 348, 3), dtype=np.uint8)
    out = {}
    for tta in ((), ("flip",), ("flip", "full")):
        clf = ProduceClassifier(MODELS_DIR / "produce-classifier.onnx", threads=threads, tta=tta)
        clf.classify(image)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            clf.classify(image)
            times.append((time.perf_counter() - t0) * 1000)
        out["+".join(tta) or "none"] = round(statistics.median(times), 2)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    print(f"{'model':22s} {'input':>8s} " + " ".join(f"{t}t ms".rjust(9) for t in threads))
    results: dict[str, dict[int, float]] = {}
    for name in MODELS:
        path = MODELS_DIR / f"{name}.onnx"
        if not path.is_file():
            print(f"{name:22s} (missing)")
            continue
        card = load_card(path)
        results[name] = {t: onnx_ms_per_frame(path, threads=t, runs=args.runs) for t in threads}
        size = f"{card.input_size[0]}x{card.input_size[1]}"
        print(f"{name:22s} {size:>8s} " + " ".join(f"{results[name][t]:9.2f}" for t in threads))
    if "item-detector" in results and "item-detector-int8" in results:
        for t in threads:
            fp, q = results["item-detector"][t], results["item-detector-int8"][t]
            print(f"detector int8/fp32, {t} thread(s): {q / fp:.2f} (speed-up {fp / q:.2f}x)")
    for t in threads:
        if "item-detector" in results and t != threads[0]:
            r = results["item-detector"][t] / results["item-detector"][threads[0]]
            print(f"detector fp32 {t} vs {threads[0]} thread(s): {r:.2f}")
    if "produce-classifier" in results:
        print("classifier per photo with TTA, 1 thread:", classifier_tta_ms(1, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
