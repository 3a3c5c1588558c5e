"""Snapshot JPEGs: spooled on disk first, published on their own topic, kept a bounded time.

An alert refers to its evidence by ``snap_id``; the image must survive a crash or a
broker outage like the alert does, so it is written to the spool (atomically) before it
is published, and marked sent only on a successful PUBACK. Retention is bounded by count
and age (privacy: shopper images are never kept longer than the store's period).

    <spool>/<snap_id>.jpg     the image
    <spool>/<snap_id>.json    its metadata (the MQTT 5 user properties) and sent flag
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

from paho.mqtt.reasoncodes import ReasonCode

from backend_client.client import KioskLink, publish_properties
from backend_client.schema_validation import SNAPSHOT_MAX_BYTES, validate_snapshot
from kiosk.errors import BackendError
from kiosk.files import write_atomically

logger = logging.getLogger(__name__)

SNAPSHOT_SCHEMA = "opensco.snapshot/1"
SNAPSHOT_EXPIRY_S = 3600


class SnapshotSpool:
    def __init__(
        self, directory: str | Path, *, max_count: int = 500, max_age_s: float = 7 * 86400
    ):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_count = max_count
        self.max_age_s = max_age_s

    def add(self, jpeg: bytes, *, kiosk_id: str, boot_id: str, ts_s: float, **extra: str) -> str:
        """Store one snapshot; raises BackendError (nothing stored) if it is not a valid,
        small enough JPEG. Returns its snap id for the alert that cites it."""
        snap_id = uuid.uuid4().hex
        meta = {
            "schema": SNAPSHOT_SCHEMA,
            "snap_id": snap_id,
            "kiosk_id": kiosk_id,
            "boot_id": boot_id,
            "ts": f"{ts_s:.3f}",
            "sha256": hashlib.sha256(jpeg).hexdigest(),
            "size_bytes": str(len(jpeg)),
            **extra,
        }
        problems = validate_snapshot(jpeg, meta)
        if problems:
            raise BackendError(f"snapshot refused: {'; '.join(problems)}")
        write_atomically(self.dir / f"{snap_id}.jpg", jpeg)
        write_atomically(self.dir / f"{snap_id}.json", json.dumps({"meta": meta}).encode())
        self.prune()
        return snap_id

    def _record(self, snap_id: str) -> dict[str, Any]:
        return dict(json.loads((self.dir / f"{snap_id}.json").read_text(encoding="utf-8")))

    def pending(self) -> list[str]:
        """Unsent snapshots, oldest first. A record whose image is gone (a crash in the
        middle of pruning) is removed, so it cannot block the queue."""
        out = []
        for path in sorted(self.dir.glob("*.json"), key=lambda p: p.stat().st_mtime):
            if not path.with_suffix(".jpg").exists():
                path.unlink(missing_ok=True)
                continue
            try:
                if not self._record(path.stem).get("sent"):
                    out.append(path.stem)
            except (OSError, ValueError):
                logger.warning("snapshot record %s is unreadable; skipped", path)
        return out

    def load(self, snap_id: str) -> tuple[bytes, dict[str, str]]:
        return (self.dir / f"{snap_id}.jpg").read_bytes(), self._record(snap_id)["meta"]

    def mark_sent(self, snap_id: str) -> None:
        record = self._record(snap_id)
        record["sent"] = True
        write_atomically(self.dir / f"{snap_id}.json", json.dumps(record).encode())

    def prune(self, now_s: float | None = None) -> int:
        """Delete snapshots past the age limit, then the oldest beyond the count limit."""
        now_s = time.time() if now_s is None else now_s
        files = sorted(self.dir.glob("*.jpg"), key=lambda p: p.stat().st_mtime)
        doomed = [p for p in files if now_s - p.stat().st_mtime > self.max_age_s]
        keep = [p for p in files if p not in doomed]
        doomed += keep[: max(0, len(keep) - self.max_count)]
        for path in doomed:
            path.unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)
        return len(doomed)


class SnapshotPublisher:
    """Publishes the spool through a KioskLink (QoS 1, expiry), on the link's own thread."""

    def __init__(self, link: KioskLink, spool: SnapshotSpool, *, window: int = 4) -> None:
        self.link = link
        self.spool = spool
        self.window = window  # snapshots are big: only a few in flight
        self._inflight: dict[int, str] = {}
        self._next_scan = 0.0
        self._next_prune = 0.0
        link.add_pump(self.pump)
        link.add_publish_hook(self._on_publish)

    def pump(self) -> None:
        if not self.link.connected or len(self._inflight) >= self.window:
            return
        # The pump runs every few ms; the spool is a directory, so look at most twice a second.
        if self._inflight or time.monotonic() < self._next_scan:
            return
        self._next_scan = time.monotonic() + 0.5
        if time.monotonic() >= self._next_prune:
            # Retention must hold even when no new snapshot arrives to trigger it.
            self._next_prune = time.monotonic() + 60
            self.spool.prune()
        busy = set(self._inflight.values())
        for snap_id in self.spool.pending():
            if len(self._inflight) >= self.window:
                break
            if snap_id in busy:
                continue
            try:
                jpeg, meta = self.spool.load(snap_id)
            except (OSError, ValueError, KeyError):
                logger.warning("snapshot %s vanished or is damaged; skipped", snap_id)
                continue
            props = publish_properties()
            props.MessageExpiryInterval = SNAPSHOT_EXPIRY_S
            props.ContentType = "image/jpeg"
            props.UserProperty = list(meta.items())
            info = self.link.client.publish(
                self.link.topics.snapshot(snap_id), jpeg, qos=1, properties=props
            )
            self._inflight[info.mid] = snap_id

    def _on_publish(self, mid: int, rc: ReasonCode) -> None:
        snap_id = self._inflight.pop(mid, None)
        if snap_id is None:
            return
        if rc.is_failure:
            logger.warning("broker refused snapshot %s: %s; retried later", snap_id, rc)
        else:
            try:
                self.spool.mark_sent(snap_id)
            except OSError:  # pruned while in flight: nothing left to mark
                logger.info("snapshot %s was pruned before its acknowledgement", snap_id)


__all__ = ["SNAPSHOT_MAX_BYTES", "SnapshotPublisher", "SnapshotSpool"]
