"""The tablet client against a real mosquitto and a real lane (kiosk.app.Lane with its MQTT
link): lane state and alerts reach the floor, signed commands act and forged ones are
refused, claims converge across tablets, and a broker killed with -9 is survived."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend_client.contract import event_payload
from kiosk.app import Lane
from kiosk.attendant import client as client_module
from kiosk.attendant.client import TabletClient
from kiosk.attendant.floor import FloorState
from kiosk.attendant.keyring import AttendantSigner, enroll, unlock
from kiosk.core.events import Event
from kiosk.core.inputs import BarcodeRead, ShopperAction
from kiosk.ui.viewmodel import MESSAGE_SHOW_MS, ShopperViewModel
from tests.conftest import wait_for
from tests.test_lane_backend import BEER, lane_config

PIN = "482913"


@dataclass
class Setup:
    tmp: Path
    trust: Path
    keyring: Path


@pytest.fixture
def keys(tmp_path: Path) -> Setup:
    keyring, trust = tmp_path / "keyring", tmp_path / "trust"
    trust.mkdir()
    lines = []
    for who in ("att-07", "att-09"):
        pub = enroll(keyring, who, PIN, key_id=f"{who}-t")
        shutil.copy(pub, trust / pub.name)
        lines.append(f'[keys.{who}-t]\nrole = "attendant"\nissuer = "{who}"\n')
    (trust / "trust.toml").write_text("\n".join(lines), encoding="utf-8")
    return Setup(tmp_path, trust, keyring)


class Unsigned(AttendantSigner):
    def sign(self, cmd: Any) -> dict[str, Any]:
        body = super().sign(cmd)
        body.pop("sig")
        return body


def start_lane(keys: Setup, host: str, port: int) -> tuple[Lane, list[Event]]:
    events: list[Event] = []
    lane = Lane(lane_config(keys.tmp, host, port, keys.trust), on_events=events.extend)
    lane.start()
    return lane, events


def tablet(host: str, port: int, signer: AttendantSigner, tablet_id: str) -> TabletClient:
    client = TabletClient(f"mqtt://{host}:{port}", "store-01", signer, tablet_id=tablet_id)
    client.start()
    return client


def age_alert_key(state: FloorState) -> str | None:
    return next((a.key for a in state.alerts if a.kind == "age_check"), None)


@pytest.fixture
def stack(mosquitto: tuple[str, int], keys: Setup) -> Iterator[tuple[Lane, list[Event], Any]]:
    host, port = mosquitto
    lane, events = start_lane(keys, host, port)
    opened: list[TabletClient] = []

    def open_tablet(signer: AttendantSigner, tablet_id: str = "tablet-01") -> TabletClient:
        client = tablet(host, port, signer, tablet_id)
        opened.append(client)
        return client

    try:
        yield lane, events, open_tablet
    finally:
        for client in opened:
            client.stop()
        lane.stop()


def test_age_alert_reaches_the_floor_and_a_signed_approval_continues_the_sale(
    stack: Any, keys: Setup
) -> None:
    lane, events, open_tablet = stack
    chimes: list[str] = []
    client = open_tablet(unlock(keys.keyring, "att-07", PIN))
    client.on_new_alert = lambda a: chimes.append(a.key)
    # The retained lane state alone tells a fresh tablet the lane is there and idle.
    assert wait_for(lambda: (ln := client.snapshot().lane("lane-07")) is not None
                    and ln.online and ln.display_state == "idle")  # fmt: skip
    lane.put(ShopperAction(lane.clock(), "start", {"language": "en"}))
    lane.put(BarcodeRead(lane.clock(), BEER, "EAN13"))
    assert wait_for(lambda: age_alert_key(client.snapshot()) is not None)
    lane_view = client.snapshot().lane("lane-07")
    assert lane_view is not None and lane_view.display_state == "age_check"
    assert lane_view.items == 1 and lane_view.total_minor > 0
    assert chimes == [age_alert_key(client.snapshot())]

    cid = client.send("lane-07", "approve_age", {})
    assert wait_for(lambda: any(c.command_id == cid and c.status == "accepted"
                                for c in client.snapshot().commands))  # fmt: skip
    assert wait_for(lambda: age_alert_key(client.snapshot()) is None)
    assert any(e.type.value == "age_approved" and e.data["attendant_id"] == "att-07"
               for e in events)  # fmt: skip
    # The sale goes on: payment is asked for, and the tablet sees the lane in payment.
    lane.put(ShopperAction(lane.clock(), "pay", {"method": "card"}))
    assert wait_for(lambda: any(e.type.value == "payment_requested" for e in events))
    assert wait_for(lambda: (ln := client.snapshot().lane("lane-07")) is not None
                    and ln.display_state == "payment")  # fmt: skip


def test_forged_and_wrong_key_commands_are_refused_and_shown_so(stack: Any, keys: Setup) -> None:
    lane, events, open_tablet = stack
    real = unlock(keys.keyring, "att-07", PIN)
    other_key = Ed25519PrivateKey.generate()
    forgers = {
        "unsigned": Unsigned(real.attendant_id, real.key_id, real._key),
        "wrong_key": AttendantSigner("att-07", "att-07-t", other_key),
        "unknown_key": AttendantSigner("att-07", "att-99-t", other_key),
        "other_attendant": AttendantSigner(
            "att-07", "att-09-t", unlock(keys.keyring, "att-09", PIN)._key
        ),
    }
    expected = {"unsigned": "malformed", "wrong_key": "bad_signature",
                "unknown_key": "unknown_key", "other_attendant": "unauthorized"}  # fmt: skip
    lane.put(ShopperAction(lane.clock(), "start", {"language": "en"}))
    for name, signer in forgers.items():
        client = open_tablet(signer, f"tablet-{name.replace('_', '-')}")
        assert wait_for(lambda c=client: c.connected)
        cid = client.send("lane-07", "lock_lane", {"reason": "forged"})
        assert wait_for(lambda c=client, i=cid: any(x.command_id == i and x.status != "sent"
                                                    for x in c.snapshot().commands))  # fmt: skip
        (view,) = [x for x in client.snapshot().commands if x.command_id == cid]
        assert (view.status, view.code) == ("refused", expected[name]), view
    assert not any(e.type.value == "lane_locked" for e in events)


def test_claims_by_two_tablets_converge(stack: Any, keys: Setup) -> None:
    lane, _events, open_tablet = stack
    one = open_tablet(unlock(keys.keyring, "att-07", PIN), "tablet-01")
    two = open_tablet(unlock(keys.keyring, "att-09", PIN), "tablet-02")
    lane.put(ShopperAction(lane.clock(), "start", {"language": "en"}))
    lane.put(ShopperAction(lane.clock(), "request_help", {"reason": "bags"}))
    for client in (one, two):
        assert wait_for(lambda c=client: c.snapshot().alerts != ())
    (alert,) = one.snapshot().alerts
    one.claim("lane-07", alert.alert_id)  # first
    two.claim("lane-07", alert.alert_id)  # later: loses, and is overwritten on the broker
    for client in (one, two):
        assert wait_for(lambda c=client: c.snapshot().alerts[0].claimed_by == "att-07")
    # A tablet that joins now gets the winner from the retained message.
    late = open_tablet(unlock(keys.keyring, "att-09", PIN), "tablet-03")
    assert wait_for(lambda: late.snapshot().alerts != ()
                    and late.snapshot().alerts[0].claimed_by == "att-07")  # fmt: skip
    # Clearing the alert releases the claim everywhere.
    cid = one.send("lane-07", "clear_alert", {"alert_id": alert.alert_id})
    assert wait_for(lambda: any(c.command_id == cid and c.status == "accepted"
                                for c in one.snapshot().commands))  # fmt: skip
    for client in (one, two, late):
        assert wait_for(lambda c=client: c.snapshot().alerts == ())
        assert wait_for(lambda c=client: c.floor.claim_of("lane-07", alert.alert_id) is None)


def test_message_shopper_reaches_the_shopper_banner(stack: Any, keys: Setup) -> None:
    lane, _events, open_tablet = stack
    now = [1_000_000]
    engine = lane.engine_thread.engine
    vm = ShopperViewModel(engine.checkout.catalog, lane.put, lambda: now[0])
    lane._on_events = vm.on_events  # the kiosk mode wires the view-model the same way
    client = open_tablet(unlock(keys.keyring, "att-07", PIN))
    assert wait_for(lambda: client.connected)
    cid = client.send("lane-07", "message_shopper", {"text": "I am on my way"})
    assert wait_for(lambda: vm.snapshot().message is not None)
    message = vm.snapshot().message
    assert message is not None and (message.text, message.attendant_id) == (
        "I am on my way",
        "att-07",
    )
    assert wait_for(lambda: any(c.command_id == cid and c.status == "accepted"
                                for c in client.snapshot().commands))  # fmt: skip
    now[0] += MESSAGE_SHOW_MS - 1
    vm.tick()
    assert vm.snapshot().message is not None
    now[0] += 1
    vm.tick()
    assert vm.snapshot().message is None
    # Too long a text is refused by the schema before it reaches the core.
    bad = client.send("lane-07", "message_shopper", {"text": "x" * 201})
    assert wait_for(lambda: any(c.command_id == bad and c.status == "refused"
                                for c in client.snapshot().commands))  # fmt: skip


def test_a_broker_killed_and_restarted_is_survived(broker_factory: Any, keys: Setup) -> None:
    broker = broker_factory()
    lane, _events = start_lane(keys, broker.host, broker.port)
    client = tablet(broker.host, broker.port, unlock(keys.keyring, "att-07", PIN), "tablet-01")
    try:
        lane.put(ShopperAction(lane.clock(), "start", {"language": "en"}))
        assert wait_for(lambda: (ln := client.snapshot().lane("lane-07")) is not None
                        and ln.display_state == "shopping")  # fmt: skip
        broker.kill9()
        assert wait_for(lambda: not client.connected)
        broker.restart()  # no persistence: retained messages and sessions are gone
        assert wait_for(lambda: client.connected, 60)
        # The lane republishes its birth and state after its CONNACK; an alert raised now
        # reaches the tablet through the renewed subscriptions.
        lane.put(ShopperAction(lane.clock(), "request_help", {"reason": "after restart"}))
        assert wait_for(lambda: any(a.kind == "help" for a in client.snapshot().alerts), 60)
        lane_view = client.snapshot().lane("lane-07")
        assert lane_view is not None and lane_view.online
        assert lane_view.display_state == "needs_help"
    finally:
        client.stop()
        lane.stop()


def test_a_cited_snapshot_notifies_the_floor_listeners_at_once(
    mosquitto: tuple[str, int], keys: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The detail screen repaints when its alert's JPEG arrives, not on the next tick: the
    tick is switched off here, so only the image's own notify can show it. An image no
    open alert cites changes no screen and notifies nobody."""
    monkeypatch.setattr(client_module, "TICK_S", 3600.0)
    host, port = mosquitto
    store, kiosk, cited, early = "store-c4t", "lane-c4t", "snap-cited", "snap-early"
    client = TabletClient(f"mqtt://{host}:{port}", store, unlock(keys.keyring, "att-07", PIN),
                          tablet_id="tablet-c4t")  # fmt: skip
    calls: list[tuple[bool, bool, bool]] = []  # alert open, cited image, early image

    def listener(state: FloorState) -> None:
        has_alert = any(cited in a.snap_ids for a in state.alerts)
        calls.append((has_alert, client.image(cited) is not None, client.image(early) is not None))

    client.subscribe(listener)
    client.start()
    lane = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=kiosk, protocol=mqtt.MQTTv5)
    lane.connect(host, port)
    lane.loop_start()
    try:
        assert wait_for(lambda: client.connected)
        alert = {"event_id": str(uuid.uuid4()), "type": "alert_raised", "seq": 1, "ts": 1.0,
                 "session_id": None, "alert_id": "a-1", "kind": "non_scan",
                 "evidence": {"snapshots": [cited]}}  # fmt: skip
        body = event_payload(alert, kiosk_id=kiosk, store=store, boot_id="b1")
        lane.publish(f"opensco/{store}/kiosk/{kiosk}/evt/alert", body, qos=1)
        assert wait_for(lambda: any(c[0] for c in calls))  # the alert's own notify is done
        calls.clear()
        lane.publish(f"opensco/{store}/kiosk/{kiosk}/snap/{early}", _jpeg(1), qos=1)
        assert wait_for(lambda: client.image(early) is not None)
        lane.publish(f"opensco/{store}/kiosk/{kiosk}/snap/{cited}", _jpeg(2), qos=1)
        assert wait_for(lambda: calls != [])
    finally:
        lane.loop_stop()
        lane.disconnect()
        client.stop()
    # One message thread handles both images in order: had the uncited one notified, its
    # call (cited image still missing) would come first.
    assert calls[0] == (True, True, True), calls
    assert client.image(cited) == _jpeg(2)


def _jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    ok, data = cv2.imencode(".jpg", rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    assert ok
    return data.tobytes()
