"""One mosquitto per store bridged to a central broker (docs/scaling.md), with two real
mosquitto processes on loopback.

The store broker forwards kiosk events out and commands in over an MQTT 5 bridge
(``bridge_protocol_version mqttv50``, supported by mosquitto 2.0.11) with a persistent
session; consumers on the central side share the load through ``$share/ingest/...``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend_client.contract import TopicTree
from tests.broker_util import DEPLOY, Broker, Peer, deploy_conf, make_certs, start_broker

STORE = "store-001"
LANE1 = TopicTree(STORE, "lane-01")
LANE2 = TopicTree(STORE, "lane-02")
SHARED_EVENTS = f"$share/ingest/{TopicTree.all_events()}"
BRIDGE_ID = f"bridge-{STORE}"

CENTRAL_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {dir}
autosave_interval 1
"""

# The bridge exactly as docs/scaling.md shows it, minus TLS (the TLS lines are in
# deploy/mosquitto/bridge.conf; here both brokers are anonymous on loopback).
STORE_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {dir}
autosave_interval 1

connection central
address 127.0.0.1:{central_port}
bridge_protocol_version mqttv50
remote_clientid {bridge_id}
cleansession false
# Reconnect backoff 1..2 s (a constant "restart_timeout 1" took ~5 s on 2.0.11).
restart_timeout 1 2
keepalive_interval 10
notifications true
topic opensco/+/kiosk/+/evt/# out 1
topic opensco/+/kiosk/+/cmd/# in 1
"""


def wait_bridge_up(store: Broker, state: bytes = b"1", timeout_s: float = 10.0) -> None:
    """Wait for the bridge's retained notification (``1`` up, ``0`` down) on the store."""
    watcher = Peer("bridge-watch").connect(store)
    try:
        watcher.subscribe(f"$SYS/broker/connection/{BRIDGE_ID}/state")
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            if watcher.expect(left).payload == state:
                return
        pytest.fail(f"bridge state not {state!r} within {timeout_s} s:\n{store.log()}")
    finally:
        watcher.close()


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[tuple[Broker, Broker]]:
    central = start_broker(CENTRAL_CONF, tmp_path, name="central")
    store = start_broker(
        STORE_CONF,
        tmp_path,
        name="store",
        values={"central_port": central.port, "bridge_id": BRIDGE_ID},
    )
    try:
        wait_bridge_up(store)
        yield store, central
    finally:
        store.stop()
        central.stop()


def collect(peers: list[Peer], count: int, timeout_s: float = 5.0) -> dict[str, list[bytes]]:
    """Payloads per peer until ``count`` arrived in all, then a short quiet period."""
    got: dict[str, list[bytes]] = {p.client_id: [] for p in peers}
    deadline = time.monotonic() + timeout_s
    while sum(map(len, got.values())) < count and time.monotonic() < deadline:
        for peer in peers:
            got[peer.client_id] += [bytes(m.payload) for m in peer.drain(0.02)]
    for peer in peers:  # anything extra (a duplicate) would show up now
        got[peer.client_id] += [bytes(m.payload) for m in peer.drain(0.2)]
    return got


def test_events_reach_a_shared_consumer_group_once_each(brokers: tuple[Broker, Broker]) -> None:
    store, central = brokers
    consumers = [Peer(f"ingest-{i}").connect(central) for i in (1, 2)]
    lane1, lane2 = Peer("lane-01").connect(store), Peer("lane-02").connect(store)
    try:
        for consumer in consumers:
            assert not consumer.subscribe(SHARED_EVENTS)[0].is_failure
        sent = []
        for i in range(10):
            for kiosk, tree in ((lane1, LANE1), (lane2, LANE2)):
                payload = f"{tree.kiosk_id}:{i}".encode()
                assert not kiosk.publish(tree.event("item_added"), payload).is_failure
                sent.append(payload)

        got = collect(consumers, len(sent))
        received = [p for payloads in got.values() for p in payloads]
        assert sorted(received) == sorted(sent)  # every message, exactly once in the group
        assert all(got.values()), got  # and the group really shares the work
    finally:
        for peer in (*consumers, lane1, lane2):
            peer.close()


def test_only_events_go_out(brokers: tuple[Broker, Broker]) -> None:
    store, central = brokers
    observer = Peer("observer").connect(central)
    kiosk = Peer("lane-01").connect(store)
    try:
        observer.subscribe("opensco/#")
        event = LANE1.event("transaction_completed")
        # tele/status/snap stay in the store; a cmd published in the store does not leak out.
        for topic in (LANE1.tele, LANE1.status, LANE1.snapshot("s1"), LANE1.cmd("x"), event):
            kiosk.publish(topic, b"x")
        assert [m.topic for m in observer.drain(0.5)] == [event]
    finally:
        observer.close()
        kiosk.close()


