"""Identity check: does this item look like the product its barcode claims?

A ticket switch puts a cheap product's barcode on an expensive item. The core knows which SKU
was scanned; this module says how well the item's crop matches that SKU's reference photos,
so an unlikely pair can raise an alert. It works for SKUs added after any training: a few
reference photos per SKU are enough (``ReferenceGallery``).

The score combines a masked colour histogram (Bhattacharyya), ORB keypoints verified by a
homography (printed artwork), and optionally a classifier's embedding
(``vision.identity_embed``). The raw similarities are turned into one number by a logistic
model fitted on the gallery itself — reference photos against their own SKU's other photos
(or a synthetic camera view of them) versus other SKUs — so a score of 0.5 means "as likely
the same product as not", 0.9 "nine to one the same", on the reference data's evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from kiosk.errors import KioskError
from vision.identity_embed import OnnxEmbedder
from vision.identity_features import Appearance, appearance, normalised, orb_inliers
from vision.identity_synth import camera_view
from vision.types import BGRImage

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
FEATURES = ("colour", "orb", "embed")
LEAVE_OUT_NEIGHBOURS = 2
ORB_CHANCE = 12  # 90th percentile of wrong-SKU inliers on grocery photos (bench)
ORB_SURE = 200  # homography inliers beyond which more references cannot change the verdict


class IdentityError(KioskError):
    """A reference gallery cannot be loaded or a calibration is malformed."""


@dataclass(frozen=True)
class Calibration:
    """Logistic map from raw similarities to P(same SKU), balanced classes."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    pairs: int = 0  # same + different pairs it was fitted on; 0 for the built-in default
    auc: float | None = None  # same-vs-different ROC AUC on those pairs

    def probability(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        n = len(self.weights)
        z = (x[..., :n] - np.array(self.mean)) / np.array(self.scale)
        logit = z @ np.array(self.weights) + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30))))


# Used only while a gallery is too small to fit its own (fewer than 8 same-SKU pairs): the
# fit that bench/identity.py printed on 75 synthetic packaged SKUs (colour, ORB).
DEFAULT_CALIBRATION = Calibration(
    mean=(0.389, 3.876), scale=(0.268, 4.029), weights=(1.874, 2.092), bias=-2.199
)


class ReferenceGallery:
    """Reference appearances per SKU. Keeps features, not images (thousands of SKUs fit)."""

    def __init__(self, *, embedder: OnnxEmbedder | None = None, seed: int = 0) -> None:
        self.embedder = embedder
        self._refs: dict[str, list[Appearance]] = {}
        # One synthetic camera view per SKU: a same-SKU example for calibration even when
        # the SKU has a single reference photo.
        self._probes: dict[str, Appearance] = {}
        self._rng = np.random.default_rng(seed)
        self.version = 0  # bumped on every change; scorers recalibrate when it moves

    @classmethod
    def load(
        cls,
        directory: Path,
        *,
        embedder: OnnxEmbedder | None = None,
        max_per_sku: int | None = None,
    ) -> ReferenceGallery:
        """``directory/<sku>/*.jpg|png``; unreadable images are skipped with a warning."""
        directory = Path(directory)
        if not directory.is_dir():
            raise IdentityError(f"{directory}: reference directory not found")
        gallery = cls(embedder=embedder)
        for sku_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
            files = sorted(
                p for p in sku_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            images = []
            for path in files[:max_per_sku] if max_per_sku else files:
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if image is None:
                    logger.warning("reference image %s is unreadable; skipped", path)
                    continue
                images.append(image)
            if images:
                gallery.add(sku_dir.name, images)
        return gallery

    def add(self, sku: str, images: Sequence[BGRImage]) -> None:
        """Add reference photos of ``sku``; unusable ones (tiny, blank) are skipped, logged."""
        if not sku:
            raise ValueError("sku must be a non-empty string")
        added = self._refs.setdefault(sku, [])
        for image in images:
            app = self.describe(image)
            if app is None:
                logger.warning("a reference image of %s is unusable (tiny or blank); skipped", sku)
                continue
            added.append(app)
            if sku not in self._probes:
                probe = self.describe(camera_view(np.asarray(image), self._rng))
                if probe is not None:
                    self._probes[sku] = probe
        if not added:
            del self._refs[sku]
        self.version += 1

    def describe(self, image: BGRImage) -> Appearance | None:
        """The features of one image as this gallery computes them (None: unusable)."""
        app = appearance(image)
        if app is None or self.embedder is None:
            return app
        norm = normalised(image)
        assert norm is not None  # appearance() accepted it
        return Appearance(app.hist_sqrt, app.points, app.descriptors, self.embedder.embed(norm))

    def skus(self) -> list[str]:
        return sorted(self._refs)

    def references(self, sku: str) -> list[Appearance]:
        return list(self._refs.get(sku, ()))

    def probe(self, sku: str) -> Appearance | None:
        return self._probes.get(sku)

    def __len__(self) -> int:
        return len(self._refs)


@dataclass
class _Index:
    """Every reference's histogram stacked, for one matrix product per query."""

    skus: list[str]
    hists: npt.NDArray[np.float32]  # R x B, sqrt histograms
    owner: npt.NDArray[np.int64]  # R: index into skus
    embeds: npt.NDArray[np.float32] | None
    starts: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))


