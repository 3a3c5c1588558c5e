"""The outbox relay against a real mosquitto: what `sco replay --out` writes is what a
subscriber gets; rows are marked sent only on a successful PUBACK; retention; disk alarm."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend_client.client import KioskLink
from backend_client.contract import TopicTree
from backend_client.relay import OutboxRelay
from kiosk.cli import main
from kiosk.engine import JOURNAL_FILE
from kiosk.journal import Journal
from tests.broker_util import free_port
from tests.conftest import SESSIONS, Collector, fill_outbox

ENVELOPE = ("kiosk_id", "store_id", "boot_id", "schema")
TOPICS = TopicTree("store-01", "lane-01")


@pytest.fixture
def relays() -> Iterator[list[tuple[KioskLink, OutboxRelay]]]:
    started: list[tuple[KioskLink, OutboxRelay]] = []
    yield started
    for link, _relay in started:
        link.stop()


def start_relay(
    started: list[tuple[KioskLink, OutboxRelay]], url: str, data_dir: Path, **kwargs: Any
) -> tuple[KioskLink, OutboxRelay]:
    link = KioskLink(url, kwargs.pop("topics", TOPICS), backoff_s=(0.1, 0.5))
    relay = OutboxRelay(link, data_dir / JOURNAL_FILE, **kwargs)
    started.append((link, relay))
    link.start()
    return link, relay


def pending(data_dir: Path) -> int:
    journal = Journal(data_dir / JOURNAL_FILE)
    try:
        return journal.outbox_count(pending_only=True)
    finally:
        journal.close()


def test_published_events_equal_the_replay_file(
    mosquitto: tuple[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host, port = mosquitto
    sub = Collector(host, port, TopicTree.all_events())
    out = tmp_path / "events.jsonl"
    try:
        code = main([
            "replay", str(SESSIONS / "plain-basket.jsonl"), "--data-dir", str(tmp_path / "d"),
            "--publish", f"mqtt://{host}:{port}", "--out", str(out),
        ])  # fmt: skip
        assert code == 0, capsys.readouterr().err
        expected = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert sub.wait_for(lambda s: len(s.messages) >= len(expected))
        time.sleep(0.3)  # nothing extra may follow
        got = sorted(sub.payloads(), key=lambda e: e["seq"])
    finally:
        sub.close()
    assert [e["kiosk_id"] for e in got] == ["lane-01"] * len(expected)
    assert [{k: v for k, v in e.items() if k not in ENVELOPE} for e in got] == expected
    assert pending(tmp_path / "d") == 0


def test_replay_publish_without_a_broker_keeps_the_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d"
    url = f"mqtt://127.0.0.1:{free_port()}"
    code = main([
        "replay", str(SESSIONS / "plain-basket.jsonl"), "--data-dir", str(data),
        "--publish", url, "--publish-timeout", "1", "--out", str(tmp_path / "e.jsonl"),
    ])  # fmt: skip
    assert code == 3
    assert "sco outbox flush" in capsys.readouterr().err
    assert pending(data) == 12
    assert main(["replay", str(SESSIONS / "plain-basket.jsonl"), "--publish", url]) == 2


def test_broker_down_first_then_up(broker_factory: Any, tmp_path: Path, relays: list[Any]) -> None:
    fill_outbox(tmp_path, 300)
    port = free_port()
    link, relay = start_relay(relays, f"mqtt://127.0.0.1:{port}", tmp_path)
    time.sleep(1.0)
    assert not link.connected and "cannot connect" in link.health.last_error
    assert pending(tmp_path) == 300
    broker_factory(port=port)
    # Nobody subscribes: PUBACK reason 16 "no matching subscribers" still counts as sent.
    assert relay.idle.wait(20), relay.status()
    assert pending(tmp_path) == 0 and relay.health.sent == 300 and not relay.health.failures


def test_flush_exit_codes(mosquitto: tuple[str, int], tmp_path: Path, capsys: Any) -> None:
    fill_outbox(tmp_path, 40)
    dead = f"mqtt://127.0.0.1:{free_port()}"
    args = ["outbox", "flush", "--data-dir", str(tmp_path), "--timeout", "1"]
    assert main([*args, "--broker", dead]) == 3
    assert "40 event(s) still pending" in capsys.readouterr().out
    assert main(["outbox", "status", "--data-dir", str(tmp_path)]) == 0
    assert "pending: 40 event(s)" in capsys.readouterr().out
    host, port = mosquitto
    assert main([*args[:-1], "20", "--broker", f"mqtt://{host}:{port}"]) == 0
    assert main(["outbox", "status", "--data-dir", str(tmp_path)]) == 0
    status = capsys.readouterr().out
    assert "pending: 0 event(s)" in status and "kept for replay requests: 40" in status
    assert main([*args, "--data-dir", str(tmp_path / "none"), "--broker", dead]) == 2


def test_rows_denied_by_the_acl_stay_pending(
    broker_factory: Any, tmp_path: Path, relays: list[Any]
) -> None:
    acl = tmp_path / "acl"
    # The lane may write its status but not its events: MQTT 5 PUBACK says 135.
    acl.write_text("pattern write opensco/+/kiosk/%c/status\n", encoding="utf-8")
    broker = broker_factory(f"listener {{port}} 127.0.0.1\nallow_anonymous true\nacl_file {acl}\n")
    fill_outbox(tmp_path, 5)
    _link, relay = start_relay(relays, f"mqtt://{broker.host}:{broker.port}", tmp_path)
    deadline = time.monotonic() + 15
    while not relay.health.failures and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert pending(tmp_path) == 5 and relay.health.sent == 0
    assert "135" in relay.health.last_failure and not relay.idle.is_set()


def test_retention_prunes_only_old_sent_rows(tmp_path: Path) -> None:
    fill_outbox(tmp_path, 10)
    journal = Journal(tmp_path / JOURNAL_FILE)
    now = int(time.time() * 1000)
    journal.outbox_ack([1, 2, 3, 4, 5, 6], now - 8 * 86_400_000)  # past 7 days
    journal.outbox_ack([7, 8], now - 86_400_000)
    journal.close()
    relay = OutboxRelay(KioskLink("mqtt://127.0.0.1:1", TOPICS), tmp_path / JOURNAL_FILE)
    relay.housekeeping()
    relay.close()
    assert relay.health.pruned == 6
    journal = Journal(tmp_path / JOURNAL_FILE)
    assert journal.outbox_count() == 4 and journal.outbox_count(pending_only=True) == 2
    assert [r.seq for r in journal.outbox_range(1, 100)] == [7, 8, 9, 10]
    journal.close()


def test_disk_budget_alarm_before_full(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: Any
) -> None:
    fill_outbox(tmp_path, 2000)
    size = Journal(tmp_path / JOURNAL_FILE).disk_bytes()
    budget_mb = size / 0.9 / 1e6  # 90 % used: past the 80 % alarm, not yet full
    relay = OutboxRelay(
        KioskLink("mqtt://127.0.0.1:1", TOPICS), tmp_path / JOURNAL_FILE, budget_mb=budget_mb
    )
    with caplog.at_level(logging.WARNING, logger="backend_client.relay"):
        relay.housekeeping()
    relay.close()
    assert "nearly full" in relay.health.alarm
    assert any("disk budget" in r.getMessage() for r in caplog.records)
    assert (
        main(["outbox", "status", "--data-dir", str(tmp_path), "--budget-mb", f"{budget_mb}"]) == 0
    )
    assert "ALARM: outbox disk budget nearly full" in capsys.readouterr().out
    assert main(["outbox", "status", "--data-dir", str(tmp_path), "--budget-mb", "100"]) == 0
    assert "ALARM" not in capsys.readouterr().out
