"""The checkout state machine: one lane, one session at a time.

``Checkout.apply(input)`` is the only way state changes. It never raises on bad input:
a malformed code, an unknown item or a command that makes no sense now becomes an
``input_rejected`` event (plus a shopper nudge where one helps) and the session goes on.

States: idle → shopping ⇄ intervention → payment → completed, with cancelled and
suspended as the other ends. An age check is not a state: the shopper may keep
scanning while it is pending, but may not pay.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from kiosk.core import commands
from kiosk.core.alerts import Alert, AlertBook, AlertKind
from kiosk.core.barcodes import CodeKind, parse_code, parse_embedded_rules
from kiosk.core.catalog import Catalog, Product, SoldBy
from kiosk.core.events import Event, EventType, make_event_id
from kiosk.core.inputs import (
    AttendantCommand,
    BarcodeRead,
    Input,
    ItemTrack,
    PaymentResult,
    Platform,
    ShopperAction,
    Tick,
    WeightReading,
    WeightStatus,
)
from kiosk.core.pricing import CartLine, Totals, compute_totals, line_for_product, void_line
from kiosk.core.security import SecurityMonitor
from kiosk.core.settings import CoreSettings
from kiosk.errors import BarcodeError


class State(StrEnum):
    IDLE = "idle"
    SHOPPING = "shopping"
    INTERVENTION = "intervention"
    PAYMENT = "payment"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    SUSPENDED = "suspended"


# States in which no session is open: the next scan or touch starts one.
ENDED_STATES: frozenset[State] = frozenset(
    {State.IDLE, State.COMPLETED, State.CANCELLED, State.SUSPENDED}
)


class Checkout:
    """The pure core of one lane. Feed it inputs in time order; it returns events."""

    def __init__(
        self,
        catalog: Catalog,
        settings: CoreSettings | None = None,
        snapshot: dict[str, Any] | None = None,
    ) -> None:
        self.catalog = catalog
        self.settings = settings or CoreSettings()
        self._rules = parse_embedded_rules(
            self.settings.embedded_rules, verifier=self.settings.embedded_price_verifier
        )
        self._promotions = {p.sku: p.promotion for p in catalog.products if p.promotion}
        self.state = State.IDLE
        self.seq = 0
        self.txn_no = 0
        self.now_ms = 0
        # Lane-level facts that outlive a session (they are in the snapshot).
        self.weights: dict[str, dict[str, Any]] = {}
        self.tracks: dict[int, ItemTrack] = {}
        self._last_code: tuple[str, int] | None = None
        self.locked = False  # closed by an attendant: the open sale may finish, no new ones
        # Mismatch rules; their learned expected weights are lane state (in the snapshot).
        self.security = SecurityMonitor(self.settings)
        self._reset_session()
        if snapshot:
            self._restore(snapshot)
        self._out: list[Event] = []

    def replace_catalog(self, catalog: Catalog) -> None:
        """Switch price lists between sales only: a sale is never re-priced halfway."""
        if self.session_open:
            raise RuntimeError("replace_catalog() needs a closed session")
        self.catalog = catalog
        self._promotions = {p.sku: p.promotion for p in catalog.products if p.promotion}

    def replace_settings(self, settings: CoreSettings) -> None:
        """Change the lane's rules between sales only (remote config change)."""
        if self.session_open:
            raise RuntimeError("replace_settings() needs a closed session")
        self.settings = settings
        self._rules = parse_embedded_rules(
            settings.embedded_rules, verifier=settings.embedded_price_verifier
        )
        self.security.replace_settings(settings)

    # --- session-scoped state ---------------------------------------------------------

    def _reset_session(self) -> None:
        self.session_id: str | None = None
        self.language = "en"
        self.lines: list[CartLine] = []
        self.alerts = AlertBook()
        self.age_pending: set[int] = set()
        self.age_approved = False
        self.pending_weigh: tuple[Product, str, str] | None = None  # product, code, entry
        self.payments: list[dict[str, Any]] = []
        self.declines = 0
        self.awaiting_payment = False  # a request is with the terminal, no answer yet
        self.unknown_in_row = 0
        self.started_ms = 0
        self.last_activity_ms = 0
        self.abandon_alerted = False
        self.security_fault = False

    @property
    def session_open(self) -> bool:
        return self.state not in ENDED_STATES

    def totals(self) -> Totals:
        return compute_totals(
            self.lines,
            self._promotions,
            prices_include_tax=self.settings.prices_include_tax,
            currency_exponent=self.settings.currency_exponent,
        )

    def amount_due(self) -> int:
        paid: int = sum(p["amount_minor"] for p in self.payments)
        return self.totals().total_minor - paid

    # --- the one entry point ----------------------------------------------------------

    def apply(self, item: Input) -> list[Event]:
        # A clock stepped backwards (NTP) must not reorder timeouts.
        self.now_ms = max(self.now_ms, item.ts_ms)
        self._out = []
        handlers: dict[type, Callable[[Any], None]] = {
            BarcodeRead: self._on_barcode,
            WeightReading: self._on_weight,
            ItemTrack: self._on_track,
            ShopperAction: lambda a: commands.on_shopper_action(self, a),
            AttendantCommand: lambda c: commands.on_attendant_command(self, c),
            PaymentResult: self._on_payment,
            Tick: self._on_tick,
        }
        handlers[type(item)](item)
        if self.watching:
            self.guarded(self.security.after_input, self)  # read windows, nudge deadlines
        out, self._out = self._out, []
        return out

    # --- helpers used by the handlers and by kiosk.core.commands ------------------------

    def emit(self, kind: EventType, /, **data: Any) -> None:
        self.seq += 1
        if self.settings.training:  # every event of a training lane says so
            data["training"] = True
        self._out.append(
            Event(
                type=kind,
                ts_ms=self.now_ms,
                seq=self.seq,
                event_id=make_event_id(self.settings.kiosk_id, self.settings.journal_id, self.seq),
                session_id=self.session_id,
                data=data,
            )
        )

    def reject(self, reason: str, nudge: str | None = None, /, **detail: Any) -> None:
        self.emit(EventType.INPUT_REJECTED, reason=reason, **detail)
        if nudge:
            self.emit(EventType.NUDGE_SHOWN, nudge=nudge)

    def set_state(self, new: State) -> None:
        if new is not self.state:
            old, self.state = self.state, new
            self.emit(EventType.STATE_CHANGED, from_state=old.value, to_state=new.value)

    @property
    def watching(self) -> bool:
        """The mismatch rules run: a session is open and security is switched on."""
        return self.session_open and self.settings.security.enabled and not self.security_fault

    def guarded(self, rule: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a mismatch rule; a bug in one must never stop a sale. The lane says so once
        and sells on without the rules until the session ends."""
        try:
            return rule(*args, **kwargs)
        except Exception as err:  # deterministic, so replays agree
            self.security_fault = True
            self.emit(
                EventType.DEVICE_STATUS,
                device="security",
                status="fault",
                detail=f"{type(err).__name__}: {err}"[:200],
            )
            return None

    def raise_alert(
        self, kind: AlertKind, line_id: int | None = None, detail: str = "", **extra: Any
    ) -> Alert:
        alert = self.alerts.raise_alert(self.txn_no, kind, self.now_ms, line_id, detail, **extra)
        self.emit(EventType.ALERT_RAISED, **alert.to_dict())
        if alert.blocking and self.state in (State.SHOPPING, State.PAYMENT):
            self.set_state(State.INTERVENTION)
        return alert

    def clear_alert(self, alert: Alert, resolution: str, attendant_id: str = "") -> None:
        self.alerts.pop(alert.alert_id)
        self.emit(
            EventType.ALERT_CLEARED,
            alert_id=alert.alert_id,
            kind=alert.kind.value,
            resolution=resolution,
            attendant_id=attendant_id,
        )
        if self.watching:
            self.guarded(self.security.on_alert_cleared, self, alert, resolution)
        if self.state is State.INTERVENTION and not self.alerts.blocking:
            self.set_state(State.PAYMENT if self.payments else State.SHOPPING)
            if self.watching:
                self.guarded(self.security.on_intervention_over, self)

    def start_session(self, language: str | None = None) -> None:
        # A language picked on the welcome screen (before any session) carries over.
        language = language or self.language
        self._reset_session()
        self.txn_no += 1
        self.session_id = make_event_id(
            self.settings.kiosk_id, self.settings.journal_id, -self.txn_no
        )
        self.language = language or "en"
        self.started_ms = self.last_activity_ms = self.now_ms
        self.emit(EventType.SESSION_STARTED, txn_no=self.txn_no, language=self.language)
        self.set_state(State.SHOPPING)
        if self.watching:
            self.guarded(self.security.start_session, self)

    def end_session(self, final: State, event: EventType, /, **data: Any) -> None:
        if self.watching:
            self.guarded(self.security.end_session, self, completed=final is State.COMPLETED)
        # The attendant's tablet must not keep showing alerts of a session that is over.
        for alert in self.alerts.open_alerts():
            self.alerts.pop(alert.alert_id)
            self.emit(
                EventType.ALERT_CLEARED,
                alert_id=alert.alert_id,
                kind=alert.kind.value,
                resolution="session ended",
                attendant_id="",
            )
        self.emit(event, txn_no=self.txn_no, **data)
        self.set_state(final)
        self._reset_session()

    def add_line(
        self,
        product: Product,
        code: str,
        entry: str,
        weight_g: int | None = None,
        price_minor: int | None = None,
        track_id: int | None = None,
        source: str = "",
    ) -> CartLine:
        line_id = len(self.lines) + 1
        line = line_for_product(
            line_id, product, code=code, entry=entry, weight_g=weight_g, price_minor=price_minor
        )
        self.lines.append(line)
        self.unknown_in_row = 0
        extra = {"source": source} if source else {}  # which reader sold it: scanner, camera
        self.emit(
            EventType.ITEM_ADDED, line=line.to_dict(), totals=self.totals().summary(), **extra
        )
        if product.min_age and not self.age_approved:
            self.age_pending.add(line_id)
            if self.alerts.find(AlertKind.AGE_CHECK) is None:
                self.emit(
                    EventType.AGE_APPROVAL_REQUESTED, line_id=line_id, min_age=product.min_age
                )
                self.raise_alert(AlertKind.AGE_CHECK, line_id, f"min_age={product.min_age}")
        if self.watching:
            self.guarded(self.security.on_item_added, self, line, product, track_id)
        return line

    def void(self, line_id: int, reason: str, attendant_id: str = "") -> bool:
        line = next((x for x in self.lines if x.line_id == line_id and not x.voided), None)
        if line is None:
            return False
        self.lines = void_line(self.lines, line_id)
        self.age_pending.discard(line_id)
        self.emit(
            EventType.ITEM_VOIDED,
            line_id=line_id,
            sku=line.sku,
            amount_minor=line.amount_minor,
            reason=reason,
            attendant_id=attendant_id,
            totals=self.totals().summary(),
        )
        if not self.age_pending and (age := self.alerts.find(AlertKind.AGE_CHECK)):
            self.clear_alert(age, "restricted items removed", attendant_id)
        if self.watching:
            self.guarded(self.security.on_item_voided, self, line_id)
        return True

    def request_weight(self, product: Product, code: str, entry: str) -> None:
        """Add a by-weight item now if the produce scale holds a good stable weight."""
        scan = self.weights.get(Platform.SCAN.value)
        if scan and scan["status"] == WeightStatus.OFFLINE.value:
            self.reject("produce scale offline", "scale_unavailable", sku=product.sku)
            self.raise_alert(AlertKind.WEIGH_PROBLEM, detail="produce scale offline")
            return
        if scan and self._sellable_weight(scan):
            self._sell_weighed(product, code, entry, scan)
            return
        self.pending_weigh = (product, code, entry)
        self.emit(EventType.WEIGHT_REQUESTED, sku=product.sku, name_en=product.name_en)
        if scan and scan.get("sold"):
            # The last weighed item is still on the pan: it must not be sold twice.
            self.emit(EventType.NUDGE_SHOWN, nudge="clear_scale")

    def _sellable_weight(self, scan: dict[str, Any]) -> bool:
        return bool(
            scan["stable"]
            and scan["status"] == WeightStatus.OK.value
            and not scan.get("sold")
            and self._weight_in_range(scan["weight_g"])
        )

    def _sell_weighed(self, product: Product, code: str, entry: str, scan: dict[str, Any]) -> None:
        scan["sold"] = True  # until the pan is emptied (UPOS "same weight" rule)
        self.add_line(product, code, entry, weight_g=scan["weight_g"])

    def _weight_in_range(self, weight_g: int) -> bool:
        s = self.settings
        return s.min_produce_weight_g <= weight_g <= s.max_produce_weight_g

    def touch(self) -> None:
        self.last_activity_ms = self.now_ms
        self.abandon_alerted = False

    # --- input handlers ---------------------------------------------------------------

    def _on_barcode(self, read: BarcodeRead) -> None:
        if read.source == "camera" and not self.settings.camera_scans:
            # Evidence for the mismatch rules, kept in the journal, not an item.
            if self.watching:
                self.guarded(self.security.on_camera_read, self, read.data, read.track_id)
            return
        data = read.data.strip()
        last = self._last_code
        self._last_code = (data, self.now_ms)
        # Scanner and camera both see one physical scan; a re-read is not a second item.
        if last and last[0] == data and self.now_ms - last[1] < self.settings.same_code_timeout_ms:
            return
        if self.locked and not self.session_open:
            self.reject("lane closed", "lane_closed", code=data)
            return
        if self.state is State.INTERVENTION:
            self.reject("lane waiting for attendant", "wait_for_attendant", code=data)
            return
        if self.state is State.PAYMENT:
            if self.payments:
                self.reject("payment in progress", "finish_payment", code=data)
                return
            self.emit(EventType.PAYMENT_CANCELLED, reason="item scanned during payment")
            self.set_state(State.SHOPPING)
        if not self.session_open:
            self.start_session()
        self.touch()
        try:
            parsed = parse_code(
                data,
                symbology=read.symbology,
                rules=self._rules,
                currency_exponent=self.settings.currency_exponent,
            )
        except BarcodeError as err:
            self._unknown(data, f"unreadable barcode: {err}", "rescan_item")
            return
        product = self.catalog.lookup(parsed)
        if product is None:
            self._unknown(data, "item not in catalog", "item_not_found")
            return
        if parsed.expiry and parsed.expiry < commands.iso_date(self.now_ms):
            self.raise_alert(
                AlertKind.EXPIRED_ITEM, detail=f"{product.sku} expired {parsed.expiry}"
            )
        if (parsed.weight_g is not None and parsed.weight_g <= 0) or (
            parsed.price_minor is not None and parsed.price_minor <= 0
        ):
            self.reject("label carries a zero weight or price", "call_attendant", code=data)
            return
        entry = "embedded" if parsed.kind is CodeKind.EMBEDDED else "scan"
        track_id = read.track_id if read.source == "camera" else None
        if product.sold_by is SoldBy.WEIGHT and parsed.price_minor is None:
            if parsed.weight_g is None:
                self.request_weight(product, data, entry)
                return
            self.add_line(
                product, data, entry, weight_g=parsed.weight_g, track_id=track_id,
                source=read.source,
            )  # fmt: skip
            return
        self.add_line(
            product,
            data,
            entry,
            weight_g=parsed.weight_g,
            price_minor=parsed.price_minor,
            track_id=track_id,
            source=read.source,
        )

    def _unknown(self, code: str, reason: str, nudge: str) -> None:
        self.reject(reason, nudge, code=code)
        self.unknown_in_row += 1
        if self.unknown_in_row == self.settings.unknown_scans_before_help:
            self.raise_alert(AlertKind.UNKNOWN_ITEMS, detail=f"{self.unknown_in_row} in a row")

    def _on_weight(self, reading: WeightReading) -> None:
        if reading.weight_g < 0 and reading.status is WeightStatus.OK:
            self.reject(
                f"negative weight {reading.weight_g} g with status ok on the "
                f"{reading.platform.value} scale (a scale below zero reports under_zero)",
                platform=reading.platform.value,
            )
            return
        key = reading.platform.value
        previous = self.weights.get(key)
        current: dict[str, Any] = {
            "weight_g": reading.weight_g,
            "stable": reading.stable,
            "status": reading.status.value,
        }
        # A sold weight stays sold until the pan is (nearly) empty, whatever else is added.
        if (
            previous
            and previous.get("sold")
            and reading.weight_g >= self.settings.min_produce_weight_g
        ):
            current["sold"] = True
        self.weights[key] = current
        if previous is None or previous["status"] != reading.status.value:
            self.emit(EventType.DEVICE_STATUS, device=f"scale.{key}", status=reading.status.value)
        if (
            self.pending_weigh
            and reading.platform is Platform.SCAN
            and self.state is State.SHOPPING
            and self._sellable_weight(current)
        ):
            product, code, entry = self.pending_weigh
            self.pending_weigh = None
            self.touch()
            self._sell_weighed(product, code, entry, current)
        if self.watching:
            self.guarded(self.security.on_weight, self, reading)

    def _on_track(self, track: ItemTrack) -> None:
        # Vision tracks are kept for the mismatch rules; they are evidence, not sales.
        if track.lost:
            self.tracks.pop(track.track_id, None)
        else:
            self.tracks[track.track_id] = track
        if self.watching:
            self.guarded(self.security.on_track, self, track)

    def _on_payment(self, result: PaymentResult) -> None:
        commands.on_payment_result(self, result)

    def _on_tick(self, tick: Tick) -> None:
        if self.state not in (State.SHOPPING, State.INTERVENTION, State.PAYMENT):
            return
        idle_ms = self.now_ms - self.last_activity_ms
        if not self.lines and not self.payments and self.state is State.SHOPPING:
            if idle_ms >= self.settings.reset_empty_after_ms:
                self.end_session(State.IDLE, EventType.SESSION_RESET, reason="no activity")
            return
        if idle_ms >= self.settings.abandon_after_ms and not self.abandon_alerted:
            self.abandon_alerted = True
            self.raise_alert(AlertKind.ABANDONED, detail=f"idle {idle_ms // 1000} s")

    # --- crash recovery between sessions ----------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Lane state that outlives a session. Only valid while no session is open."""
        if self.session_open:
            raise RuntimeError("snapshot() needs a closed session")
        return {
            "state": self.state.value,
            "seq": self.seq,
            "txn_no": self.txn_no,
            "now_ms": self.now_ms,
            "weights": {k: dict(v) for k, v in self.weights.items()},
            "language": self.language,
            "tracks": [commands.track_to_dict(t) for t in self.tracks.values()],
            "last_code": list(self._last_code) if self._last_code else None,
            "locked": self.locked,
            "learned_weights": self.security.snapshot(),
        }

    def _restore(self, snap: dict[str, Any]) -> None:
        self.state = State(snap["state"])
        self.seq = snap["seq"]
        self.txn_no = snap["txn_no"]
        self.now_ms = snap["now_ms"]
        self.weights = {k: dict(v) for k, v in snap["weights"].items()}
        self.tracks = {t["track_id"]: commands.track_from_dict(t) for t in snap["tracks"]}
        self.language = snap.get("language", self.language)
        last = snap.get("last_code")
        self._last_code = (last[0], last[1]) if last else None
        self.locked = bool(snap.get("locked", False))
        self.security.restore(snap.get("learned_weights", {}))
