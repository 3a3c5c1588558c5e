"""The labelled scenario suite: honest baskets and frauds on simulated lanes.

``generate_suite(count, seed)`` is deterministic: the same count and seed give the same
records byte for byte. About half the suite is honest; frauds sit inside otherwise honest
baskets at a random point, so the rules must find them among ordinary noise.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from kiosk.core.catalog import Catalog, Product, SoldBy
from kiosk.core.settings import CoreSettings
from kiosk.scenarios import behaviours as b
from kiosk.scenarios.lane_sim import BASE_T_MS, Lane, draw_profile
from kiosk.scenarios.truth import SCHEMA, Scenario, apply_overrides, save_suite

DEFAULT_SEED = 20261125
DEFAULT_COUNT = 240
MIX: dict[str, float] = {
    "honest": 0.50,
    "non_scan": 0.12,
    "ticket_switch": 0.08,
    "weight_fraud": 0.08,
    "item_removed": 0.06,
    "stacked": 0.06,
    "bag_abuse": 0.05,
    "produce_switch": 0.05,
}
VARIANTS: dict[str, tuple[str, ...]] = {
    "honest": ("basket",),
    "non_scan": ("hidden", "past", "vision_missed", "light"),
    "ticket_switch": ("different_weight", "similar_weight", "identity_missing"),
    "weight_fraud": ("swap", "swap_unseen"),
    "item_removed": ("mid_session", "before_pay"),
    "stacked": ("same", "hidden"),
    "bag_abuse": ("at_start", "mid_session"),
    "produce_switch": ("lookalike", "cheaper"),
}
# A dearer product put in the bagging area is also an unscanned item: a non-scan finding
# catches a weight fraud as well as a weight mismatch does.
EXTRA_REASONS: dict[str, list[str]] = {
    "weight_fraud": [
        "weight_mismatch",
        "unexpected_item",
        "ticket_switch",
        "multiple_items",
        "non_scan",
    ],
}


def allocate(count: int) -> list[str]:
    """Labels for ``count`` scenarios in the MIX proportions (largest remainder)."""
    raw = {k: v * count for k, v in MIX.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - out[k], reverse=True)[: count - sum(out.values())]:
        out[k] += 1
    return [k for k in MIX for _ in range(out[k])]


class _Stock:
    """The catalog seen as a shop floor: what shoppers pick, what fraudsters pair."""

    def __init__(self, catalog: Catalog) -> None:
        products = list(catalog)
        self.each = [p for p in products if p.gtins and p.expected_weight_g]
        self.produce = [p for p in products if p.sold_by is SoldBy.WEIGHT and p.plu]
        self.each_produce = [p for p in products if p.sold_by is SoldBy.EACH and p.plu]
        self.light = [p for p in self.each if (p.expected_weight_g or 0) <= 25]
        self.bag_sized = [p for p in self.each if 20 <= (p.expected_weight_g or 0) <= 240]

    def basket_item(self, rng: random.Random) -> Product:
        return rng.choice(self.each)

    def switch_pair(self, rng: random.Random, similar: bool) -> tuple[Product, Product]:
        """(dear, cheap): the cheap item's code goes on the dear one."""
        pairs = []
        for d in self.each:
            for c in self.each:
                if c.price_minor * 10 > d.price_minor * 6 or c is d:
                    continue
                dw, cw = d.expected_weight_g or 0, c.expected_weight_g or 0
                tol = max(d.weight_tolerance_g or 5, c.weight_tolerance_g or 5)
                if (abs(dw - cw) <= 1.5 * tol) == similar and dw < 2500:
                    pairs.append((d, c))
        return rng.choice(pairs)

    def lookalike_produce(self, rng: random.Random) -> tuple[Product, Product]:
        """(real, typed): a look-alike that is cheaper per kg."""
        by_sku = {p.sku: p for p in self.produce}
        pairs = [
            (by_sku[r], by_sku[t])
            for r, alikes in b.LOOKALIKES.items()
            for t in alikes
            if r in by_sku and t in by_sku and by_sku[t].price_minor < by_sku[r].price_minor
        ]
        return rng.choice(pairs)

    def cheaper_produce(self, rng: random.Random) -> tuple[Product, Product]:
        real = rng.choice([p for p in self.produce if p.price_minor >= 800])
        typed = rng.choice([p for p in self.produce if p.price_minor * 2 <= real.price_minor])
        return real, typed


