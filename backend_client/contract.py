"""The MQTT contract shared by the kiosk, the attendant/review apps and the backend:
topic tree, event envelope and event categories. ``docs/mqtt.md`` is its prose form.

    <prefix>/<store>/kiosk/<kiosk_id>/status          retained; birth + Last Will (offline)
    <prefix>/<store>/kiosk/<kiosk_id>/evt/<category>  outbox events, QoS 1
    <prefix>/<store>/kiosk/<kiosk_id>/snap/<snap_id>  snapshot JPEGs, size-bounded
    <prefix>/<store>/kiosk/<kiosk_id>/tele            health and KPIs, QoS 0
    <prefix>/<store>/kiosk/<kiosk_id>/cmd/<action>    signed commands to the kiosk
    <prefix>/<store>/kiosk/<kiosk_id>/cmdresp         answers (MQTT 5 response topic)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiosk.core.events import EventType

SCHEMA_VERSION = 1
EVENT_SCHEMA = f"opensco.event/{SCHEMA_VERSION}"
SEGMENT = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")

# Which evt/<category> topic each domain event goes to; tablets subscribe to what they need.
EVENT_CATEGORY: dict[EventType, str] = {
    EventType.SESSION_STARTED: "txn",
    EventType.STATE_CHANGED: "txn",
    EventType.LANGUAGE_CHANGED: "txn",
    EventType.PAYMENT_REQUESTED: "txn",
    EventType.PAYMENT_APPROVED: "txn",
    EventType.PAYMENT_DECLINED: "txn",
    EventType.PAYMENT_CANCELLED: "txn",
    EventType.TRANSACTION_COMPLETED: "txn",
    EventType.TRANSACTION_CANCELLED: "txn",
    EventType.TRANSACTION_SUSPENDED: "txn",
    EventType.SESSION_RESET: "txn",
    EventType.ITEM_ADDED: "item",
    EventType.ITEM_VOIDED: "item",
    EventType.QUANTITY_CHANGED: "item",
    EventType.WEIGHT_REQUESTED: "item",
    EventType.ALERT_RAISED: "alert",
    EventType.ALERT_CLEARED: "alert",
    EventType.AGE_APPROVAL_REQUESTED: "alert",
    EventType.AGE_APPROVED: "alert",
    EventType.AGE_REJECTED: "alert",
    EventType.HELP_REQUESTED: "alert",
    EventType.NUDGE_SHOWN: "flag",
    EventType.INPUT_REJECTED: "flag",
    EventType.DEVICE_STATUS: "device",
    EventType.LANE_LOCKED: "txn",
    EventType.LANE_UNLOCKED: "txn",
    EventType.MISMATCH_DETECTED: "flag",
    EventType.MISMATCH_RESOLVED: "flag",
    EventType.LP_FLAGGED: "flag",
    EventType.ITEM_SUGGESTED: "item",
    EventType.PRODUCE_SUGGESTED: "item",
    EventType.BAG_ACCEPTED: "item",
    EventType.BAGGING_SKIPPED: "item",
    EventType.SURVEY_ANSWERED: "txn",
}
CATEGORIES = ("txn", "item", "alert", "flag", "device", "calibration")


def check_segment(kind: str, value: str) -> str:
    if not SEGMENT.match(value):
        raise ValueError(
            f"{kind} {value!r} cannot be a topic segment: use 1-32 lowercase letters, "
            "digits and '-', starting with a letter or digit"
        )
    return value


@dataclass(frozen=True)
class TopicTree:
    """Topics of one kiosk. ``kiosk_id`` is also its MQTT client id and certificate CN."""

    store: str
    kiosk_id: str
    prefix: str = "opensco"

    def __post_init__(self) -> None:
        check_segment("prefix", self.prefix)
        check_segment("store", self.store)
        check_segment("kiosk id", self.kiosk_id)

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.store}/kiosk/{self.kiosk_id}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def tele(self) -> str:
        return f"{self.base}/tele"

    @property
    def cmdresp(self) -> str:
        return f"{self.base}/cmdresp"

    def event(self, event_type: str) -> str:
        try:
            category = EVENT_CATEGORY[EventType(event_type)]
        except ValueError:
            category = "calibration" if event_type.startswith("calibration") else "flag"
        return f"{self.base}/evt/{category}"

    def cmd(self, action: str = "+") -> str:
        return f"{self.base}/cmd/{action}"

    def snapshot(self, snap_id: str) -> str:
        return f"{self.base}/snap/{snap_id}"

    @staticmethod
    def all_events(prefix: str = "opensco", store: str = "+") -> str:
        """Filter for receivers of every kiosk's events in a store (or all stores)."""
        return f"{prefix}/{store}/kiosk/+/evt/#"


def event_payload(event: Mapping[str, Any], *, kiosk_id: str, store: str, boot_id: str) -> bytes:
    """The wire form of one outbox event: the event plus who sent it and the schema."""
    body = dict(event)
    body.update(kiosk_id=kiosk_id, store_id=store, boot_id=boot_id, schema=EVENT_SCHEMA)
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
