"""Remote assistance: the shopper's screen as a retained JSON state on ``…/kiosk/<id>/screen``.

The state is the lane's ``kiosk.ui.viewmodel.ShopperState`` (the kiosk-mode window's own
view model, or a headless one this module feeds from the engine's events) plus the sale's
open alerts, rendered by ``screen_payload`` (``schemas/screen.json``). An attendant's tablet
mirrors it and acts on it with signed commands; no video, and never card data: payment is a
status, an amount and a method, the receipt and every terminal reference stay on the lane.

``ScreenPublisher`` runs as a pump on the MQTT link's network thread: the view model only
marks the state dirty (any thread), the pump renders and publishes it when it changed, at
most once per ``min_interval_s``, so a burst of scans costs one message and the newest
state always goes out. The last payload is republished after every CONNACK (retained: a
broker restarted without persistence forgot it).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from backend_client.contract import SCREEN_SCHEMA
from kiosk.core.events import Event
from kiosk.ui.strings import reason_text, text
from kiosk.ui.viewmodel import LineView, ShopperState, ShopperViewModel

logger = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.5  # at most two screen messages a second per lane
HEADLESS_TICK_S = 1.0  # a headless view model fades messages and leaves idle screens
MAX_LINES = 500
MAX_ALERTS = 50
TEXT_MAX = 500
NO_SALE = ("idle", "completed", "cancelled", "suspended")

# What the shopper can press on each screen (the shopper app's kv files), by name.
SCREEN_BUTTONS: dict[str, tuple[str, ...]] = {
    "attract": ("start",),
    "welcome": ("language_zh", "language_en", "start", "large_text", "high_contrast", "help"),
    "bags": ("own_bag", "no_bags"),
    "scanning": ("pay", "produce", "skip_bagging", "bags_full", "help"),
    "produce": ("produce_pick", "produce_plu", "produce_back"),
    "help": ("close_help",),
    "payment": ("pay_card", "pay_qr", "pay_cash", "back"),
    "receipt": ("print_receipt", "receipt_done"),
    "rating": ("rate_1", "rate_2", "rate_3", "rate_4", "rate_5"),
    "thank_you": (),
    "intervention": (),
    "out_of_service": (),
}
# The prompt each screen shows when nothing more urgent is on it (kiosk.ui.strings keys).
SCREEN_PROMPTS: dict[str, str] = {
    "attract": "attract_tap",
    "welcome": "welcome_title",
    "bags": "bags_question",
    "scanning": "scan_prompt",
    "produce": "produce_place",
    "help": "help_title",
    "payment": "payment_follow",
    "receipt": "receipt_title",
    "rating": "rating_title",
    "thank_you": "thanks_title",
    "out_of_service": "out_of_service",
}
PAYMENT_PROMPTS = {"declined": "payment_declined", "approved": "payment_approved"}


def visible_screen(state: ShopperState) -> str:
    """The screen the shopper app paints for ``state`` (as ``kiosk.ui.app.visible_screen``,
    without importing Kivy into a headless lane)."""
    if state.out_of_service or (state.locked and state.lane_state in NO_SALE):
        return "out_of_service"
    if state.intervention is not None:
        return "intervention"
    return state.screen if state.screen in SCREEN_BUTTONS else "attract"


def prompt_of(state: ShopperState, screen: str) -> dict[str, str] | None:
    """The banner the shopper reads now: intervention, then a nudge, then the age check,
    the payment's outcome, and the screen's own prompt."""
    lang = state.language
    if screen == "intervention" and state.intervention is not None:
        reason = state.intervention.reason
        return {"key": reason, "text": reason_text(reason, lang)}
    if screen == "out_of_service":
        key = "lane_closed" if state.locked and not state.out_of_service else "out_of_service"
        return {"key": key, "text": text(key, lang)}
    if state.nudge is not None:
        return {"key": state.nudge.key, "text": text(state.nudge.key, lang)}
    if state.age_pending:
        return {"key": "age_pending", "text": text("age_pending", lang)}
    if screen == "payment" and state.payment.status in PAYMENT_PROMPTS:
        key = PAYMENT_PROMPTS[state.payment.status]
        return {"key": key, "text": text(key, lang)}
    own = "cart_empty" if screen == "scanning" and not state.lines else SCREEN_PROMPTS.get(screen)
    return {"key": own, "text": text(own, lang)} if own else None


def buttons_of(state: ShopperState, screen: str) -> list[str]:
    buttons = list(SCREEN_BUTTONS.get(screen, ()))
    if screen == "scanning":
        if state.suggestion is not None:
            buttons[:0] = ["confirm_suggestion", "dismiss_suggestion"]
        if any(not line.voided for line in state.lines):
            buttons.append("remove_item")
    return buttons


def screen_payload(
    state: ShopperState,
    alerts: Iterable[Mapping[str, Any]],
    *,
    kiosk_id: str,
    store_id: str,
    currency: str,
    currency_exponent: int,
    ts: float,
) -> dict[str, Any]:
    """The wire form of one screen state (``schemas/screen.json``)."""
    screen = visible_screen(state)
    message = None
    if state.message is not None:
        message = {"text": state.message.text[:TEXT_MAX],
                   "attendant_id": state.message.attendant_id[:64]}  # fmt: skip
    payment = state.payment
    # Status, amount and method only: a decline's text can carry terminal details.
    paid: dict[str, Any] = {"status": payment.status, "amount_minor": payment.amount_minor}
    paid["method"] = payment.method
    return {
        "schema": SCREEN_SCHEMA,
        "kiosk_id": kiosk_id,
        "store_id": store_id,
        "ts": round(ts, 3),
        "version": state.version,
        "screen": screen,
        "language": state.language,
        "lane_state": state.lane_state,
        "locked": state.locked,
        "out_of_service": state.out_of_service is not None,
        "currency": currency,
        "currency_exponent": currency_exponent,
        "lines": [_line(x) for x in state.lines[-MAX_LINES:]],
        "total_minor": state.total_minor,
        "savings_minor": state.savings_minor,
        "item_count": state.item_count,
        "prompt": prompt_of(state, screen),
        "message": message,
        "age_pending": state.age_pending,
        "weighing_sku": state.weighing_sku,
        "payment": paid,
        "alerts": [_alert(a) for a in list(alerts)[:MAX_ALERTS]],
        "buttons": buttons_of(state, screen),
    }


def _line(line: LineView) -> dict[str, Any]:
    return {
        "line_id": line.line_id, "sku": line.sku, "name_en": line.name_en,
        "name_zh": line.name_zh, "quantity": line.quantity, "weight_g": line.weight_g,
        "amount_minor": line.amount_minor, "unit_price_minor": line.unit_price_minor,
        "sold_by": line.sold_by, "voided": line.voided,
    }  # fmt: skip


def _alert(alert: Mapping[str, Any]) -> dict[str, Any]:
    line_id = alert.get("line_id")
    return {
        "alert_id": str(alert["alert_id"]),
        "kind": str(alert["kind"]),
        "blocking": bool(alert.get("blocking")),
        "severity": str(alert.get("severity") or "medium"),
        "actions": [str(a) for a in alert.get("actions", ())],
        "line_id": int(line_id) if isinstance(line_id, int) else None,
    }


def encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _without_time(body: Mapping[str, Any]) -> dict[str, Any]:
    # The view model's version moves on changes the screen does not show (e.g. live weight).
    return {k: v for k, v in body.items() if k not in ("ts", "version")}


class ScreenPublisher:
    """Publishes the view model's state on ``topic`` when it changes, rate-limited.

    ``publish(topic, payload, qos, retain)`` must be thread safe (``KioskLink``'s
    ``publish_threadsafe``). ``owns_vm``: a headless view model this publisher feeds
    (``on_events``) and ticks; otherwise the shopper window feeds and ticks its own.
    """

    def __init__(
        self,
        vm: ShopperViewModel,
        publish: Callable[[str, bytes, int, bool], None],
        topic: str,
        *,
        kiosk_id: str,
        store_id: str,
        currency: str,
        currency_exponent: int,
        owns_vm: bool,
        min_interval_s: float = MIN_INTERVAL_S,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.vm = vm
        self._publish = publish
        self.topic = topic
        self._ids = (kiosk_id, store_id, currency, currency_exponent)
        self.owns_vm = owns_vm
        self.min_interval_s = min_interval_s
        self._monotonic = monotonic
        self._wall = wall
        self._lock = threading.Lock()
        self._alerts: list[dict[str, Any]] = []
        self._dirty = True  # the first pump publishes the screen as it is
        self._last: dict[str, Any] | None = None
        self._last_payload: bytes | None = None
        self._sent_at = float("-inf")
        self._ticked_at = monotonic()
        self.published = 0  # messages handed to the link (tests and health read it)
        vm.subscribe(self._on_state)

    def close(self) -> None:
        self.vm.unsubscribe(self._on_state)

    # --- inputs (any thread) ------------------------------------------------------------

    def _on_state(self, _state: ShopperState) -> None:
        with self._lock:
            self._dirty = True

    def on_events(self, events: list[Event], open_alerts: Iterable[Mapping[str, Any]]) -> None:
        """On the engine thread after each batch: the sale's open alerts, and the events
        for a headless view model (a window's view model gets them from its lane hook)."""
        alerts = [dict(a) for a in open_alerts]
        with self._lock:
            if alerts != self._alerts:
                self._alerts = alerts
                self._dirty = True
        if self.owns_vm:
            self.vm.on_events(events)

    def set_out_of_service(self, reason: str | None) -> None:
        if self.owns_vm:
            self.vm.set_out_of_service(reason)

    # --- output (the link's network thread) ---------------------------------------------

    def pump(self) -> None:
        now = self._monotonic()
        if self.owns_vm and now - self._ticked_at >= HEADLESS_TICK_S:
            self._ticked_at = now
            self.vm.tick()
        with self._lock:
            if not self._dirty or now - self._sent_at < self.min_interval_s:
                return
            self._dirty = False
            alerts = list(self._alerts)
        kiosk_id, store_id, currency, exponent = self._ids
        body = screen_payload(
            self.vm.snapshot(), alerts, kiosk_id=kiosk_id, store_id=store_id,
            currency=currency, currency_exponent=exponent, ts=self._wall(),
        )  # fmt: skip
        if self._last is not None and _without_time(body) == _without_time(self._last):
            return
        payload = encode(body)
        with self._lock:
            self._last, self._last_payload, self._sent_at = body, payload, now
        self._publish(self.topic, payload, 1, True)
        self.published += 1

    def republish(self) -> None:
        """After a CONNACK: the newest state again (or the first, on the next pump)."""
        with self._lock:
            payload = self._last_payload
            if payload is None:
                self._dirty = True
        if payload is not None:
            self._publish(self.topic, payload, 1, True)

    def last(self) -> dict[str, Any] | None:
        with self._lock:
            return self._last
