"""The session journal and the backend outbox, in one SQLite file.

Every input is written before it is applied, and the events it produced go to the
outbox in the same transaction (every event is bound for the backend: even a nudge is
loss-prevention evidence, and one stream keeps ``seq`` gapless), so a sale and its
event are never separated.
When a session ends, the core's between-session snapshot is stored in that same
transaction too; recovery = last checkpoint + the inputs journaled after it.

SQLite runs in WAL mode with ``synchronous=FULL``: a committed input survives power loss.

Retention: recovery needs only the inputs after the checkpoint, so when a checkpoint is
written, inputs before it that are older than ``input_retention_ms`` (by input time) are
deleted in the same transaction, at most once per ``INPUT_PRUNE_EVERY_MS``. Outbox rows are
pruned by the relay only once acknowledged (``outbox_prune``), so replay requests are served
for ``[mqtt] retention_days``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.core.events import Event, event_json
from kiosk.core.inputs import Input, input_from_dict, input_to_dict
from kiosk.errors import InputFormatError, JournalError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
HOUR_MS = 3_600_000
INPUT_RETENTION_MS = 7 * 24 * HOUR_MS  # a week of inputs stays for support and forensics
INPUT_PRUNE_EVERY_MS = HOUR_MS
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inputs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    after_input_id INTEGER NOT NULL,
    snapshot TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    payload TEXT NOT NULL,
    sent_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (seq) WHERE sent_at_ms IS NULL;
"""


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    event_id: str
    type: str
    payload: str


