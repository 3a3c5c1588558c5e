"""The shopper screens as plain Python: core events in, one immutable ``ShopperState`` out.

The engine thread calls ``on_events``; the Kivy thread reads ``snapshot()`` (or is told by
a listener, which it wraps in ``Clock.schedule_once``) and calls the action methods, which
only ``put`` inputs on the engine's queue. Nothing here touches Kivy, so tests drive a
whole purchase without a window, and the UI thread never waits on I/O.

Screens that the core does not know about (attract, welcome, the own-bag question,
produce lookup, help, rating, thank-you) are this model's own state; everything about the
sale comes from events, so what the shopper sees is what the journal says.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from kiosk.core.catalog import Catalog, Product, SoldBy
from kiosk.core.events import Event, EventType
from kiosk.core.inputs import Input, ShopperAction
from kiosk.core.survey import clean_comment
from kiosk.ui.search import ProductSearch

NUDGE_SHOW_MS = 6_000  # a nudge with no finding behind it fades after this
MESSAGE_SHOW_MS = 8_000  # an attendant's message to the shopper fades after this
RESET_AFTER_MS = {"welcome": 60_000, "bags": 60_000, "help": 120_000, "receipt": 20_000,
                  "rating": 15_000, "thank_you": 6_000, "produce": 120_000}  # fmt: skip
HELP_PAGES = ("scan", "produce", "bags", "pay")  # the shopper guide's pages, in tab order
# The guide opens on the page that fits where the shopper is.
HELP_PAGE_FOR_SCREEN = {"produce": "produce", "bags": "bags", "payment": "pay"}
SECURITY_NUDGE_PREFIXES = ("scan_", "unexpected_", "check_", "put_", "only_", "place_", "keep_")


@dataclass(frozen=True)
class LineView:
    line_id: int
    sku: str
    name_en: str
    name_zh: str
    quantity: int
    weight_g: int | None
    amount_minor: int
    unit_price_minor: int
    sold_by: str
    voided: bool = False

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" and self.name_zh else self.name_en


@dataclass(frozen=True)
class NudgeView:
    key: str  # a kiosk.ui.strings key
    since_ms: int
    finding_id: str | None = None
    security: bool = False


@dataclass(frozen=True)
class InterventionView:
    alert_id: str
    reason: str
    severity: str


@dataclass(frozen=True)
class ProduceChoice:
    sku: str
    plu: str | None
    name_en: str
    name_zh: str
    price_minor: int
    score: float | None = None
    image: str | None = None

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" and self.name_zh else self.name_en


@dataclass(frozen=True)
class SuggestionView:
    sku: str
    name_en: str
    name_zh: str
    track_id: int
    score: float


@dataclass(frozen=True)
class PaymentView:
    status: str  # idle | waiting | declined | approved
    amount_minor: int = 0
    method: str = "card"
    reason: str = ""


@dataclass(frozen=True)
class ShopperMessage:
    """A line of text the attendant sent from the tablet (message_shopper)."""

    text: str
    attendant_id: str
    since_ms: int  # on the view-model's clock


@dataclass(frozen=True)
class ShopperState:
    screen: str = "attract"
    language: str = "en"
    lane_state: str = "idle"
    lines: tuple[LineView, ...] = ()
    last_item: LineView | None = None
    total_minor: int = 0
    savings_minor: int = 0
    item_count: int = 0
    nudge: NudgeView | None = None
    intervention: InterventionView | None = None
    age_pending: bool = False
    weighing_sku: str | None = None  # a by-weight item waits for the scale
    produce_suggestions: tuple[ProduceChoice, ...] = ()
    produce_weight_g: int | None = None
    suggestion: SuggestionView | None = None
    payment: PaymentView = field(default_factory=lambda: PaymentView("idle"))
    receipt: dict[str, Any] | None = None
    receipt_qr: str | None = None
    out_of_service: str | None = None  # the reason, shown to staff in small print
    locked: bool = False
    rating: int | None = None
    message: ShopperMessage | None = None  # from the attendant, shown for MESSAGE_SHOW_MS
    large_text: bool = False
    high_contrast: bool = False
    help_page: str = "scan"  # the guide page the help screen shows (HELP_PAGES)
    help_called: bool = False  # a help alert is open: "help is on the way"
    training: bool = False  # the lane is in training mode: every screen says so
    version: int = 0  # bumps on every change: a cheap "anything new?" for the UI


Listener = Callable[[ShopperState], None]


class ShopperViewModel:
    def __init__(
        self,
        catalog: Catalog,
        put: Callable[[Input], None],
        clock: Callable[[], int],
        *,
        currency_exponent: int = 2,
        receipt_url: str = "https://receipts.example.com/r/{store_id}/{kiosk_id}/{txn_no}",
        language: str = "en",
        training: bool = False,
    ) -> None:
        self.catalog = catalog
        self.put = put
        self.clock = clock
        self.currency_exponent = currency_exponent
        self.receipt_url = receipt_url
        self.search = ProductSearch(catalog)
        self._lock = threading.Lock()
        self._state = ShopperState(language=language, training=training)
        self._default_language = language
        self._screen_since = clock()
        self._listeners: list[Listener] = []
        self._started_by_touch = False
        self._help_return = "attract"  # where Back on the help screen goes

    # --- state plumbing -----------------------------------------------------------------

    def snapshot(self) -> ShopperState:
        with self._lock:
            return self._state

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def scale_weight(self, weight_g: int | None) -> None:
        """The produce scale's live weight, for display only (any thread): prices come from
        the core's stable readings, never from this."""
        if weight_g != self.snapshot().produce_weight_g:
            self._update(produce_weight_g=weight_g)

    def _update(self, **changes: Any) -> ShopperState:
        with self._lock:
            if "screen" in changes and changes["screen"] != self._state.screen:
                self._screen_since = self.clock()
            self._state = replace(self._state, version=self._state.version + 1, **changes)
            state = self._state
        for listener in self._listeners:
            listener(state)
        return state

    # --- events from the engine thread ------------------------------------------------

    def on_events(self, events: Iterable[Event]) -> None:
        for event in events:
            if event.data.get("training") is True and not self.snapshot().training:
                self._update(training=True)  # a training lane's events say so (docs/training.md)
            handler = _HANDLERS.get(event.type)
            if handler is not None:
                handler(self, event)

    def _on_session_started(self, e: Event) -> None:
        screen = "bags" if self._started_by_touch else "scanning"
        if self.snapshot().screen == "help":  # a call for help opened the session: stay
            screen = "help"
        self._started_by_touch = False
        self._update(
            screen=screen, help_called=False, language=str(e.data.get("language", "en")), lines=(),
            last_item=None, total_minor=0, savings_minor=0, item_count=0, nudge=None,
            intervention=None, age_pending=False, weighing_sku=None, produce_suggestions=(),
            suggestion=None, payment=PaymentView("idle"), receipt=None, receipt_qr=None,
            rating=None,
        )  # fmt: skip

    def _on_state(self, e: Event) -> None:
        self._update(lane_state=str(e.data["to_state"]))

    def _on_language(self, e: Event) -> None:
        self._update(language=str(e.data["language"]))

    def _on_item_added(self, e: Event) -> None:
        line = _line_view(e.data["line"])
        lines = (*self.snapshot().lines, line)
        screen = self.snapshot().screen
        self._update(
            lines=lines, last_item=line, weighing_sku=None, suggestion=None,
            screen="scanning" if screen in ("produce", "bags", "welcome", "attract") else screen,
            **_totals(e.data.get("totals", {})),
        )  # fmt: skip

    def _on_item_voided(self, e: Event) -> None:
        line_id = e.data["line_id"]
        lines = tuple(replace(x, voided=True) if x.line_id == line_id else x
                      for x in self.snapshot().lines)  # fmt: skip
        self._update(lines=lines, **_totals(e.data.get("totals", {})))

    def _on_weight_requested(self, e: Event) -> None:
        self._update(weighing_sku=str(e.data["sku"]), screen="produce")

    def _on_nudge(self, e: Event) -> None:
        key = str(e.data["nudge"])
        finding = e.data.get("finding_id")
        self._update(nudge=NudgeView(key, e.ts_ms, finding, finding is not None))

    def _on_resolved(self, e: Event) -> None:
        nudge = self.snapshot().nudge
        if nudge is not None and nudge.finding_id == e.data.get("finding_id"):
            self._update(nudge=None)

    def _on_alert(self, e: Event) -> None:
        kind = str(e.data["kind"])
        if kind == "help":
            self._update(help_called=True)
            return
        if kind == "age_check":
            self._update(age_pending=True)
            return
        if e.data.get("blocking"):
            view = InterventionView(str(e.data["alert_id"]), kind, str(e.data.get("severity")))
            self._update(intervention=view, nudge=None)

    def _on_alert_cleared(self, e: Event) -> None:
        current = self.snapshot().intervention
        if e.data.get("kind") == "age_check":
            self._update(age_pending=False)
        if e.data.get("kind") == "help":
            self._update(help_called=False)
        if current is not None and current.alert_id == e.data["alert_id"]:
            self._update(intervention=None)

    def _on_age_decided(self, e: Event) -> None:
        self._update(age_pending=False)

    def _on_item_suggested(self, e: Event) -> None:
        d = e.data
        self._update(suggestion=SuggestionView(str(d["sku"]), str(d.get("name_en", "")),
                                               str(d.get("name_zh", "")), int(d["track_id"]),
                                               float(d["score"])))  # fmt: skip

    def _on_produce_suggested(self, e: Event) -> None:
        choices = []
        for c in e.data.get("candidates", []):
            product = self.catalog.by_sku(str(c["sku"]))
            if product is not None:
                choices.append(_choice(product, float(c["score"])))
        self._update(produce_suggestions=tuple(choices), produce_weight_g=e.data.get("weight_g"))

    def _on_payment_requested(self, e: Event) -> None:
        self._update(
            screen="payment",
            payment=PaymentView("waiting", int(e.data["amount_minor"]), str(e.data["method"])),
        )

    def _on_payment_declined(self, e: Event) -> None:
        p = self.snapshot().payment
        self._update(payment=replace(p, status="declined", reason=str(e.data.get("reason", ""))))

    def _on_payment_cancelled(self, e: Event) -> None:
        self._update(screen="scanning", payment=PaymentView("idle"))

    def _on_payment_approved(self, e: Event) -> None:
        p = self.snapshot().payment
        self._update(payment=replace(p, status="approved"))

    def _on_completed(self, e: Event) -> None:
        receipt = dict(e.data["receipt"])
        url = self.receipt_url.format(
            store_id=receipt.get("store_id", ""), kiosk_id=receipt.get("kiosk_id", ""),
            txn_no=receipt.get("txn_no", ""),
        )  # fmt: skip
        self._update(screen="receipt", receipt=receipt, receipt_qr=url, nudge=None,
                     intervention=None, age_pending=False)  # fmt: skip

    def _on_session_over(self, e: Event) -> None:
        self._update(screen="attract", nudge=None, intervention=None, lines=(), last_item=None,
                     total_minor=0, item_count=0, savings_minor=0, age_pending=False,
                     help_called=False, language=self._default_language)  # fmt: skip

    def _on_lock(self, e: Event) -> None:
        self._update(locked=e.type is EventType.LANE_LOCKED)

    def _on_attendant_message(self, e: Event) -> None:
        text = str(e.data.get("text") or "")
        if text:
            who = str(e.data.get("attendant_id") or "")
            self._update(message=ShopperMessage(text, who, self.clock()))

    # --- shopper actions (UI thread) ----------------------------------------------------

    def _act(self, action: str, **args: Any) -> None:
        self.put(ShopperAction(self.clock(), action, args))

    def touch_start(self) -> None:
        """Attract → welcome (nothing sent: a session starts on Start or the first scan)."""
        if self.snapshot().screen == "attract":
            self._update(screen="welcome")

    def start(self, language: str | None = None) -> None:
        self._started_by_touch = True
        self._act("start", language=language or self.snapshot().language)

    def set_language(self, language: str) -> None:
        if self.snapshot().lane_state in ("idle", "completed", "cancelled", "suspended"):
            self._update(language=language)  # before a session: just the screen
            return
        self._act("set_language", language=language)

    def own_bag(self) -> None:
        self._act("own_bag")
        self._update(screen="scanning")

    def no_bags(self) -> None:
        self._update(screen="scanning")

    def open_produce(self) -> None:
        self._update(screen="produce")

    def close_produce(self) -> None:
        if self.snapshot().weighing_sku:
            self._act("cancel_weigh")
        self._update(screen="scanning", weighing_sku=None)

    def pick_produce(self, sku: str) -> None:
        self._act("add_item", sku=sku)

    def type_plu(self, plu: str) -> None:
        self._act("add_item", plu=plu.strip())

    def produce_choices(self, query: str = "", limit: int = 12) -> list[ProduceChoice]:
        """Suggestions first, then the search (name, PLU or pinyin initials)."""
        state = self.snapshot()
        found = [_choice(p) for p in self.search.find(query, by_weight_first=True, limit=limit)]
        seen = {c.sku for c in state.produce_suggestions}
        return [*state.produce_suggestions, *(c for c in found if c.sku not in seen)][:limit]

    def confirm_suggestion(self) -> None:
        s = self.snapshot().suggestion
        if s is not None:
            self._act("confirm_item", sku=s.sku, track_id=s.track_id)

    def dismiss_suggestion(self) -> None:
        self._update(suggestion=None)

    def remove_item(self, line_id: int) -> None:
        self._act("remove_item", line_id=line_id)

    def skip_bagging(self) -> None:
        self._act("skip_bagging")

    def bags_full(self) -> None:
        self._act("remove_bags")

    def help(self) -> None:
        """Call the attendant (the core raises a help alert) and show the guide meanwhile."""
        self._act("request_help", reason="shopper", language=self.snapshot().language)
        self._open_help(None, called=True)

    def open_help(self, page: str | None = None) -> None:
        """The shopper guide, without calling anyone."""
        self._open_help(page, called=False)

    def _open_help(self, page: str | None, *, called: bool) -> None:
        state = self.snapshot()
        if state.screen != "help":
            self._help_return = state.screen
        if page not in HELP_PAGES:
            page = state.help_page if state.screen == "help" else None
        page = page or HELP_PAGE_FOR_SCREEN.get(state.screen, "scan")
        self._update(screen="help", help_page=page, help_called=state.help_called or called)

    def show_help_page(self, page: str) -> None:
        if page in HELP_PAGES:
            self._update(help_page=page)

    def close_help(self) -> None:
        """Back to where the guide was opened from, if that still fits the sale."""
        state = self.snapshot()
        back = self._help_return
        in_sale = state.lane_state not in ("idle", "completed", "cancelled", "suspended")
        if back in ("receipt", "rating", "thank_you") and (in_sale or state.receipt is None):
            back = ""  # a help call after the sale opened a new session
        if back in ("attract", "welcome") and in_sale:
            back = ""
        if back not in ("attract", "welcome", "bags", "scanning", "produce", "payment",
                        "receipt", "rating", "thank_you"):  # fmt: skip
            back = "scanning" if state.lines or in_sale else "welcome"
        self._update(screen=back)

    def pay(self, method: str = "card") -> None:
        self._act("pay", method=method)

    def back(self) -> None:
        self._act("back")

    def cancel(self) -> None:
        self._act("cancel")

    def receipt_done(self) -> None:
        self._update(screen="rating")

    def rate(self, score: int, comment: str = "") -> None:
        """The exit survey: a score, and the shopper's optional words. They are cleaned
        here (card-like numbers out, length bounded) because inputs are journaled as put."""
        args: dict[str, Any] = {
            "score": score,
            "txn_no": (self.snapshot().receipt or {}).get("txn_no"),
        }
        text, _ = clean_comment(comment)
        if text:
            args["comment"] = text
        self._act("rate", **args)
        self._update(rating=score, screen="thank_you")

    def toggle_large_text(self) -> None:
        self._update(large_text=not self.snapshot().large_text)

    def toggle_high_contrast(self) -> None:
        self._update(high_contrast=not self.snapshot().high_contrast)

    def set_out_of_service(self, reason: str | None) -> None:
        self._update(out_of_service=reason)

    # --- time (UI thread, from a Clock interval) ----------------------------------------

    def tick(self) -> None:
        """Fade plain nudges; leave idle screens. A cart with items is never dropped here:
        an abandoned basket is the core's to report (it calls the attendant)."""
        state, now = self.snapshot(), self.clock()
        nudge = state.nudge
        if nudge is not None and not nudge.security and now - nudge.since_ms >= NUDGE_SHOW_MS:
            self._update(nudge=None)
        message = state.message
        if message is not None and now - message.since_ms >= MESSAGE_SHOW_MS:
            self._update(message=None)
        limit = RESET_AFTER_MS.get(state.screen)
        if limit is None or now - self._screen_since < limit:
            return
        if state.screen in ("receipt", "rating", "thank_you"):
            self._update(screen="attract", receipt=None, receipt_qr=None,
                         language=self._default_language)  # fmt: skip
        elif state.screen in ("welcome", "bags") and not state.lines:
            self._update(screen="attract", language=self._default_language)
        elif state.screen == "produce":
            self._update(screen="scanning" if state.lines else "welcome")
        elif state.screen == "help":
            self.close_help()

    def money(self, minor: int) -> str:
        from kiosk.ui.strings import money

        return money(minor, self.currency_exponent)


