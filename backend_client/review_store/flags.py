"""Which events are flagged for loss-prevention review, and how one becomes a review item.

Flagged (docs/review.md):

* ``lp_flagged``: a mismatch finding whose policy is a silent flag (kiosk.core.security);
* ``alert_raised`` whose reason is a mismatch reason (``kiosk.core.security.findings.Reason``:
  non_scan, ticket_switch, weight_mismatch, ...) or that names the ``finding_id`` it came from.
  Help, age checks, payment trouble and other service alerts are not loss-prevention items.

Never flagged: any event marked ``training: true`` (a lane in training mode, docs/training.md).

One review item per finding: the kiosk gives each finding an id unique within its session
(``F<txn>-<n>``), so the key is (kiosk, session, finding id); an event without a finding id is
its own item. The item's ``flag_id`` is the ``event_id`` of the first event seen for it, and
because events are stored by ``event_id`` first, a re-sent event never reaches this code twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backend_client.review_store.db import Tx
from kiosk.core.security.findings import SECURITY_REASONS

FLAG_EVENT_TYPES = ("alert_raised", "lp_flagged")
LABELS = ("confirmed_loss", "false_alarm")
_MAX_SNAPS = 50  # an event cannot make a flag cite thousands of images


@dataclass(frozen=True)
class FlagCandidate:
    flag_id: str
    finding_key: str
    kiosk_id: str
    store_id: str
    ts: float
    session_id: str | None
    event_type: str
    reason: str
    severity: str
    outcome: str
    alert_id: str | None
    finding_id: str | None
    evidence: Mapping[str, Any]
    snap_ids: tuple[str, ...]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def flag_from_event(event: Mapping[str, Any]) -> FlagCandidate | None:
    """The review item this (already validated) event makes, or None if it is not flagged."""
    kind = event.get("type")
    if kind not in FLAG_EVENT_TYPES or event.get("training") is True:
        return None  # a training lane's alerts are practice, never a review item
    reason = _text(event.get("reason")) or _text(event.get("kind")) or ""
    finding_id = _text(event.get("finding_id"))
    if kind == "alert_raised" and reason not in SECURITY_REASONS and finding_id is None:
        return None
    evidence = event.get("evidence")
    evidence = dict(evidence) if isinstance(evidence, Mapping) else {}
    session = _text(event.get("session_id"))
    kiosk = str(event["kiosk_id"])
    key = f"{kiosk}|{session or ''}|{finding_id}" if finding_id else f"event|{event['event_id']}"
    snaps: list[str] = []
    for source in (event.get("snap_ids"), evidence.get("snapshots")):
        if isinstance(source, list):
            snaps += [s for s in source if isinstance(s, str) and s and s not in snaps]
    ts = event.get("ts")
    return FlagCandidate(
        flag_id=str(event["event_id"]),
        finding_key=key,
        kiosk_id=kiosk,
        store_id=str(event["store_id"]),
        ts=float(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else 0.0,
        session_id=session,
        event_type=str(kind),
        reason=reason or "unknown",
        severity=_text(event.get("severity")) or "medium",
        outcome="alert" if kind == "alert_raised" else "flag",
        alert_id=_text(event.get("alert_id")),
        finding_id=finding_id,
        evidence=evidence,
        snap_ids=tuple(snaps[:_MAX_SNAPS]),
    )


def record_flag(tx: Tx, event: Mapping[str, Any], now: float | None = None) -> str | None:
    """Store the review item of a newly stored event (same transaction); returns its flag id,
    or None when the event is not flagged."""
    cand = flag_from_event(event)
    if cand is None:
        return None
    now = time.time() if now is None else now
    inserted = tx.execute(
        "INSERT INTO flags (flag_id, finding_key, kiosk_id, store_id, ts, session_id, "
        "event_type, reason, severity, outcome, alert_id, finding_id, evidence, note, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?) "
        "ON CONFLICT DO NOTHING",
        (
            cand.flag_id, cand.finding_key, cand.kiosk_id, cand.store_id, cand.ts,
            cand.session_id, cand.event_type, cand.reason, cand.severity, cand.outcome,
            cand.alert_id, cand.finding_id, json.dumps(cand.evidence, sort_keys=True), now,
        ),
    )  # fmt: skip
    flag_id = cand.flag_id
    if not inserted:
        # The same finding seen again (its flag, then its alert): one item, merged.
        row = tx.one(
            "SELECT flag_id, alert_id FROM flags WHERE finding_key = ?", (cand.finding_key,)
        )
        if row is None:
            return None  # the flag_id (event id) already names another item: nothing to add
        flag_id = str(row[0])
        if cand.alert_id and not row[1]:
            tx.execute(
                "UPDATE flags SET alert_id = ?, outcome = 'alert' WHERE flag_id = ?",
                (cand.alert_id, flag_id),
            )
    for snap_id in cand.snap_ids:
        tx.execute(
            "INSERT INTO flag_snaps (flag_id, snap_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (flag_id, snap_id),
        )
    if cand.alert_id:  # snapshots that arrived before their alert
        _link_alert_snapshots(tx, flag_id, cand.kiosk_id, cand.alert_id, cand.session_id)
    return flag_id


def _link_alert_snapshots(
    tx: Tx, flag_id: str, kiosk: str, alert_id: str, session: str | None
) -> None:
    sql = (
        "INSERT INTO flag_snaps (flag_id, snap_id) SELECT ?, snap_id FROM snapshots "
        "WHERE kiosk_id = ? AND alert_id = ?"
    )
    params: list[Any] = [flag_id, kiosk, alert_id]
    if session:
        sql += " AND (session_id IS NULL OR session_id = ?)"
        params.append(session)
    tx.execute(sql + " ON CONFLICT DO NOTHING", params)


def link_snapshot(
    tx: Tx, snap_id: str, kiosk: str, alert_id: str | None, session: str | None
) -> int:
    """A snapshot that names its alert joins that alert's review item."""
    if not alert_id:
        return 0
    sql = (
        "INSERT INTO flag_snaps (flag_id, snap_id) SELECT flag_id, ? FROM flags "
        "WHERE kiosk_id = ? AND alert_id = ?"
    )
    params: list[Any] = [snap_id, kiosk, alert_id]
    if session:
        sql += " AND (session_id IS NULL OR session_id = ?)"
        params.append(session)
    return tx.execute(sql + " ON CONFLICT DO NOTHING", params)