class Journal:
    """One lane's durable memory. Not thread-safe: the engine thread owns it."""

    def __init__(self, path: str | Path, *, new_journal_id: str | None = None) -> None:
        """Open or create a journal. ``new_journal_id`` names a new one (replays use a
        fixed name so their event ids are reproducible); a live lane gets a random one."""
        self.path = Path(path)
        self.input_retention_ms = INPUT_RETENTION_MS  # 0 keeps every input
        self._inputs_pruned_at_ms = 0
        self.inputs_pruned = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # The relay and `sco outbox` share the file: wait for their write locks, never
            # drop an input because another connection was committing.
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self.journal_id = self._meta_setdefault(
                "journal_id", new_journal_id or uuid.uuid4().hex
            )
            version = int(self._meta_setdefault("schema_version", str(SCHEMA_VERSION)))
        except sqlite3.DatabaseError as err:
            raise JournalError(
                f"cannot open journal {self.path}: {err}. The lane will not start on a damaged "
                "journal (it may hold an open sale and unsent events): copy the file for "
                "support, then move it aside to start with an empty one"
            ) from err
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"journal {self.path} has schema {version}; this OpenSCO knows {SCHEMA_VERSION}"
            )

    def close(self) -> None:
        self._db.close()

    def _meta_setdefault(self, key: str, value: str) -> str:
        self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0])

    # --- writing ------------------------------------------------------------------------

    def record(
        self,
        item: Input,
        apply: Callable[[Input], list[Event]],
        snapshot: Callable[[], dict[str, Any] | None],
    ) -> list[Event]:
        """Journal ``item``, apply it, and store its outbox events, atomically.

        ``snapshot`` returns the core's checkpoint when a session just ended, else None.
        If ``apply`` raises, nothing is stored and the error propagates: the caller must
        rebuild the core from the journal, since the failed apply may have half-changed it.
        """
        body = event_json(input_to_dict(item))
        try:
            self._db.execute("BEGIN IMMEDIATE")
            cur = self._db.execute(
                "INSERT INTO inputs (ts_ms, body) VALUES (?, ?)", (item.ts_ms, body)
            )
            input_id = cur.lastrowid
            events = apply(item)
            self._db.executemany(
                "INSERT INTO outbox (seq, event_id, type, ts_ms, payload) VALUES (?, ?, ?, ?, ?)",
                [(e.seq, e.event_id, e.type.value, e.ts_ms, e.to_json()) for e in events],
            )
            snap = snapshot()
            if snap is not None:
                # One row: only the latest checkpoint matters for recovery.
                self._db.execute(
                    "INSERT OR REPLACE INTO checkpoints (id, after_input_id, snapshot) "
                    "VALUES (1, ?, ?)",
                    (input_id, json.dumps(snap, sort_keys=True)),
                )
                self._prune_inputs(int(input_id or 0), item.ts_ms)
            self._db.execute("COMMIT")
            return events
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _prune_inputs(self, checkpoint_id: int, now_ms: int) -> None:
        """Inside ``record``'s transaction, right after a checkpoint at ``checkpoint_id``:
        drop inputs before it older than the retention (never one recovery replays)."""
        if (
            self.input_retention_ms <= 0
            or now_ms - self._inputs_pruned_at_ms < INPUT_PRUNE_EVERY_MS
        ):
            return
        self._inputs_pruned_at_ms = now_ms
        # The oldest input still inside the window: scanned from the oldest id, so after the
        # first prune this reads about an hour of rows. A clock stepped back only keeps more.
        row = self._db.execute(
            "SELECT id FROM inputs WHERE ts_ms >= ? ORDER BY id LIMIT 1",
            (now_ms - self.input_retention_ms,),
        ).fetchone()
        keep_from = min(int(row[0]), checkpoint_id) if row else checkpoint_id
        cur = self._db.execute("DELETE FROM inputs WHERE id < ?", (keep_from,))
        self.inputs_pruned += max(cur.rowcount, 0)

    # --- recovery -----------------------------------------------------------------------

    def last_checkpoint(self) -> tuple[int, dict[str, Any] | None]:
        row = self._db.execute(
            "SELECT after_input_id, snapshot FROM checkpoints ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return 0, None
        return int(row[0]), json.loads(row[1])

    def inputs_after(self, input_id: int) -> Iterator[Input]:
        with closing(self._db.cursor()) as cur:
            for row_id, body in cur.execute(
                "SELECT id, body FROM inputs WHERE id > ? ORDER BY id", (input_id,)
            ):
                try:
                    yield input_from_dict(json.loads(body))
                except (InputFormatError, ValueError) as err:
                    raise JournalError(f"journal row {row_id} is unreadable: {err}") from err

    def input_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM inputs").fetchone()[0])

    # --- outbox -------------------------------------------------------------------------

    def outbox_pending(self, limit: int = 100) -> list[OutboxRow]:
        rows = self._db.execute(
            "SELECT seq, event_id, type, payload FROM outbox WHERE sent_at_ms IS NULL "
            "ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [OutboxRow(*row) for row in rows]

    def outbox_mark_sent(self, seqs: list[int], sent_at_ms: int) -> None:
        self._db.executemany(
            "UPDATE outbox SET sent_at_ms = ? WHERE seq = ?", [(sent_at_ms, s) for s in seqs]
        )

    def outbox_count(self, *, pending_only: bool = False) -> int:
        sql = "SELECT COUNT(*) FROM outbox" + (" WHERE sent_at_ms IS NULL" if pending_only else "")
        return int(self._db.execute(sql).fetchone()[0])

    def events_since(self, seq: int) -> list[str]:
        """Backend events after ``seq`` (for replays the backend asks for on a gap)."""
        rows = self._db.execute(
            "SELECT payload FROM outbox WHERE seq > ? ORDER BY seq", (seq,)
        ).fetchall()
        return [str(r[0]) for r in rows]

    # --- outbox relay: acknowledgements, replays, retention, disk budget -------------------

    def outbox_pending_after(self, seq: int, limit: int = 100) -> list[OutboxRow]:
        """Unsent rows after ``seq``: the relay's cursor skips rows already in flight."""
        rows = self._db.execute(
            "SELECT seq, event_id, type, payload FROM outbox WHERE sent_at_ms IS NULL "
            "AND seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        ).fetchall()
        return [OutboxRow(*row) for row in rows]

    def outbox_ack(self, seqs: list[int], sent_at_ms: int) -> None:
        """Mark rows sent in one transaction (one fsync per batch, not per row)."""
        if not seqs:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self.outbox_mark_sent(seqs, sent_at_ms)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def outbox_range(self, from_seq: int, to_seq: int, limit: int = 10_000) -> list[OutboxRow]:
        """Stored rows in ``[from_seq, to_seq]``, sent or not, to serve a replay request."""
        rows = self._db.execute(
            "SELECT seq, event_id, type, payload FROM outbox WHERE seq BETWEEN ? AND ? "
            "ORDER BY seq LIMIT ?",
            (from_seq, to_seq, limit),
        ).fetchall()
        return [OutboxRow(*row) for row in rows]

    def outbox_last_seq(self) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM outbox").fetchone()
        return int(row[0] or 0)

    def outbox_oldest_pending_ts(self) -> int | None:
        row = self._db.execute("SELECT MIN(ts_ms) FROM outbox WHERE sent_at_ms IS NULL").fetchone()
        return None if row[0] is None else int(row[0])

    def outbox_prune(self, sent_before_ms: int) -> int:
        """Drop rows acknowledged before ``sent_before_ms``; never an unsent one."""
        cur = self._db.execute(
            "DELETE FROM outbox WHERE sent_at_ms IS NOT NULL AND sent_at_ms < ?",
            (sent_before_ms,),
        )
        return int(cur.rowcount)

    def disk_bytes(self) -> int:
        """Size of the database and its WAL on disk, for the disk-budget alarm."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += (self.path.parent / (self.path.name + suffix)).stat().st_size
            except FileNotFoundError:
                continue
        return total