class IdentityScorer:
    """Scores crops against SKUs of a ``ReferenceGallery``; see the module docstring."""

    def __init__(
        self,
        gallery: ReferenceGallery,
        *,
        calibration: Calibration | None = None,
        orb_refs: int = 5,
        shortlist: int = 8,
        calibration_queries: int = 240,
        seed: int = 0,
    ) -> None:
        self.gallery = gallery
        self.orb_refs = orb_refs  # ORB is the expensive part: match at most this many refs
        self.shortlist = shortlist  # rank(): SKUs whose ORB is checked after a colour pass
        self.calibration_queries = calibration_queries
        self.seed = seed
        self._fixed = calibration
        self._calibration: Calibration | None = calibration
        self._index: _Index | None = None
        self._version = -1  # gallery version the calibration was fitted on
        self._version_index = -1  # ... and the reference index built from

    # -- public API --------------------------------------------------------------------

    def score(self, crop: BGRImage, sku: str) -> float | None:
        """0 unlike .. 1 alike; None when the SKU has no references or the crop is unusable."""
        if not self.gallery.references(sku):
            return None
        query = self.gallery.describe(crop)
        if query is None:
            return None
        x = self._raw(query, sku)
        return float(self.calibration.probability(x[None])[0])

    def rank(self, crop: BGRImage, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most alike SKUs, best first; empty for an unusable crop."""
        query = self.gallery.describe(crop)
        index = self._ensure_index()
        if query is None or not index.skus:
            return []
        cal = self.calibration
        colour = self._colour_all(query, index)
        x = np.zeros((len(index.skus), len(cal.weights)))
        x[:, 0] = colour
        if len(cal.weights) > 2 and query.embedding is not None and index.embeds is not None:
            sims = index.embeds @ query.embedding
            x[:, 2] = np.maximum.reduceat(sims, index.starts)
        first = cal.probability(x)
        # Keypoint matching only for the SKUs colour (and embedding) leave in the running.
        for i in np.argsort(-first)[: max(self.shortlist, k)]:
            x[i, 1] = self._orb(query, self.gallery.references(index.skus[i]))
        final = cal.probability(x)
        order = np.argsort(-final)[:k]
        return [(index.skus[i], float(final[i])) for i in order]

    @property
    def calibration(self) -> Calibration:
        """The score map in use. Fitted on first use (seconds on a big gallery, so call
        ``calibrate()`` at start-up, not on the first scanned item) and kept while SKUs are
        added; ``calibrate()`` refits. A gallery too small to fit is retried once it changes."""
        if self._fixed is not None:
            return self._fixed
        if self._calibration is None or (
            self._calibration.pairs == 0 and self._version != self.gallery.version
        ):
            self.calibrate()
        assert self._calibration is not None
        return self._calibration

    def calibrate(self) -> Calibration:
        """Fit the score map on the gallery's own pairs (the default when it has too few)."""
        self._version = self.gallery.version
        x, y = self.calibration_pairs()
        if y.sum() < 8 or (1 - y).sum() < 8:
            logger.info("gallery too small to calibrate identity scores; using the default")
            cal = DEFAULT_CALIBRATION
        else:
            cal = fit_calibration(x, y)
            logger.info("identity calibration: %d pairs, AUC %.3f", cal.pairs, cal.auc or 0.0)
        self._calibration = cal
        return cal

    def calibration_pairs(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """Raw feature rows for same-SKU (y=1) and different-SKU (y=0) pairs in the gallery:
        a reference photo against its SKU's other photos (or its synthetic camera view
        against all of them) and against three random SKUs."""
        rng = np.random.default_rng(self.seed)
        skus = self.gallery.skus()
        rows: list[npt.NDArray[np.float64]] = []
        labels: list[int] = []
        if len(skus) < 2:
            return np.zeros((0, len(self._features()))), np.zeros(0, np.int64)
        per_sku = max(1, self.calibration_queries // len(skus))
        for s in rng.permutation(len(skus))[: self.calibration_queries]:
            sku = skus[s]
            refs = self.gallery.references(sku)
            queries: list[tuple[Appearance, int | None]] = []
            # Another real photo of the SKU is the honest same-SKU example; the synthetic
            # view (easier: the same photo warped) only stands in when there is none.
            for i in rng.permutation(len(refs))[:per_sku] if len(refs) > 1 else ():
                queries.append((refs[i], int(i)))
            probe = self.gallery.probe(sku)
            if not queries and probe is not None:
                queries.append((probe, None))
            for query, leave_out in queries:
                rows.append(self._raw(query, sku, leave_out=leave_out))
                labels.append(1)
                # Random other SKUs, as a switch picks them; the most colour-alike ones
                # would make colour look weaker than it is on the pairs the lane sees.
                others = [int(o) for o in rng.choice(len(skus), 4, replace=len(skus) < 5)]
                others = [o for o in dict.fromkeys(others) if o != s]
                for o in others[:3]:
                    rows.append(self._raw(query, skus[o]))
                    labels.append(0)
        return np.array(rows), np.array(labels, np.int64)

    # -- internals ---------------------------------------------------------------------

    def _features(self) -> tuple[str, ...]:
        return FEATURES if self.gallery.embedder is not None else FEATURES[:2]

    def _ensure_index(self) -> _Index:
        if self._index is None or self._version_index != self.gallery.version:
            skus = self.gallery.skus()
            refs = [(i, a) for i, s in enumerate(skus) for a in self.gallery.references(s)]
            owner = np.array([i for i, _ in refs], np.int64)
            hists = np.stack([a.hist_sqrt for _, a in refs]) if refs else np.zeros((0, 1))
            embeds = None
            if refs and all(a.embedding is not None for _, a in refs):
                embeds = np.stack([a.embedding for _, a in refs])  # type: ignore[misc]
            starts = np.searchsorted(owner, np.arange(len(skus)))
            self._index = _Index(skus, hists.astype(np.float32), owner, embeds, starts)
            self._version_index = self.gallery.version
        return self._index

    def _colour_all(self, query: Appearance, index: _Index) -> npt.NDArray[np.float64]:
        """Per SKU: the mean of its best 3 Bhattacharyya coefficients (best alone is noisier:
        one odd reference photo decides it)."""
        sims = (index.hists @ query.hist_sqrt).astype(np.float64)
        out = np.empty(len(index.skus))
        bounds = [*index.starts.tolist(), len(sims)]
        for i in range(len(index.skus)):
            out[i] = np.sort(sims[bounds[i] : bounds[i + 1]])[-3:].mean()
        return out

    def _orb(self, query: Appearance, refs: Sequence[Appearance]) -> float:
        if len(refs) > self.orb_refs:  # spread over the gallery's photos, not the first few
            refs = [refs[int(i)] for i in np.linspace(0, len(refs) - 1, self.orb_refs)]
        best = 0
        for ref in refs:
            best = max(best, orb_inliers(query, ref))
            if best >= ORB_SURE:  # the artwork is found; more references add nothing
                break
        # Below ORB_CHANCE inliers a homography fits noise (produce skins, shared fonts): no
        # evidence either way. sqrt above it keeps 40 vs 80 inliers apart.
        return float(np.sqrt(max(0, min(best, ORB_SURE) - ORB_CHANCE)))

    def _raw(
        self, query: Appearance, sku: str, *, leave_out: int | None = None
    ) -> npt.NDArray[np.float64]:
        refs = self.gallery.references(sku)
        if leave_out is not None:
            # Photos of one SKU are often taken in a burst: the neighbours of the left-out
            # photo are near-copies of it and would make same-SKU pairs look too easy.
            gap = LEAVE_OUT_NEIGHBOURS if len(refs) > 2 * LEAVE_OUT_NEIGHBOURS + 2 else 0
            refs = refs[: max(0, leave_out - gap)] + refs[leave_out + gap + 1 :]
        sims = np.sort(np.array([float(r.hist_sqrt @ query.hist_sqrt) for r in refs]))
        x = [sims[-3:].mean(), self._orb(query, refs)]
        if "embed" in self._features():
            q = query.embedding
            embeds = [
                float(r.embedding @ q) for r in refs if r.embedding is not None and q is not None
            ]
            x.append(max(embeds, default=0.0))
        return np.array(x)


def roc_auc(pos: npt.NDArray[np.float64], neg: npt.NDArray[np.float64]) -> float:
    """P(a same-SKU pair scores above a different-SKU pair), ties counted half."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    allv = np.concatenate([pos, neg])
    ranks = np.empty(len(allv))
    order = np.argsort(allv, kind="mergesort")
    sorted_v = allv[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_v, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def fit_calibration(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.int64], *, l2: float = 1e-2
) -> Calibration:
    """Balanced, L2-regularised logistic regression by Newton's method (a few features).

    Every feature is a similarity, so none may count against a match: a feature that comes
    out with a negative weight (collinear or noise on this gallery) is dropped and the rest
    refitted."""
    mean = x.mean(0)
    scale = np.where(x.std(0) > 1e-9, x.std(0), 1.0)
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w_class = np.where(y == 1, 0.5 / max(1, y.sum()), 0.5 / max(1, (1 - y).sum()))
    active = np.ones(z.shape[1], bool)
    while True:
        beta = _newton(z[:, active], y, w_class, l2)
        full = np.zeros(z.shape[1])
        full[active] = beta
        negative = np.flatnonzero(full[:-1] < 0)
        if len(negative) == 0:
            break
        active[negative[np.argmin(full[negative])]] = False
    logits = z @ full
    return Calibration(
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        weights=tuple(float(v) for v in full[:-1]),
        bias=float(full[-1]),
        pairs=len(y),
        auc=roc_auc(logits[y == 1], logits[y == 0]),
    )


def _newton(
    z: npt.NDArray[np.float64],
    y: npt.NDArray[np.int64],
    w_class: npt.NDArray[np.float64],
    l2: float,
) -> npt.NDArray[np.float64]:
    beta = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[-1] = 0.0  # the bias is not shrunk
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -30, 30)))
        grad = z.T @ (w_class * (p - y)) + reg * beta
        hess = (z * (w_class * p * (1 - p))[:, None]).T @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta
