"""Faults against a real mosquitto on loopback: broker kill -9, kiosk kill -9 between publish
and PUBACK, a cut connection, and hostile commands. Zero events may be lost; duplicates are
allowed only as the same event_id (the receiver's store is keyed by it)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from backend_client.client import KioskLink
from backend_client.contract import TopicTree
from backend_client.receiver import BackendListener, EventReceiver, ReplaySigner
from backend_client.relay import OutboxRelay
from kiosk.engine import JOURNAL_FILE
from tests.conftest import (
    PLAIN_BROKER,
    SCO,
    CutProxy,
    fill_outbox,
    make_trust,
    signed_command,
    wait_for,
)

TOPICS = TopicTree("store-01", "lane-01")
# mosquitto drops QoS 1 messages for a subscriber past max_queued_messages (default 1000):
# the deploy config raises it too; here a burst of thousands must not be cut at the broker.
BROKER = PLAIN_BROKER + "max_queued_messages 100000\n"
PERSISTENT_BROKER = BROKER.replace(
    "persistence false\n", "persistence true\npersistence_location {dir}\nautosave_interval 1\n"
)


@dataclass
class Backend:
    """The reference listener with a replay key, counting what it stores."""

    receiver: EventReceiver
    listener: BackendListener
    counts: dict[str, int] = field(default_factory=lambda: {"new": 0, "duplicate": 0, "gap": 0})

    def report(self, kind: str, _item: object) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def wait_all(self, ids: list[str], timeout_s: float = 60) -> set[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.receiver.contiguous(TOPICS.kiosk_id) >= len(ids):
                break
            time.sleep(0.1)
        return set(ids) - self.receiver.event_ids(TOPICS.kiosk_id)


@pytest.fixture
def trust(tmp_path: Path) -> Path:
    return make_trust(tmp_path / "trust", "backend-1")


@pytest.fixture
def backend_factory(tmp_path: Path, trust: Path) -> Iterator[Any]:
    made: list[Backend] = []

    def make(host: str, port: int) -> Backend:
        receiver = EventReceiver(tmp_path / f"rx{len(made)}.sqlite3", gap_retry_s=2)
        backend = Backend(receiver, None)  # type: ignore[arg-type]
        backend.listener = BackendListener(
            f"mqtt://{host}:{port}", receiver, client_id=f"backend-{uuid.uuid4().hex[:8]}",
            signer=ReplaySigner(str(trust), "backend-1"), report=backend.report,
        )  # fmt: skip
        backend.listener.start()
        assert backend.listener.subscribed.wait(10)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.listener.stop()
        backend.receiver.close()


@pytest.fixture
def kiosk_factory(tmp_path: Path) -> Iterator[Any]:
    from backend_client.commands import CommandIntake, TrustStore

    made: list[tuple[KioskLink, Any]] = []

    def make(url: str, data: Path, **relay_kwargs: Any) -> tuple[KioskLink, OutboxRelay]:
        store = TrustStore.load(tmp_path / "trust")
        intake = CommandIntake(store, TOPICS.kiosk_id, tmp_path / f"cmd{len(made)}.db")
        link = KioskLink(url, TOPICS, intake=intake, backoff_s=(0.1, 1.0))
        relay = OutboxRelay(link, data / JOURNAL_FILE, tele_interval_s=0.5, **relay_kwargs)
        link.on_effect = relay.handle_effect
        link.start()
        made.append((link, intake))
        return link, relay

    yield make
    for link, intake in made:
        link.stop()
        intake.close()


def feed(data: Path, total: int, batch: int = 20, pause_s: float = 0.03) -> threading.Thread:
    """The lane keeps selling: events reach the outbox in batches while faults happen."""

    def run() -> None:
        for first in range(1, total + 1, batch):
            fill_outbox(data, min(batch, total + 1 - first), first_seq=first)
            time.sleep(pause_s)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def outcome(name: str, backend: Backend, ids: list[str], lost: set[str]) -> None:
    print(
        f"\nFAULT {name}: sent {len(ids)}, received {backend.receiver.count()}, "
        f"lost {len(lost)}, duplicates {backend.counts['duplicate']} (same event_id), "
        f"gaps asked {backend.counts['gap']}"
    )


@pytest.mark.slow
def test_broker_kill9_and_restart_mid_stream(
    broker_factory: Any, backend_factory: Any, kiosk_factory: Any, tmp_path: Path, trust: Path
) -> None:
    broker = broker_factory(PERSISTENT_BROKER)
    backend = backend_factory(broker.host, broker.port)
    data = tmp_path / "kiosk"
    data.mkdir()
    total = 600
    feeder = feed(data, total)
    _link, relay = kiosk_factory(f"mqtt://{broker.host}:{broker.port}", data)
    assert wait_for(lambda: backend.receiver.count() >= 150, 30)
    broker.kill9()
    time.sleep(0.3)
    broker.restart()
    feeder.join(30)
    ids = [_id(s) for s in range(1, total + 1)]
    lost = backend.wait_all(ids)
    outcome("broker kill -9", backend, ids, lost)
    assert not lost, relay.status()


@pytest.mark.slow
def test_kiosk_kill9_between_publish_and_ack(
    broker_factory: Any, backend_factory: Any, tmp_path: Path
) -> None:
    broker = broker_factory(BROKER)
    host, port = broker.host, broker.port
    backend = backend_factory(host, port)
    data = tmp_path / "kiosk"
    data.mkdir()
    total = 4000
    ids = fill_outbox(data, total)
    cmd = [
        *SCO, "outbox", "flush", "--data-dir", str(data), "--broker", f"mqtt://{host}:{port}",
        "--kiosk", "lane-01", "--store", "store-01", "--timeout", "60", "--window", "10",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: backend.receiver.count() >= 300, 30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    from kiosk.journal import Journal

    journal = Journal(data / JOURNAL_FILE)
    left = journal.outbox_count(pending_only=True)
    journal.close()
    assert 0 < left < total, "the kill did not land mid-stream"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    lost = backend.wait_all(ids)
    outcome(f"kiosk kill -9 ({left} pending at the kill)", backend, ids, lost)
    assert not lost


@pytest.mark.slow
def test_cut_connection_through_a_proxy(
    broker_factory: Any, backend_factory: Any, kiosk_factory: Any, tmp_path: Path
) -> None:
    broker = broker_factory(BROKER)
    host, port = broker.host, broker.port
    backend = backend_factory(host, port)
    proxy = CutProxy((host, port))
    data = tmp_path / "kiosk"
    data.mkdir()
    total = 1000
    feeder = feed(data, total, batch=25)
    try:
        link, relay = kiosk_factory(f"mqtt://127.0.0.1:{proxy.port}", data)
        for threshold in (200, 450, 700):
            assert wait_for(lambda t=threshold: backend.receiver.count() >= t, 30)
            proxy.cut()
        feeder.join(30)
        ids = [_id(s) for s in range(1, total + 1)]
        lost = backend.wait_all(ids)
        outcome(f"TCP cut x{proxy.cuts}", backend, ids, lost)
        assert not lost, relay.status()
        assert link.health.connects >= 2
    finally:
        proxy.close()


def _id(seq: int) -> str:
    from kiosk.core.events import make_event_id

    return make_event_id("lane-01", "fill", seq)


ACTIONS = st.one_of(
    st.sampled_from(["approve_age", "void_item", "replay_request", "catalog_update", "x"]),
    # Any level the broker accepts (it disconnects a client that sends control characters).
    st.text(st.characters(blacklist_characters="+#/", blacklist_categories=["Cs", "Cc", "Cn"]),
            min_size=1, max_size=40),
)  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)


@pytest.mark.slow
def test_hostile_commands_never_break_the_link(
    mosquitto: tuple[str, int], kiosk_factory: Any, tmp_path: Path, trust: Path
) -> None:
    host, port = mosquitto
    data = tmp_path / "kiosk"
    data.mkdir()
    link, relay = kiosk_factory(f"mqtt://{host}:{port}", data)
    assert link.wait_connected(10)
    answers: queue.Queue[Any] = queue.Queue()
    sender = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sender.on_message = lambda _c, _u, m: answers.put(m)
    sender.on_connect = lambda c, *_a: c.subscribe(TOPICS.cmdresp, qos=1)
    sender.connect(host, port)
    sender.loop_start()
    time.sleep(0.2)
    good = json.loads(signed_command(trust, "backend-1", "approve_age", "lane-01", {}))

    def send(action: str, payload: bytes) -> dict[str, Any]:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = TOPICS.cmdresp
        props.CorrelationData = corr = uuid.uuid4().bytes
        sender.publish(TOPICS.cmd(action), payload, qos=1, properties=props)
        while True:  # answers to earlier examples may still be queued
            msg = answers.get(timeout=10)
            if msg.properties.CorrelationData == corr:
                return dict(json.loads(msg.payload))

    @settings(max_examples=120, suppress_health_check=list(HealthCheck))
    @given(
        action=ACTIONS,
        payload=st.one_of(
            st.binary(max_size=3000),
            JSON.map(lambda v: json.dumps(v).encode()),
            st.dictionaries(st.sampled_from(sorted(good)), JSON, max_size=4).map(
                lambda patch: json.dumps({**good, **patch}).encode()
            ),
            st.integers(17_000, 70_000).map(lambda n: b"{" + b" " * n + b"}"),
        ),
    )
    def hostile(action: str, payload: bytes) -> None:
        answer = send(action, payload)
        assert answer["accepted"] is False or answer["action"] == action

    try:
        hostile()
        huge = send("approve_age", b"x" * (9 * 1024 * 1024))
        assert (huge["accepted"], huge["code"]) == (False, "too_large")
        # Still alive: the relay publishes a new event and the link answers a real command.
        fill_outbox(data, 3)
        assert relay.idle.wait(1) or wait_for(lambda: relay.health.sent == 3, 15)
        assert send(
            "approve_age", signed_command(trust, "backend-1", "approve_age", "lane-01", {})
        )["accepted"]
        assert link.connected and link.health.connects == 1
    finally:
        sender.loop_stop()
        sender.disconnect()
