"""A simulated scanner lane: writes the input records a real lane's adapters would.

The simulator knows the physical truth (what is really on each scale, which item is really
in the shopper's hand) and writes only what the devices would report: scanner reads,
settling bagging/produce scale readings rounded to the scale division with noise, vision
track updates with misses, broken tracks, spurious tracks and noisy identity scores, and a
tick every 500 ms. It never looks at what the checkout core would conclude.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kiosk.core.catalog import Catalog, Product, SoldBy
from kiosk.core.inputs import input_from_dict
from kiosk.core.session import Checkout
from kiosk.core.settings import CoreSettings, SecuritySettings
from kiosk.errors import KioskError

TICK_MS = 500
BASE_T_MS = 1_764_061_200_000  # 2025-11-25 09:00 UTC; each scenario adds its own offset


class SimulationError(KioskError):
    """The simulated session went somewhere the script did not plan (a generator bug)."""


@dataclass(frozen=True)
class LaneProfile:
    """The hardware and habits of one lane/session: drawn per scenario."""

    division_g: int  # bagging scale division e
    produce_division_g: int
    noise_div: float  # sigma of a settled reading, in divisions
    settle_s: tuple[float, float]  # time from touch-down to a stable reading
    unstable_readings: tuple[int, int]
    vision_miss: float  # an item is never tracked
    track_break: float  # a track's id changes half-way
    spurious: float  # a short false track per item handled
    camera_reads: float  # the camera also decodes the barcode
    identity_absent: float  # no identity score could be computed
    identity_quality: float  # > 1 sharper identity scores on this lane
    hand_on_place: float  # a hand is seen in the bagging area while putting an item down
    scan_fail: float  # the first pass over the scanner does not read
    pace: float  # > 1: a slower shopper

    @property
    def slow_scale(self) -> bool:
        return self.settle_s[1] > 2.0


def draw_profile(rng: random.Random) -> LaneProfile:
    slow = rng.random() < 0.2
    settle = (
        (rng.uniform(1.0, 1.6), rng.uniform(2.2, 3.6)) if slow else (0.35, rng.uniform(0.8, 1.5))
    )
    return LaneProfile(
        division_g=rng.choice((2, 5, 5)),
        produce_division_g=rng.choice((2, 5)),
        noise_div=rng.uniform(0.25, 0.6),
        settle_s=settle,
        unstable_readings=(3, 7) if slow else (1, 4),
        vision_miss=rng.uniform(0.01, 0.08),
        track_break=rng.uniform(0.02, 0.10),
        spurious=rng.uniform(0.0, 0.06),
        camera_reads=rng.uniform(0.2, 0.7),
        identity_absent=rng.uniform(0.03, 0.15),
        identity_quality=rng.uniform(0.7, 1.3),
        hand_on_place=rng.uniform(0.3, 0.8),
        scan_fail=rng.uniform(0.03, 0.15),
        pace=rng.uniform(0.7, 1.5),
    )


# Identity-score distributions (Beta a, b): how much the item looks like the claimed SKU.
IDENTITY = {
    "honest": (8.0, 2.0),  # mostly 0.7-0.95
    "poor_view": (2.5, 2.5),  # honest item seen badly (glare, hand over it)
    "switch": (1.6, 5.5),  # a different product: mostly 0.1-0.4
    "similar_switch": (3.0, 3.5),  # a different product that looks alike (cans, cartons)
}


def display_code(product: Product) -> tuple[str, str]:
    """The code printed on the pack and its symbology, from the catalog's GTIN-14."""
    if not product.gtins:
        raise SimulationError(f"{product.sku} has no barcode")
    g = product.gtins[0]
    if g.startswith("000000"):
        return g[6:], "EAN8"
    if g.startswith("00"):
        return g[2:], "UPCA"
    if g.startswith("0"):
        return g[1:], "EAN13"
    return g, "ITF14"


@dataclass
class WeightModel:
    """True weights of real packs: a per-SKU bias of this store's stock and a unit spread."""

    rng: random.Random
    bias_g: dict[str, float] = field(default_factory=dict)

    def tolerance(self, product: Product) -> float:
        w = product.expected_weight_g or 0
        return float(product.weight_tolerance_g or max(2.0, 0.03 * w))

    def skew(self, product: Product, extra_tolerances: float) -> None:
        """This SKU's stock differs from the catalog a little more than usual."""
        sign = self.rng.choice((-1.0, 1.0))
        self.bias_g[product.sku] = sign * extra_tolerances * self.tolerance(product)

    def unit(self, product: Product) -> float:
        if product.expected_weight_g is None:
            return max(60.0, self.rng.gauss(210.0, 35.0))  # each-priced produce (avocado)
        tol = self.tolerance(product)
        if product.sku not in self.bias_g:
            self.bias_g[product.sku] = max(-tol, min(tol, self.rng.gauss(0.0, 0.4 * tol)))
        spread = 0.3 * tol
        if self.rng.random() < 0.02:  # damaged or wet pack, filled at the edge of spec
            spread = 0.8 * tol
        return max(
            1.0, product.expected_weight_g + self.bias_g[product.sku] + self.rng.gauss(0, spread)
        )


