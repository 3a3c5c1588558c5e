"""Identity check figures: same-vs-different separation, rank() top-1/top-5, ms per score.

    .venv/bin/python bench/identity.py                 # synthetic packages + grocery photos
    .venv/bin/python bench/identity.py --quick         # fewer SKUs and queries
    .venv/bin/python bench/identity.py --skip-grocery  # when the dataset is absent

Synthetic packages: drawn designs (one per SKU, plus look-alike variants of some: same brand
and layout, another accent and name), 3 random camera views each as references, 3 fresh views
each as queries. Grocery (/work/shared/data/grocery-store/dataset, MIT): each fine class is a
SKU; references = iconic image + train photos, queries = val photos.

For each query: score(true SKU) vs score(a random wrong SKU) (and vs its look-alike for the
synthetic set) as ROC AUC and as the rate true > wrong; rank() top-1 / top-5; and the same
AUC for each raw feature alone (colour, ORB), so the combination's gain is visible. Prints;
never asserts.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np

from models.baseline import HistogramKNN
from vision.identity import IdentityScorer, ReferenceGallery, roc_auc
from vision.identity_synth import camera_view, design, render, variant

GROCERY = Path("/work/shared/data/grocery-store/dataset")


def evaluate(
    name: str,
    scorer: IdentityScorer,
    queries: list[tuple[np.ndarray, str]],
    rng: np.random.Generator,
    lookalike: dict[str, str] | None = None,
    baseline: HistogramKNN | None = None,
) -> None:
    skus = scorer.gallery.skus()
    t0 = time.perf_counter()
    cal = scorer.calibration
    t_cal = time.perf_counter() - t0
    pos, neg, hard = [], [], []
    raw_pos, raw_neg = [], []
    top1 = top5 = 0
    score_ms, rank_ms = [], []
    for crop, sku in queries:
        wrong = skus[int(rng.integers(len(skus)))]
        while wrong == sku:
            wrong = skus[int(rng.integers(len(skus)))]
        t = time.perf_counter()
        s_true = scorer.score(crop, sku)
        score_ms.append((time.perf_counter() - t) * 1000)
        s_wrong = scorer.score(crop, wrong)
        if s_true is None or s_wrong is None:
            continue
        pos.append(s_true)
        neg.append(s_wrong)
        q = scorer.gallery.describe(crop)
        assert q is not None
        raw_pos.append(scorer._raw(q, sku))
        raw_neg.append(scorer._raw(q, wrong))
        if lookalike and sku in lookalike:
            hard.append((s_true, scorer.score(crop, lookalike[sku])))
        t = time.perf_counter()
        ranked = [s for s, _ in scorer.rank(crop, 5)]
        rank_ms.append((time.perf_counter() - t) * 1000)
        top1 += bool(ranked) and ranked[0] == sku
        top5 += sku in ranked
    n = len(pos)
    p, q_ = np.array(pos), np.array(neg)
    rp, rn = np.array(raw_pos), np.array(raw_neg)
    print(f"\n== {name}: {len(skus)} SKUs, {len(queries)} queries ({n} usable)")
    print(f"calibration: {cal.pairs} pairs, fit AUC {cal.auc}, {t_cal:.1f} s")
    print(f"  weights {np.round(cal.weights, 3).tolist()} bias {cal.bias:.3f}")
    print(f"  mean {np.round(cal.mean, 3).tolist()} scale {np.round(cal.scale, 3).tolist()}")
    print(
        f"true vs random wrong SKU: ROC AUC {roc_auc(p, q_):.3f}, "
        f"true > wrong {np.mean(p > q_):.3f}"
    )
    for i, feat in enumerate(("colour", "orb")):
        print(f"  feature {feat:12s} alone: AUC {roc_auc(rp[:, i], rn[:, i]):.3f}")
    print(f"median score: true {np.median(p):.3f}, wrong {np.median(q_):.3f}")
    for thr in (0.1, 0.2, 0.5):
        print(
            f"  threshold {thr}: true SKU flagged {np.mean(p < thr):.3f}, "
            f"wrong SKU passed {np.mean(q_ >= thr):.3f}"
        )
    if hard:
        h = np.array(hard, float)
        print(
            f"true vs look-alike variant ({len(h)}): AUC {roc_auc(h[:, 0], h[:, 1]):.3f}, "
            f"true > look-alike {np.mean(h[:, 0] > h[:, 1]):.3f}"
        )
    print(f"rank(): top-1 {top1 / max(1, n):.3f}, top-5 {top5 / max(1, n):.3f}")
    print(
        f"ms per score() median {statistics.median(score_ms):.1f}, "
        f"per rank() median {statistics.median(rank_ms):.1f}"
    )
    if baseline is not None:
        b1 = b5 = 0
        b_ms = []
        for crop, sku in queries:
            t = time.perf_counter()
            ranked = [s for s, _ in baseline.rank(crop, 5)]
            b_ms.append((time.perf_counter() - t) * 1000)
            b1 += ranked[0] == sku
            b5 += sku in ranked
        nq = len(queries)
        print(
            f"baseline models.baseline.HistogramKNN (same references): top-1 {b1 / nq:.3f}, "
            f"top-5 {b5 / nq:.3f}, ms per rank {statistics.median(b_ms):.1f}; "
            f"rank() top-1 / baseline {top1 / max(1, n) / max(b1 / nq, 1e-9):.2f}x"
        )


def synthetic(n_skus: int, rng: np.random.Generator) -> None:
    gallery = ReferenceGallery()
    designs = {f"pkg-{i:03d}": design(i) for i in range(n_skus)}
    lookalike: dict[str, str] = {}
    for i in range(0, n_skus, 4):  # a quarter of the SKUs have a look-alike sibling
        sibling = f"pkg-{i:03d}-v"
        designs[sibling] = variant(designs[f"pkg-{i:03d}"], i)
        lookalike[f"pkg-{i:03d}"] = sibling
        lookalike[sibling] = f"pkg-{i:03d}"
    faces = {sku: render(d) for sku, d in designs.items()}
    t0 = time.perf_counter()
    ref_images, ref_labels = [], []
    for sku, face in faces.items():
        views = [camera_view(face, rng, occlude=0.0) for _ in range(3)]
        gallery.add(sku, views)
        ref_images += views
        ref_labels += [sku] * len(views)
    print(f"\nsynthetic gallery built in {time.perf_counter() - t0:.1f} s")
    queries = [(camera_view(face, rng), sku) for sku, face in faces.items() for _ in range(3)]
    baseline = HistogramKNN.fit(ref_images, ref_labels)
    evaluate("synthetic packages", IdentityScorer(gallery), queries, rng, lookalike, baseline)


def grocery(max_refs: int, max_queries: int, rng: np.random.Generator) -> None:
    if not GROCERY.is_dir():
        print(f"\n{GROCERY} absent: grocery figures skipped")
        return
    names: dict[int, str] = {}
    iconic: dict[str, str] = {}
    with open(GROCERY / "classes.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            names[int(row["Class ID (int)"])] = row["Class Name (str)"]
            iconic[row["Class Name (str)"]] = row["Iconic Image Path (str)"].lstrip("/")

    def listing(name: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for line in (GROCERY / name).read_text().splitlines():
            path, cid, _ = (p.strip() for p in line.split(","))
            out.setdefault(names[int(cid)], []).append(path)
        return out

    train, val = listing("train.txt"), listing("val.txt")
    gallery = ReferenceGallery()
    t0 = time.perf_counter()
    ref_images, ref_labels = [], []
    for sku in sorted(names.values()):
        paths = [iconic[sku]] if (GROCERY / iconic[sku]).is_file() else []
        picks = train.get(sku, [])
        paths += [picks[int(i)] for i in np.linspace(0, len(picks) - 1, min(len(picks), max_refs))]
        images = [im for im in (cv2.imread(str(GROCERY / p)) for p in paths) if im is not None]
        gallery.add(sku, images)
        ref_images += images
        ref_labels += [sku] * len(images)
    print(f"\ngrocery gallery: {len(gallery)} SKUs, <= {max_refs}+1 refs each, "
          f"built in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    queries = [(GROCERY / p, sku) for sku, ps in val.items() for p in ps]
    order = rng.permutation(len(queries))[:max_queries]
    loaded = [(cv2.imread(str(queries[i][0])), queries[i][1]) for i in order]
    baseline = HistogramKNN.fit(ref_images, ref_labels)
    evaluate("grocery photos", IdentityScorer(gallery), loaded, rng, baseline=baseline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-grocery", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    rng = np.random.default_rng(7)
    if not args.skip_synthetic:
        synthetic(16 if args.quick else 60, rng)
    if not args.skip_grocery:
        grocery(6 if args.quick else 15, 60 if args.quick else 296, rng)


if __name__ == "__main__":
    main()
