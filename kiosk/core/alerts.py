"""Open alerts of a session: what the attendant must see, approve or clear.

A *blocking* alert is an intervention: the lane stops taking items and payment until an
attendant resolves it. Non-blocking alerts (help, age check, abandoned basket) inform the
attendant while the shopper carries on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    # Mismatch findings escalated to the attendant (kiosk.core.security): interventions.
    NON_SCAN = "non_scan"
    UNEXPECTED_ITEM = "unexpected_item"
    WEIGHT_MISMATCH = "weight_mismatch"
    ITEM_REMOVED = "item_removed"
    TICKET_SWITCH = "ticket_switch"
    MULTIPLE_ITEMS = "multiple_items"
    BAG_ABUSE = "bag_abuse"
    PRODUCE_MISMATCH = "produce_mismatch"
    ITEM_NOT_BAGGED = "item_not_bagged"
    HAND_IN_BAGGING_AREA = "hand_in_bagging_area"


# Kinds that stop the lane until an attendant acts.
BLOCKING_KINDS: frozenset[AlertKind] = frozenset(
    {
        AlertKind.VOID_REQUEST,
        AlertKind.CANCEL_REQUEST,
        AlertKind.UNEXPECTED_PAYMENT,
        AlertKind.NON_SCAN,
        AlertKind.UNEXPECTED_ITEM,
        AlertKind.WEIGHT_MISMATCH,
        AlertKind.ITEM_REMOVED,
        AlertKind.TICKET_SWITCH,
        AlertKind.MULTIPLE_ITEMS,
        AlertKind.BAG_ABUSE,
        AlertKind.PRODUCE_MISMATCH,
        AlertKind.ITEM_NOT_BAGGED,
        AlertKind.HAND_IN_BAGGING_AREA,
    }
)

# How urgent each kind is for the attendant, and what they may do about it, when the
# raiser does not say (security findings always say).
DEFAULT_SEVERITY: dict[AlertKind, str] = {
    AlertKind.HELP: "low",
    AlertKind.ABANDONED: "low",
    AlertKind.EXPIRED_ITEM: "low",
    AlertKind.UNEXPECTED_PAYMENT: "high",
}
DEFAULT_ACTIONS: dict[AlertKind, tuple[str, ...]] = {
    AlertKind.VOID_REQUEST: ("approve", "reject"),
    AlertKind.CANCEL_REQUEST: ("approve", "reject"),
    AlertKind.AGE_CHECK: ("approve", "reject"),
    AlertKind.HELP: ("clear",),
    AlertKind.UNKNOWN_ITEMS: ("clear", "void_item"),
    AlertKind.ABANDONED: ("clear", "suspend_transaction", "cancel_transaction"),
    AlertKind.PAYMENT_TROUBLE: ("clear", "cancel_transaction"),
    AlertKind.UNEXPECTED_PAYMENT: ("clear",),
    AlertKind.WEIGH_PROBLEM: ("clear", "void_item"),
    AlertKind.EXPIRED_ITEM: ("clear", "void_item"),
}


@dataclass(frozen=True)
class Alert:
    alert_id: str
    kind: AlertKind
    ts_ms: int
    blocking: bool
    line_id: int | None = None
    detail: str = ""
    severity: str = "medium"
    evidence: dict[str, Any] = field(default_factory=dict)
    actions: tuple[str, ...] = ()
    finding_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "alert_id": self.alert_id,
            "kind": self.kind.value,
            "reason": self.kind.value,
            "blocking": self.blocking,
            "line_id": self.line_id,
            "detail": self.detail,
            "severity": self.severity,
            "actions": list(self.actions),
            "evidence": self.evidence,
        }
        if self.finding_id is not None:
            out["finding_id"] = self.finding_id
        return out


class AlertBook:
    """Alerts open in the current session, in the order they were raised."""

    def __init__(self) -> None:
        self._open: dict[str, Alert] = {}
        self._counter = 0

    def raise_alert(
        self,
        session_no: int,
        kind: AlertKind,
        ts_ms: int,
        line_id: int | None,
        detail: str,
        severity: str | None = None,
        evidence: dict[str, Any] | None = None,
        actions: tuple[str, ...] | None = None,
        finding_id: str | None = None,
    ) -> Alert:
        self._counter += 1
        alert = Alert(
            alert_id=f"A{session_no}-{self._counter}",
            kind=kind,
            ts_ms=ts_ms,
            blocking=kind in BLOCKING_KINDS,
            line_id=line_id,
            detail=detail,
            severity=severity or DEFAULT_SEVERITY.get(kind, "medium"),
            evidence=evidence if evidence is not None else {"detail": detail} if detail else {},
            actions=actions if actions is not None else DEFAULT_ACTIONS.get(kind, ("clear",)),
            finding_id=finding_id,
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
