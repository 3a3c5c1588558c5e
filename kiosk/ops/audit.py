"""The audit trail: who did what to a lane, merged from where each thing is recorded.

Sources (each kept where the action happens, so a lane needs no new service):

- signed commands: the ``audit`` table of ``<data_dir>/commands.sqlite3`` (backend_client/
  commands.py; every command, accepted or refused, with issuer, role and key id);
- attendant overrides: the ``AttendantCommand`` inputs in ``<data_dir>/journal.sqlite3``
  (what the engine actually applied: voids, approvals, age checks, ...);
- kiosk PIN exits: ``<data_dir>/audit.jsonl``, written by kiosk/ui/kiosk_exit.py;
- tablet sign-ins: ``<keyring_dir>/audit.jsonl`` on each tablet, written by
  kiosk/attendant/keyring.py ``unlock`` (copied off the tablet or read in place).

An event file is JSON lines, appended with O_APPEND (one ``write`` per line, so concurrent
writers never interleave) and mode 0600. No PIN, key, signature, command argument or
payment data is ever written: only who, what, when and the outcome.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from kiosk.errors import KioskError

logger = logging.getLogger(__name__)

AUDIT_FILE = "audit.jsonl"
FIELDS = ("ts_ms", "source", "kind", "actor", "action", "outcome", "detail")


class AuditError(KioskError):
    """An audit source exists but cannot be read."""


@dataclass(frozen=True)
class AuditEvent:
    ts_ms: int
    source: str  # commands | journal | kiosk | tablet
    kind: str  # command | override | pin_exit | sign_in
    actor: str  # issuer / attendant id; "" when unknown (a kiosk PIN names nobody)
    action: str
    outcome: str  # ok, or the refusal / error code
    detail: str = ""


def append_event(
    path: str | Path, kind: str, actor: str, action: str, outcome: str, detail: str = ""
) -> bool:
    """Append one event line to ``path``; False (logged) when it cannot be written: an
    audit write never stops the action it records."""
    line = {
        "ts_ms": int(time.time() * 1000),
        "kind": kind,
        "actor": actor,
        "action": action,
        "outcome": outcome,
        "detail": detail[:500],
    }
    data = (json.dumps(line, separators=(",", ":")) + "\n").encode("utf-8")
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return True
    except OSError as err:
        logger.error("audit event %s/%s not written to %s: %s", kind, action, path, err)
        return False


def read_event_file(path: str | Path, source: str) -> Iterator[AuditEvent]:
    """Events of one JSON-lines file; a torn or foreign line is skipped with a warning."""
    path = Path(path)
    if not path.exists():
        return
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise AuditError(f"cannot read {path}: {err.strerror or err}") from err
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            yield AuditEvent(
                int(row["ts_ms"]),
                source,
                str(row["kind"]),
                str(row.get("actor", "")),
                str(row["action"]),
                str(row["outcome"]),
                str(row.get("detail", "")),
            )
        except (ValueError, KeyError, TypeError):
            logger.warning("%s line %d is not an audit event; skipped", path, n)


def _open_ro(path: Path) -> sqlite3.Connection:
    # Read-only and immutable-free: the running lane keeps writing (WAL) while we read.
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as err:
        raise AuditError(f"cannot open {path}: {err}") from err


def read_command_audit(db_path: str | Path) -> Iterator[AuditEvent]:
    """Rows of the command intake's audit table (absent database: nothing)."""
    db_path = Path(db_path)
    if not db_path.exists():
        return
    db = _open_ro(db_path)
    try:
        rows = db.execute(
            "SELECT ts_ms, command_id, action, issuer_id, role, key_id, code, message"
            " FROM audit ORDER BY id"
        ).fetchall()
    except sqlite3.Error as err:
        raise AuditError(f"{db_path}: no readable command audit ({err})") from err
    finally:
        db.close()
    for ts, cid, action, issuer, role, key_id, code, message in rows:
        detail = f"command_id={cid} role={role} key_id={key_id} {message}".strip()
        yield AuditEvent(int(ts), "commands", "command", issuer or "", action or "", code, detail)


def read_journal_overrides(db_path: str | Path) -> Iterator[AuditEvent]:
    """Attendant commands the engine journaled (its inputs table; arguments left out
    except the line or product they touch)."""
    db_path = Path(db_path)
    if not db_path.exists():
        return
    db = _open_ro(db_path)
    try:
        rows = db.execute("SELECT ts_ms, body FROM inputs ORDER BY id").fetchall()
    except sqlite3.Error as err:
        raise AuditError(f"{db_path}: no readable journal ({err})") from err
    finally:
        db.close()
    for ts, body in rows:
        try:
            item = json.loads(body)
        except ValueError:
            continue
        if not isinstance(item, dict) or item.get("type") != "attendant":
            continue
        args = item.get("args") if isinstance(item.get("args"), dict) else {}
        detail = " ".join(f"{k}={args[k]}" for k in ("line_id", "sku", "reason") if k in args)
        actor = str(item.get("attendant_id", ""))
        action = str(item.get("command", ""))
        yield AuditEvent(int(ts), "journal", "override", actor, action, "applied", detail)


def collect(
    data_dir: str | Path, tablet_dirs: Iterable[str | Path] = (), since_ms: int = 0
) -> list[AuditEvent]:
    """Every audit event of a lane (and the given tablets' keyring folders), oldest first."""
    data = Path(data_dir)
    events: list[AuditEvent] = []
    events += read_command_audit(data / "commands.sqlite3")
    events += read_journal_overrides(data / "journal.sqlite3")
    events += read_event_file(data / AUDIT_FILE, "kiosk")
    for d in tablet_dirs:
        events += read_event_file(Path(d) / AUDIT_FILE, "tablet")
    return sorted((e for e in events if e.ts_ms >= since_ms), key=lambda e: e.ts_ms)


def to_json(events: list[AuditEvent]) -> str:
    return json.dumps([asdict(e) for e in events], indent=1, ensure_ascii=False) + "\n"


def to_csv(events: list[AuditEvent]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for e in events:
        row = asdict(e)
        # A cell a spreadsheet would run as a formula is quoted with a leading apostrophe.
        writer.writerow({k: _safe_cell(v) for k, v in row.items()})
    return buf.getvalue()


def _safe_cell(value: object) -> object:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