def basket_size(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.65:
        return rng.randint(1, 8)
    if r < 0.93:
        return rng.randint(9, 18)
    return rng.randint(19, 25)


Step = Callable[[], Any]


def _basket_steps(lane: Lane, stock: _Stock, n: int, with_produce: bool) -> list[Step]:
    rng = lane.rng
    steps: list[Step] = []
    for _ in range(n):
        r = rng.random()
        if with_produce and r < 0.14:
            p, via = rng.choice(stock.produce), rng.choice(("plu", "suggestion"))
            steps.append(partial(b.weigh_produce, lane, p, via=via))
        elif with_produce and r < 0.17 and stock.each_produce:
            p = rng.choice(stock.each_produce)
            steps.append(partial(b.each_produce, lane, p))
        else:
            p = stock.basket_item(rng)
            steps.append(partial(b.scan_item, lane, p))
    return steps


def _incidents(lane: Lane, stock: _Stock, steps: list[Step], n: int, rate: float) -> None:
    """Honest imperfections, inserted between items (``rate`` scales their chances)."""
    rng = lane.rng

    def insert(step: Step, lo: int = 0) -> None:
        steps.insert(rng.randint(min(lo, len(steps)), len(steps)), step)

    for _ in range(2):
        if rng.random() < 0.22 * rate:
            insert(lambda: b.lean(lane))
    if rng.random() < 0.15 * rate:
        insert(lambda: b.purse(lane))
    if n >= 8 and rng.random() < 0.45 * rate:
        insert(lambda: b.move_full_bags(lane), lo=n // 2)
    if rate >= 1.0 and rng.random() < 0.12:
        p = stock.basket_item(rng)
        insert(lambda: b.forgot_to_scan(lane, p))
    if n >= 3 and rng.random() < 0.15 * rate:
        several = [
            rng.choice([p for p in stock.each if (p.expected_weight_g or 0) < 1500])
            for _ in range(rng.choice((2, 2, 3)))
        ]
        insert(lambda: b.scan_several_then_bag(lane, several))
    if rng.random() < 0.07 * rate and n >= 2:
        insert(lambda: b.void_by_attendant(lane), lo=1)
    if rng.random() < 0.15:
        lane.weights.skew(rng.choice(stock.each), rng.uniform(0.8, 1.3))
        lane.tags.add("weight_off")


def _fraud_step(lane: Lane, stock: _Stock, label: str, variant: str) -> Step:
    rng = lane.rng
    if label == "non_scan":
        pool = (
            stock.light
            if variant == "light"
            else [p for p in stock.each if 40 <= (p.expected_weight_g or 0) < 2500]
        )
        p = rng.choice(pool)
        return lambda: b.non_scan(lane, p, variant)
    if label == "ticket_switch":
        dear, cheap = stock.switch_pair(rng, similar=variant == "similar_weight")
        return lambda: b.ticket_switch(lane, dear, cheap, variant)
    if label == "weight_fraud":
        dear, cheap = stock.switch_pair(rng, similar=False)
        return lambda: b.weight_fraud(lane, cheap, dear, variant)
    if label == "item_removed":
        first = rng.choice([p for p in stock.each if 100 <= (p.expected_weight_g or 0) < 2500])
        return lambda: b.item_removed(lane, first)
    if label == "stacked":
        top = rng.choice([p for p in stock.each if 100 <= (p.expected_weight_g or 0) < 1500])
        if variant == "same":
            under = top
        else:  # something smaller hidden under or behind it
            top_g = top.expected_weight_g or 0
            under = rng.choice(
                [
                    p
                    for p in stock.each
                    if p is not top and 40 <= (p.expected_weight_g or 0) <= top_g
                ]
            )
        return lambda: b.stacked(lane, top, under, variant)
    if label == "bag_abuse":
        p = rng.choice(stock.bag_sized)
        return lambda: b.bag_abuse(lane, p)
    real, typed = (stock.lookalike_produce if variant == "lookalike" else stock.cheaper_produce)(
        rng
    )
    return lambda: b.produce_switch(lane, real, typed)


def build_scenario(
    catalog: Catalog, name: str, label: str, variant: str, rng: random.Random
) -> Scenario:
    """One session on a freshly drawn lane; the truth says what really happened."""
    stock = _Stock(catalog)
    profile = draw_profile(rng)
    lane = Lane(catalog, rng, profile, BASE_T_MS + rng.randint(0, 40 * 86_400) * 1000)
    settings: dict[str, Any] = {
        "camera_scans": False,
        "security": {"bagging_division_g": profile.division_g},
    }
    core_settings = apply_overrides(CoreSettings(), settings)
    honest = label == "honest"
    n = basket_size(rng) if honest else rng.randint(1, 12)
    steps = _basket_steps(lane, stock, n, with_produce=rng.random() < 0.4)
    _incidents(lane, stock, steps, n, 1.0 if honest else 0.5)
    what: list[str] = []
    if not honest:
        fraud = _fraud_step(lane, stock, label, variant)
        if label == "item_removed":
            # Something must be in the bagging area first.
            if variant == "before_pay":
                steps.append(fraud)
            else:
                steps.insert(rng.randint(0, len(steps)), fraud)
        elif label == "bag_abuse" and variant == "at_start":
            steps.insert(0, fraud)
        else:
            steps.insert(rng.randint(0, len(steps)), fraud)
        wrapped = fraud
        steps[steps.index(wrapped)] = lambda: what.append(wrapped())
    lane.shopper("start", language=rng.choice(("en", "en", "zh")))
    lane.wait(0.8, 3.0)
    if rng.random() < 0.3 and not (label == "bag_abuse" and variant == "at_start"):
        b.declare_bags(lane, rng.choice((1, 1, 2)))
    for step in steps:
        step()
    b.pay_and_leave(lane, lambda: lane.amount_due(core_settings))
    if profile.slow_scale:
        lane.tags.add("slow_scale")
    tags = sorted(lane.tags | ({variant} if not honest else set()))
    truth = {
        "schema": SCHEMA,
        "name": name,
        "label": label,
        "honest": honest,
        "tags": tags,
        "settings": settings,
        "expect_reasons": EXTRA_REASONS.get(label, []),
        "description": f"{len(lane.lines)} lines; " + ("; ".join(what) or "honest basket"),
    }
    return Scenario(name, lane.records(), truth)


def generate_suite(
    count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED, catalog: Catalog | None = None
) -> list[Scenario]:
    """``count`` labelled scenarios, deterministic per (count, seed)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    if catalog is None:
        from kiosk.replay import DEFAULT_CATALOG, load_catalog_file

        catalog = load_catalog_file(DEFAULT_CATALOG)
    labels = allocate(count)
    random.Random(f"opensco-suite:{seed}").shuffle(labels)
    seen: dict[str, int] = {}
    out: list[Scenario] = []
    for i, label in enumerate(labels):
        k = seen[label] = seen.get(label, -1) + 1
        variant = VARIANTS[label][k % len(VARIANTS[label])]
        rng = random.Random(f"opensco-scenario:{seed}:{i}")
        out.append(build_scenario(catalog, f"{label}-{i:04d}", label, variant, rng))
    return out


def write_suite(
    directory: str | Path,
    count: int = DEFAULT_COUNT,
    seed: int = DEFAULT_SEED,
    catalog: Catalog | None = None,
    scenarios: Sequence[Scenario] | None = None,
) -> int:
    """Generate (or take) a suite and write it as NAME.jsonl + NAME.truth.json files."""
    suite = list(scenarios) if scenarios is not None else generate_suite(count, seed, catalog)
    return save_suite(directory, suite)
