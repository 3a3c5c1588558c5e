"""ReviewStore: what the listener fills and the review app and ``sco review`` read.

Every read a person makes (list, detail, snapshot, export) is written to ``access_log`` with
who and what: shopper images and suspicion are personal data, so their use is accountable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from backend_client.receiver import EventReceiver, IngestResult
from backend_client.review_store import report
from backend_client.review_store.db import Database, Tx
from backend_client.review_store.flags import LABELS, link_snapshot
from backend_client.review_store.schema import migrate_store
from backend_client.review_store.types import (
    FlagDetail,
    FlagFilter,
    FlagRow,
    PrecisionPoint,
    RetentionPolicy,
    SnapshotInfo,
    bucket_start,
)
from backend_client.schema_validation import validate_snapshot
from kiosk.errors import BackendError

ALL_FLAGS = FlagFilter()
TIMELINE_WINDOW_S = 60.0
_TIMELINE_MAX = 500
_FLAG_COLUMNS = (
    "flag_id, kiosk_id, store_id, ts, session_id, event_type, reason, severity, outcome, "
    "alert_id, evidence, label, note, labelled_by, labelled_ts"
)


class ReviewStore:
    def __init__(self, db: Database, retention: RetentionPolicy | None = None) -> None:
        self.db = db
        self.retention = retention or RetentionPolicy()
        self.receiver = EventReceiver(db)

    @classmethod
    def open(cls, url: str | Path, retention: RetentionPolicy | None = None) -> ReviewStore:
        """Connect and bring the schema up to date (runs the migrations)."""
        db = Database(url)
        try:
            migrate_store(db)
        except Exception:
            db.close()
            raise
        return cls(db, retention)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- intake ---------------------------------------------------------------------------

    def ingest_event(self, payload: bytes) -> IngestResult:
        """Store an event once (by event_id) and, if it is flagged, its review item."""
        return self.receiver.ingest(payload)

    def ingest_snapshot(
        self, jpeg: bytes, props: Mapping[str, str], *, now: float | None = None
    ) -> str:
        """Returns "new", "duplicate" or "invalid" (the message is checked as docs/mqtt.md says)."""
        props = {str(k): str(v) for k, v in props.items()}
        if validate_snapshot(jpeg, props):
            return "invalid"
        now = time.time() if now is None else now
        kiosk, snap_id = props["kiosk_id"], props["snap_id"]
        with self.db.transaction() as tx:
            stored = tx.execute(
                "INSERT INTO snapshots (kiosk_id, snap_id, boot_id, ts, alert_id, session_id, "
                "camera, retention_class, sha256, size_bytes, meta, jpeg, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    kiosk, snap_id, props["boot_id"], float(props["ts"]), props.get("alert_id"),
                    props.get("session_id"), props.get("camera"), props.get("retention_class"),
                    props["sha256"], len(jpeg), json.dumps(props, sort_keys=True), jpeg, now,
                ),
            )  # fmt: skip
            if not stored:
                return "duplicate"  # a re-sent image, or one already purged: never revived
            link_snapshot(tx, snap_id, kiosk, props.get("alert_id"), props.get("session_id"))
        return "new"

    # --- review ---------------------------------------------------------------------------

    def flags(self, f: FlagFilter = ALL_FLAGS, *, viewer: str) -> list[FlagRow]:
        with self.db.transaction() as tx:
            rows = self._flags(tx, f, f.limit)
            self._log(tx, viewer, "list", None, f.describe())
        return rows

    def detail(self, flag_id: str, *, viewer: str) -> FlagDetail:
        """Raises KeyError for an unknown flag id."""
        with self.db.transaction() as tx:
            flag = self._flag(tx, flag_id)
            self._log(tx, viewer, "detail", flag_id, "")
            timeline = self._timeline(tx, flag)
            receipt = self._receipt(tx, flag)
            snapshots = self._snapshots(tx, flag)
            labels = tx.query(
                "SELECT label, note, reviewer, ts FROM labels WHERE flag_id = ? ORDER BY id",
                (flag_id,),
            )
        return FlagDetail(
            flag=flag,
            timeline=tuple(timeline),
            receipt=receipt,
            weights=tuple(_weights(flag, timeline)),
            snapshots=tuple(snapshots),
            labels=tuple(
                {"label": r[0], "note": r[1], "reviewer": r[2], "ts": r[3]} for r in labels
            ),
        )

    def label(self, flag_id: str, label: str, note: str, *, reviewer: str) -> FlagRow:
        """Label (or relabel) a flag; every label is kept in ``labels``. KeyError if unknown."""
        if label not in LABELS:
            raise ValueError(f"label must be one of {', '.join(LABELS)}")
        if not reviewer.strip():
            raise ValueError("a label needs the reviewer's id")
        now = time.time()
        with self.db.transaction() as tx:
            self._flag(tx, flag_id)  # KeyError before anything is written
            tx.execute(
                "INSERT INTO labels (flag_id, label, note, reviewer, ts) VALUES (?, ?, ?, ?, ?)",
                (flag_id, label, note, reviewer, now),
            )
            tx.execute(
                "UPDATE flags SET label = ?, note = ?, labelled_by = ?, labelled_ts = ? "
                "WHERE flag_id = ?",
                (label, note, reviewer, now, flag_id),
            )
            self._log(tx, reviewer, "label", flag_id, label)
            return self._flag(tx, flag_id)

    def precision(self, f: FlagFilter = ALL_FLAGS, *, bucket: str = "week") -> list[PrecisionPoint]:
        """Per reason and time bucket: confirmed / (confirmed + false alarms). Aggregates
        only, so it is not an access to any one flag and is not logged."""
        bucket_start(0.0, bucket)  # ValueError for an unknown bucket, before any query
        sql, params = _where(f)
        rows = self.db.query(f"SELECT reason, ts, label FROM flags{sql}", params)
        counts: dict[tuple[str, float], list[int]] = {}
        for reason, ts, label in rows:
            c = counts.setdefault((reason, bucket_start(float(ts), bucket)), [0, 0, 0])
            c[0 if label == "confirmed_loss" else 1 if label == "false_alarm" else 2] += 1
        return [
            PrecisionPoint(reason, start, c[0], c[1], c[2])
            for (reason, start), c in sorted(counts.items())
        ]

    def snapshot_jpeg(
        self, snap_id: str, *, viewer: str, kiosk_id: str | None = None
    ) -> bytes | None:
        """The image, or None if it was purged or never arrived."""
        sql = "SELECT jpeg FROM snapshots WHERE snap_id = ?"
        params: list[Any] = [snap_id]
        if kiosk_id:
            sql, params = sql + " AND kiosk_id = ?", [*params, kiosk_id]
        with self.db.transaction() as tx:
            row = tx.one(sql + " ORDER BY received_at DESC LIMIT 1", params)
            self._log(tx, viewer, "snapshot", None, f"snap_id={snap_id}")
        return bytes(row[0]) if row is not None and row[0] is not None else None

    def purge_expired(self, now: float | None = None) -> int:
        """Delete the image bytes of snapshots past retention; their rows stay, marked purged."""
        now = time.time() if now is None else now
        short, case = self.retention.short_s, self.retention.case_s
        return self.db.execute(
            "UPDATE snapshots SET jpeg = NULL, purged_at = ? WHERE jpeg IS NOT NULL AND "
            "received_at < ? - (CASE WHEN retention_class = 'case' THEN ? "
            "WHEN retention_class = 'short' THEN ? "
            "WHEN EXISTS (SELECT 1 FROM flag_snaps fs JOIN flags f ON f.flag_id = fs.flag_id "
            "WHERE fs.snap_id = snapshots.snap_id AND f.kiosk_id = snapshots.kiosk_id) THEN ? "
            "ELSE ? END)",
            (now, now, case, short, case, short),
        )

    def access_log(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT ts, viewer, action, flag_id, detail FROM access_log ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        keys = ("ts", "viewer", "action", "flag_id", "detail")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def export_csv(self, f: FlagFilter, out: TextIO, *, viewer: str) -> int:
        with self.db.transaction() as tx:
            rows = self._flags(tx, f, f.limit)
            self._log(tx, viewer, "export_csv", None, f.describe())
        return report.write_csv(rows, out)

    def report_html(self, f: FlagFilter, *, viewer: str) -> str:
        with self.db.transaction() as tx:
            rows = self._flags(tx, f, f.limit)
            self._log(tx, viewer, "report_html", None, f.describe())
        return report.html(rows, self.precision(f), f)

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _log(tx: Tx, viewer: str, action: str, flag_id: str | None, detail: str) -> None:
        if not viewer or not viewer.strip():
            raise BackendError("every review access needs a viewer id (the access log)")
        tx.execute(
            "INSERT INTO access_log (ts, viewer, action, flag_id, detail) VALUES (?, ?, ?, ?, ?)",
            (time.time(), viewer, action, flag_id, detail),
        )

    def _flags(self, tx: Tx, f: FlagFilter, limit: int) -> list[FlagRow]:
        sql, params = _where(f)
        rows = tx.query(
            f"SELECT {_FLAG_COLUMNS} FROM flags{sql} ORDER BY ts DESC, flag_id LIMIT ?",
            [*params, limit],
        )
        snaps = _snap_ids(tx, [str(r[0]) for r in rows])
        return [_row(r, snaps.get(str(r[0]), ())) for r in rows]

    def _flag(self, tx: Tx, flag_id: str) -> FlagRow:
        row = tx.one(f"SELECT {_FLAG_COLUMNS} FROM flags WHERE flag_id = ?", (flag_id,))
        if row is None:
            raise KeyError(flag_id)
        return _row(row, _snap_ids(tx, [flag_id]).get(flag_id, ()))

    def _timeline(self, tx: Tx, flag: FlagRow) -> list[dict[str, Any]]:
        sql = "SELECT payload FROM events WHERE kiosk_id = ? AND ts BETWEEN ? AND ?"
        window = (flag.ts - TIMELINE_WINDOW_S, flag.ts + TIMELINE_WINDOW_S)
        params: list[Any] = [flag.kiosk_id, *window]
        if flag.session_id:
            sql, params = sql + " AND session_id = ?", [*params, flag.session_id]
        rows = tx.query(sql + " ORDER BY seq LIMIT ?", [*params, _TIMELINE_MAX])
        return [_load(r[0]) for r in rows]

    def _receipt(self, tx: Tx, flag: FlagRow) -> Mapping[str, Any] | None:
        if not flag.session_id:
            return None
        row = tx.one(
            "SELECT payload FROM events WHERE kiosk_id = ? AND session_id = ? "
            "AND type = 'transaction_completed' ORDER BY seq LIMIT 1",
            (flag.kiosk_id, flag.session_id),
        )
        receipt = _load(row[0]).get("receipt") if row else None
        return receipt if isinstance(receipt, dict) else None

    def _snapshots(self, tx: Tx, flag: FlagRow) -> list[SnapshotInfo]:
        out = []
        for snap_id in flag.snap_ids:
            row = tx.one(
                "SELECT ts, size_bytes, jpeg IS NOT NULL, camera, retention_class, purged_at "
                "FROM snapshots WHERE kiosk_id = ? AND snap_id = ?",
                (flag.kiosk_id, snap_id),
            )
            if row is None:
                out.append(SnapshotInfo(snap_id, None, 0, False, flag.kiosk_id))
                continue
            out.append(
                SnapshotInfo(
                    snap_id, float(row[0]), int(row[1]), bool(row[2]), flag.kiosk_id,
                    row[3], row[4], row[5],
                )
            )  # fmt: skip
        return out


def _where(f: FlagFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("store_id", f.store_id), ("kiosk_id", f.kiosk_id), ("reason", f.reason),
        ("severity", f.severity),
    ):  # fmt: skip
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if f.since_ts is not None:
        clauses.append("ts >= ?")
        params.append(f.since_ts)
    if f.until_ts is not None:
        clauses.append("ts < ?")
        params.append(f.until_ts)
    if f.label == "unlabelled":
        clauses.append("label IS NULL")
    elif f.label is not None:
        clauses.append("label = ?")
        params.append(f.label)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _snap_ids(tx: Tx, flag_ids: list[str]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for start in range(0, len(flag_ids), 500):
        chunk = flag_ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        for flag_id, snap_id in tx.query(
            f"SELECT flag_id, snap_id FROM flag_snaps WHERE flag_id IN ({marks}) "
            "ORDER BY flag_id, snap_id",
            chunk,
        ):
            out.setdefault(str(flag_id), []).append(str(snap_id))
    return {k: tuple(v) for k, v in out.items()}


def _row(r: tuple[Any, ...], snap_ids: tuple[str, ...]) -> FlagRow:
    return FlagRow(
        flag_id=r[0], kiosk_id=r[1], store_id=r[2], ts=float(r[3]), session_id=r[4],
        event_type=r[5], reason=r[6], severity=r[7], outcome=r[8], alert_id=r[9],
        snap_ids=snap_ids, evidence=_load(r[10]), label=r[11], note=r[12] or "",
        labelled_by=r[13], labelled_ts=float(r[14]) if r[14] is not None else None,
    )  # fmt: skip


def _load(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _weights(flag: FlagRow, timeline: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every gram figure around the flag: scale readings in events, their lines and evidence."""
    out: list[dict[str, Any]] = []
    flag_event = {"type": "flag", "ts": flag.ts, "evidence": dict(flag.evidence)}
    for event in [flag_event, *timeline]:
        grams: dict[str, int] = {}
        for part in (event, event.get("evidence"), event.get("line")):
            if isinstance(part, Mapping):
                grams.update(
                    (k, v)
                    for k, v in part.items()
                    if k.endswith("_g") and isinstance(v, int) and not isinstance(v, bool)
                )
        if grams:
            out.append({"seq": event.get("seq"), "ts": event.get("ts"), "type": event.get("type"),
                        **grams})  # fmt: skip
    return out