def test_commands_from_central_reach_the_kiosk(brokers: tuple[Broker, Broker]) -> None:
    store, central = brokers
    kiosk = Peer("lane-01").connect(store)
    backend = Peer("backend").connect(central)
    try:
        assert not kiosk.subscribe(LANE1.cmd())[0].is_failure
        assert not backend.publish(LANE1.cmd("resync"), b'{"cmd_id":"c1"}').is_failure
        msg = kiosk.expect()
        assert (msg.topic, msg.payload) == (LANE1.cmd("resync"), b'{"cmd_id":"c1"}')
    finally:
        kiosk.close()
        backend.close()


def test_bridge_catches_up_after_central_restarts(brokers: tuple[Broker, Broker]) -> None:
    store, central = brokers
    # A consumer with a persistent session on central, saved to disk across the restart.
    # Not a $share subscription: mosquitto 2.0.11 does not restore those from its
    # persistence file (plain ones it does), so shared consumers must resubscribe on every
    # connect (docs/scaling.md).
    consumer = Peer("archive", clean_start=False)
    consumer.connect(central, SessionExpiryInterval=3600)
    assert not consumer.subscribe(TopicTree.all_events())[0].is_failure
    consumer.close()
    central.stop()  # SIGTERM: central saves its sessions
    wait_bridge_up(store, b"0")  # the store broker has noticed the outage

    kiosk = Peer("lane-01").connect(store)
    try:
        sent = [f"offline-{i}".encode() for i in range(5)]
        for payload in sent:
            # The store broker accepts (PUBACK) and queues for the bridge while central is down.
            assert not kiosk.publish(LANE1.event("transaction_completed"), payload).is_failure

        central.restart()
        wait_bridge_up(store)
        consumer.connect(central, SessionExpiryInterval=3600)
        got = collect([consumer], len(sent))
        assert got["archive"] == sent  # one bridge, one consumer: order kept too
    finally:
        kiosk.close()
        consumer.close()


def test_deployed_bridge_conf_over_mutual_tls(tmp_path: Path) -> None:
    """deploy/mosquitto/bridge.conf, pointed at a central running deploy/mosquitto.conf."""
    certs = make_certs(tmp_path / "certs", STORE, [BRIDGE_ID], backend=True)
    acl = tmp_path / "central-acl"
    acl.write_text(
        f"user {BRIDGE_ID}\n"
        f"topic write opensco/{STORE}/kiosk/+/evt/#\n"
        f"topic write opensco/{STORE}/kiosk/+/status\n"
        f"topic write opensco/{STORE}/kiosk/+/cmdresp\n"
        f"topic read opensco/{STORE}/kiosk/+/cmd/#\n"
        "user backend\ntopic read opensco/#\ntopic write opensco/+/kiosk/+/cmd/#\n",
        encoding="utf-8",
    )
    bridge = (DEPLOY / "bridge.conf").read_text(encoding="utf-8")
    central = start_broker(deploy_conf(certs, acl), tmp_path, name="central")
    bridge = bridge.replace("central.example.net:8883", f"127.0.0.1:{central.port}")
    bridge = bridge.replace("/etc/mosquitto/certs/central-ca.crt", str(certs / "ca.crt"))
    bridge = bridge.replace("/etc/mosquitto/certs/", f"{certs}/")
    store = start_broker("listener {port} 127.0.0.1\nallow_anonymous true\n" + bridge, tmp_path)
    backend = kiosk = None
    try:
        wait_bridge_up(store)
        backend = Peer.tls(central, certs, "backend")
        kiosk = Peer("lane-01").connect(store)
        assert not backend.subscribe("opensco/#")[0].is_failure
        assert not kiosk.subscribe(LANE1.cmd())[0].is_failure
        assert not kiosk.publish(LANE1.event("item_added"), b"e1").is_failure
        assert backend.expect().payload == b"e1"
        # Another store's topics stay home even though the kiosk ACL's "+" allows them.
        assert not kiosk.publish(TopicTree("store-002", "lane-01").event("item_added")).is_failure
        assert not backend.publish(LANE1.cmd("resync"), b"c1").is_failure
        assert backend.expect().topic == LANE1.cmd("resync")  # its own subscription
        assert kiosk.expect().payload == b"c1"
        assert backend.drain(0.3) == []
    finally:
        for peer in (backend, kiosk):
            if peer is not None:
                peer.close()
        store.stop()
        central.stop()
