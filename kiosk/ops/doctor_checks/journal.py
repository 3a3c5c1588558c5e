"""Journal: SQLite's own integrity check of the session journal, and the outbox backlog of
events the store backend has not acknowledged yet."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from kiosk.ops.doctor_checks.common import CheckResult, DoctorContext, Level, result

STALE_BACKLOG_S = 3600  # unsent for an hour with the broker on: the link is not working


def journal_path(ctx: DoctorContext) -> Path:
    from kiosk.engine import JOURNAL_FILE

    assert ctx.config is not None
    return Path(ctx.config.data_dir) / JOURNAL_FILE


def open_read_only(path: Path) -> sqlite3.Connection:
    """Read-only: the doctor must never create, migrate or lock a lane's journal."""
    return sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=10)


def check_journal(ctx: DoctorContext) -> list[CheckResult]:
    path = journal_path(ctx)
    if not path.exists():
        return [
            result(
                "journal",
                "Journal",
                Level.OK,
                f"no journal yet at {path}: the lane creates it at its first start",
            )
        ]
    damaged = ("Stop the lane, copy the journal folder for support (sco doctor --bundle), then "
               "call support before moving the file aside: it may hold an open sale and "
               "events the backend has not received.")  # fmt: skip
    try:
        with closing(open_read_only(path)) as db:
            rows = [str(r[0]) for r in db.execute("PRAGMA quick_check").fetchall()]
            inputs = int(db.execute("SELECT COUNT(*) FROM inputs").fetchone()[0])
            pending, oldest = db.execute(
                "SELECT COUNT(*), MIN(ts_ms) FROM outbox WHERE sent_at_ms IS NULL"
            ).fetchone()
            total = int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    except sqlite3.DatabaseError as err:
        return [result("journal", "Journal", Level.FAIL, f"{path} cannot be read: {err}", damaged)]
    if rows != ["ok"]:
        return [result("journal", "Journal", Level.FAIL,
                       f"{path} is damaged: " + "; ".join(rows[:3]), damaged,
                       quick_check=rows[:10])]  # fmt: skip
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
    out = [result("journal", "Journal", Level.OK,
                  f"{path} passes SQLite's quick check: {inputs} inputs, {size // 1000} kB",
                  inputs=inputs, bytes=size)]  # fmt: skip
    out.append(_backlog(ctx, int(pending), oldest, total, size))
    return out


def _backlog(ctx: DoctorContext, pending: int, oldest_ms: int | None, total: int,
             size: int) -> CheckResult:  # fmt: skip
    assert ctx.config is not None
    mqtt = ctx.config.sections["mqtt"]
    data = {"pending": pending, "events": total, "oldest_pending_ms": oldest_ms}
    budget = int(mqtt["budget_mb"]) * 1_000_000
    if size > budget * float(mqtt["alarm_fraction"]):
        return result("journal.outbox", "Outbox", Level.WARN if size < budget else Level.FAIL,
                      f"journal and outbox use {size // 1_000_000} MB of the "
                      f"{mqtt['budget_mb']} MB budget; {pending} events unsent",
                      "Get the broker link working so sent events can be pruned "
                      "(sco outbox status), or raise [mqtt] budget_mb.", **data)  # fmt: skip
    if not mqtt["enabled"]:
        return result(
            "journal.outbox",
            "Outbox",
            Level.OK,
            f"{pending} events kept locally (this lane does not publish)",
            **data,
        )
    age_s = (ctx.now.timestamp() * 1000 - oldest_ms) / 1000 if oldest_ms else 0.0
    data["oldest_pending_age_s"] = round(age_s)
    if pending and age_s > STALE_BACKLOG_S:
        return result("journal.outbox", "Outbox", Level.WARN,
                      f"{pending} events waiting for the broker, the oldest for "
                      f"{age_s / 3600:.1f} h",
                      "The lane keeps them safely; fix the broker check above, then "
                      "`sco outbox status` should fall to 0.", **data)  # fmt: skip
    return result(
        "journal.outbox",
        "Outbox",
        Level.OK,
        f"{pending} of {total} events waiting for the broker",
        **data,
    )
