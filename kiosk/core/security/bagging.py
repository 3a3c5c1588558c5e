"""Bagging-area security: does the settled weight fit what was scanned?

The area keeps an *anchor*: the settled weight after the last judged change. Each new
settled weight is judged as a change from the anchor, and the change must be explained by
some of the scanned-but-not-yet-bagged items (any subset: shoppers bag in their own order),
declared bags, or the removal of voided items. Per-event checks against a re-anchored weight
do not accumulate packaging bias the way a running total would.

A change that cannot be explained becomes a *debt*: the grams nobody paid for (or that
went missing), with the spread of the items involved. The anchor moves on, so later items
are judged with their own tight tolerance and cannot dilute the debt; the debt is paid when
a later change cancels it (the extra item taken off, scanned, or the removed item put
back), and only then does the finding self-correct.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kiosk.core.security.findings import Reason
from kiosk.core.security.weights import Expected, WeightBook
from kiosk.core.settings import SecuritySettings

MAX_PENDING_SEARCHED = 6  # newest unbagged items tried in combinations
MAX_COMBINATION = 4
MAX_COPIES = 4  # "several items under one read" means a handful, not a case
UNKNOWN_MAX_G = 1_000_000.0


class LineStatus(StrEnum):
    PENDING = "pending"  # scanned, expected in the bagging area
    PLACED = "placed"
    LIGHT = "light"  # too light to register: may or may not show
    SKIPPED = "skipped"  # stays in the cart (heavy or bulky)
    VOIDED = "voided"  # voided after it was placed: may be taken out
    GONE = "gone"  # voided before bagging, or moved out with the full bags


@dataclass
class BagLine:
    line_id: int
    sku: str
    expected: Expected
    ts_ms: int
    status: LineStatus
    observed_g: float | None = None  # weight of its own bagging event, for learning
    doubt: float | None = None  # identity score when vision doubted the item
    unlike: bool = False  # the camera found it clearly unlike its SKU (a switch, if...)
    disputed: bool = False  # placed as part of a change that did not add up


@dataclass
class Debt:
    grams: float  # unexplained weight: + something extra, - something missing
    sigmas: list[float]  # spread of the items the change was judged against


@dataclass
class Judgement:
    """The verdict on one settled weight: ``consistent`` means no debt is left."""

    consistent: bool
    delta_g: int
    reason: Reason | None = None  # set when this change opened (or added to) a debt
    placed: list[int] = field(default_factory=list)
    bags: int = 0
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Part:
    """One thing that may explain part of a change: an interval plus a Gaussian spread."""

    lo: float
    hi: float
    sigma: float
    line_id: int | None = None  # None: a bag
    sign: int = 1


class BaggingArea:
    def __init__(self, book: WeightBook, settings: SecuritySettings) -> None:
        self.book = book
        self.settings = settings
        self.lines: dict[int, BagLine] = {}
        self.anchor_g: int | None = None
        self.weight_g: int | None = None  # latest settled weight
        self.bags_placed = 0
        self.bag_window = False  # the shopper said "own bag": bags are expected
        self.removing = False  # the shopper said the bags are full and come off
        self.skips = 0
        self.debt: Debt | None = None

    # --- shopper and sale facts ---------------------------------------------------------

    def start(self, settled_g: int | None) -> None:
        # A scale that has not spoken yet (it reports changes only) is taken as empty:
        # an empty bagging area is how every sale begins.
        self.anchor_g = settled_g if settled_g is not None else 0
        self.weight_g = settled_g

    def add_line(self, line_id: int, sku: str, expected: Expected, ts_ms: int) -> BagLine:
        light = expected.known and expected.mean_g < self.settings.light_item_g
        status = LineStatus.LIGHT if light else LineStatus.PENDING
        line = BagLine(line_id, sku, expected, ts_ms, status)
        self.lines[line_id] = line
        self.bag_window = False  # bags come before the first item of a declaration
        self.removing = False
        return line

    def void_line(self, line_id: int) -> None:
        line = self.lines.get(line_id)
        if line is None:
            return
        # Bagged (or allowed out already): it may be taken out now; never bagged: gone.
        placed = line.status in (LineStatus.PLACED, LineStatus.VOIDED)
        line.status = LineStatus.VOIDED if placed else LineStatus.GONE

    def may_leave(self, line_id: int) -> None:
        """The shopper asked to remove this item: taking it out must not alarm."""
        line = self.lines.get(line_id)
        if line is not None and line.status is LineStatus.PLACED:
            line.status = LineStatus.VOIDED
        elif line is not None and line.status is LineStatus.PENDING:
            line.status = LineStatus.SKIPPED  # it may still be put down

    def skip(self, line_id: int) -> str | None:
        """Let an item stay in the cart; returns why not, or None when allowed."""
        line = self.lines.get(line_id)
        if line is None or line.status not in (LineStatus.PENDING, LineStatus.LIGHT):
            return "that item is not waiting to be bagged"
        heavy = line.expected.known and line.expected.mean_g >= self.settings.skip_bagging_min_g
        if not heavy and self.skips >= self.settings.max_skips_per_session:
            return "too many items kept out of the bagging area"
        if not heavy:
            self.skips += 1
        line.status = LineStatus.SKIPPED
        return None

    def pending(self) -> list[BagLine]:
        return [x for x in self.lines.values() if x.status is LineStatus.PENDING]

    # --- judging settled weights --------------------------------------------------------

    def settle(self, weight_g: int) -> Judgement:
        self.weight_g = weight_g
        if self.anchor_g is None:
            self.anchor_g = weight_g
            return Judgement(True, 0)
        return self.judge()

    def judge(self) -> Judgement:
        """Judge the latest settled weight against the anchor (also after a scan or void)."""
        if self.weight_g is None or self.anchor_g is None:
            return Judgement(True, 0)
        delta = self.weight_g - self.anchor_g
        if self.removing and delta < 0:
            self._accept_removal()
            self.debt = None
            return Judgement(True, delta)
        alone = self._explain(delta)
        if alone and self.debt is None:
            return self._accepted(alone, delta)
        if alone:
            # Something arrived that fits by itself: the debt stands. Letting a heavy item's
            # tolerance swallow it would hide a light unscanned item next to it.
            return self._accepted(alone, delta)
        if self.debt is not None:  # does this change (or a scan with no change) pay it?
            paid = self._explain(delta + round(self.debt.grams))
            if paid is not None:
                self.debt = None
                return self._accepted(paid, delta)
        if alone is not None:
            return Judgement(self.debt is None, delta)  # nothing new happened
        return self._unexplained(delta)

    def _accepted(self, best: tuple[_Part, ...], delta: int) -> Judgement:
        placed = [p.line_id for p in best if p.line_id is not None and p.sign > 0]
        bags = sum(1 for p in best if p.line_id is None and p.sign > 0)
        self._accept(best, delta)
        return Judgement(self.debt is None, delta, placed=placed, bags=bags)

    def accept_current(self, bagged: list[int] | None = None) -> list[int]:
        """An attendant accepted the area as it is: re-anchor and forget the debt. ``bagged``
        names the unbagged lines the attendant saw in the area (those a weight alert was
        about); other scanned items may still be on their way (on the produce scale)."""
        placed = []
        for line in self.pending():
            if bagged is not None and line.line_id in bagged:
                line.status = LineStatus.PLACED
                placed.append(line.line_id)
        if len(placed) == 1 and self.debt is not None:
            self.lines[placed[0]].observed_g = self.debt.grams
        self.anchor_g = self.weight_g
        self.debt = None
        return placed

    def start_removal(self) -> None:
        self.removing = True

    def _accept_removal(self) -> None:
        for line in self.lines.values():
            if line.status in (LineStatus.PLACED, LineStatus.VOIDED, LineStatus.LIGHT):
                line.status = LineStatus.GONE
        self.bags_placed = 0
        self.anchor_g = self.weight_g

    def _accept(self, parts: tuple[_Part, ...], delta: int) -> None:
        singles = [p for p in parts if p.sign > 0]
        for p in parts:
            if p.line_id is None:
                self.bags_placed += p.sign
                continue
            line = self.lines[p.line_id]
            if p.sign < 0:
                line.status = LineStatus.GONE
            else:
                line.status = LineStatus.PLACED
                if len(singles) == 1 and len(parts) == 1:
                    line.observed_g = float(delta)
        bags = [p for p in parts if p.line_id is None and p.sign > 0]
        if len(bags) == 1 and len(parts) == 1:
            self.book.learn("__bag__", float(delta), None)
        self.anchor_g = self.weight_g

    # --- the search -------------------------------------------------------------------

    def _parts(self) -> tuple[list[_Part], list[_Part], list[_Part]]:
        """Candidates: items that may arrive, bags that may arrive, items that may leave."""
        arriving: list[_Part] = []
        recent = sorted(
            (x for x in self.lines.values() if x.status is LineStatus.PENDING),
            key=lambda x: x.ts_ms,
        )[-MAX_PENDING_SEARCHED:]
        optional = [
            x for x in self.lines.values() if x.status in (LineStatus.LIGHT, LineStatus.SKIPPED)
        ][-2:]
        for line in recent + optional:
            arriving.append(_item_part(line))
        bags: list[_Part] = []
        if self.bag_window and self.bags_placed < self.settings.max_bags:
            learned = self.book.bag()
            s = self.settings
            lo, hi = float(s.bag_min_g), float(s.bag_max_g)
            if learned is not None:  # a lane that knows its shoppers' bags is stricter
                k = s.weight_tolerance_k
                lo = max(lo, learned.mean_g - k * learned.sigma_g)
                hi = min(hi, learned.mean_g + k * learned.sigma_g)
            bags = [_Part(lo, hi, 0.0)] * min(2, s.max_bags - self.bags_placed)
        # Before the first scan after "own bag" the bags are empty: taking one back off
        # (rearranging, or a purse picked up again) is no loss.
        if self.bag_window and self.bags_placed:
            s = self.settings
            bags += [_Part(-float(s.bag_max_g), -float(s.bag_min_g), 0.0, None, -1)] * min(
                2, self.bags_placed
            )
        leaving = [
            _Part(-_item_part(x).hi, -_item_part(x).lo, x.expected.sigma_g, x.line_id, -1)
            for x in self.lines.values()
            if x.status is LineStatus.VOIDED or (x.status is LineStatus.LIGHT and x.observed_g)
        ][-3:]
        return arriving, bags, leaving

    def _explain(
        self, delta: int, extra_sigmas: list[float] | None = None
    ) -> tuple[_Part, ...] | None:
        arriving, bags, leaving = self._parts()
        extra = [_Part(0.0, 0.0, s) for s in extra_sigmas or []]
        best: tuple[float, tuple[_Part, ...]] | None = None
        for n_arr in range(0, min(MAX_COMBINATION, len(arriving)) + 1):
            for arr in itertools.combinations(arriving, n_arr):
                for n_bag in range(0, len(bags) + 1):
                    for n_out in range(0, min(2, len(leaving)) + 1):
                        for out in itertools.combinations(leaving, n_out):
                            parts = (*arr, *bags[:n_bag], *out)
                            score = self._fit((*parts, *extra), delta)
                            if score is None:
                                continue
                            # The closest fit, with a small price per part so that a
                            # simpler story wins a near tie (batch bagging needs 3+).
                            rank = score + 0.1 * len(parts)
                            if best is None or rank < best[0]:
                                best = (rank, parts)
        return best[1] if best else None

    def _fit(self, parts: tuple[_Part, ...], delta: int) -> float | None:
        """None when ``parts`` cannot explain ``delta``; else a closeness in [0, 1)."""
        lo = sum(p.lo for p in parts)
        hi = sum(p.hi for p in parts)
        tol = self.book.tolerance_g([p.sigma for p in parts if p.sigma > 0])
        if lo - tol <= delta <= hi + tol:
            mid = (lo + hi) / 2 if hi - lo < UNKNOWN_MAX_G / 2 else lo
            return min(abs(delta - mid) / (tol + (hi - lo) / 2 + 1), 0.999)
        return None

    def _unexplained(self, delta: int) -> Judgement:
        judgement = self._classify(delta)
        # The whole change is the debt; the scanned items stay unbagged. Whatever the
        # shopper does next (take it off, scan it, bag the right item) is judged against
        # both, and nothing is assumed about which item went where.
        if self.debt is None:
            self.debt = Debt(float(delta), [])
        else:
            self.debt.grams += delta
        for line in self.pending():
            line.disputed = True
        judgement.evidence["unexplained_g"] = round(self.debt.grams)
        judgement.placed = [x.line_id for x in self.pending()]
        self.anchor_g = self.weight_g
        return judgement

    def _classify(self, delta: int) -> Judgement:
        pending = self.pending()
        expected = [
            {"line_id": x.line_id, "sku": x.sku, "mean_g": round(x.expected.mean_g),
             "sigma_g": round(x.expected.sigma_g, 1)}
            for x in pending
        ]  # fmt: skip
        evidence: dict[str, Any] = {
            "anchor_g": self.anchor_g,
            "settled_g": self.weight_g,
            "delta_g": delta,
            "expected": expected,
            "tolerance_g": round(self.book.tolerance_g([x.expected.sigma_g for x in pending])),
        }
        if delta < 0:
            gone = [
                x.line_id
                for x in self.lines.values()
                if x.status is LineStatus.PLACED
                and x.expected.known
                and abs(-delta - x.expected.mean_g) <= self.book.tolerance_g([x.expected.sigma_g])
            ]
            evidence["likely_lines"] = gone
            return Judgement(False, delta, Reason.ITEM_REMOVED, evidence=evidence)
        if not pending:
            evidence["bag_declared"] = self.bag_window
            return Judgement(False, delta, Reason.UNEXPECTED_ITEM, evidence=evidence)
        if any(x.unlike for x in pending):
            evidence["identity_scores"] = {x.line_id: x.doubt for x in pending if x.unlike}
            return Judgement(False, delta, Reason.TICKET_SWITCH, evidence=evidence)
        newest = max(pending, key=lambda x: x.ts_ms)
        mean, sigma = newest.expected.mean_g, newest.expected.sigma_g
        if newest.expected.known and mean >= self.settings.light_item_g:
            copies = round(delta / mean)
            if 2 <= copies <= MAX_COPIES and abs(delta - copies * mean) <= self.book.tolerance_g(
                [sigma] * copies
            ):
                evidence["copies"] = copies
                return Judgement(
                    False, delta, Reason.MULTIPLE_ITEMS, placed=[newest.line_id], evidence=evidence
                )
        if any(x.doubt is not None for x in pending):
            evidence["identity_scores"] = {x.line_id: x.doubt for x in pending if x.doubt}
            return Judgement(False, delta, Reason.TICKET_SWITCH, evidence=evidence)
        return Judgement(False, delta, Reason.WEIGHT_MISMATCH, evidence=evidence)


def _item_part(line: BagLine) -> _Part:
    e = line.expected
    if not e.known:
        return _Part(1.0, UNKNOWN_MAX_G, 0.0, line.line_id)
    return _Part(e.mean_g, e.mean_g, e.sigma_g, line.line_id)