class Lane:
    """Writes records at a cursor time (ms). Devices may keep reporting after the cursor."""

    def __init__(
        self,
        catalog: Catalog,
        rng: random.Random,
        profile: LaneProfile,
        start_ms: int = BASE_T_MS,
    ) -> None:
        self.catalog = catalog
        self.rng = rng
        self.profile = profile
        self.weights = WeightModel(rng)
        self.now = start_ms
        self.start_ms = start_ms
        self._records: list[tuple[int, int, dict[str, Any]]] = []
        self._order = 0
        self.next_track = rng.randint(1, 400)
        self.lines: list[Product] = []  # what the core should have sold, in line order
        self.bagging = Scale(self, "bagging", profile.division_g)
        self.produce = Scale(self, "scan", profile.produce_division_g)
        self.on_bagging: list[tuple[str, float]] = []  # (what, grams) physically there
        self.tags: set[str] = set()
        self.end_ms: int | None = None

    # --- time -----------------------------------------------------------------------

    def ms(self, lo_s: float, hi_s: float, paced: bool = True) -> int:
        scale = self.profile.pace if paced else 1.0
        return round(self.rng.uniform(lo_s, hi_s) * scale * 1000)

    def wait(self, lo_s: float, hi_s: float, paced: bool = True) -> int:
        self.now += self.ms(lo_s, hi_s, paced)
        return self.now

    def at_least(self, t_ms: int) -> None:
        self.now = max(self.now, t_ms)

    # --- raw records ----------------------------------------------------------------

    def emit(self, t_ms: int, record: dict[str, Any]) -> None:
        self._order += 1
        self._records.append((t_ms, self._order, record))

    def shopper(self, action: str, t_ms: int | None = None, **args: Any) -> None:
        self.emit(
            self.now if t_ms is None else t_ms, {"type": "shopper", "action": action, "args": args}
        )

    def attendant(self, command: str, **args: Any) -> None:
        rec = {"type": "attendant", "command": command, "attendant_id": "att-7", "args": args}
        self.emit(self.now, rec)

    def scanner_read(
        self, product: Product, t_ms: int, source: str = "scanner", track: int | None = None
    ) -> None:
        data, sym = display_code(product)
        rec: dict[str, Any] = {"type": "barcode", "data": data, "symbology": sym, "source": source}
        if track is not None:
            rec["track_id"] = track
        self.emit(t_ms, rec)

    def new_track_id(self) -> int:
        self.next_track += self.rng.choice((1, 1, 1, 2, 3))  # ids skip: filtered candidates
        return self.next_track

    def track(
        self,
        t_ms: int,
        track_id: int,
        zone: str,
        *,
        label: str = "item",
        confidence: float | None = None,
        sku: str | None = None,
        identity: float | None = None,
        lost: bool = False,
        candidates: Sequence[tuple[str, float]] = (),
    ) -> None:
        conf = confidence if confidence is not None else self.rng.uniform(0.55, 0.95)
        rec: dict[str, Any] = {
            "type": "track",
            "track_id": track_id,
            "label": label,
            "zone": "outside" if lost else zone,
            "confidence": round(conf, 3),
            "sku": sku,
            "lost": lost,
        }
        if identity is not None:
            rec["identity_score"] = round(min(1.0, max(0.0, identity)), 3)
        if candidates:
            rec["candidates"] = [{"sku": s, "score": round(v, 3)} for s, v in candidates]
        if not lost and zone in ("bagging", "produce_scale") and self.rng.random() < 0.5:
            rec["snapshot_id"] = f"snap-{t_ms % 10_000_000}-{track_id}"
        self.emit(t_ms, rec)

    def identity(self, kind: str, may_fail: bool = True) -> float | None:
        if kind == "none" or (may_fail and self.rng.random() < self.profile.identity_absent):
            return None
        if kind == "honest" and self.rng.random() < 0.06:
            kind = "poor_view"
        a, b = IDENTITY[kind]
        # A lane's camera, light and reference images make all its scores a bit better
        # or worse: honest scores higher, switched ones lower when the quality is good.
        q = self.profile.identity_quality
        return (
            self.rng.betavariate(a * q, b) if kind == "honest" else self.rng.betavariate(a, b * q)
        )

    def hand_in_bagging(self, t_ms: int, dwell_s: tuple[float, float] = (0.5, 1.5)) -> int:
        """A hand seen over the bagging area; returns when it leaves."""
        tid = self.new_track_id()
        self.track(t_ms, tid, "bagging", label="hand", confidence=self.rng.uniform(0.45, 0.9))
        end = t_ms + self.ms(*dwell_s)
        self.track(end, tid, "outside", label="hand", lost=True)
        return end

    def spurious_track(self, t_ms: int) -> None:
        tid = self.new_track_id()
        zone = self.rng.choice(("scan", "scan", "bagging", "produce_scale"))
        self.track(t_ms, tid, zone, confidence=self.rng.uniform(0.3, 0.5))
        self.track(t_ms + self.ms(0.1, 0.6, paced=False), tid, zone, lost=True)

    # --- the session's bookkeeping ---------------------------------------------------

    def put_on_bagging(
        self, what: str, grams: float, t_ms: int, settle: float | None = None
    ) -> int:
        self.on_bagging.append((what, grams))
        return self.bagging.change(t_ms, grams, settle)

    def take_from_bagging(self, index: int, t_ms: int) -> tuple[str, float, int]:
        what, grams = self.on_bagging.pop(index)
        return what, grams, self.bagging.change(t_ms, -grams)

    def records(self, tail_s: float = 2.0) -> list[dict[str, Any]]:
        """All records in time order with a tick every 500 ms from the first record."""
        if not self._records:
            return []
        items = sorted(self._records)
        first, last = items[0][0], items[-1][0]
        end = (self.end_ms or last) + round(tail_s * 1000)
        ticks = [
            (t, -1, {"type": "tick"}) for t in range(first + TICK_MS, max(end, last) + 1, TICK_MS)
        ]
        out: list[dict[str, Any]] = []
        for t_ms, _, rec in sorted(items + ticks, key=lambda x: (x[0], x[1])):
            out.append({"t": t_ms / 1000, **rec})
        return out

    def amount_due(self, settings: CoreSettings) -> int:
        """What the terminal is asked for: the pure core's own figure for the records so
        far (rules off, so a fraud that the rules stop still gets a realistic amount)."""
        plain = CoreSettings(
            camera_scans=settings.camera_scans, security=SecuritySettings(enabled=False)
        )
        core = Checkout(self.catalog, plain)
        amount: int | None = None
        for rec in self.records(tail_s=0):
            for ev in core.apply(input_from_dict(rec)):
                if ev.type.value == "payment_requested":
                    amount = int(ev.data["amount_minor"])
        if amount is None:
            raise SimulationError("the simulated session never reached payment")
        return amount


