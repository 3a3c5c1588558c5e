"""The reference receiver: stores kiosk events once, finds ``seq`` gaps, asks for replays.

:class:`EventReceiver` has no MQTT, so the attendant and review apps can reuse it; it
writes through the review store's database layer (SQLite, or PostgreSQL for a chain), and a
flagged event's review item is stored in the same transaction as the event.
:class:`BackendListener` wires it to a broker for ``sco backend listen``. Delivery is at
least once, so the store is keyed by ``event_id`` (never the MQTT packet id or DUP flag: a
kiosk that restarts republishes without DUP). A gap in a kiosk's ``seq`` (mosquitto lost
messages it had acknowledged, or a late subscriber) becomes a signed ``replay_request``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from backend_client.client import BrokerUrl
from backend_client.contract import SEGMENT, TopicTree
from backend_client.review_store.db import Database
from backend_client.review_store.flags import record_flag
from backend_client.review_store.schema import migrate_store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gap:
    kiosk_id: str
    store_id: str
    from_seq: int
    to_seq: int


@dataclass(frozen=True)
class IngestResult:
    status: str  # "new", "duplicate" or "invalid"
    event_id: str = ""
    kiosk_id: str = ""
    seq: int = 0
    type: str = ""
    gap: Gap | None = None
    problem: str = ""


class EventReceiver:
    """An inbox table keyed by ``event_id`` plus per-kiosk contiguous ``seq`` tracking."""

    def __init__(self, db: str | Path | Database, *, gap_retry_s: float = 5.0) -> None:
        """``db``: a SQLite path, a ``sqlite:///`` or ``postgresql://`` URL, or an open
        :class:`Database` (shared with a review store; then the caller closes it)."""
        self._owns_db = not isinstance(db, Database)
        self.db = Database(db) if not isinstance(db, Database) else db
        self.db_url = self.db.url.redacted()
        if self._owns_db:
            migrate_store(self.db)
        self._lock = threading.Lock()
        self._contiguous: dict[str, int] = {}
        self._asked: dict[str, tuple[int, float]] = {}  # kiosk -> (from_seq, when)
        self._newest: dict[str, tuple[str, int]] = {}  # kiosk -> (store, highest seq known)
        self.gap_retry_s = gap_retry_s

    def close(self) -> None:
        if self._owns_db:
            self.db.close()

    def ingest(self, payload: bytes) -> IngestResult:
        try:
            event = json.loads(payload)
        except (UnicodeDecodeError, ValueError) as err:
            return IngestResult("invalid", problem=f"not JSON: {err}")
        problem = _check(event)
        if problem:
            return IngestResult("invalid", problem=problem)
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            return IngestResult("invalid", problem="not UTF-8 JSON")
        kiosk, seq, event_id = event["kiosk_id"], event["seq"], event["event_id"]
        session = event.get("session_id") if isinstance(event.get("session_id"), str) else None
        ts = event.get("ts") if isinstance(event.get("ts"), int | float) else None
        now = time.time()
        with self._lock:
            with self.db.transaction() as tx:
                stored = tx.execute(
                    "INSERT INTO events (event_id, kiosk_id, store_id, seq, type, ts, boot_id, "
                    "session_id, payload, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (
                        event_id, kiosk, event["store_id"], seq, event["type"], ts,
                        _opt_text(event.get("boot_id")), session, text, now,
                    ),
                )  # fmt: skip
                if stored:
                    record_flag(tx, event, now)
            if not stored:
                return IngestResult("duplicate", event_id, kiosk, seq, event["type"])
            self._note(kiosk, event["store_id"], seq)
            gap = self._advance(kiosk, event["store_id"], seq)
        return IngestResult("new", event_id, kiosk, seq, event["type"], gap)

    def note_last_seq(self, kiosk: str, store: str, last_seq: int) -> Gap | None:
        """A kiosk says its newest event is ``last_seq``: a gap if we stop short of it.
        Seq gaps only show between events; this finds events lost at the end of a stream."""
        with self._lock:
            self._note(kiosk, store, last_seq)
            first = self._contiguous_seq(kiosk) + 1
            return self._gap(kiosk, store, first, last_seq) if last_seq >= first else None

    def open_gaps(self) -> list[Gap]:
        """Holes still open once their retry period has passed: ask again (a request or its
        replay can be lost too, and no new event may come along to trigger it)."""
        gaps = []
        with self._lock:
            for kiosk, (store, newest) in self._newest.items():
                first = self._contiguous_seq(kiosk) + 1
                if newest >= first and (gap := self._gap(kiosk, store, first, newest)):
                    gaps.append(gap)
        return gaps

    def contiguous(self, kiosk: str) -> int:
        """Highest seq such that every seq from 1 up to it has been received."""
        with self._lock:
            return self._contiguous_seq(kiosk)

    def count(self) -> int:
        return int(self.db.query("SELECT COUNT(*) FROM events")[0][0])

    def event_ids(self, kiosk: str | None = None) -> set[str]:
        sql, args = "SELECT event_id FROM events", ()
        if kiosk is not None:
            sql, args = sql + " WHERE kiosk_id = ?", (kiosk,)  # type: ignore[assignment]
        return {str(r[0]) for r in self.db.query(sql, args)}

    # --- seq bookkeeping (under the lock) -------------------------------------------------

    def _contiguous_seq(self, kiosk: str) -> int:
        if kiosk not in self._contiguous:
            self._contiguous[kiosk] = self._walk(kiosk, 0)
        return self._contiguous[kiosk]

    def _walk(self, kiosk: str, start: int) -> int:
        """Follow stored seqs up from ``start`` while they are consecutive."""
        high = start
        while True:
            rows = self.db.query(
                "SELECT DISTINCT seq FROM events WHERE kiosk_id = ? AND seq > ? "
                "ORDER BY seq LIMIT 1000",
                (kiosk, high),
            )
            for (seq,) in rows:
                if seq != high + 1:
                    return high
                high = seq
            if len(rows) < 1000:
                return high

    def _note(self, kiosk: str, store: str, seq: int) -> None:
        if seq > self._newest.get(kiosk, ("", 0))[1]:
            self._newest[kiosk] = (store, seq)

    def _advance(self, kiosk: str, store: str, seq: int) -> Gap | None:
        contiguous = self._contiguous_seq(kiosk)
        if seq == contiguous + 1:
            self._contiguous[kiosk] = self._walk(kiosk, contiguous)
            return None
        if seq > contiguous + 1:
            return self._gap(kiosk, store, contiguous + 1, seq - 1)
        return None

    def _gap(self, kiosk: str, store: str, first: int, last: int) -> Gap | None:
        # One request per hole and retry period: events after a hole must not each ask again.
        asked = self._asked.get(kiosk)
        mono = time.monotonic()
        if asked is not None and asked[0] == first and mono - asked[1] < self.gap_retry_s:
            return None
        self._asked[kiosk] = (first, mono)
        return Gap(kiosk, store, first, last)


def _opt_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _check(event: Any) -> str:
    if not isinstance(event, dict):
        return "not a JSON object"
    for key in ("event_id", "kiosk_id", "store_id", "type"):
        if not isinstance(event.get(key), str) or not event[key]:
            return f"missing or empty {key}"
    if not SEGMENT.match(event["kiosk_id"]) or not SEGMENT.match(event["store_id"]):
        return "kiosk_id/store_id are not topic segments"
    seq = event.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq < 2**63:
        return "seq must be a positive integer"
    return ""


@dataclass(frozen=True)
class ReplaySigner:
    """Signs replay requests with a backend key the kiosks trust (``<key_id>.pub``)."""

    key_path: str
    key_id: str
    issuer: str = "backend-listen"

    def command(self, gap: Gap, ttl_s: int = 60) -> dict[str, Any]:
        from backend_client.signing import load_private_key, sign_command

        now = int(time.time())
        cmd = {
            "command_id": str(uuid.uuid4()), "action": "replay_request",
            "kiosk_id": gap.kiosk_id, "issuer": {"id": self.issuer, "role": "backend"},
            "issued_at": now, "expires_at": now + ttl_s,
            "args": {"from_seq": gap.from_seq, "to_seq": gap.to_seq},
        }  # fmt: skip
        return sign_command(cmd, load_private_key(self.key_path), self.key_id)


Report = Callable[[str, IngestResult | Gap], None]
# Stores one snapshot message (JPEG, user properties); returns "new", "duplicate" or "invalid".
SnapshotSink = Callable[[bytes, dict[str, str]], str]


class BackendListener:
    """Subscribes to every kiosk's events (and tele, for tail gaps) and feeds a receiver."""

    def __init__(
        self,
        broker: BrokerUrl | str,
        receiver: EventReceiver,
        *,
        prefix: str = "opensco",
        store: str = "+",
        share: str = "",
        client_id: str = "",
        signer: ReplaySigner | None = None,
        report: Report | None = None,
        snapshots: SnapshotSink | None = None,
    ) -> None:
        self.broker = BrokerUrl.parse(broker) if isinstance(broker, str) else broker
        self.receiver = receiver
        self.prefix = prefix
        self.signer = signer
        self.report = report or (lambda _kind, _item: None)
        self.subscribed = threading.Event()
        self._stopping = threading.Event()
        share_prefix = f"$share/{share}/" if share else ""
        self.filters = [
            share_prefix + TopicTree.all_events(prefix, store),
            share_prefix + f"{prefix}/{store}/kiosk/+/tele",
        ]
        self.snapshots = snapshots
        if snapshots is not None:  # the images alerts cite (docs/mqtt.md "Snapshots")
            self.filters.append(share_prefix + f"{prefix}/{store}/kiosk/+/snap/+")
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"listen-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
        )
        if self.broker.tls:
            self.client.tls_set(self.broker.ca, self.broker.cert, self.broker.key)
        self.client.reconnect_delay_set(1, 10)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        # A named listener keeps its session: events published while it is away wait for it.
        self._props.SessionExpiryInterval = 3600 if client_id else 0

    def start(self) -> None:
        self.client.connect_async(
            self.broker.host, self.broker.port, 20, clean_start=False, properties=self._props
        )
        self.client.loop_start()
        threading.Thread(target=self._reask, name="listener-gaps", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        self.client.disconnect()
        self.client.loop_stop()

    def _reask(self) -> None:
        while not self._stopping.wait(1.0):
            try:
                for gap in self.receiver.open_gaps():
                    self.request_replay(gap)
            except Exception:  # e.g. the receiver was closed under us at shutdown
                logger.exception("listener: gap check failed")

    def _on_connect(self, client: mqtt.Client, *_a: Any) -> None:
        rc: ReasonCode = _a[2]
        if rc.is_failure:
            logger.warning("listener: broker refused the connection: %s", rc)
            return
        client.subscribe([(f, 1) for f in self.filters])

    def _on_subscribe(self, *_a: Any) -> None:
        self.subscribed.set()

    def _on_message(self, _client: mqtt.Client, _ud: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            if msg.topic.endswith("/tele"):
                self._on_tele(msg)
                return
            if "/snap/" in msg.topic:
                self._on_snapshot(msg)
                return
            result = self.receiver.ingest(bytes(msg.payload))
            self.report(result.status, result)
            if result.gap is not None:
                self.request_replay(result.gap)
        except Exception:  # a bad message or a full disk must not stop the listener
            logger.exception("listener: message on %s failed", msg.topic)

    def _on_snapshot(self, msg: mqtt.MQTTMessage) -> None:
        if self.snapshots is None:
            return
        pairs = getattr(msg.properties, "UserProperty", None) or []
        props = {str(k): str(v) for k, v in pairs}
        parts = msg.topic.split("/")  # <prefix>/<store>/kiosk/<kiosk>/snap/<snap_id>
        kiosk, snap_id = parts[-3], parts[-1]
        if props.get("snap_id") != snap_id or props.get("kiosk_id") != kiosk:
            status, problem = "invalid", "snap_id/kiosk_id do not match the topic"
        else:
            status = self.snapshots(bytes(msg.payload), props)
            problem = "refused by the snapshot checks" if status == "invalid" else ""
        self.report(
            "snapshot", IngestResult(status, snap_id, kiosk, 0, "snapshot", problem=problem)
        )

    def _on_tele(self, msg: mqtt.MQTTMessage) -> None:
        try:
            tele = json.loads(msg.payload)
            kiosk, store, last = tele["kiosk_id"], tele["store_id"], tele["last_seq"]
        except (ValueError, KeyError, TypeError):
            return
        if not isinstance(last, int) or tele.get("outbox_pending"):
            return  # while the kiosk still sends, a short count is not a loss
        gap = self.receiver.note_last_seq(kiosk, store, last)
        if gap is not None:
            self.request_replay(gap)

    def request_replay(self, gap: Gap) -> None:
        self.report("gap", gap)
        if self.signer is None:
            logger.warning(
                "kiosk %s: events %d..%d missing; no replay key, so no replay requested",
                gap.kiosk_id, gap.from_seq, gap.to_seq,
            )  # fmt: skip
            return
        topic = TopicTree(gap.store_id, gap.kiosk_id, self.prefix).cmd("replay_request")
        payload = json.dumps(self.signer.command(gap), sort_keys=True)
        self.client.publish(topic, payload, qos=1)
