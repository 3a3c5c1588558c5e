"""One small database layer for SQLite and PostgreSQL: the receiver and the review store use it.

SQL is written once, in the subset both speak (``INSERT ... ON CONFLICT DO NOTHING``, ``?``
placeholders, portable types); this module turns the placeholders into psycopg's ``%s`` and
the few type names that differ (``{REAL}``, ``{BLOB}``, ``{SERIAL}``) into each dialect's.
A connection is shared by the listener's network thread and the readers, so every use holds
one lock: the receiver's rate is bounded by the disk, not by the lock.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.errors import BackendError

SQLITE = "sqlite"
POSTGRES = "postgresql"

_TYPES = {
    SQLITE: {"REAL": "REAL", "BLOB": "BLOB", "SERIAL": "INTEGER PRIMARY KEY AUTOINCREMENT"},
    POSTGRES: {"REAL": "DOUBLE PRECISION", "BLOB": "BYTEA", "SERIAL": "BIGSERIAL PRIMARY KEY"},
}
_PLACEHOLDER = re.compile(r"\?")


@dataclass(frozen=True)
class DbUrl:
    """Where a store lives: ``kind`` is sqlite or postgresql, ``target`` a path or a DSN."""

    kind: str
    target: str

    @classmethod
    def parse(cls, url: str | Path) -> DbUrl:
        text = str(url).strip()
        if not text:
            raise BackendError("empty database URL (give a file path or postgresql://...)")
        if text.startswith(("postgresql://", "postgres://")):
            return cls(POSTGRES, text)
        if text.startswith("sqlite:///"):
            return cls(SQLITE, text[len("sqlite://") :])
        if text.startswith("sqlite://"):
            raise BackendError(f"{text!r}: a SQLite URL is sqlite:///absolute/path.sqlite3")
        if "://" in text:
            raise BackendError(f"{text!r}: unknown database URL (sqlite:///... or postgresql://)")
        return cls(SQLITE, text)

    def redacted(self) -> str:
        """The URL without its password, for logs and messages."""
        return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", self.target)


class Tx:
    """One transaction: ``execute`` returns the affected row count, ``query`` the rows."""

    def __init__(self, db: Database, cursor: Any) -> None:
        self.db = db
        self._cur = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._cur.execute(self.db.sql(sql), tuple(params))
        return int(self._cur.rowcount)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cur.execute(self.db.sql(sql), tuple(params))
        return [tuple(row) for row in self._cur.fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None


class Database:
    """A lock-guarded connection with dialect-neutral SQL; reconnects a dropped PostgreSQL."""

    def __init__(self, url: str | Path) -> None:
        self.url = DbUrl.parse(url)
        self.kind = self.url.kind
        self._lock = threading.RLock()
        self._conn: Any = None
        self._connect()

    def _connect(self) -> None:
        if self.kind == SQLITE:
            path = Path(self.url.target)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
            except (OSError, sqlite3.Error) as err:
                raise BackendError(f"cannot open SQLite database {path}: {err}") from err
            # NORMAL: a power cut may undo the last inserts, and kiosks keep events to replay
            # them; FULL's fsync per event would make the listener the slow consumer.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")  # another process (the CLI) may write
            conn.execute("PRAGMA foreign_keys=ON")
            # A purged shopper image must not linger in free pages of the file.
            conn.execute("PRAGMA secure_delete=ON")
            self._conn = conn
            return
        try:
            import psycopg
        except ImportError as err:  # pragma: no cover - the backend extra is missing
            raise BackendError("PostgreSQL needs psycopg: pip install 'opensco[backend]'") from err
        try:
            self._conn = psycopg.connect(self.url.target, autocommit=True, connect_timeout=10)
        except psycopg.Error as err:
            raise BackendError(f"cannot connect to {self.url.redacted()}: {err}") from err

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def sql(self, text: str) -> str:
        """``?`` placeholders and type tokens in this dialect's spelling."""
        for token, name in _TYPES[self.kind].items():
            text = text.replace("{" + token + "}", name)
        if self.kind == POSTGRES:
            text = _PLACEHOLDER.sub("%s", text.replace("%", "%%"))
        return text

    def _alive(self) -> None:
        if self._conn is None:
            raise BackendError("the database is closed")
        if self.kind == POSTGRES and (self._conn.closed or self._conn.broken):
            self._connect()  # the server restarted: a fresh session, same URL

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """Everything inside commits together or not at all."""
        with self._lock:
            self._alive()
            if self.kind == SQLITE:
                cur = self._conn.cursor()
                cur.execute("BEGIN IMMEDIATE")
                try:
                    yield Tx(self, cur)
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                cur.execute("COMMIT")
                return
            with self._conn.transaction(), self._conn.cursor() as cur:
                yield Tx(self, cur)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.transaction() as tx:
            return tx.query(sql, params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self.transaction() as tx:
            return tx.execute(sql, params)


# --- migrations --------------------------------------------------------------------------

Step = Callable[[Tx], None]
_MIGRATION_LOCK = 0x05C0_5C0  # any fixed number: the advisory lock migrations take


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    steps: tuple[str | Step, ...]  # SQL statements (one each) or functions of the transaction


def migrate(db: Database, migrations: Sequence[Migration]) -> list[int]:
    """Apply the migrations not yet in ``schema_migrations``, in order, each in its own
    transaction; returns the versions applied. Safe with several processes starting at once
    (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock)."""
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise ValueError("migrations must have increasing, unique versions")
    with db.transaction() as tx:
        if db.kind == POSTGRES:  # two listeners starting at once must not race the DDL
            tx.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
        tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at {REAL} NOT NULL)"
        )
    applied: list[int] = []
    for migration in migrations:
        with db.transaction() as tx:
            if db.kind == POSTGRES:
                tx.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            if tx.one("SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)):
                continue
            for step in migration.steps:
                if isinstance(step, str):
                    tx.execute(step)
                else:
                    step(tx)
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time()),
            )
            applied.append(migration.version)
    return applied


def schema_version(db: Database) -> int:
    rows = db.query("SELECT MAX(version) FROM schema_migrations")
    return int(rows[0][0] or 0)
