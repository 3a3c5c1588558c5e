"""The outbox relay: the journal's outbox → QoS 1 publishes, marked sent only on PUBACK.

Rows go out in ``seq`` order through a window of ``window`` unacknowledged publishes. A row is
marked sent only when its PUBACK carries a success reason code (16 "no matching subscribers"
is success; 135 "not authorized" is not). paho resends the unacknowledged window itself after
a reconnect; after a relay restart every unsent row goes out again, so duplicates are possible
and always carry the same ``event_id``. Mosquitto can lose messages it has already
acknowledged (kill -9), so sent rows stay ``retention_days`` and a receiver that sees a ``seq``
gap asks for them with a ``replay_request`` (:meth:`OutboxRelay.serve_replay`).

The relay runs as a pump on the link's network thread and opens its own SQLite connection
there; the engine thread keeps its own (WAL lets both work).
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from paho.mqtt import client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from backend_client.client import KioskLink, now_ms, publish_properties
from backend_client.contract import EVENT_SCHEMA, event_payload
from kiosk.journal import Journal, OutboxRow

logger = logging.getLogger(__name__)

MAX_REPLAY_ROWS = 100_000  # one request; a receiver asks again for what is still missing
DAY_MS = 86_400_000


@dataclass
class RelayHealth:
    pending: int = 0
    inflight: int = 0
    sent: int = 0
    replayed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    last_failure: str = ""
    last_seq: int = 0
    disk_bytes: int = 0
    budget_bytes: int = 0
    alarm: str = ""
    pruned: int = 0


def disk_alarm(disk_bytes: int, budget_bytes: int, alarm_fraction: float) -> str:
    """The alarm text when the journal uses ``alarm_fraction`` of its budget, else ""."""
    if budget_bytes <= 0 or disk_bytes < alarm_fraction * budget_bytes:
        return ""
    used = 100 * disk_bytes / budget_bytes
    state = "FULL" if disk_bytes >= budget_bytes else "nearly full"
    return (
        f"outbox disk budget {state}: {disk_bytes / 1e6:.1f} MB of {budget_bytes / 1e6:.0f} MB "
        f"({used:.0f}%); check the backend link and free space before events cannot be kept"
    )


class OutboxRelay:
    def __init__(
        self,
        link: KioskLink,
        journal_path: str | Path,
        *,
        window: int = 100,
        retention_days: float = 7,
        budget_mb: float = 512,
        alarm_fraction: float = 0.8,
        check_interval_s: float = 10.0,
        tele_interval_s: float = 5.0,
        retry_s: float = 5.0,
    ) -> None:
        self.link = link
        self.journal_path = Path(journal_path)
        self.window = window
        self.retention_ms = int(retention_days * DAY_MS)
        self.alarm_fraction = alarm_fraction
        self.health = RelayHealth(budget_bytes=int(budget_mb * 1_000_000))
        self.idle = threading.Event()  # set while nothing is pending or in flight
        self._check_interval_s = check_interval_s
        self._tele_interval_s = tele_interval_s
        self._retry_s = retry_s
        self._journal: Journal | None = None
        self._cursor = 0  # highest pending seq handed to paho
        self._inflight: dict[int, tuple[int, bool]] = {}  # mid -> (seq, is_replay)
        self._inflight_seqs: set[int] = set()
        self._acks: list[int] = []
        self._flush_by = 0.0
        self._failed_min: int | None = None
        self._retry_at = 0.0
        self._next_check = 0.0
        self._next_tele = 0.0
        self._replays: collections.deque[tuple[int, int]] = collections.deque()
        # The lane's health and KPIs (kiosk.ops.telemetry), merged into every tele message.
        self.tele_extra: Callable[[], dict[str, Any]] | None = None
        link.add_pump(self.pump)
        link.add_publish_hook(self._on_publish)
        link.add_connect_hook(self._on_connect)
        link.add_stop_hook(self.close)

    # --- the pump (network thread) --------------------------------------------------------

    def _db(self) -> Journal:
        if self._journal is None:
            self._journal = Journal(self.journal_path)
        return self._journal

    def close(self) -> None:
        if self._journal is not None:
            self._flush_acks()
            self._journal.close()
            self._journal = None

    def pump(self) -> None:
        journal = self._db()
        mono = time.monotonic()
        # One fsync'd commit per batch of PUBACKs: a crash before it only means duplicates.
        if not self._inflight or len(self._acks) >= self.window or mono >= self._flush_by:
            self._flush_acks()
        if mono >= self._next_check:
            self._next_check = mono + self._check_interval_s
            self.housekeeping()
        if not self.link.connected:
            self.idle.clear()
            return
        room = self.window - len(self._inflight)
        room -= self._serve_replays(journal, room)
        rows: list[OutboxRow] = []
        if self._failed_min is not None and mono >= self._retry_at:
            self._cursor = min(self._cursor, self._failed_min - 1)  # retry refused rows
            self._failed_min = None
        if room > 0:
            rows = journal.outbox_pending_after(self._cursor, room + len(self._inflight_seqs))
            for row in rows:
                if room <= 0:
                    break
                if row.seq not in self._inflight_seqs and self._publish(row, replay=False):
                    room -= 1
                self._cursor = max(self._cursor, row.seq)
        drained = not rows and not self._inflight and not self._acks and self._failed_min is None
        if drained and not self.idle.is_set():
            self.health.pending = 0
            self.idle.set()
            self._next_tele = 0.0  # tell receivers the last seq now: they close tail gaps
        elif not drained:
            self.idle.clear()
        if mono >= self._next_tele:
            self._next_tele = mono + self._tele_interval_s
            self.publish_tele()

    def _publish(self, row: OutboxRow, *, replay: bool) -> bool:
        topics = self.link.topics
        body = event_payload(
            json.loads(row.payload),
            kiosk_id=topics.kiosk_id, store=topics.store, boot_id=self.link.boot_id,
        )  # fmt: skip
        props = publish_properties()
        props.UserProperty = [
            ("event_id", row.event_id), ("type", row.type), ("schema", EVENT_SCHEMA),
        ]  # fmt: skip
        info = self.link.client.publish(topics.event(row.type), body, qos=1, properties=props)
        # NO_CONN on QoS 1 means paho queued it for the next CONNACK: not a failure.
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self._failure(row.seq, f"paho refused seq {row.seq}: {mqtt.error_string(info.rc)}")
            return False
        self._inflight[info.mid] = (row.seq, replay)
        if not replay:
            self._inflight_seqs.add(row.seq)
        return True

    def _serve_replays(self, journal: Journal, room: int) -> int:
        used = 0
        while self._replays and used < room:
            first, last = self._replays[0]
            want = room - used
            rows = journal.outbox_range(first, last, limit=want)
            for row in rows:
                if self._publish(row, replay=True):
                    used += 1
                    self.health.replayed += 1
            if len(rows) < want or rows[-1].seq >= last:
                self._replays.popleft()
            else:
                self._replays[0] = (rows[-1].seq + 1, last)
        return used

    def _on_publish(self, mid: int, rc: ReasonCode) -> None:
        entry = self._inflight.pop(mid, None)
        if entry is None:
            return  # status, tele or a command answer
        seq, replay = entry
        self._inflight_seqs.discard(seq)
        if not rc.is_failure:
            if not self._acks:
                self._flush_by = time.monotonic() + 0.1
            self._acks.append(seq)
        elif not replay:
            self._failure(seq, f"broker refused seq {seq}: {rc} ({rc.value})")

    def _failure(self, seq: int, text: str) -> None:
        name = text.split(": ", 1)[-1]
        self.health.failures[name] = self.health.failures.get(name, 0) + 1
        if text != self.health.last_failure:
            logger.warning("outbox: %s; the row stays pending and is retried", text)
        self.health.last_failure = text
        self._failed_min = seq if self._failed_min is None else min(self._failed_min, seq)
        self._retry_at = time.monotonic() + self._retry_s

    def _flush_acks(self) -> None:
        if self._acks and self._journal is not None:
            self._journal.outbox_ack(self._acks, now_ms())
            self.health.sent += len(self._acks)
            self._acks = []

    def _on_connect(self) -> None:
        self._next_tele = 0.0

    # --- retention, disk budget, telemetry ------------------------------------------------

    def housekeeping(self) -> None:
        """Prune sent rows past retention and check the disk budget (alarm before full)."""
        journal = self._db()
        pruned = journal.outbox_prune(now_ms() - self.retention_ms)
        self.health.pruned += pruned
        self.health.pending = journal.outbox_count(pending_only=True)
        self.health.last_seq = journal.outbox_last_seq()
        self.health.disk_bytes = journal.disk_bytes()
        alarm = disk_alarm(self.health.disk_bytes, self.health.budget_bytes, self.alarm_fraction)
        if alarm and alarm != self.health.alarm:
            logger.warning("%s", alarm)
            self._next_tele = 0.0
        self.health.alarm = alarm

    def publish_tele(self) -> None:
        """QoS 0 health: receivers read ``last_seq`` to notice events lost at the tail."""
        journal = self._db()
        self.health.last_seq = journal.outbox_last_seq()
        self.health.pending = journal.outbox_count(pending_only=True)
        self.health.inflight = len(self._inflight)
        oldest = journal.outbox_oldest_pending_ts()
        topics = self.link.topics
        if self.health.alarm:
            disk = "disk_full" if "FULL" in self.health.alarm else "disk_nearly_full"
        else:
            disk = "ok"
        body = {
            "schema": "opensco.tele/1", "kiosk_id": topics.kiosk_id, "store_id": topics.store,
            "boot_id": self.link.boot_id, "ts": now_ms() / 1000,
            "last_seq": self.health.last_seq, "outbox_pending": self.health.pending,
            "outbox_oldest_age_s": None if oldest is None else max(0, now_ms() - oldest) / 1000,
            "devices": {"outbox": disk}, "alarm": self.health.alarm,
        }  # fmt: skip
        if self.tele_extra is not None:
            try:
                extra = self.tele_extra()
            except Exception:  # a broken figure must not stop the relay's pump
                logger.exception("telemetry: collecting the lane's figures failed")
            else:
                body.update({**extra, "devices": {**extra.get("devices", {}), "outbox": disk}})
        self.link.client.publish(topics.tele, json.dumps(body, sort_keys=True), qos=0)

    # --- replay requests (any thread) -----------------------------------------------------

    def serve_replay(self, from_seq: int, to_seq: int | None = None) -> None:
        """Republish stored rows ``from_seq..to_seq`` (sent or not), through the window."""
        last = to_seq if to_seq is not None else from_seq + MAX_REPLAY_ROWS - 1
        last = min(last, from_seq + MAX_REPLAY_ROWS - 1)
        if from_seq >= 1 and last >= from_seq:
            self._replays.append((from_seq, last))  # deque append is thread-safe

    def handle_effect(self, effect: str, args: dict[str, Any]) -> bool:
        """The link's ``on_effect`` for ``replay``-like effects; returns whether it was ours."""
        if "replay" not in effect:
            return False
        try:
            first = int(args.get("from_seq", 1))
            last = args.get("to_seq")
            self.serve_replay(first, None if last is None else int(last))
        except (TypeError, ValueError):
            logger.warning("replay request with bad bounds %r ignored", args)
        return True

    def status(self) -> dict[str, Any]:
        return asdict(self.health)
