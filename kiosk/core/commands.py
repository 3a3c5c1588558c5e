"""Shopper actions, attendant commands and payment results for ``Checkout``.

Kept apart from the state machine's plumbing so each list of verbs reads as a table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kiosk.core.alerts import Alert, AlertKind
from kiosk.core.events import EventType
from kiosk.core.inputs import AttendantCommand, ItemTrack, PaymentResult, ShopperAction
from kiosk.core.survey import clean_comment

if TYPE_CHECKING:
    from kiosk.core.session import Checkout

LANGUAGES = ("en", "zh")
DECLINES_BEFORE_ALERT = 2  # a second decline in a row calls the attendant


def iso_date(ts_ms: int) -> str:
    """UTC calendar date of a Unix time, computed without a clock (Hinnant's algorithm)."""
    days = ts_ms // 86_400_000 + 719_468
    era = days // 146_097
    doe = days - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return f"{year:04d}-{month:02d}-{day:02d}"


def track_to_dict(t: ItemTrack) -> dict[str, Any]:
    return {
        "ts_ms": t.ts_ms,
        "track_id": t.track_id,
        "label": t.label,
        "zone": t.zone,
        "confidence": t.confidence,
        "sku": t.sku,
    }


def track_from_dict(d: dict[str, Any]) -> ItemTrack:
    return ItemTrack(
        d["ts_ms"], d["track_id"], d["label"], d["zone"], d["confidence"], d["sku"], False
    )


def _int_arg(args: Any, key: str) -> int | None:
    value = args.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_arg(args: Any, key: str) -> str | None:
    value = args.get(key)
    return value if isinstance(value, str) and value else None


# --- shopper ----------------------------------------------------------------------------


def on_shopper_action(co: Checkout, act: ShopperAction) -> None:
    handler = SHOPPER_ACTIONS.get(act.action)
    if handler is None:
        co.reject(f"unknown shopper action {act.action!r}", action=act.action)
        return
    from kiosk.core.session import State

    if act.action == "rate":  # after the sale: the session is already closed
        _rate(co, act.args)
        return
    if act.action not in ("start", "set_language", "request_help") and not co.session_open:
        co.reject(f"no session open for {act.action!r}", action=act.action)
        return
    if co.state is State.INTERVENTION and act.action not in ("set_language", "request_help"):
        co.reject("lane waiting for attendant", "wait_for_attendant", action=act.action)
        return
    if co.state is State.PAYMENT and act.action in ("add_item", "remove_item", "cancel"):
        # Like a scan during payment: the amount asked of the terminal would be stale.
        if not co.payments:
            co.emit(EventType.PAYMENT_CANCELLED, reason=f"shopper chose {act.action}")
            co.set_state(State.SHOPPING)
        elif act.action != "cancel":  # _cancel says why itself
            co.reject("payment in progress", "finish_payment", action=act.action)
            return
    if co.locked and not co.session_open and act.action != "set_language":
        co.reject("lane closed", "lane_closed", action=act.action)
        return
    co.touch()
    handler(co, act.args)


def _start(co: Checkout, args: Any) -> None:
    lang = _str_arg(args, "language")
    if lang is not None and lang not in LANGUAGES:
        co.reject(f"unsupported language {lang!r}; supported: {', '.join(LANGUAGES)}")
        lang = None
    if co.session_open:
        if lang and lang != co.language:
            _set_language(co, {"language": lang})
        return
    co.start_session(lang)


def _set_language(co: Checkout, args: Any) -> None:
    lang = _str_arg(args, "language")
    if lang not in LANGUAGES:
        co.reject(f"unsupported language {lang!r}; supported: {', '.join(LANGUAGES)}")
        return
    co.language = lang
    co.emit(EventType.LANGUAGE_CHANGED, language=lang)


def _add_by_code(co: Checkout, args: Any) -> None:
    """Produce picked from the list or typed as a PLU, or an item chosen by SKU."""
    plu, sku = _str_arg(args, "plu"), _str_arg(args, "sku")
    product = co.catalog.by_plu(plu) if plu else co.catalog.by_sku(sku) if sku else None
    if product is None:
        co.reject(f"no product for plu={plu!r} sku={sku!r}", "item_not_found")
        return
    entry = "plu" if plu else "lookup"
    code = plu or product.sku
    if product.sold_by.value == "weight":
        co.request_weight(product, code, entry)
    else:
        co.add_line(product, code, entry)


def _cancel_weigh(co: Checkout, args: Any) -> None:
    co.pending_weigh = None


def _remove_item(co: Checkout, args: Any) -> None:
    line_id = _int_arg(args, "line_id")
    if line_id is None or not any(x.line_id == line_id and not x.voided for x in co.lines):
        co.reject(f"no line {args.get('line_id')!r} to remove")
        return
    if co.settings.void_requires_attendant:
        if co.watching:  # taking the item back out must not look like theft
            co.guarded(co.security.on_void_requested, co, line_id)
        co.raise_alert(AlertKind.VOID_REQUEST, line_id)
    else:
        co.void(line_id, "shopper removed")


def _request_help(co: Checkout, args: Any) -> None:
    if not co.session_open:
        # Help on the welcome screen opens a session, so the alert has a unique id, an
        # attendant can clear it, and it is in the journal like any other; in the language
        # the shopper picked there.
        lang = _str_arg(args, "language")
        co.start_session(lang if lang in LANGUAGES else None)
    co.emit(EventType.HELP_REQUESTED, reason=_str_arg(args, "reason") or "")
    if co.alerts.find(AlertKind.HELP) is None:
        co.raise_alert(AlertKind.HELP, detail=_str_arg(args, "reason") or "")


def _pay(co: Checkout, args: Any) -> None:
    from kiosk.core.session import State

    if co.state is State.PAYMENT:
        if co.awaiting_payment:
            return  # the terminal already has the request
        # After a decline, or a part payment: ask again for what is still due.
        co.awaiting_payment = True
        co.emit(
            EventType.PAYMENT_REQUESTED,
            amount_minor=co.amount_due(),
            method=_str_arg(args, "method") or "card",
            totals=co.totals().summary(),
        )
        return
    totals = co.totals()
    if totals.item_count == 0:
        co.reject("nothing to pay", "cart_empty")
        return
    if co.age_pending:
        co.reject("age check pending", "age_check_needed")
        return
    if co.watching:
        # Nothing may still wait for the shopper to fix it: an open nudge escalates now.
        co.guarded(co.security.before_payment, co)
        if co.state is State.INTERVENTION:
            co.reject("lane waiting for attendant", "wait_for_attendant", action="pay")
            return
    if co.pending_weigh:
        co.pending_weigh = None
    co.set_state(State.PAYMENT)
    co.awaiting_payment = True
    co.emit(
        EventType.PAYMENT_REQUESTED,
        amount_minor=co.amount_due(),
        method=_str_arg(args, "method") or "card",
        totals=totals.summary(),
    )


def _back(co: Checkout, args: Any) -> None:
    from kiosk.core.session import State

    if co.state is not State.PAYMENT:
        return
    if co.payments:
        co.reject("part of the total is paid; finish payment or call the attendant")
        return
    co.emit(EventType.PAYMENT_CANCELLED, reason="shopper went back")
    co.set_state(State.SHOPPING)


def _cancel(co: Checkout, args: Any) -> None:
    from kiosk.core.session import State

    if co.payments:
        co.reject("part of the total is paid; cancel needs the attendant", "call_attendant")
        return
    if co.totals().item_count and co.settings.cancel_requires_attendant:
        if co.alerts.find(AlertKind.CANCEL_REQUEST) is None:
            co.raise_alert(AlertKind.CANCEL_REQUEST)
        return
    co.end_session(State.CANCELLED, EventType.TRANSACTION_CANCELLED, by="shopper")


def _own_bag(co: Checkout, args: Any) -> None:
    """The shopper brought their own bag: bag-weight increases before the next scan are bags."""
    if co.watching:
        co.guarded(co.security.own_bag, co)


def _remove_bags(co: Checkout, args: Any) -> None:
    """The shopper says the bags are full: taking them off the bagging area is expected now."""
    if co.watching:
        co.guarded(co.security.remove_bags, co)


def _skip_bagging(co: Checkout, args: Any) -> None:
    """Keep an item (by default the last one) in the cart instead of the bagging area."""
    live = [x for x in co.lines if not x.voided]
    line_id = _int_arg(args, "line_id") or (live[-1].line_id if live else None)
    if line_id is None or not any(x.line_id == line_id for x in live):
        co.reject(f"no line {args.get('line_id')!r} to keep out of the bagging area")
        return
    if not co.watching:
        return
    problem = co.guarded(co.security.skip_bagging, co, line_id)
    if problem is not None:
        co.reject(problem, "call_attendant", line_id=line_id)
        return
    co.emit(EventType.BAGGING_SKIPPED, line_id=line_id)


def _confirm_item(co: Checkout, args: Any) -> None:
    """The shopper accepted an item the camera suggested (its barcode would not scan)."""
    sku = _str_arg(args, "sku")
    product = co.catalog.by_sku(sku) if sku else None
    if product is None or not co.security.suggested_sku(product.sku):
        co.reject(f"no suggestion of {sku!r} to confirm", "item_not_found")
        return
    co.add_line(product, product.sku, "vision", track_id=_int_arg(args, "track_id"))


def _rate(co: Checkout, args: Any) -> None:
    """One tap on the satisfaction screen (1-5) for the sale that just ended."""
    score = _int_arg(args, "score")
    if score is None or not 1 <= score <= 5:
        co.reject(f"rating must be 1 to 5, got {args.get('score')!r}")
        return
    txn_no = _int_arg(args, "txn_no") or co.txn_no
    raw = args.get("comment")
    if raw is not None and not isinstance(raw, str):  # the score still counts
        co.reject(f"survey comment must be text, got {type(raw).__name__}")
    comment, truncated = clean_comment(raw)
    extra: dict[str, Any] = {"comment": comment} if comment else {}
    if truncated:
        extra["comment_truncated"] = True
    co.emit(EventType.SURVEY_ANSWERED, score=score, txn_no=txn_no, **extra)


SHOPPER_ACTIONS: dict[str, Callable[[Checkout, Any], None]] = {
    "start": _start,
    "set_language": _set_language,
    "add_item": _add_by_code,
    "cancel_weigh": _cancel_weigh,
    "remove_item": _remove_item,
    "request_help": _request_help,
    "pay": _pay,
    "back": _back,
    "cancel": _cancel,
    "own_bag": _own_bag,
    "remove_bags": _remove_bags,
    "skip_bagging": _skip_bagging,
    "confirm_item": _confirm_item,
    "rate": _rate,
}


# --- attendant --------------------------------------------------------------------------


def on_attendant_command(co: Checkout, cmd: AttendantCommand) -> None:
    handler = ATTENDANT_COMMANDS.get(cmd.command)
    if handler is None:
        co.reject(f"unknown attendant command {cmd.command!r}", command=cmd.command)
        return
    if not co.session_open and cmd.command not in LANE_COMMANDS:
        co.reject(f"no session open for {cmd.command!r}", command=cmd.command)
        return
    handler(co, cmd)


def _alert_arg(co: Checkout, cmd: AttendantCommand) -> Alert | None:
    alert_id = _str_arg(cmd.args, "alert_id")
    alert = co.alerts.get(alert_id) if alert_id else None
    if alert is None:
        co.reject(f"no open alert {cmd.args.get('alert_id')!r}", command=cmd.command)
    return alert


def _approve(co: Checkout, cmd: AttendantCommand) -> None:
    """Grant what the alert asked for (void, cancel, age) or simply resolve it."""
    alert = _alert_arg(co, cmd)
    if alert is None:
        return
    if alert.kind is AlertKind.AGE_CHECK:
        _approve_age(co, cmd)
        return
    co.clear_alert(alert, "approved", cmd.attendant_id)
    if alert.kind is AlertKind.VOID_REQUEST and alert.line_id is not None:
        co.void(alert.line_id, "void approved", cmd.attendant_id)
    elif alert.kind is AlertKind.CANCEL_REQUEST:
        _cancel_transaction(co, cmd)


def _reject(co: Checkout, cmd: AttendantCommand) -> None:
    """Deny the request. A denied age check voids the restricted items."""
    alert = _alert_arg(co, cmd)
    if alert is None:
        return
    co.clear_alert(alert, "rejected", cmd.attendant_id)
    if alert.kind is AlertKind.AGE_CHECK:
        co.emit(EventType.AGE_REJECTED, attendant_id=cmd.attendant_id)
        for line_id in sorted(co.age_pending):
            co.void(line_id, "age not verified", cmd.attendant_id)


def _clear(co: Checkout, cmd: AttendantCommand) -> None:
    alert = _alert_arg(co, cmd)
    if alert is None:
        return
    if alert.kind is AlertKind.AGE_CHECK:
        # Clearing would hide the check while payment stays refused: approve or reject it.
        co.reject("an age check must be approved or rejected", command=cmd.command)
        return
    co.clear_alert(alert, "cleared", cmd.attendant_id)


def _clear_all(co: Checkout, cmd: AttendantCommand) -> None:
    for alert in co.alerts.open_alerts():
        if alert.kind is not AlertKind.AGE_CHECK:  # an ID check is never cleared in bulk
            co.clear_alert(alert, "cleared", cmd.attendant_id)


def _approve_age(co: Checkout, cmd: AttendantCommand) -> None:
    co.age_pending.clear()
    co.age_approved = True  # for the rest of this session
    co.emit(EventType.AGE_APPROVED, attendant_id=cmd.attendant_id)
    if alert := co.alerts.find(AlertKind.AGE_CHECK):
        co.clear_alert(alert, "approved", cmd.attendant_id)


def _void_item(co: Checkout, cmd: AttendantCommand) -> None:
    from kiosk.core.session import State

    if co.payments:
        co.reject("cannot void: part of the total is paid; refund first", command=cmd.command)
        return
    line_id = _int_arg(cmd.args, "line_id")
    if line_id is None or not co.void(line_id, "attendant void", cmd.attendant_id):
        co.reject(f"no line {cmd.args.get('line_id')!r} to void", command=cmd.command)
        return
    if alert := co.alerts.find(AlertKind.VOID_REQUEST, line_id):
        co.clear_alert(alert, "approved", cmd.attendant_id)
    if co.state is State.PAYMENT:  # the terminal was asked for the old amount
        co.emit(EventType.PAYMENT_CANCELLED, reason="attendant voided an item")
        co.set_state(State.SHOPPING)


def _cancel_transaction(co: Checkout, cmd: AttendantCommand) -> None:
    from kiosk.core.session import State

    if co.payments:
        co.reject("cannot cancel: payment taken; refund first", command=cmd.command)
        return
    co.end_session(
        State.CANCELLED,
        EventType.TRANSACTION_CANCELLED,
        by="attendant",
        attendant_id=cmd.attendant_id,
        totals=co.totals().summary(),
    )


def _suspend_transaction(co: Checkout, cmd: AttendantCommand) -> None:
    from kiosk.core.session import State

    if co.payments:
        co.reject("cannot suspend: payment taken", command=cmd.command)
        return
    co.end_session(
        State.SUSPENDED,
        EventType.TRANSACTION_SUSPENDED,
        attendant_id=cmd.attendant_id,
        lines=[line.to_dict() for line in co.lines if not line.voided],
        totals=co.totals().summary(),
    )


def _lock_lane(co: Checkout, cmd: AttendantCommand) -> None:
    """Close the lane after the current shopper: the open sale may finish, but no new
    session starts until an attendant unlocks it."""
    if co.locked:
        return
    co.locked = True
    co.emit(
        EventType.LANE_LOCKED,
        attendant_id=cmd.attendant_id,
        reason=_str_arg(cmd.args, "reason") or "",
    )


def _unlock_lane(co: Checkout, cmd: AttendantCommand) -> None:
    if not co.locked:
        return
    co.locked = False
    co.emit(EventType.LANE_UNLOCKED, attendant_id=cmd.attendant_id)


MESSAGE_MAX_CHARS = 200


def _message(co: Checkout, cmd: AttendantCommand) -> None:
    """A line of text for the shopper's screen ("I am on my way"); journaled like any input."""
    raw = cmd.args.get("text")
    text = " ".join(raw.split()) if isinstance(raw, str) else ""
    if not 1 <= len(text) <= MESSAGE_MAX_CHARS:
        co.reject(f"message must be 1 to {MESSAGE_MAX_CHARS} characters", command=cmd.command)
        return
    co.emit(EventType.ATTENDANT_MESSAGE, text=text, attendant_id=cmd.attendant_id)


# Commands that make sense with no session open.
LANE_COMMANDS = frozenset({"lock_lane", "unlock_lane", "message"})

ATTENDANT_COMMANDS: dict[str, Callable[[Checkout, AttendantCommand], None]] = {
    "lock_lane": _lock_lane,
    "unlock_lane": _unlock_lane,
    "approve": _approve,
    "reject": _reject,
    "clear": _clear,
    "clear_all": _clear_all,
    "approve_age": _approve_age,
    "void_item": _void_item,
    "cancel_transaction": _cancel_transaction,
    "suspend_transaction": _suspend_transaction,
    "message": _message,
}


# --- payment terminal -------------------------------------------------------------------


def on_payment_result(co: Checkout, result: PaymentResult) -> None:
    from kiosk.core.session import State

    if co.state is not State.PAYMENT:
        # Money may have moved with no sale to match: never drop it silently.
        co.reject("payment result with no payment pending", amount_minor=result.amount_minor)
        if result.approved and co.session_open:
            co.raise_alert(AlertKind.UNEXPECTED_PAYMENT, detail=f"{result.amount_minor}")
        return
    co.awaiting_payment = False
    if not result.approved:
        co.declines += 1
        co.emit(EventType.PAYMENT_DECLINED, method=result.method, reason=result.reason)
        if co.declines == DECLINES_BEFORE_ALERT:
            co.raise_alert(AlertKind.PAYMENT_TROUBLE, detail=f"{co.declines} declines")
        return
    if result.amount_minor <= 0:
        co.reject(f"payment amount must be positive, got {result.amount_minor}")
        return
    payment = {
        "method": result.method,
        "amount_minor": result.amount_minor,
        "reference": result.reference,
    }
    co.payments.append(payment)
    co.declines = 0  # "in a row": an approval ends a run of declines
    due = co.amount_due()
    co.emit(EventType.PAYMENT_APPROVED, **payment, remaining_minor=max(due, 0))
    if due > 0:
        return
    receipt = build_receipt(co, change_minor=-due)
    co.end_session(State.COMPLETED, EventType.TRANSACTION_COMPLETED, receipt=receipt)


def build_receipt(co: Checkout, change_minor: int = 0) -> dict[str, Any]:
    totals = co.totals()
    return {
        "txn_no": co.txn_no,
        "kiosk_id": co.settings.kiosk_id,
        "store_id": co.settings.store_id,
        "currency": co.settings.currency,
        "currency_exponent": co.settings.currency_exponent,
        "prices_include_tax": co.settings.prices_include_tax,
        "date": iso_date(co.now_ms),
        "started_ts_ms": co.started_ms,
        "ended_ts_ms": co.now_ms,
        "language": co.language,
        "lines": [
            {
                **p.line.to_dict(),
                "discount_minor": p.discount_minor,
                "net_minor": p.net_minor,
                "tax_minor": p.tax_minor,
                "promotion": p.promotion,
            }
            for p in totals.lines
        ],
        "voided_lines": [x.line_id for x in co.lines if x.voided],
        "taxes": [
            {"rate_bp": rate, "taxable_minor": taxable, "tax_minor": tax}
            for rate, taxable, tax in totals.tax_by_rate
        ],
        **totals.summary(),
        "payments": list(co.payments),
        "change_minor": change_minor,
    }
