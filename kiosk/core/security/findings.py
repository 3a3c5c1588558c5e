"""What a mismatch rule found, how bad it is, and what the lane does about it.

A ``Finding`` is one suspected incident with its evidence. Its reason's *policy* (per store,
``[security] policies``) says what happens: a private nudge first and an attendant alert if
it is not corrected in time, an alert at once, a silent flag for loss-prevention review, or
only a prompt. Every decision carries the inputs that led to it, so an attendant or a
reviewer can see why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    NON_SCAN = "non_scan"  # an item reached the bagging area with no read for it
    UNEXPECTED_ITEM = "unexpected_item"  # bagging weight rose with nothing scanned
    WEIGHT_MISMATCH = "weight_mismatch"  # the bagged weight does not fit the scanned item
    ITEM_REMOVED = "item_removed"  # bagging weight fell with no void or bag removal
    TICKET_SWITCH = "ticket_switch"  # the item does not look like the scanned SKU
    MULTIPLE_ITEMS = "multiple_items"  # several items presented under one read
    BAG_ABUSE = "bag_abuse"  # a declared "bag" that weighs or looks like merchandise
    PRODUCE_MISMATCH = "produce_mismatch"  # a typed PLU unlike what is on the scale
    ITEM_NOT_BAGGED = "item_not_bagged"  # scanned, never reached the bagging area
    HAND_IN_BAGGING_AREA = "hand_in_bagging_area"  # a hand, bag or lean: prompt only


SECURITY_REASONS: frozenset[str] = frozenset(r.value for r in Reason)

# Reasons decided by the bagging scale: one open at a time, re-judged on each settled weight.
WEIGHT_REASONS: frozenset[Reason] = frozenset(
    {
        Reason.UNEXPECTED_ITEM,
        Reason.WEIGHT_MISMATCH,
        Reason.ITEM_REMOVED,
        Reason.MULTIPLE_ITEMS,
        Reason.BAG_ABUSE,
    }
)


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Policy(StrEnum):
    NUDGE_THEN_ALERT = "nudge_then_alert"
    ALERT = "alert"
    FLAG = "flag"
    NUDGE_THEN_FLAG = "nudge_then_flag"
    NUDGE = "nudge"
    OFF = "off"


# The shopper-screen prompt for each reason (the UI translates the key).
NUDGES: dict[Reason, str] = {
    Reason.NON_SCAN: "scan_item_before_bagging",
    Reason.UNEXPECTED_ITEM: "unexpected_item_in_bagging_area",
    Reason.WEIGHT_MISMATCH: "check_item_in_bagging_area",
    Reason.ITEM_REMOVED: "put_item_back_in_bagging_area",
    Reason.TICKET_SWITCH: "check_scanned_item",
    Reason.MULTIPLE_ITEMS: "scan_each_item_separately",
    Reason.BAG_ABUSE: "only_empty_bags_please",
    Reason.PRODUCE_MISMATCH: "check_produce_selection",
    Reason.ITEM_NOT_BAGGED: "place_item_in_bagging_area",
    Reason.HAND_IN_BAGGING_AREA: "keep_bagging_area_clear",
}

# What an attendant may do about each reason (attendant command names).
ACTIONS: dict[Reason, tuple[str, ...]] = {
    Reason.NON_SCAN: ("clear", "void_item", "cancel_transaction"),
    Reason.UNEXPECTED_ITEM: ("clear", "cancel_transaction"),
    Reason.WEIGHT_MISMATCH: ("approve", "void_item", "clear", "cancel_transaction"),
    Reason.ITEM_REMOVED: ("clear", "void_item", "cancel_transaction"),
    Reason.TICKET_SWITCH: ("approve", "void_item", "clear", "cancel_transaction"),
    Reason.MULTIPLE_ITEMS: ("clear", "void_item", "cancel_transaction"),
    Reason.BAG_ABUSE: ("approve", "clear", "cancel_transaction"),
    Reason.PRODUCE_MISMATCH: ("approve", "void_item", "clear"),
    Reason.ITEM_NOT_BAGGED: ("clear",),
    Reason.HAND_IN_BAGGING_AREA: ("clear",),
}


def parse_policies(entries: tuple[str, ...]) -> dict[Reason, Policy]:
    """``("non_scan:alert", ...)`` → {Reason: Policy}; unknown names raise ValueError."""
    out: dict[Reason, Policy] = {r: Policy.NUDGE_THEN_ALERT for r in Reason}
    out[Reason.ITEM_NOT_BAGGED] = Policy.NUDGE
    out[Reason.HAND_IN_BAGGING_AREA] = Policy.NUDGE
    for entry in entries:
        reason, sep, policy = entry.partition(":")
        if not sep:
            raise ValueError(f"policy {entry!r} must look like reason:policy")
        try:
            out[Reason(reason.strip())] = Policy(policy.strip())
        except ValueError:
            raise ValueError(
                f"policy {entry!r}: reasons are {', '.join(r.value for r in Reason)}; "
                f"policies are {', '.join(p.value for p in Policy)}"
            ) from None
    return out


@dataclass
class Finding:
    """One suspected incident. Mutable while open: evidence may grow, the reason may sharpen."""

    finding_id: str
    reason: Reason
    severity: Severity
    ts_ms: int
    evidence: dict[str, Any] = field(default_factory=dict)
    line_id: int | None = None
    track_id: int | None = None
    # Escalation bookkeeping.
    action: str = ""  # nudge | alert | flag | prompt
    deadline_ms: int | None = None  # when an uncorrected nudge escalates
    alert_id: str | None = None
    escalated: bool = False
    # A weaker witness than its reason usually has (e.g. the camera alone doubting an item
    # the scale accepted): this policy instead of the store's policy for the reason.
    policy: Policy | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "finding_id": self.finding_id,
            "reason": self.reason.value,
            "severity": self.severity.value,
            "line_id": self.line_id,
            "track_id": self.track_id,
            "evidence": dict(self.evidence),
        }
