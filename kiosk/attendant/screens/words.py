"""What the tablet says: alert reasons, lane states, evidence and command answers in words.

Plain functions of the floor's views (no Kivy), so every text the screens show is testable
without a window. The tablet is for staff: English only for now.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from kiosk.attendant.floor import AlertView, CommandView, LaneView

REASONS: dict[str, str] = {
    "age_check": "Age check: ID needed",
    "non_scan": "Item not scanned",
    "unexpected_item": "Unexpected item in bagging area",
    "weight_mismatch": "Bag weight does not match",
    "item_removed": "Item taken from the bag",
    "ticket_switch": "Barcode does not match the item",
    "multiple_items": "Several items for one scan",
    "bag_abuse": "Bag declared, but weighs like goods",
    "produce_mismatch": "Produce does not match the pick",
    "item_not_bagged": "Item not bagged",
    "hand_in_bagging_area": "Hand in the bagging area",
    "void_request": "Shopper asks to remove an item",
    "cancel_request": "Shopper asks to cancel the sale",
    "help": "Shopper asks for help",
    "unknown_items": "Unknown barcodes",
    "abandoned": "Lane abandoned with items",
    "payment_trouble": "Payment declined twice",
    "unexpected_payment": "Payment with none pending",
    "weigh_problem": "Produce scale problem",
    "expired_item": "Expired item scanned",
}

TRAINING_MARK = "TRAINING"  # on a training lane's tile, alerts and detail (docs/training.md)

STATES: dict[str, str] = {
    "idle": "Idle",
    "shopping": "Shopping",
    "needs_help": "Needs help",
    "alert": "Alert",
    "age_check": "Age check",
    "payment": "Paying",
    "locked": "Locked",
    "out_of_service": "Out of service",
    "offline": "Offline",
}
# Theme colour role per display state (``app.c_<role>``): red stops, yellow waits, blue pays.
STATE_ROLES: dict[str, str] = {
    "idle": "panel",
    "shopping": "panel",
    "needs_help": "warn",
    "alert": "danger",
    "age_check": "warn",
    "payment": "ok",
    "locked": "panel",
    "out_of_service": "danger",
    "offline": "muted",
}
SEVERITY_ROLES = {"high": "danger", "medium": "warn", "low": "ok"}

# Evidence keys worth reading on a tablet, in order, with their words and unit.
EVIDENCE: tuple[tuple[str, str, str], ...] = (
    ("delta_g", "Weight change", "g"),
    ("settled_g", "Bagging scale now", "g"),
    ("unexplained_g", "Not explained by sales", "g"),
    ("tolerance_g", "Tolerance", "g"),
    ("expected", "Expected items", ""),
    ("label", "Camera saw", ""),
    ("sku", "Camera's SKU guess", ""),
    ("identity_score", "Identity score", ""),
    ("score", "Score", ""),
    ("track_id", "Camera track", ""),
    ("code", "Barcode read", ""),
    ("reads", "Barcode reads", ""),
    ("bag_declared", "Own bag declared", ""),
    ("detail", "Detail", ""),
)

CLEAR_REASONS = (
    "Checked: item was scanned",
    "Item scanned by attendant",
    "Item removed from bag",
    "Shopper's own item",
    "False alarm",
)
CANNED_MESSAGES = (
    "An attendant is on the way.",
    "Please scan every item before bagging it.",
    "Please have your ID ready.",
    "Please wait, the attendant will help you.",
)

# Alert actions (core command names) → (signed action, button text).
ALERT_ACTIONS: dict[str, tuple[str, str]] = {
    "approve": ("approve", "Approve"),
    "reject": ("reject", "Reject"),
    "clear": ("clear_alert", "Clear…"),
    "void_item": ("void_item", "Void item"),
    "cancel_transaction": ("cancel_transaction", "Cancel sale"),
    "suspend_transaction": ("suspend_transaction", "Suspend sale"),
}


def reason_text(alert: AlertView) -> str:
    return REASONS.get(alert.kind) or alert.reason.replace("_", " ").capitalize()


def state_text(lane: LaneView) -> str:
    return STATES.get(lane.display_state, lane.display_state)


def duration_text(seconds: float) -> str:
    """A wait as a clerk says it: 45 s, 3 min 05 s, 1 h 02 min."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def money_text(minor: int, currency: str, exponent: int = 2) -> str:
    sign = "-" if minor < 0 else ""
    units, cents = divmod(abs(minor), 10**exponent)
    return f"{sign}{currency or ''} {units}.{cents:0{exponent}d}".strip()


def _value(value: Any, unit: str) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        value = f"{value:.2f}"
    if isinstance(value, list | tuple):
        value = ", ".join(_value(v, "") for v in value) or "none"
    if isinstance(value, Mapping):
        value = ", ".join(f"{k} {_value(v, '')}" for k, v in value.items())
    return f"{value} {unit}".strip() if unit else str(value)


def evidence_lines(alert: AlertView) -> list[str]:
    """The alert's reads, weights and scores as 'what: value' lines (known keys first)."""
    ev: Mapping[str, Any] = alert.evidence or {}
    lines = [
        f"{words}: {_value(ev[key], unit)}"
        for key, words, unit in EVIDENCE
        if key in ev and ev[key] not in (None, "", [])
    ]
    if alert.line_id is not None:
        lines.append(f"Sale line: {alert.line_id}")
    if alert.detail and "detail" not in ev:
        lines.append(f"Detail: {alert.detail}")
    return lines or ["No evidence recorded"]


def id_check_date(now: float, min_age: int = 18) -> str:
    """The latest birth date that makes the shopper ``min_age`` today (29 Feb → 28 Feb)."""
    today = dt.datetime.fromtimestamp(now).date()
    try:
        born = today.replace(year=today.year - min_age)
    except ValueError:  # today is 29 February and that year has none
        born = today.replace(year=today.year - min_age, day=28)
    return born.isoformat()


def id_prompt_text(now: float, min_age: int = 18) -> str:
    return f"Check the shopper's ID: born on or before {id_check_date(now, min_age)}"


def min_age_of(alert: AlertView) -> int:
    """The age the alert asks for (``min_age=21`` in its detail), else 18."""
    for part in alert.detail.replace(",", " ").split():
        if part.startswith("min_age="):
            try:
                return int(part.split("=", 1)[1])
            except ValueError:
                break
    return 18


ACTION_WORDS = {
    "approve_age": "Approve age",
    "approve": "Approve",
    "reject": "Reject",
    "clear_alert": "Clear alert",
    "void_item": "Void item",
    "cancel_transaction": "Cancel sale",
    "suspend_transaction": "Suspend sale",
    "lock_lane": "Lock lane",
    "unlock_lane": "Unlock lane",
    "message_shopper": "Message",
    "remote_help": "Remote help",
}


def command_text(cmd: CommandView) -> str:
    """'lane-01 Approve age: accepted' / '... refused (bad_signature): why'."""
    what = f"{cmd.kiosk_id} {ACTION_WORDS.get(cmd.action, cmd.action)}"
    if cmd.status == "accepted":
        return f"{what}: accepted"
    if cmd.status == "refused":
        why = f" {cmd.message}" if cmd.message else ""
        return f"{what}: refused ({cmd.code or 'no code'}){why}"
    if cmd.status == "no_answer":
        return f"{what}: no answer from the lane"
    return f"{what}: sent…"


COMMAND_ROLES = {"accepted": "ok", "refused": "danger", "no_answer": "warn", "sent": "panel"}
