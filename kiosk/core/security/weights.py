"""Expected weights per SKU: catalog figures refined by what the lane actually weighs.

Each SKU keeps weighted running statistics (West's weighted Welford) of the single-item
weights the bagging scale saw in completed, unchallenged sales, plus those an attendant
confirmed (counted double). A sample far outside the current spread is rejected, so one
fraud or one mis-placed item cannot drag the mean. Until a SKU has enough samples, its
catalog weight and tolerance are blended in, so a new lane starts from master data and
an old one trusts its history.

The tolerance of an event grows with the items' and the scale's uncertainty (variances
add, tolerances do not): ``max(floor, k * sqrt(sum(sigma_i^2) + 2 * sigma_scale^2))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kiosk.core.catalog import Product, SoldBy
from kiosk.core.settings import SecuritySettings

BAG_KEY = "__bag__"  # the lane's learned own-bag weight lives in the same table
OUTLIER_SIGMAS = 4.0
MIN_SIGMA_FRACTION = 0.005  # no SKU is trusted to better than 0.5 % of its weight
MAX_WEIGHT_SAMPLES = 200.0  # older history fades: the weight total is capped


@dataclass
class RunningStats:
    """Weighted mean and variance with a capped total weight (slow forgetting)."""

    weight: float = 0.0
    mean: float = 0.0
    m2: float = 0.0
    samples: int = 0
    rejected: int = 0

    @property
    def sigma(self) -> float:
        return math.sqrt(self.m2 / self.weight) if self.weight > 0 else 0.0

    def add(self, x: float, w: float = 1.0) -> None:
        if self.weight >= MAX_WEIGHT_SAMPLES:
            scale = (MAX_WEIGHT_SAMPLES - w) / self.weight
            self.weight *= scale
            self.m2 *= scale
        self.weight += w
        delta = x - self.mean
        self.mean += delta * w / self.weight
        self.m2 += w * delta * (x - self.mean)
        self.samples += 1

    def to_list(self) -> list[float | int]:
        return [self.weight, self.mean, self.m2, self.samples, self.rejected]

    @classmethod
    def from_list(cls, raw: list[Any]) -> RunningStats:
        return cls(float(raw[0]), float(raw[1]), float(raw[2]), int(raw[3]), int(raw[4]))


@dataclass(frozen=True)
class Expected:
    """What one item should weigh: mean and standard deviation in grams."""

    mean_g: float
    sigma_g: float
    known: bool = True  # False: no catalog weight and nothing learned yet

    @staticmethod
    def unknown() -> Expected:
        return Expected(0.0, 0.0, known=False)


class WeightBook:
    """The lane's learned expected weights (lane state: kept across sessions)."""

    def __init__(self, settings: SecuritySettings) -> None:
        self.settings = settings
        self.stats: dict[str, RunningStats] = {}

    # --- expectations -------------------------------------------------------------------

    def scale_sigma(self) -> float:
        return self.settings.bagging_division_g / 2

    def floor_g(self) -> float:
        return float(self.settings.bagging_division_g * self.settings.weight_floor_divisions)

    def expected(self, product: Product | None, sku: str) -> Expected:
        seed = _seed(product, self.settings)
        learned = self.stats.get(sku)
        if learned is None or learned.samples == 0:
            return seed or Expected.unknown()
        need = self.settings.learn_min_samples
        mean, sigma = learned.mean, max(learned.sigma, MIN_SIGMA_FRACTION * learned.mean)
        if seed is not None and learned.samples < need:
            # Blend towards the catalog while history is thin.
            a = learned.samples / need
            mean = a * mean + (1 - a) * seed.mean_g
            sigma = math.sqrt(a * sigma**2 + (1 - a) * seed.sigma_g**2)
        elif seed is None and learned.samples < need:
            sigma = max(sigma, 0.1 * mean)  # a few samples of an unknown item: be generous
        return Expected(mean, max(sigma, 1.0))

    def produce(self, weight_g: int) -> Expected:
        """A weighed line: what the produce scale said, plus a thin produce bag."""
        return Expected(weight_g + 3.0, 3.0 + 0.01 * weight_g)

    def bag(self) -> Expected | None:
        learned = self.stats.get(BAG_KEY)
        if learned is None or learned.samples < self.settings.learn_min_samples:
            return None
        return Expected(learned.mean, max(learned.sigma, 5.0))

    def tolerance_g(self, sigmas: list[float], k: float | None = None) -> float:
        k = self.settings.weight_tolerance_k if k is None else k
        variance = sum(s * s for s in sigmas) + 2 * self.scale_sigma() ** 2
        return max(self.floor_g(), k * math.sqrt(variance))

    # --- learning -----------------------------------------------------------------------

    def learn(self, sku: str, observed_g: float, product: Product | None, w: float = 1.0) -> bool:
        """Add one single-item observation; False when it was rejected as an outlier."""
        stats = self.stats.setdefault(sku, RunningStats())
        current = self.expected(product, sku) if sku != BAG_KEY else self.bag()
        if current is not None and current.known and stats.samples >= 3:
            spread = max(current.sigma_g, self.scale_sigma())
            if abs(observed_g - current.mean_g) > OUTLIER_SIGMAS * spread:
                stats.rejected += 1
                return False
        stats.add(observed_g, w)
        return True

    def suspicious(self, min_samples: int = 5, max_cv: float = 0.1) -> list[str]:
        """SKUs whose learned spread is too wide to be one product (a catalog error?)."""
        return sorted(
            sku
            for sku, s in self.stats.items()
            if s.samples >= min_samples and s.mean > 0 and s.sigma / s.mean > max_cv
        )

    def to_dict(self) -> dict[str, list[float | int]]:
        return {sku: s.to_list() for sku, s in sorted(self.stats.items())}

    def load_dict(self, raw: dict[str, list[Any]]) -> None:
        self.stats = {sku: RunningStats.from_list(v) for sku, v in raw.items()}


def _seed(product: Product | None, settings: SecuritySettings) -> Expected | None:
    if product is None or product.sold_by is SoldBy.WEIGHT or product.expected_weight_g is None:
        return None
    mean = float(product.expected_weight_g)
    # Master data is a generous prior (research/hardware.md §3.3): the catalog tolerance is
    # taken as one standard deviation, never tighter than a few percent, until the lane has
    # weighed the product itself.
    sigma = max(float(product.weight_tolerance_g or 0), settings.seed_sigma_fraction * mean)
    return Expected(mean, max(sigma, 1.0))
