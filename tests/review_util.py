"""Real event streams and snapshot messages for the review-store tests.

Events come from replaying an example session through the real engine (kiosk.replay): lane-01
with the store's default policies (a produce mismatch becomes a silent ``lp_flagged``), lane-02
with ``non_scan:alert`` (a non-scan becomes an ``alert_raised``; its session also raises an
``unexpected_payment`` alert, which is not a loss-prevention flag).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from backend_client.contract import TopicTree, event_payload
from kiosk.core.settings import CoreSettings
from kiosk.replay import DEFAULT_CATALOG, load_catalog_file, replay_lines
from tests.conftest import SESSIONS

STORE = "store-01"
SESSION = SESSIONS / "security-lane.jsonl"


@cache
def lane_events(kiosk: str, policies: tuple[str, ...] = ()) -> tuple[dict[str, Any], ...]:
    base = CoreSettings()
    security = base.security
    if policies:
        security = dataclasses.replace(security, policies=policies)
    settings = dataclasses.replace(base, security=security, kiosk_id=kiosk)
    lines = SESSION.read_text(encoding="utf-8").splitlines()
    result = replay_lines(lines, load_catalog_file(DEFAULT_CATALOG), settings)
    return tuple(result.events)


def wire(kiosk: str, events: tuple[dict[str, Any], ...]) -> list[tuple[str, bytes]]:
    """(topic, payload) of each event as the kiosk's outbox publishes it."""
    topics = TopicTree(STORE, kiosk)
    return [
        (topics.event(e["type"]), event_payload(e, kiosk_id=kiosk, store=STORE, boot_id="boot-1"))
        for e in events
    ]


def two_lanes() -> list[tuple[str, bytes]]:
    """Both lanes' events: 2 flags (lane-01 produce_mismatch flag, lane-02 non_scan alert)."""
    return wire("lane-01", lane_events("lane-01")) + wire(
        "lane-02", lane_events("lane-02", ("non_scan:alert",))
    )


def flagged(kiosk: str, kind: str) -> dict[str, Any]:
    events = lane_events(kiosk) if kiosk == "lane-01" else lane_events(kiosk, ("non_scan:alert",))
    return next(e for e in events if e["type"] == kind and e.get("reason") != "unexpected_payment")


def jpeg(seed: int = 0) -> bytes:
    img = np.full((48, 64, 3), seed % 255, dtype=np.uint8)
    cv2.rectangle(img, (8, 8), (40, 30), (0, 0, 255), 2)  # a box, as the kiosk draws them
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return bytes(buf)


def snapshot_props(data: bytes, snap_id: str, kiosk: str, **extra: str) -> dict[str, str]:
    return {
        "schema": "opensco.snapshot/1", "snap_id": snap_id, "kiosk_id": kiosk,
        "boot_id": "boot-1", "ts": "1764061219.400", "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": str(len(data)), **extra,
    }  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test against a SQLite file and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "review.sqlite3")
    return str(request.getfixturevalue("postgres_url"))


def to_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)
