"""The reference receiver: dedup by event_id, seq gaps, and replay requests that close them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from backend_client.client import KioskLink
from backend_client.contract import TopicTree
from backend_client.receiver import BackendListener, EventReceiver, Gap, ReplaySigner
from backend_client.relay import OutboxRelay
from kiosk.engine import JOURNAL_FILE
from tests.conftest import fill_outbox, make_trust


def event(seq: int, kiosk: str = "lane-01", event_id: str | None = None) -> bytes:
    body = {
        "event_id": event_id or f"{kiosk}-{seq}", "kiosk_id": kiosk, "store_id": "store-01",
        "seq": seq, "type": "item_added", "ts": 1.0, "boot_id": "b1", "schema": "opensco.event/1",
    }  # fmt: skip
    return json.dumps(body).encode()


@pytest.fixture
def receiver(tmp_path: Path) -> Any:
    rx = EventReceiver(tmp_path / "rx.sqlite3", gap_retry_s=60)
    yield rx
    rx.close()


def test_duplicates_are_stored_once(receiver: EventReceiver) -> None:
    assert receiver.ingest(event(1)).status == "new"
    assert receiver.ingest(event(1)).status == "duplicate"
    assert receiver.count() == 1 and receiver.contiguous("lane-01") == 1


@pytest.mark.parametrize(
    "payload",
    [b"", b"\xff\xfe", b"[]", b"{}", b'{"event_id": "x"}', event(0), event(1, kiosk="Lane 1"),
     json.dumps({**json.loads(event(2)), "seq": True}).encode()],
)  # fmt: skip
def test_invalid_payloads_are_reported_not_stored(receiver: EventReceiver, payload: bytes) -> None:
    result = receiver.ingest(payload)
    assert result.status == "invalid" and result.problem
    assert receiver.count() == 0


def test_gaps_are_found_once_and_close(receiver: EventReceiver) -> None:
    assert receiver.ingest(event(1)).gap is None
    assert receiver.ingest(event(2)).gap is None
    assert receiver.ingest(event(5)).gap == Gap("lane-01", "store-01", 3, 4)
    assert receiver.ingest(event(6)).gap is None  # the same hole is not asked for again
    assert receiver.contiguous("lane-01") == 2
    receiver.ingest(event(4))
    receiver.ingest(event(3))
    assert receiver.contiguous("lane-01") == 6
    assert receiver.ingest(event(1, kiosk="lane-02")).gap is None  # kiosks are separate
    # Events lost at the end of a stream show only against the kiosk's last seq (tele).
    assert receiver.note_last_seq("lane-01", "store-01", 6) is None
    assert receiver.note_last_seq("lane-01", "store-01", 9) == Gap("lane-01", "store-01", 7, 9)


def test_contiguous_survives_a_restart(tmp_path: Path) -> None:
    rx = EventReceiver(tmp_path / "rx.sqlite3")
    for seq in (1, 2, 3, 5):
        rx.ingest(event(seq))
    rx.close()
    rx = EventReceiver(tmp_path / "rx.sqlite3")
    assert rx.contiguous("lane-01") == 3 and rx.ingest(event(3)).status == "duplicate"
    rx.close()


def test_signed_replay_request_closes_a_gap(mosquitto: tuple[str, int], tmp_path: Path) -> None:
    from backend_client.commands import CommandIntake, TrustStore

    host, port = mosquitto
    url = f"mqtt://{host}:{port}"
    topics = TopicTree("store-01", "lane-05")
    private = make_trust(tmp_path / "trust", "backend-1")
    intake = CommandIntake(TrustStore.load(tmp_path / "trust"), "lane-05", tmp_path / "cmd.db")
    data = tmp_path / "kiosk"
    data.mkdir()
    fill_outbox(data, 10)
    link = KioskLink(url, topics, intake=intake)
    relay = OutboxRelay(link, data / JOURNAL_FILE, tele_interval_s=0.5)
    link.on_effect = relay.handle_effect
    link.start()
    assert relay.idle.wait(15)  # 1..10 went out before anyone listened: the backend missed them
    receiver = EventReceiver(tmp_path / "rx.sqlite3", gap_retry_s=2)
    gaps: list[Gap] = []
    listener = BackendListener(
        url, receiver, signer=ReplaySigner(str(private), "backend-1"),
        report=lambda kind, item: gaps.append(item) if kind == "gap" else None,  # type: ignore[arg-type]
    )  # fmt: skip
    listener.start()
    try:
        assert listener.subscribed.wait(10)
        fill_outbox(data, 5, first_seq=11)
        deadline = time.monotonic() + 20
        while receiver.contiguous("lane-05") < 15 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.contiguous("lane-05") == 15, (gaps, relay.status())
        assert gaps and gaps[0].from_seq == 1
        assert relay.health.replayed >= 10
        assert any(
            r["action"] == "replay_request" and r["code"] == "ok" for r in intake.audit_rows()
        )
    finally:
        listener.stop()
        link.stop()
        receiver.close()
        intake.close()