class Scale:
    """A scale behind an adapter that reports only changes: unstable readings while
    something moves, then one stable reading of the settled total."""

    def __init__(self, lane: Lane, platform: str, division_g: int) -> None:
        self.lane = lane
        self.platform = platform
        self.division = division_g
        self.true_g = 0.0
        self.shown: int | None = None
        self.shown_stable = True
        self.free_at = 0

    def _round(self, grams: float) -> int:
        if grams < self.division / 2:
            return 0  # auto-zero tracking keeps an empty platform at 0
        return round(grams / self.division) * self.division

    def _emit(self, t_ms: int, grams: int, stable: bool) -> None:
        if grams == self.shown and stable == self.shown_stable:
            return
        self.shown, self.shown_stable = grams, stable
        rec = {
            "type": "weight",
            "platform": self.platform,
            "weight_g": grams,
            "stable": stable,
            "status": "ok",
        }
        self.lane.emit(t_ms, rec)

    def change(self, t_ms: int, delta_g: float, settle_s: float | None = None) -> int:
        """Something put down (delta > 0) or lifted; returns when the stable reading comes."""
        rng, prof = self.lane.rng, self.lane.profile
        start = max(t_ms, self.free_at)
        before = self.true_g
        self.true_g = max(0.0, before + delta_g)
        settle = settle_s if settle_s is not None else rng.uniform(*prof.settle_s)
        t = start
        if abs(delta_g) >= 2 * self.division:
            n = rng.randint(*prof.unstable_readings)
            t = start
            for i in range(n):
                t += rng.randint(100, 300)  # the adapter's motion readings
                # Overshoot then ring down: the load cell as an item lands.
                frac = 1.0 - (1.0 - (i + 1) / (n + 1)) * rng.uniform(-0.5, 0.9)
                self._emit(
                    t, self._round(max(0.0, before + delta_g * frac + rng.gauss(0, 4))), False
                )
        stable_at = max(start + round(settle * 1000), t + 100)
        if self.true_g < 1.0:  # emptied: auto-zero holds an empty platform at exactly 0
            self.true_g = 0.0
        noise = rng.gauss(0.0, prof.noise_div * self.division) if self.true_g else 0.0
        self._emit(stable_at, self._round(self.true_g + noise), True)
        self.free_at = stable_at + 20
        return stable_at

    def wobble(self, t_ms: int, peak_g: float, hold_s: float, settle_at_peak: bool) -> int:
        """A lean or a brush: the reading moves and comes back to the same load."""
        rng = self.lane.rng
        start = max(t_ms, self.free_at)
        t = start
        for frac in (0.4, 1.0, 0.85, 1.1):
            t += rng.randint(90, 250)
            self._emit(t, self._round(self.true_g + peak_g * frac), False)
        if settle_at_peak:
            t += round(hold_s * 1000)
            self._emit(t, self._round(self.true_g + peak_g + rng.gauss(0, self.division)), True)
        t += rng.randint(400, 1500)
        self._emit(t, self._round(self.true_g + peak_g * 0.3), False)
        t += rng.randint(150, 400)
        noise = rng.gauss(0.0, self.lane.profile.noise_div * self.division) if self.true_g else 0.0
        self._emit(t, self._round(self.true_g + noise), True)
        self.free_at = t + 20
        return t


def by_weight(product: Product) -> bool:
    return product.sold_by is SoldBy.WEIGHT
