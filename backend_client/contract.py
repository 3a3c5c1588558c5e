"""The MQTT contract shared by the kiosk, the attendant/review apps and the backend:
topic tree, event envelope and event categories. ``docs/mqtt.md`` is its prose form.

    <prefix>/<store>/kiosk/<kiosk_id>/status          retained; birth + Last Will (offline)
    <prefix>/<store>/kiosk/<kiosk_id>/state           retained lane-state summary (tablets)
    <prefix>/<store>/kiosk/<kiosk_id>/screen          retained shopper screen state (tablets)
    <prefix>/<store>/kiosk/<kiosk_id>/evt/<category>  outbox events, QoS 1
    <prefix>/<store>/kiosk/<kiosk_id>/snap/<snap_id>  snapshot JPEGs, size-bounded
    <prefix>/<store>/kiosk/<kiosk_id>/tele            health and KPIs, QoS 0
    <prefix>/<store>/kiosk/<kiosk_id>/cmd/<action>    signed commands to the kiosk
    <prefix>/<store>/kiosk/<kiosk_id>/cmdresp         answers (MQTT 5 response topic)
    <prefix>/<store>/attendant/claim/<kiosk_id>/<alert_id>  retained advisory claims
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from kiosk.core.events import EventType

SCHEMA_VERSION = 1
EVENT_SCHEMA = f"opensco.event/{SCHEMA_VERSION}"
LANESTATE_SCHEMA = f"opensco.lanestate/{SCHEMA_VERSION}"
CLAIM_SCHEMA = f"opensco.claim/{SCHEMA_VERSION}"
SCREEN_SCHEMA = f"opensco.screen/{SCHEMA_VERSION}"
SEGMENT = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
ALERT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")  # kiosk.core.alerts ids: A<txn>-<n>

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
    EventType.ATTENDANT_MESSAGE: "alert",
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
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def screen(self) -> str:
        """The shopper's screen as a view-model snapshot (remote assistance, no video)."""
        return f"{self.base}/screen"

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


def claim_topic(prefix: str, store: str, kiosk_id: str, alert_id: str) -> str:
    """Retained advisory claim of one alert by one attendant (empty payload: released)."""
    check_segment("prefix", prefix)
    check_segment("store", store)
    check_segment("kiosk id", kiosk_id)
    if not ALERT_ID.match(alert_id):
        raise ValueError(f"alert id {alert_id!r} cannot be a topic segment")
    return f"{prefix}/{store}/attendant/claim/{kiosk_id}/{alert_id}"


def claims_filter(prefix: str, store: str) -> str:
    return f"{prefix}/{store}/attendant/claim/#"


def store_kiosks_filter(prefix: str, store: str, leaf: str) -> str:
    """``<prefix>/<store>/kiosk/+/<leaf>``: one kind of topic of every kiosk of a store."""
    return f"{prefix}/{store}/kiosk/+/{leaf}"


def claim_payload(
    kiosk_id: str, alert_id: str, attendant_id: str, tablet_id: str, ts: float
) -> bytes:
    body = {
        "schema": CLAIM_SCHEMA,
        "kiosk_id": kiosk_id,
        "alert_id": alert_id,
        "attendant_id": attendant_id,
        "tablet_id": tablet_id,
        "ts": ts,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


class ParsedTopic(NamedTuple):
    """What a store subscriber received: ``kind`` is status, state, screen, evt, snap, tele,
    cmd, cmdresp or claim; ``rest`` is the category, snap id, action or alert id."""

    kind: str
    kiosk_id: str
    rest: str = ""


def parse_store_topic(topic: str, prefix: str, store: str) -> ParsedTopic | None:
    """Split a topic of one store; None for anything outside the contract."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != prefix or parts[1] != store:
        return None
    if parts[2] == "attendant":
        if len(parts) == 6 and parts[3] == "claim" and SEGMENT.match(parts[4]):
            return ParsedTopic("claim", parts[4], parts[5]) if ALERT_ID.match(parts[5]) else None
        return None
    if parts[2] != "kiosk" or not SEGMENT.match(parts[3]):
        return None
    kiosk_id, tail = parts[3], parts[4:]
    if len(tail) == 1 and tail[0] in ("status", "state", "screen", "tele", "cmdresp"):
        return ParsedTopic(tail[0], kiosk_id)
    if len(tail) == 2 and tail[0] in ("evt", "snap", "cmd") and tail[1]:
        return ParsedTopic(tail[0], kiosk_id, tail[1])
    return None
