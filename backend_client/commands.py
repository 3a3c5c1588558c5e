"""Signed-command intake: verify, authorise, de-duplicate and audit every command.

``CommandIntake.handle`` turns the payload of one ``cmd/<action>`` message into a
``CommandDecision``: refused with a code that says why, or accepted as core inputs
(``AttendantCommand``) or as an effect the MQTT client carries out (replay, catalog,
config). Nothing here touches the network; the client publishes ``response_payload``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from backend_client.schema_validation import validate
from backend_client.signing import load_public_key, verify_command
from kiosk.core.inputs import AttendantCommand, Input
from kiosk.errors import ConfigError

logger = logging.getLogger(__name__)

RESPONSE_SCHEMA = "opensco.cmdresp/1"
TRUST_FILE = "trust.toml"
ROLES = ("attendant", "backend")
# Signed action -> core attendant command (kiosk.core.commands.ATTENDANT_COMMANDS).
CORE_COMMANDS: dict[str, str] = {
    "approve_age": "approve_age",
    "approve": "approve",
    "reject": "reject",
    "clear_alert": "clear",
    "void_item": "void_item",
    "cancel_transaction": "cancel_transaction",
    "suspend_transaction": "suspend_transaction",
    "lock_lane": "lock_lane",
    "unlock_lane": "unlock_lane",
    "remote_help": "clear",  # the attendant answered the help call from the tablet
    "message_shopper": "message",  # a line of text on the shopper's screen
}
CORE_ARGS = ("alert_id", "line_id", "reason", "text")
EFFECTS = ("replay_request", "catalog_update", "config_change")
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "attendant": frozenset(CORE_COMMANDS),
    "backend": frozenset(CORE_COMMANDS) | frozenset(EFFECTS),
}
ACTIONS = tuple(CORE_COMMANDS) + EFFECTS


class Code(StrEnum):
    OK = "ok"
    TOO_LARGE = "too_large"
    MALFORMED = "malformed"
    ACTION_MISMATCH = "action_mismatch"
    WRONG_KIOSK = "wrong_kiosk"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REPLAYED = "replayed"
    UNAUTHORIZED = "unauthorized"
    INVALID_ARGS = "invalid_args"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    STALE_VERSION = "stale_version"
    FAILED = "failed"  # accepted, but the kiosk could not carry it out


# Refusals after which the command id counts as used: the signature and times were good.
_BURNS_ID = frozenset(
    {Code.OK, Code.UNAUTHORIZED, Code.INVALID_ARGS, Code.CHECKSUM_MISMATCH, Code.STALE_VERSION}
)


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    public_key: Ed25519PublicKey
    role: str
    issuer: str = "*"  # the one issuer id this key may sign for, or any id of its role


class TrustStore:
    """Public keys the kiosk accepts commands from, each bound to a role (and issuer)."""

    def __init__(self, keys: Iterable[TrustedKey] = ()) -> None:
        self._keys: dict[str, TrustedKey] = {}
        self._source: Path | None = None  # set by load(): the folder re-read on change
        self._stamp: tuple[tuple[str, int, int], ...] = ()
        for key in keys:
            if key.role not in ROLES:
                raise ConfigError(f"key {key.key_id!r}: unknown role {key.role!r}; use {ROLES}")
            if key.key_id in self._keys:
                raise ConfigError(f"key {key.key_id!r} is listed twice")
            self._keys[key.key_id] = key

    @classmethod
    def load(cls, directory: str | Path) -> TrustStore:
        """Read ``trust.toml`` and the ``<key_id>.pub`` file of each key it lists."""
        directory = Path(directory)
        path = directory / TRUST_FILE
        stamp = _folder_stamp(directory)  # before reading: a change while loading reloads again
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise ConfigError(f"cannot read {path}: {err.strerror or err}") from err
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: not valid TOML: {err}") from err
        entries = table.get("keys", {})
        if not isinstance(entries, dict) or set(table) - {"keys"}:
            raise ConfigError(f"{path}: expected only [keys.<key_id>] tables")
        keys = []
        for key_id, entry in entries.items():
            if not isinstance(entry, dict) or set(entry) - {"role", "issuer"}:
                raise ConfigError(f"{path}: [keys.{key_id}] takes only role and issuer")
            role, issuer = entry.get("role"), entry.get("issuer", "*")
            if not isinstance(issuer, str) or not issuer:
                raise ConfigError(f"{path}: [keys.{key_id}] issuer must be text or '*'")
            if "/" in key_id or key_id.startswith("."):
                raise ConfigError(f"{path}: key id {key_id!r} cannot name a file")
            public = load_public_key(directory / f"{key_id}.pub")
            keys.append(TrustedKey(key_id, public, str(role), issuer))
        store = cls(keys)
        store._source, store._stamp = directory, stamp
        return store

    def refresh(self) -> bool:
        """Key rotation without a restart: when trust.toml or a .pub file in the folder
        changed, load it again; True if the keys were replaced. A folder caught mid-edit or
        broken keeps the keys it had (logged), so a bad rotation never locks a lane out."""
        if self._source is None:
            return False
        stamp = _folder_stamp(self._source)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            fresh = TrustStore.load(self._source)
        except ConfigError as err:
            logger.error("trust store not reloaded, old keys kept: %s", err)
            return False
        self._keys = fresh._keys
        logger.warning("trust store reloaded: keys %s", sorted(self._keys))
        return True

    def get(self, key_id: str) -> TrustedKey | None:
        self.refresh()
        return self._keys.get(key_id)

    def __len__(self) -> int:
        return len(self._keys)


def _folder_stamp(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, mtimes and sizes of trust.toml and the .pub files: what a rotation changes."""
    out = []
    for p in sorted([directory / TRUST_FILE, *directory.glob("*.pub")]):
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((p.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


@dataclass(frozen=True)
class CommandDecision:
    accepted: bool
    code: str
    message: str
    command_id: str | None = None
    inputs: list[Input] = field(default_factory=list)
    effect: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    action: str | None = None
    kiosk_id: str = ""
    issuer_id: str = ""
    role: str = ""
    key_id: str = ""


def response_payload(decision: CommandDecision, now_ms: int) -> dict[str, Any]:
    """The cmdresp body (``schemas/cmdresp.json``) for one decision."""
    return {
        "schema": RESPONSE_SCHEMA,
        "command_id": decision.command_id,
        "action": decision.action,
        "kiosk_id": decision.kiosk_id,
        "accepted": decision.accepted,
        "code": decision.code,
        "message": decision.message[:500],
        "effect": decision.effect,
        "ts": now_ms / 1000,
    }


class _Refused(Exception):
    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class CommandIntake:
    """Checks commands for one kiosk; remembers used ids and audits in SQLite."""

    def __init__(
        self,
        trust: TrustStore,
        kiosk_id: str,
        db_path: str | Path,
        max_age_s: float = 300,
        clock_skew_s: float = 30,
        max_payload_bytes: int = 16384,
        *,
        max_catalog_bytes: int = 4 * 1024 * 1024,
        current_catalog_version: Callable[[], int] = lambda: 0,
    ) -> None:
        self.trust = trust
        self.kiosk_id = kiosk_id
        self.max_age_s = max_age_s
        self.clock_skew_s = clock_skew_s
        self.max_payload_bytes = max_payload_bytes
        self.max_catalog_bytes = max_catalog_bytes  # a whole catalog CSV rides in its command
        self.current_catalog_version = current_catalog_version
        self._lock = threading.Lock()  # paho calls back from its own thread
        self._db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a used id must survive a power cut
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS commands_seen (
                command_id TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS commands_seen_ts ON commands_seen (ts_ms);
            CREATE TABLE IF NOT EXISTS audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT, ts_ms INTEGER NOT NULL,
                command_id TEXT, action TEXT, issuer_id TEXT, role TEXT, key_id TEXT,
                code TEXT NOT NULL, message TEXT NOT NULL);
            """
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def handle(self, action: str, payload: bytes, now_ms: int) -> CommandDecision:
        """Decide on one command; never raises for anything a sender can put in it."""
        if not isinstance(payload, bytes | bytearray):
            # The raw bytes, not parsed JSON: duplicate keys and size are judged here.
            raise TypeError(f"handle() takes the payload bytes, not {type(payload).__name__}")
        payload = bytes(payload)
        with self._lock:
            ctx: dict[str, Any] = {}
            try:
                decision = self._accept(action, payload, now_ms, ctx)
            except _Refused as refusal:
                decision = self._decision(ctx, False, refusal.code, refusal.message)
            try:
                self._record(decision, now_ms)
            except sqlite3.Error:
                logger.exception("cannot record command %s", decision.command_id)
                decision = self._decision(ctx, False, Code.FAILED, "kiosk cannot record commands")
            return decision

    def record_outcome(self, decision: CommandDecision, now_ms: int, code: str, msg: str) -> None:
        """Audit what became of an accepted command the client carried out (e.g. failed)."""
        with self._lock, self._db:
            self._audit(decision, now_ms, code, msg)

    def audit_rows(self, limit: int = 100) -> list[dict[str, Any]]:
        """Newest audit rows first (for tests, support and ``sco``)."""
        with self._lock:
            cur = self._db.execute(
                "SELECT ts_ms, command_id, action, issuer_id, role, key_id, code, message"
                " FROM audit ORDER BY id DESC LIMIT ?",
                (limit,),
            )
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # --- the checks, in the order docs/mqtt.md lists them ---------------------------------

    def _accept(
        self, action: str, payload: bytes, now_ms: int, ctx: dict[str, Any]
    ) -> CommandDecision:
        limit = self.max_catalog_bytes if action == "catalog_update" else self.max_payload_bytes
        if len(payload) > limit:
            raise _Refused(Code.TOO_LARGE, f"payload is {len(payload)} bytes; limit {limit}")
        cmd = _parse(payload)
        if isinstance(cmd, dict):
            cid = cmd.get("command_id")
            ctx["command_id"] = cid if isinstance(cid, str) and len(cid) <= 64 else None
        problems = validate("command", cmd)
        if problems:
            raise _Refused(Code.MALFORMED, "; ".join(problems[:3]))
        ctx.update(
            action=cmd["action"],
            issuer_id=cmd["issuer"]["id"],
            role=cmd["issuer"]["role"],
            key_id=cmd["key_id"],
        )
        if cmd["action"] != action:
            raise _Refused(
                Code.ACTION_MISMATCH, f"sent to cmd/{action} but signed for {cmd['action']}"
            )
        if cmd["kiosk_id"] != self.kiosk_id:
            raise _Refused(
                Code.WRONG_KIOSK, f"command is for {cmd['kiosk_id']}, not {self.kiosk_id}"
            )
        key = self.trust.get(cmd["key_id"])
        if key is None:
            raise _Refused(Code.UNKNOWN_KEY, f"key {cmd['key_id']!r} is not trusted here")
        if not verify_command(cmd, key.public_key):
            raise _Refused(Code.BAD_SIGNATURE, f"signature does not verify with key {key.key_id!r}")
        self._check_times(cmd, now_ms)
        if self._seen(cmd["command_id"]):
            raise _Refused(Code.REPLAYED, "command id already used")
        self._authorise(cmd, key)
        args: dict[str, Any] = cmd["args"]
        if cmd["action"] in EFFECTS:
            self._check_effect(cmd["action"], args)
            return self._decision(ctx, True, Code.OK, "accepted", effect=cmd["action"], args=args)
        core_args = {k: args[k] for k in CORE_ARGS if k in args}
        # The core records the signed issuer id as the attendant who acted.
        command = AttendantCommand(
            now_ms, CORE_COMMANDS[cmd["action"]], ctx["issuer_id"], core_args
        )
        return self._decision(ctx, True, Code.OK, "accepted", inputs=[command], args=core_args)

    def _check_times(self, cmd: Mapping[str, Any], now_ms: int) -> None:
        # The schema bounds both times (< 1e11 s), so the arithmetic below cannot overflow.
        now_s, issued, expires = now_ms / 1000, cmd["issued_at"], cmd["expires_at"]
        if not 0 < expires - issued <= self.max_age_s:
            raise _Refused(
                Code.EXPIRED,
                f"lifetime {expires - issued:.0f} s is outside (0, {self.max_age_s:g}]",
            )
        if issued > now_s + self.clock_skew_s:
            raise _Refused(Code.NOT_YET_VALID, f"issued {issued - now_s:.0f} s in the future")
        if now_s >= expires + self.clock_skew_s:
            raise _Refused(Code.EXPIRED, f"expired {now_s - expires:.0f} s ago")

    def _authorise(self, cmd: Mapping[str, Any], key: TrustedKey) -> None:
        issuer = cmd["issuer"]
        if issuer["role"] != key.role:
            raise _Refused(Code.UNAUTHORIZED, f"key {key.key_id!r} signs for {key.role}s only")
        if key.issuer != "*" and issuer["id"] != key.issuer:
            raise _Refused(Code.UNAUTHORIZED, f"key {key.key_id!r} signs for {key.issuer} only")
        if cmd["action"] not in ROLE_ACTIONS[key.role]:
            raise _Refused(Code.UNAUTHORIZED, f"a {key.role} may not {cmd['action']}")

    def _check_effect(self, action: str, args: Mapping[str, Any]) -> None:
        if action == "replay_request" and args.get("to_seq", args["from_seq"]) < args["from_seq"]:
            raise _Refused(Code.INVALID_ARGS, "to_seq is before from_seq")
        if action == "catalog_update":
            digest = hashlib.sha256(args["csv"].encode("utf-8", "surrogatepass")).hexdigest()
            if digest != args["sha256"]:
                raise _Refused(Code.CHECKSUM_MISMATCH, "sha256 does not match the catalog CSV")
            current = self.current_catalog_version()
            if args["version"] <= current:
                raise _Refused(
                    Code.STALE_VERSION, f"version {args['version']} is not above {current}"
                )

    # --- storage ---------------------------------------------------------------------------

    def _seen(self, command_id: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM commands_seen WHERE command_id = ?", (command_id,)
        ).fetchone()
        return row is not None

    def _record(self, decision: CommandDecision, now_ms: int) -> None:
        with self._db:  # one transaction: the id is used if and only if it is audited
            self._db.execute("BEGIN IMMEDIATE")
            horizon = now_ms - int(self.max_age_s * 2 * 1000)
            self._db.execute("DELETE FROM commands_seen WHERE ts_ms < ?", (horizon,))
            if decision.code in _BURNS_ID and decision.command_id:
                self._db.execute(
                    "INSERT OR IGNORE INTO commands_seen VALUES (?, ?)",
                    (decision.command_id, now_ms),
                )
            self._audit(decision, now_ms, decision.code, decision.message)

    def _audit(self, decision: CommandDecision, now_ms: int, code: str, message: str) -> None:
        # Never the signature nor args: a config value or a catalog has no place in an audit.
        self._db.execute(
            "INSERT INTO audit (ts_ms, command_id, action, issuer_id, role, key_id, code, message)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                now_ms,
                decision.command_id,
                decision.action,
                decision.issuer_id,
                decision.role,
                decision.key_id,
                code,
                message[:500],
            ),
        )

    def _decision(
        self, ctx: Mapping[str, Any], accepted: bool, code: Code, message: str, **extra: Any
    ) -> CommandDecision:
        return CommandDecision(
            accepted=accepted,
            code=code.value,
            message=message,
            command_id=ctx.get("command_id"),
            action=ctx.get("action"),
            kiosk_id=self.kiosk_id,
            issuer_id=ctx.get("issuer_id", ""),
            role=ctx.get("role", ""),
            key_id=ctx.get("key_id", ""),
            **extra,
        )


def _parse(payload: bytes) -> Any:
    try:
        return json.loads(
            payload.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise _Refused(Code.MALFORMED, f"payload is not UTF-8 JSON: {str(err)[:120]}") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two parsers could read a duplicated key differently; the signed meaning must be one.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
