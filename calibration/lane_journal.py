"""Safe changes to a stopped lane's journal: the calibration tools' only way in.

The lane's between-session checkpoint holds the core's ``seq`` counter and the learned
expected-weights table. A calibration record joins the lane's own event stream (one more
outbox row, the next ``seq``, so receivers see no gap and no duplicate), and an imported
weights table replaces the checkpoint's. Both are safe only when

- no other process has the journal open (a running lane keeps its ``seq`` in memory and
  would write the same number again), and
- no sale is open (the checkpoint is current: no input journaled after it), since
  recovery replays those inputs from the checkpoint's ``seq``.

Everything happens in one ``BEGIN IMMEDIATE`` transaction, so a crash leaves the journal
as it was or fully changed.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.engine import JOURNAL_FILE
from kiosk.errors import KioskError
from kiosk.journal import Journal


class LaneBusyError(KioskError):
    """The lane is running or has a sale open: the journal must not be changed now."""


def journal_file(data_dir: str | Path) -> Path:
    return Path(data_dir) / JOURNAL_FILE


def processes_using(path: Path) -> list[int]:
    """Other processes with ``path`` open (Linux /proc); empty where /proc is unavailable."""
    target = os.path.realpath(path)
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in (target, target + "-wal"):
                    found.append(int(entry.name))
                    break
        except OSError:
            continue  # gone, or another user's process we may not inspect
    return sorted(found)


def fresh_snapshot() -> dict[str, Any]:
    """The checkpoint of a lane that has never sold: made by the core itself, so the format
    is always the one the lane restores."""
    from kiosk.core.catalog import Catalog
    from kiosk.core.session import Checkout

    return Checkout(Catalog([])).snapshot()


def read_checkpoint(data_dir: str | Path) -> dict[str, Any] | None:
    """The lane's last checkpoint (read-only; fine while the lane runs), or None."""
    path = journal_file(data_dir)
    if not path.exists():
        return None
    journal = Journal(path)
    try:
        return journal.last_checkpoint()[1]
    finally:
        journal.close()


@dataclass
class IdleLane:
    """The journal of a stopped lane between sales, inside an open write transaction."""

    db: sqlite3.Connection
    journal_id: str
    after_input_id: int
    snapshot: dict[str, Any]  # edit in place; written back on success

    def next_seq(self) -> int:
        return int(self.snapshot["seq"]) + 1


@contextmanager
def idle_lane(data_dir: str | Path, *, create: bool = False) -> Iterator[IdleLane]:
    """Open the journal for a change, or raise LaneBusyError saying what to do."""
    path = journal_file(data_dir)
    if not path.exists() and not create:
        raise KioskError(f"no journal in {data_dir} (expected {path}): has this lane run?")
    users = processes_using(path)
    if users:
        raise LaneBusyError(
            f"process(es) {', '.join(map(str, users))} have the lane's journal {path} open: "
            "stop the lane (and any `sco outbox flush`) first, then run this again"
        )
    Journal(path).close()  # creates the schema (and a journal id) on a new lane
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        db.execute("PRAGMA synchronous=FULL")
        db.execute("BEGIN IMMEDIATE")
        lane = _checked(db, path)
        yield lane
        db.execute(
            "INSERT OR REPLACE INTO checkpoints (id, after_input_id, snapshot) VALUES (1, ?, ?)",
            (lane.after_input_id, json.dumps(lane.snapshot, sort_keys=True)),
        )
        db.execute("COMMIT")
    finally:
        if db.in_transaction:
            db.execute("ROLLBACK")
        db.close()


def _checked(db: sqlite3.Connection, path: Path) -> IdleLane:
    journal_id = str(db.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()[0])
    last_input = int(db.execute("SELECT COALESCE(MAX(id), 0) FROM inputs").fetchone()[0])
    row = db.execute("SELECT after_input_id, snapshot FROM checkpoints WHERE id = 1").fetchone()
    after_id, snapshot = (int(row[0]), json.loads(row[1])) if row else (0, fresh_snapshot())
    if last_input > after_id:
        raise LaneBusyError(
            f"a sale is open in {path} ({last_input - after_id} input(s) after the last "
            "checkpoint): start the lane, finish or cancel the sale, stop it, and run this again"
        )
    last_seq = int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0])
    if last_seq > int(snapshot["seq"]):
        raise LaneBusyError(
            f"{path}: the outbox holds seq {last_seq} but the checkpoint says "
            f"{snapshot['seq']}; the journal is not between sales, nothing was changed"
        )
    return IdleLane(db, journal_id, after_id, snapshot)
