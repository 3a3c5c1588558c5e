"""The mismatch rules of one lane, fed by ``Checkout`` and speaking through its events.

Three witnesses are fused here: what was sold (reads and picks), what the bagging scale
settled on, and what the camera tracked. One physical incident is one finding: a weight
jump and an unpaid item arriving in the bagging area at the same moment become a single
non-scan with both pieces of evidence, not two alerts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiosk.core.catalog import Product, SoldBy
from kiosk.core.events import EventType
from kiosk.core.inputs import ItemTrack, Platform, WeightReading, WeightStatus
from kiosk.core.security.bagging import BaggingArea, Judgement, LineStatus
from kiosk.core.security.escalation import Escalator
from kiosk.core.security.findings import WEIGHT_REASONS, Finding, Policy, Reason, Severity
from kiosk.core.security.vision_rules import SCAN_ZONES, TrackState, VisionWatch
from kiosk.core.security.weights import WeightBook
from kiosk.core.settings import CoreSettings

if TYPE_CHECKING:
    from kiosk.core.alerts import Alert
    from kiosk.core.pricing import CartLine
    from kiosk.core.session import Checkout

FUSE_MS = 4_000  # a weight jump and an unpaid arrival this close are one incident
TWIN_MS = 1_000  # two unidentified tracks into the bagging area this close: one item?
PRODUCE_PICK_MS = 15_000  # a typed PLU and the produce on the scale belong together


class SecurityMonitor:
    def __init__(self, settings: CoreSettings) -> None:
        self.settings = settings.security
        self.book = WeightBook(self.settings)
        self._reset()

    def replace_settings(self, settings: CoreSettings) -> None:
        self.settings = settings.security
        self.book.settings = self.settings
        self._reset()

    def _reset(self) -> None:
        self.area = BaggingArea(self.book, self.settings)
        self.vision = VisionWatch(self.settings)
        self.esc = Escalator(self.settings)
        self.weight_finding: Finding | None = None
        self.not_bagged: dict[int, Finding] = {}
        self.attendant_ok: set[int] = set()  # lines whose weight an attendant accepted
        self.last_bag_ms: int | None = None
        self._unlike: dict[int, int] = {}  # line id -> track the camera found unlike it
        self._produce_picks: list[tuple[int, Product, int]] = []  # line, product, when
        self._produce_checked: set[int] = set()

    @property
    def active(self) -> bool:
        return self.settings.enabled

    # --- session ------------------------------------------------------------------------

    def start_session(self, co: Checkout) -> None:
        self._reset()
        bagging = co.weights.get(Platform.BAGGING.value)
        settled = (
            bagging["weight_g"]
            if bagging and bagging["stable"] and bagging["status"] == WeightStatus.OK.value
            else None
        )
        self.area.start(settled)  # None: the first settled weight becomes the anchor

    def end_session(self, co: Checkout, completed: bool) -> None:
        for finding in self.esc.open_findings():
            self.esc.resolve(co, finding, "session_ended")
        if completed:
            self._learn(co)
        self._reset()

    def _learn(self, co: Checkout) -> None:
        challenged = {f.line_id for f in self.esc.open_findings() if f.line_id}
        for line_id in sorted(self.area.lines):
            line = self.area.lines[line_id]
            if line.observed_g is None or line.status is not LineStatus.PLACED:
                continue
            if line_id in challenged or line.doubt is not None:
                continue
            if line.disputed and line_id not in self.attendant_ok:
                continue
            product = co.catalog.by_sku(line.sku)
            if product is None or product.sold_by is SoldBy.WEIGHT:
                continue
            weight = 2.0 if line_id in self.attendant_ok else 1.0
            self.book.learn(line.sku, line.observed_g, product, weight)

    # --- sale facts ---------------------------------------------------------------------

    def on_item_added(
        self, co: Checkout, line: CartLine, product: Product, track_id: int | None
    ) -> None:
        if product.sold_by is SoldBy.WEIGHT and line.weight_g is not None:
            expected = self.book.produce(line.weight_g)
        else:
            expected = self.book.expected(product, product.sku)
        self.area.add_line(line.line_id, product.sku, expected, co.now_ms)
        loose = product.sold_by is SoldBy.WEIGHT
        self.vision.add_sale(line.line_id, co.now_ms, product.sku, track_id, line.code, loose)
        self._sale_fixes_non_scan(co, line.line_id)
        for state in self.vision.tracks.values():
            if state.sku == product.sku and state.identity is not None:
                self._check_identity(co, state)
        if line.entry in ("plu", "lookup") and product.sold_by is SoldBy.WEIGHT:
            self._produce_picks.append((line.line_id, product, co.now_ms))
            self._check_produce_pick(co, line.line_id, product)
        self._rejudge(co)

    def on_camera_read(self, co: Checkout, code: str, track_id: int | None) -> None:
        self.vision.camera_read(code, co.now_ms, track_id)

    def on_void_requested(self, co: Checkout, line_id: int) -> None:
        self.area.may_leave(line_id)

    def on_intervention_over(self, co: Checkout) -> None:
        """The attendant was at the lane (or watched it): what is in the bagging area now is
        what they accepted. Unpaid arrivals seen meanwhile were theirs to see."""
        self.area.accept_current()
        for state in self.vision.tracks.values():
            if state.bag_enter_ms is not None:
                state.judged = True
        if self.weight_finding is not None and not self.weight_finding.escalated:
            self.esc.resolve(co, self.weight_finding, "attendant")
        self.weight_finding = None

    def on_item_voided(self, co: Checkout, line_id: int) -> None:
        self.area.void_line(line_id)
        if finding := self.not_bagged.pop(line_id, None):
            self.esc.resolve(co, finding, "self_corrected")
        self._rejudge(co)

    def own_bag(self, co: Checkout) -> None:
        self.area.bag_window = True
        self._rejudge(co)

    def remove_bags(self, co: Checkout) -> None:
        self.area.start_removal()
        self._rejudge(co)

    def skip_bagging(self, co: Checkout, line_id: int) -> str | None:
        problem = self.area.skip(line_id)
        if problem is None:
            if finding := self.not_bagged.pop(line_id, None):
                self.esc.resolve(co, finding, "self_corrected")
            self._rejudge(co)
        return problem

    def before_payment(self, co: Checkout) -> None:
        # Paying closes every read window: no more scans will come for what is bagged.
        for state in self.vision.due_arrivals(co.now_ms + self.settings.read_after_ms):
            self._judge_arrival(co, state)
        self.after_input(co)
        for line_id in list(self._unlike):
            self._flag_if_unlike(co, line_id)
        self.esc.escalate_waiting(co)

    def on_alert_cleared(self, co: Checkout, alert: Alert, resolution: str) -> None:
        finding = self.esc.by_alert(alert.alert_id)
        if finding is None:
            return
        if finding is self.weight_finding:
            self.weight_finding = None
            lines = [x["line_id"] for x in finding.evidence.get("expected", [])]
            placed = self.area.accept_current(bagged=lines)
            if resolution == "approved" and len(placed) == 1:
                self.attendant_ok.add(placed[0])
        self.esc.resolve(co, finding, "attendant")

    # --- inputs -------------------------------------------------------------------------

    def on_weight(self, co: Checkout, reading: WeightReading) -> None:
        if reading.platform is not Platform.BAGGING:
            return
        if not reading.stable or reading.status is not WeightStatus.OK:
            return  # something is moving: judge when it settles
        self._handle(co, self.area.settle(reading.weight_g))

    def on_track(self, co: Checkout, track: ItemTrack) -> None:
        state = self.vision.on_track(track)
        if state.sku is not None and state.identity is not None and not state.identity_judged:
            self._check_identity(co, state)
        if (
            track.zone == "produce_scale"
            and not track.lost
            and state.candidates
            and not state.suggested
        ):
            self._suggest_produce(co, state)
            # The pick may have come first (PLU typed, then the produce put on the scale).
            for line_id, product, ts_ms in self._produce_picks:
                if co.now_ms - ts_ms <= PRODUCE_PICK_MS:
                    self._check_produce_pick(co, line_id, product)

    def after_input(self, co: Checkout) -> None:
        """Timers: read windows that closed, prompts whose clutter left, nudges that expired."""
        now = co.now_ms
        blocked = self._blocked(co)
        for state in self.vision.due_arrivals(now):
            if blocked:  # the attendant owns the lane until the intervention is over
                self.vision.match_sale(state)
                continue
            self._judge_arrival(co, state)
        if (
            (f := self.weight_finding)
            and f.action == "prompt"
            and not f.escalated
            and not self.vision.clutter_in_bagging(now)
        ):
            self.esc.clutter_gone(co, f)
        # No bagging scale has spoken (a lane without one, or it is offline): no prompts.
        no_scale = self.area.weight_g is None
        for line in [] if no_scale or blocked else self.area.pending():
            if line.line_id in self.not_bagged:
                continue
            if now - line.ts_ms >= self.settings.place_timeout_ms:
                finding = self._finding(co, Reason.ITEM_NOT_BAGGED, Severity.LOW, line.line_id)
                finding.evidence = {"sku": line.sku, "scanned_ms_ago": now - line.ts_ms}
                self.not_bagged[line.line_id] = finding
                self.esc.report(co, finding)
        self._taken_back(co)
        self._offer_auto_id(co)
        self.esc.due(co)

    # --- bagging-scale verdicts ---------------------------------------------------------

    @staticmethod
    def _blocked(co: Checkout) -> bool:
        from kiosk.core.session import State

        return co.state is State.INTERVENTION

    def _rejudge(self, co: Checkout) -> None:
        if self.area.weight_g is not None:
            self._handle(co, self.area.judge())

    def _handle(self, co: Checkout, j: Judgement) -> None:
        if j.bags:
            self.last_bag_ms = co.now_ms
            co.emit(EventType.BAG_ACCEPTED, weight_g=j.delta_g, bags=self.area.bags_placed)
            self._check_bag_is_a_bag(co, j)
        for line_id in j.placed if j.consistent else []:
            self.vision.placed(line_id, co.now_ms)
        for line_id in j.placed:
            if finding := self.not_bagged.pop(line_id, None):
                self.esc.resolve(co, finding, "self_corrected")
        if j.consistent:
            for line_id in j.placed:
                self._flag_if_unlike(co, line_id)
        current = self.weight_finding
        if j.consistent:
            if current is not None and not current.escalated:
                # The extra weight is gone or paid for, the removed item is back.
                self.weight_finding = None
                self.esc.resolve(co, current, "self_corrected")
            return
        if j.reason is None:
            return  # an open debt stands; nothing new happened
        if self._blocked(co) and current is None:
            return  # judged again when the intervention is over
        if current is not None and current.finding_id in self.esc.open:
            # The first reason names the incident; later weights only add evidence.
            current.evidence.update(j.evidence)
            return
        seen = self._vision_finding_near(co.now_ms) if j.delta_g > 0 else None
        if seen is None and j.delta_g > 0:
            seen = self._identity_finding_pending()
        if seen is not None:  # the camera already reported this incident: one finding
            seen.evidence.update(j.evidence)
            seen.severity = Severity.HIGH
            self.weight_finding = seen
            return
        severity = Severity.MEDIUM
        finding = self._finding(co, j.reason, severity, j.placed[0] if j.placed else None)
        finding.evidence = dict(j.evidence)
        if j.reason is Reason.TICKET_SWITCH:  # camera and scale both object: loud
            self._add_identity_evidence(finding, j.placed)
        unpaid = self._unpaid_arrival_near(co.now_ms)
        if unpaid is not None and j.delta_g > 0:
            self._fuse_non_scan(finding, unpaid)
        self.weight_finding = finding
        clutter = self.vision.clutter_in_bagging(co.now_ms)
        if clutter:
            finding.evidence["clutter"] = [
                {"track_id": s.track_id, "label": s.label} for s in clutter
            ]
        self.esc.report(co, finding, prompt=bool(clutter) and finding.reason in WEIGHT_REASONS)

    def _check_bag_is_a_bag(self, co: Checkout, j: Judgement) -> None:
        """A declared bag the camera saw as merchandise (and no bag at all) is an item
        passed off as a bag."""
        since = co.now_ms - FUSE_MS
        items = [
            s
            for s in self.vision.item_arrivals_since(since)
            if s.sale_line is None and not self.vision.has_free_sale(s)
        ]
        bags = [
            s
            for s in self.vision.tracks.values()
            if s.label in ("bag", "purse") and (s.bag_enter_ms or 0) >= since
        ]
        if not items or bags:
            return
        for state in items:
            state.judged = True
        finding = self._finding(co, Reason.BAG_ABUSE, Severity.HIGH, None, items[0].track_id)
        finding.evidence = {
            **_track_evidence(items[0]),
            "bag_weight_g": j.delta_g,
            "unpaid_track": items[0].track_id,
        }
        self.esc.report(co, finding)

    # --- vision verdicts ----------------------------------------------------------------

    def _judge_arrival(self, co: Checkout, state: TrackState) -> None:
        if not self.vision.came_through_scan_zone(state):
            # First seen in the bagging area: a detector glitch, a track that broke, or an
            # item carried round the scanner. It takes no sale from items that came the
            # normal way, and counts only if the scale saw something unexplained too.
            state.judged = True
            if self.vision.has_free_sale(state):
                return
        elif self.vision.match_sale(state) is not None:
            return
        state.sale_line = None
        current = self.weight_finding
        if (
            current is not None
            and current.finding_id in self.esc.open
            and abs(current.ts_ms - (state.bag_enter_ms or 0)) <= FUSE_MS
        ):
            if not current.escalated:
                self._fuse_non_scan(current, state)
            return
        if not self.vision.came_through_scan_zone(state):
            # Appeared straight in the bagging area and the scale saw nothing odd: most
            # likely a detector glitch, not worth stopping anyone for.
            return
        if self._duplicate_of_paid(state):
            return  # two boxes on one item: the scale saw one item's weight
        reason = Reason.NON_SCAN
        if self.last_bag_ms is not None and abs(self.last_bag_ms - co.now_ms) <= FUSE_MS:
            reason = Reason.BAG_ABUSE  # "a bag" was accepted as this item arrived
        finding = self._finding(co, reason, Severity.MEDIUM, None, state.track_id)
        finding.evidence = _track_evidence(state)
        finding.evidence["unpaid_track"] = state.track_id
        self.esc.report(co, finding)

    def _duplicate_of_paid(self, state: TrackState) -> bool:
        """The detector sometimes follows one item as two tracks. An unpaid arrival that
        the camera identified as the SKU another arrival just paid for (or, unidentified,
        that arrived with it), while the scale holds no unexplained weight, is that same
        item. A second item that heavy would have shown on the scale."""
        if self.area.weight_g is None or self.area.debt is not None:
            return False
        # Same SKU: within the fusion window; no identity: only a near-simultaneous twin.
        window = FUSE_MS if state.sku is not None else TWIN_MS
        for sale in self.vision.sales:
            other = self.vision.tracks.get(sale.used_by) if sale.used_by is not None else None
            if (
                (state.sku is None or sale.sku == state.sku)
                and other is not None
                and other.bag_enter_ms is not None
                and abs(other.bag_enter_ms - (state.bag_enter_ms or 0)) <= window
            ):
                return True
        return False

    def _fuse_non_scan(self, finding: Finding, state: TrackState) -> None:
        state.judged = True
        if finding.reason in (Reason.UNEXPECTED_ITEM, Reason.WEIGHT_MISMATCH):
            finding.reason = Reason.NON_SCAN
        finding.severity = Severity.HIGH  # two witnesses agree
        finding.track_id = state.track_id
        finding.evidence.update(_track_evidence(state))
        finding.evidence["unpaid_track"] = state.track_id

    def _vision_finding_near(self, now_ms: int) -> Finding | None:
        """An open, not yet escalated non-scan the camera reported just now."""
        for finding in self.esc.open_findings():
            if (
                "unpaid_track" in finding.evidence
                and not finding.escalated
                and now_ms - finding.ts_ms <= FUSE_MS
            ):
                return finding
        return None

    def _identity_finding_pending(self) -> Finding | None:
        """An open ticket-switch finding about an item not yet bagged: the same incident."""
        pending = {x.line_id for x in self.area.pending()}
        for finding in self.esc.open_findings():
            if (
                finding.reason is Reason.TICKET_SWITCH
                and not finding.escalated
                and finding.line_id in pending
            ):
                return finding
        return None

    def _unpaid_arrival_near(self, now_ms: int) -> TrackState | None:
        """An item that entered the bagging area just now with no sale left to pay for it."""
        for state in self.vision.item_arrivals_since(now_ms - FUSE_MS):
            if not state.judged and not self.vision.has_free_sale(state):
                return state
        return None

    def _sale_fixes_non_scan(self, co: Checkout, line_id: int) -> None:
        """A scan right after a non-scan nudge pays for the item: self-corrected. Not when
        another item is waiting at the scanner: then the sale is for that one."""
        sale = next(s for s in self.vision.sales if s.line_id == line_id)
        for finding in self.esc.open_findings():
            if finding.escalated or "unpaid_track" not in finding.evidence:
                continue
            unpaid = self.vision.tracks.get(finding.evidence["unpaid_track"])
            if unpaid is not None and unpaid.taken_back:
                continue  # it went back to the scanner: it will arrive again, as new
            waiting = self.vision.in_scan_zone_unpaid(except_track=finding.track_id)
            if sale.track_id is not None and sale.track_id != finding.track_id:
                continue  # the camera saw this sale made on another item
            if waiting and sale.track_id != finding.track_id:
                continue
            if finding.reason is Reason.BAG_ABUSE:
                if not self._weighs(co, sale.sku, finding.evidence.get("bag_weight_g")):
                    continue  # not the thing that went down as a "bag"
                self.area.bags_placed -= 1  # it was this item, not a bag
                self.area.lines[line_id].status = LineStatus.PLACED
            elif finding is not self.weight_finding and not self._scale_missed(co, sale.sku):
                continue  # the scale saw nothing arrive: a sale it would have seen is not it
            sale.used_by = finding.evidence.pop("unpaid_track")
            finding.evidence["paid_by_line"] = line_id
            if finding is self.weight_finding:
                return  # resolved when the scale agrees too (re-judged right after)
            self.esc.resolve(co, finding, "self_corrected")
            return

    def _weighs(self, co: Checkout, sku: str, grams: object) -> bool:
        if not isinstance(grams, int):
            return False
        expected = self.book.expected(co.catalog.by_sku(sku), sku)
        if not expected.known:
            return True
        return abs(grams - expected.mean_g) <= self.book.tolerance_g([expected.sigma_g])

    def _scale_missed(self, co: Checkout, sku: str) -> bool:
        """Could the bagging scale have missed this product arriving (it is that light)?"""
        if self.area.weight_g is None:
            return True  # no scale: nothing to go by
        expected = self.book.expected(co.catalog.by_sku(sku), sku)
        return not expected.known or expected.mean_g <= self.book.tolerance_g([])

    def _taken_back(self, co: Checkout) -> None:
        """An unpaid item carried from the bagging area back to the scanner is no loss."""
        for finding in self.esc.open_findings():
            track_id = finding.evidence.get("unpaid_track")
            state = self.vision.tracks.get(track_id) if track_id is not None else None
            if state is None or not state.taken_back or finding.escalated:
                continue
            if finding is self.weight_finding:
                continue  # the scale decides that one
            self.esc.resolve(co, finding, "self_corrected")

    def _check_identity(self, co: Checkout, state: TrackState) -> None:
        sale = self.vision.sale_for_identity(state, co.now_ms)
        if sale is None or state.identity is None:
            return
        state.identity_judged = True
        score = state.identity
        s = self.settings
        line = self.area.lines.get(sale.line_id)
        if score >= s.identity_doubt_below:
            return
        if line is not None:
            line.doubt = round(score, 3)  # a switch if its weight disagrees too
        if score >= s.identity_switch_below:
            return
        self._unlike[sale.line_id] = state.track_id
        scale = self.area.weight_g is not None
        if line is not None and line.status is LineStatus.PENDING and scale:
            line.unlike = True  # the scale decides how loud this gets
            return
        self._flag_if_unlike(co, sale.line_id)

    def _add_identity_evidence(self, finding: Finding, line_ids: list[int]) -> None:
        for line_id in line_ids:
            track_id = self._unlike.pop(line_id, None)
            state = self.vision.tracks.get(track_id) if track_id is not None else None
            if state is not None:
                finding.severity = Severity.HIGH
                finding.line_id, finding.track_id = line_id, state.track_id
                finding.evidence.update(_track_evidence(state))
                return

    def _flag_if_unlike(self, co: Checkout, line_id: int) -> None:
        """The camera alone says "not what was scanned": a silent flag with the snapshot for
        loss prevention. Identity scores are noisy; a stop needs the scale to agree."""
        track_id = self._unlike.pop(line_id, None)
        state = self.vision.tracks.get(track_id) if track_id is not None else None
        if state is None or state.identity is None:
            return
        finding = self._finding(co, Reason.TICKET_SWITCH, Severity.MEDIUM, line_id)
        finding.track_id = state.track_id
        finding.evidence = {**_track_evidence(state), "identity_score": round(state.identity, 3)}
        finding.policy = Policy.FLAG
        self.esc.report(co, finding)

    # --- produce and auto-identification -----------------------------------------------

    def _suggest_produce(self, co: Checkout, state: TrackState) -> None:
        state.suggested = True
        picks = []
        for sku, score in state.candidates[: self.settings.produce_suggestions]:
            product = co.catalog.by_sku(sku) or co.catalog.by_plu(sku)
            if product is None:
                continue
            picks.append(
                {
                    "sku": product.sku,
                    "plu": product.plu,
                    "name_en": product.name_en,
                    "name_zh": product.name_zh,
                    "score": round(score, 3),
                }
            )
        if picks:
            co.emit(
                EventType.PRODUCE_SUGGESTED,
                track_id=state.track_id,
                candidates=picks,
                weight_g=_produce_weight(co),
            )

    def _check_produce_pick(self, co: Checkout, line_id: int, product: Product) -> None:
        if line_id in self._produce_checked:
            return
        on_scale = [
            s
            for s in self.vision.tracks.values()
            if s.zone == "produce_scale" and s.candidates and not s.lost
        ]
        if not on_scale:
            return
        state = max(on_scale, key=lambda s: s.first_ms)
        top_sku, top_score = state.candidates[0]
        seen = co.catalog.by_sku(top_sku) or co.catalog.by_plu(top_sku)
        self._produce_checked.add(line_id)
        if seen is None or seen.sku == product.sku:
            return
        close = {sku for sku, score in state.candidates if score >= 0.5 * top_score}
        if top_score < self.settings.produce_check_min_score or product.sku in close:
            return
        finding = self._finding(co, Reason.PRODUCE_MISMATCH, Severity.MEDIUM, line_id)
        if product.price_minor >= seen.price_minor:
            # The shopper would pay more, not less: ask them to check, nothing more.
            finding.severity = Severity.LOW
            finding.policy = Policy.NUDGE
        finding.track_id = state.track_id
        finding.evidence = {
            **_track_evidence(state),
            "typed_sku": product.sku,
            "seen_sku": seen.sku,
            "seen_score": round(top_score, 3),
            "price_per_kg_typed": product.price_minor,
            "price_per_kg_seen": seen.price_minor,
        }
        self.esc.report(co, finding)

    def _offer_auto_id(self, co: Checkout) -> None:
        s = self.settings
        for state in self.vision.tracks.values():
            if (
                state.suggested
                or state.lost
                or state.zone not in SCAN_ZONES
                or state.sku is None
                or state.identity is None
                or state.identity < s.auto_id_min_score
                or state.scan_enter_ms is None
                or co.now_ms - state.scan_enter_ms < s.auto_id_after_ms
                or any(x.track_id == state.track_id or (x.sku == state.sku and
                       x.ts_ms >= state.scan_enter_ms) for x in self.vision.sales)
            ):  # fmt: skip
                continue
            product = co.catalog.by_sku(state.sku)
            if product is None or product.sold_by is SoldBy.WEIGHT:
                continue
            weight = _produce_weight(co)
            if weight is not None and product.expected_weight_g is not None:
                exp = self.book.expected(product, product.sku)
                if abs(weight - exp.mean_g) > self.book.tolerance_g([exp.sigma_g]):
                    continue  # looks right, weighs wrong: no offer
            state.suggested = True
            co.emit(
                EventType.ITEM_SUGGESTED,
                track_id=state.track_id,
                sku=product.sku,
                name_en=product.name_en,
                name_zh=product.name_zh,
                score=round(state.identity, 3),
                weight_g=weight,
            )

    def suggested_sku(self, sku: str) -> bool:
        return any(s.suggested and s.sku == sku for s in self.vision.tracks.values())

    # --- helpers ------------------------------------------------------------------------

    def _finding(
        self,
        co: Checkout,
        reason: Reason,
        severity: Severity,
        line_id: int | None = None,
        track_id: int | None = None,
    ) -> Finding:
        return Finding(self.esc.new_id(co), reason, severity, co.now_ms, {}, line_id, track_id)

    def snapshot(self) -> dict[str, Any]:
        return self.book.to_dict()

    def restore(self, raw: dict[str, Any]) -> None:
        self.book.load_dict(raw)


def _track_evidence(state: TrackState) -> dict[str, Any]:
    return {
        "track_id": state.track_id,
        "label": state.label,
        "sku": state.sku,
        "identity_score": state.identity,
        "snapshots": list(state.snapshots),
        "scan_zone_ms": state.scan_enter_ms,
        "bagging_ms": state.bag_enter_ms,
    }


def _produce_weight(co: Checkout) -> int | None:
    scan = co.weights.get(Platform.SCAN.value)
    if scan and scan["stable"] and scan["status"] == WeightStatus.OK.value:
        weight: int = scan["weight_g"]
        return weight if weight >= co.settings.min_produce_weight_g else None
    return None
