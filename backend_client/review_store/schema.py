"""The review store's schema, as numbered migrations (the same for SQLite and PostgreSQL).

Version 1 is the reference receiver's original ``events`` table, so a database written by an
older ``sco backend listen`` opens unchanged and is brought up to date: version 2 adds the
review tables and fills them from the events already stored.
"""

from __future__ import annotations

import json

from backend_client.review_store.db import Database, Migration, Tx, migrate
from backend_client.review_store.flags import FLAG_EVENT_TYPES, record_flag

_EVENTS = """CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    kiosk_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    type TEXT NOT NULL,
    ts {REAL},
    boot_id TEXT,
    payload TEXT NOT NULL,
    received_at {REAL} NOT NULL
)"""

_FLAGS = """CREATE TABLE flags (
    flag_id TEXT PRIMARY KEY,
    finding_key TEXT NOT NULL UNIQUE,
    kiosk_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    ts {REAL} NOT NULL,
    session_id TEXT,
    event_type TEXT NOT NULL,
    reason TEXT NOT NULL,
    severity TEXT NOT NULL,
    outcome TEXT NOT NULL,
    alert_id TEXT,
    finding_id TEXT,
    evidence TEXT NOT NULL,
    label TEXT,
    note TEXT NOT NULL DEFAULT '',
    labelled_by TEXT,
    labelled_ts {REAL},
    created_at {REAL} NOT NULL
)"""

_FLAG_SNAPS = """CREATE TABLE flag_snaps (
    flag_id TEXT NOT NULL REFERENCES flags (flag_id),
    snap_id TEXT NOT NULL,
    PRIMARY KEY (flag_id, snap_id)
)"""

_LABELS = """CREATE TABLE labels (
    id {SERIAL},
    flag_id TEXT NOT NULL REFERENCES flags (flag_id),
    label TEXT NOT NULL,
    note TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    ts {REAL} NOT NULL
)"""

_SNAPSHOTS = """CREATE TABLE snapshots (
    kiosk_id TEXT NOT NULL,
    snap_id TEXT NOT NULL,
    boot_id TEXT NOT NULL,
    ts {REAL} NOT NULL,
    alert_id TEXT,
    session_id TEXT,
    camera TEXT,
    retention_class TEXT,
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    meta TEXT NOT NULL,
    jpeg {BLOB},
    received_at {REAL} NOT NULL,
    purged_at {REAL},
    PRIMARY KEY (kiosk_id, snap_id)
)"""

_ACCESS_LOG = """CREATE TABLE access_log (
    id {SERIAL},
    ts {REAL} NOT NULL,
    viewer TEXT NOT NULL,
    action TEXT NOT NULL,
    flag_id TEXT,
    detail TEXT NOT NULL DEFAULT ''
)"""


def _backfill(tx: Tx) -> None:
    """Events stored before version 2: their session ids, and the flags they raise."""
    rows = tx.query("SELECT event_id, type, payload FROM events")
    for event_id, kind, payload in rows:
        try:
            event = json.loads(payload)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        session = event.get("session_id")
        if isinstance(session, str) and session:
            tx.execute("UPDATE events SET session_id = ? WHERE event_id = ?", (session, event_id))
        if kind in FLAG_EVENT_TYPES:
            record_flag(tx, event)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "events",
        (_EVENTS, "CREATE INDEX IF NOT EXISTS events_kiosk_seq ON events (kiosk_id, seq)"),
    ),
    Migration(
        2,
        "review",
        (
            "ALTER TABLE events ADD COLUMN session_id TEXT",
            "CREATE INDEX events_kiosk_session ON events (kiosk_id, session_id, seq)",
            _FLAGS,
            "CREATE INDEX flags_ts ON flags (ts)",
            "CREATE INDEX flags_where ON flags (store_id, kiosk_id, ts)",
            "CREATE INDEX flags_reason ON flags (reason, ts)",
            "CREATE INDEX flags_alert ON flags (kiosk_id, alert_id)",
            _FLAG_SNAPS,
            "CREATE INDEX flag_snaps_snap ON flag_snaps (snap_id)",
            _LABELS,
            "CREATE INDEX labels_flag ON labels (flag_id, ts)",
            _SNAPSHOTS,
            "CREATE INDEX snapshots_alert ON snapshots (kiosk_id, alert_id)",
            "CREATE INDEX snapshots_received ON snapshots (received_at)",
            _ACCESS_LOG,
            "CREATE INDEX access_log_ts ON access_log (ts)",
            _backfill,
        ),
    ),
)

SCHEMA_VERSION = MIGRATIONS[-1].version


def migrate_store(db: Database) -> list[int]:
    """Bring ``db`` to the newest schema; returns the versions this call applied."""
    return migrate(db, MIGRATIONS)