def _line_view(d: dict[str, Any]) -> LineView:
    return LineView(
        line_id=int(d["line_id"]), sku=str(d["sku"]), name_en=str(d["name_en"]),
        name_zh=str(d.get("name_zh", "")), quantity=int(d.get("quantity", 1)),
        weight_g=d.get("weight_g"), amount_minor=int(d["amount_minor"]),
        unit_price_minor=int(d.get("unit_price_minor", d["amount_minor"])),
        sold_by=str(d.get("sold_by", "each")),
    )  # fmt: skip


def _totals(t: dict[str, Any]) -> dict[str, int]:
    return {
        "total_minor": int(t.get("total_minor", 0)),
        "savings_minor": int(t.get("discount_minor", 0)),
        "item_count": int(t.get("items", 0)),
    }


def _choice(product: Product, score: float | None = None) -> ProduceChoice:
    image = product.image_paths[0] if product.image_paths else None
    return ProduceChoice(product.sku, product.plu, product.name_en, product.name_zh,
                         product.price_minor, score, image)  # fmt: skip


_HANDLERS: dict[EventType, Callable[[ShopperViewModel, Event], None]] = {
    EventType.SESSION_STARTED: ShopperViewModel._on_session_started,
    EventType.STATE_CHANGED: ShopperViewModel._on_state,
    EventType.LANGUAGE_CHANGED: ShopperViewModel._on_language,
    EventType.ITEM_ADDED: ShopperViewModel._on_item_added,
    EventType.ITEM_VOIDED: ShopperViewModel._on_item_voided,
    EventType.WEIGHT_REQUESTED: ShopperViewModel._on_weight_requested,
    EventType.NUDGE_SHOWN: ShopperViewModel._on_nudge,
    EventType.MISMATCH_RESOLVED: ShopperViewModel._on_resolved,
    EventType.ALERT_RAISED: ShopperViewModel._on_alert,
    EventType.ALERT_CLEARED: ShopperViewModel._on_alert_cleared,
    EventType.AGE_APPROVED: ShopperViewModel._on_age_decided,
    EventType.AGE_REJECTED: ShopperViewModel._on_age_decided,
    EventType.ITEM_SUGGESTED: ShopperViewModel._on_item_suggested,
    EventType.PRODUCE_SUGGESTED: ShopperViewModel._on_produce_suggested,
    EventType.PAYMENT_REQUESTED: ShopperViewModel._on_payment_requested,
    EventType.PAYMENT_DECLINED: ShopperViewModel._on_payment_declined,
    EventType.PAYMENT_CANCELLED: ShopperViewModel._on_payment_cancelled,
    EventType.PAYMENT_APPROVED: ShopperViewModel._on_payment_approved,
    EventType.TRANSACTION_COMPLETED: ShopperViewModel._on_completed,
    EventType.TRANSACTION_CANCELLED: ShopperViewModel._on_session_over,
    EventType.TRANSACTION_SUSPENDED: ShopperViewModel._on_session_over,
    EventType.SESSION_RESET: ShopperViewModel._on_session_over,
    EventType.LANE_LOCKED: ShopperViewModel._on_lock,
    EventType.ATTENDANT_MESSAGE: ShopperViewModel._on_attendant_message,
    EventType.LANE_UNLOCKED: ShopperViewModel._on_lock,
}


def by_weight(catalog: Catalog) -> list[Product]:
    return [p for p in catalog.products if p.sold_by is SoldBy.WEIGHT]
