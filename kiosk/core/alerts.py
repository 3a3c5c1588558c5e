"""Open alerts of a session: what the attendant must see, approve or clear.

A *blocking* alert is an intervention: the lane stops taking items and payment until an
attendant resolves it. Non-blocking alerts (help, age check, abandoned basket) inform the
attendant while the shopper carries on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class AlertKind(StrEnum):
    VOID_REQUEST = "void_request"  # shopper asked to remove an item
    CANCEL_REQUEST = "cancel_request"  # shopper asked to cancel the whole transaction
    AGE_CHECK = "age_check"  # an age-restricted item waits for ID check
    HELP = "help"  # shopper pressed "Help"
    UNKNOWN_ITEMS = "unknown_items"  # several codes in a row not in the catalog
    ABANDONED = "abandoned"  # items in the cart, nobody touching the lane
    PAYMENT_TROUBLE = "payment_trouble"  # repeated declines
    UNEXPECTED_PAYMENT = "unexpected_payment"  # money taken with no payment pending
    WEIGH_PROBLEM = "weigh_problem"  # produce scale offline or out of range
    EXPIRED_ITEM = "expired_item"  # a GS1 code with a past expiry date


# Kinds that stop the lane until an attendant acts.
BLOCKING_KINDS: frozenset[AlertKind] = frozenset(
    {AlertKind.VOID_REQUEST, AlertKind.CANCEL_REQUEST, AlertKind.UNEXPECTED_PAYMENT}
)


@dataclass(frozen=True)
class Alert:
    alert_id: str
    kind: AlertKind
    ts_ms: int
    blocking: bool
    line_id: int | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "kind": self.kind.value,
            "blocking": self.blocking,
            "line_id": self.line_id,
            "detail": self.detail,
        }


class AlertBook:
    """Alerts open in the current session, in the order they were raised."""

    def __init__(self) -> None:
        self._open: dict[str, Alert] = {}
        self._counter = 0

    def raise_alert(
        self, session_no: int, kind: AlertKind, ts_ms: int, line_id: int | None, detail: str
    ) -> Alert:
        self._counter += 1
        alert = Alert(
            alert_id=f"A{session_no}-{self._counter}",
            kind=kind,
            ts_ms=ts_ms,
            blocking=kind in BLOCKING_KINDS,
            line_id=line_id,
            detail=detail,
        )
        self._open[alert.alert_id] = alert
        return alert

    def pop(self, alert_id: str) -> Alert | None:
        return self._open.pop(alert_id, None)

    def get(self, alert_id: str) -> Alert | None:
        return self._open.get(alert_id)

    def find(self, kind: AlertKind, line_id: int | None = None) -> Alert | None:
        for alert in self._open.values():
            if alert.kind is kind and (line_id is None or alert.line_id == line_id):
                return alert
        return None

    def open_alerts(self) -> list[Alert]:
        return list(self._open.values())

    @property
    def blocking(self) -> bool:
        return any(a.blocking for a in self._open.values())

    def clear(self) -> None:
        self._open.clear()
        self._counter = 0
