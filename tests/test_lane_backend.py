"""A lane with its MQTT link: events reach the store broker, signed attendant commands
and catalog pushes come back, forged ones change nothing."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from backend_client.signing import generate_keypair, load_private_key, sign_command
from kiosk.app import Lane
from kiosk.config import KioskConfig, parse_config_text
from kiosk.core.events import Event
from kiosk.core.inputs import BarcodeRead, ShopperAction
from tests.conftest import EXAMPLES, wait_for

BEER = "6901035603102"


def lane_config(tmp_path: Path, host: str, port: int, keydir: Path) -> KioskConfig:
    return parse_config_text(
        f"""
        [kiosk]
        id = "lane-07"
        data_dir = "{tmp_path / "data"}"
        [catalog]
        path = "{EXAMPLES / "catalog.csv"}"
        [mqtt]
        enabled = true
        broker = "mqtt://{host}:{port}"
        trust_dir = "{keydir}"
        """
    )


class Tablet:
    """The attendant's side: watches the lane's events, sends signed commands."""

    def __init__(self, host: str, port: int, keydir: Path) -> None:
        self.key = load_private_key(keydir / "tablet-01.key")
        self.events: list[dict[str, Any]] = []
        self.answers: list[dict[str, Any]] = []
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="tablet-01", protocol=mqtt.MQTTv5
        )
        self.client.on_message = self._message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(host, port)
        self.client.loop_start()
        self.client.subscribe([("opensco/+/kiosk/+/evt/#", 1), ("opensco/+/kiosk/+/cmdresp", 1)])
        assert subscribed.wait(5)

    def _message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        (self.answers if msg.topic.endswith("cmdresp") else self.events).append(body)

    def send(self, action: str, args: dict[str, Any], *, sign: bool = True) -> str:
        now = int(time.time())
        cmd: dict[str, Any] = {
            "command_id": str(uuid.uuid4()),
            "action": action,
            "kiosk_id": "lane-07",
            "issuer": {"id": "att-07", "role": "attendant"},
            "issued_at": now - 1,
            "expires_at": now + 60,
            "args": args,
        }
        if sign:
            cmd = sign_command(cmd, self.key, "tablet-01")
        self.client.publish(f"opensco/store-01/kiosk/lane-07/cmd/{action}", json.dumps(cmd), qos=1)
        return str(cmd["command_id"])

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_events_go_out_and_signed_commands_come_in(
    mosquitto: tuple[str, int], tmp_path: Path
) -> None:
    host, port = mosquitto
    keydir = tmp_path / "trust"
    generate_keypair(keydir, "tablet-01")
    (keydir / "trust.toml").write_text('[keys.tablet-01]\nrole = "attendant"\n', encoding="utf-8")
    config = lane_config(tmp_path, host, port, keydir)
    events: list[Event] = []
    tablet = Tablet(host, port, keydir)
    lane = Lane(config, on_events=events.extend)
    lane.start()
    try:
        now = lane.clock
        lane.put(ShopperAction(now(), "start", {"language": "en"}))
        lane.put(BarcodeRead(now(), BEER, "EAN13"))
        assert wait_for(lambda: any(e["type"] == "age_approval_requested" for e in tablet.events))
        alert = next(e for e in tablet.events if e["type"] == "alert_raised")
        assert alert["kiosk_id"] == "lane-07" and alert["kind"] == "age_check"
        # A forged (unsigned) approval is refused and changes nothing.
        forged = tablet.send("approve_age", {}, sign=False)
        assert wait_for(lambda: any(a["command_id"] in (forged, None) for a in tablet.answers))
        assert not tablet.answers[-1]["accepted"]
        # The real one from the tablet is accepted and reaches the core.
        real = tablet.send("approve_age", {})
        assert wait_for(lambda: any(e.type.value == "age_approved" for e in events))
        assert wait_for(
            lambda: any(a["command_id"] == real and a["accepted"] for a in tablet.answers)
        )
        assert wait_for(lambda: any(e["type"] == "age_approved" for e in tablet.events))
        # Every event the lane made reached the broker, in seq order, exactly once.
        assert wait_for(lambda: len(tablet.events) >= len(events))
        seqs = [e["seq"] for e in tablet.events]
        assert seqs == sorted(set(seqs)) == [e.seq for e in events]
    finally:
        lane.stop()
        tablet.close()


def test_a_catalog_push_reprices_the_next_sale(mosquitto: tuple[str, int], tmp_path: Path) -> None:
    host, port = mosquitto
    keydir = tmp_path / "trust"
    generate_keypair(keydir, "hq")
    (keydir / "trust.toml").write_text('[keys.hq]\nrole = "backend"\n', encoding="utf-8")
    config = lane_config(tmp_path, host, port, keydir)
    csv = (
        (EXAMPLES / "catalog.csv")
        .read_text(encoding="utf-8")
        .replace(
            "DRK-006,Yili pure milk 250 ml,伊利纯牛奶 250ml,3.50",
            "DRK-006,Yili pure milk 250 ml,伊利纯牛奶 250ml,3.80",
        )
    )
    events: list[Event] = []
    lane = Lane(config, on_events=events.extend)
    lane.start()
    hq = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hq", protocol=mqtt.MQTTv5)
    hq.connect(host, port)
    hq.loop_start()
    try:
        assert wait_for(lambda: lane.link.connected)
        now = int(time.time())
        cmd = sign_command(
            {
                "command_id": str(uuid.uuid4()),
                "action": "catalog_update",
                "kiosk_id": "lane-07",
                "issuer": {"id": "hq", "role": "backend"},
                "issued_at": now - 1,
                "expires_at": now + 60,
                "args": {
                    "version": 2,
                    "sha256": hashlib.sha256(csv.encode()).hexdigest(),
                    "csv": csv,
                },
            },
            load_private_key(keydir / "hq.key"),
            "hq",
        )
        hq.publish("opensco/store-01/kiosk/lane-07/cmd/catalog_update", json.dumps(cmd), qos=1)
        engine = lane.engine_thread.engine
        assert engine is not None
        assert wait_for(lambda: engine.catalog_version == 2)
        lane.put(BarcodeRead(lane.clock(), "6902031100114", "EAN13"))
        assert wait_for(lambda: any(e.type.value == "item_added" for e in events))
        added = next(e for e in events if e.type.value == "item_added")
        assert added.data["line"]["unit_price_minor"] == 380
    finally:
        hq.loop_stop()
        hq.disconnect()
        lane.stop()
