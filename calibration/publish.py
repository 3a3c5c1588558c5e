"""A calibration record on its way to the backend: through the lane's own outbox.

The record becomes a ``calibration_recorded`` event in the lane's journal outbox, with the
lane's next ``seq`` (``calibration.lane_journal`` explains why that is safe only while the
lane is stopped between sales). From there it is as durable as a sale: the outbox relay
publishes it QoS 1 on ``<prefix>/<store>/kiosk/<kiosk>/evt/calibration`` and marks it sent
only on a successful PUBACK, so a broker that is down now gets it later, from
``sco calibrate record publish`` or from the lane itself when it starts again.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from calibration.lane_journal import idle_lane, journal_file
from calibration.record import CalibrationRecord, save_record
from calibration.schema import record_problems
from kiosk.core.events import event_json, make_event_id
from kiosk.errors import KioskError
from kiosk.journal import Journal

EVENT_TYPE = "calibration_recorded"


def queue_record(record: CalibrationRecord, data_dir: str | Path) -> int:
    """Put ``record`` in the lane's outbox (once) and save it with its ``seq``; returns it.

    Raises LaneBusyError (nothing changed) while the lane runs or has a sale open.
    """
    if record.event_seq is not None:
        return record.event_seq  # queued once; the outbox keeps it until it is sent
    body = record.to_json()
    body["event_seq"] = None  # the copy in the event does not know its own seq
    problems = record_problems(body)
    if problems:
        raise KioskError(f"record {record.record_id} is not valid: {'; '.join(problems[:5])}")
    with idle_lane(data_dir, create=True) as lane:
        found = lane.db.execute(
            "SELECT seq FROM outbox WHERE type = ? AND json_extract(payload, '$.record.record_id')"
            " = ?",
            (EVENT_TYPE, record.record_id),
        ).fetchone()
        if found is not None:
            seq = int(found[0])
        else:
            seq = lane.next_seq()
            ts_ms = int((record.finished_ts or record.started_ts) * 1000)
            event = {
                "event_id": make_event_id(record.kiosk_id, lane.journal_id, seq),
                "type": EVENT_TYPE,
                "ts": ts_ms / 1000,
                "seq": seq,
                "session_id": None,
                "record": body,
            }
            lane.db.execute(
                "INSERT INTO outbox (seq, event_id, type, ts_ms, payload) VALUES (?, ?, ?, ?, ?)",
                (seq, event["event_id"], EVENT_TYPE, ts_ms, event_json(event)),
            )
            lane.snapshot["seq"] = seq  # the lane's next event follows this one
    record.event_seq = seq
    save_record(record, data_dir)
    return seq


def record_sent(data_dir: str | Path, record_id: str) -> bool | None:
    """True once the broker acknowledged it, False while pending, None if not queued (or
    the row was pruned after the outbox's retention)."""
    path = journal_file(data_dir)
    if not path.exists():
        return None
    Journal(path).close()  # refuses a damaged or newer journal with a clear message
    with closing(sqlite3.connect(path, timeout=30)) as db:
        row = db.execute(
            "SELECT sent_at_ms FROM outbox WHERE type = ? AND json_extract(payload, "
            "'$.record.record_id') = ?",
            (EVENT_TYPE, record_id),
        ).fetchone()
    return None if row is None else row[0] is not None


def publish_outbox(
    data_dir: str | Path,
    broker: str,
    *,
    kiosk_id: str,
    store: str,
    prefix: str = "opensco",
    timeout_s: float = 30.0,
) -> tuple[int, str]:
    """Send every pending outbox row (the record and anything else the lane left);
    returns (rows still pending, the link's last error)."""
    from backend_client.cli import flush_outbox

    return flush_outbox(
        data_dir, broker, kiosk_id=kiosk_id, store=store, prefix=prefix, timeout_s=timeout_s
    )
