"""Domain events: what the checkout core says happened.

One frozen ``Event`` type with a ``type`` tag and a JSON-ready ``data`` mapping keeps the
journal, the outbox, the replay output and the MQTT payloads one shape. Event ids are
derived from (kiosk, journal, seq), never random, so a replay is byte-identical.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kiosk.core.inputs import ms_to_seconds


class EventType(StrEnum):
    SESSION_STARTED = "session_started"
    LANGUAGE_CHANGED = "language_changed"
    ITEM_ADDED = "item_added"
    ITEM_VOIDED = "item_voided"
    QUANTITY_CHANGED = "quantity_changed"
    WEIGHT_REQUESTED = "weight_requested"
    NUDGE_SHOWN = "nudge_shown"
    ALERT_RAISED = "alert_raised"
    ALERT_CLEARED = "alert_cleared"
    AGE_APPROVAL_REQUESTED = "age_approval_requested"
    AGE_APPROVED = "age_approved"
    AGE_REJECTED = "age_rejected"
    HELP_REQUESTED = "help_requested"
    PAYMENT_REQUESTED = "payment_requested"
    PAYMENT_APPROVED = "payment_approved"
    PAYMENT_DECLINED = "payment_declined"
    PAYMENT_CANCELLED = "payment_cancelled"
    TRANSACTION_COMPLETED = "transaction_completed"
    TRANSACTION_CANCELLED = "transaction_cancelled"
    TRANSACTION_SUSPENDED = "transaction_suspended"
    SESSION_RESET = "session_reset"
    STATE_CHANGED = "state_changed"
    INPUT_REJECTED = "input_rejected"
    DEVICE_STATUS = "device_status"
    LANE_LOCKED = "lane_locked"
    LANE_UNLOCKED = "lane_unlocked"
    # Mismatch detection (kiosk.core.security, docs/mismatch.md).
    MISMATCH_DETECTED = "mismatch_detected"
    MISMATCH_RESOLVED = "mismatch_resolved"
    LP_FLAGGED = "lp_flagged"
    ITEM_SUGGESTED = "item_suggested"
    PRODUCE_SUGGESTED = "produce_suggested"
    BAG_ACCEPTED = "bag_accepted"
    BAGGING_SKIPPED = "bagging_skipped"
    SURVEY_ANSWERED = "survey_answered"  # the one-tap rating after a sale
    ATTENDANT_MESSAGE = "attendant_message"  # text from the attendant's tablet for the shopper


@dataclass(frozen=True)
class Event:
    type: EventType
    ts_ms: int
    seq: int
    event_id: str
    session_id: str | None
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "type": self.type.value,
            "ts": ms_to_seconds(self.ts_ms),
            "seq": self.seq,
            "session_id": self.session_id,
        }
        out.update(self.data)
        return out

    def to_json(self) -> str:
        return event_json(self.to_dict())


def event_json(obj: Mapping[str, Any]) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 kept, so equal events are equal bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def make_event_id(kiosk_id: str, journal_id: str, seq: int) -> str:
    """A stable UUID-shaped id (RFC 4122 layout over SHA-256), unique per lane and journal."""
    digest = bytearray(
        hashlib.sha256(f"{kiosk_id}\x1f{journal_id}\x1f{seq}".encode()).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version nibble 5: name-based
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
