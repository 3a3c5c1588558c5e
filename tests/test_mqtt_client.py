"""KioskLink against a real mosquitto: birth and Last Will, reconnects, TLS identity, and
commands answered on their MQTT 5 response topic."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from backend_client.client import BrokerUrl, KioskLink
from backend_client.contract import TopicTree
from backend_client.schema_validation import validate
from kiosk.errors import BackendError
from tests.conftest import REPO, Collector, make_trust, signed_command

TOPICS = TopicTree("store-001", "lane-01")


@pytest.fixture
def links() -> Iterator[list[KioskLink]]:
    started: list[KioskLink] = []
    yield started
    for link in started:
        link.stop()


def start_link(links: list[KioskLink], url: str, **kwargs: Any) -> KioskLink:
    link = KioskLink(url, kwargs.pop("topics", TOPICS), backoff_s=(0.1, 1.0), **kwargs)
    links.append(link)
    link.start()
    assert link.wait_connected(15), link.health.last_error
    return link


def retained_status(host: str, port: int, topic: str = TOPICS.status) -> dict[str, Any]:
    sub = Collector(host, port, topic)
    try:
        assert sub.wait_for(lambda s: s.messages, 10), "no retained status"
        return sub.payloads()[-1]
    finally:
        sub.close()


def test_broker_url_parsing() -> None:
    url = BrokerUrl.parse("mqtts://broker.local:8883?ca=/c/ca.crt&cert=/c/k.crt&key=/c/k.key")
    assert (url.host, url.port, url.tls, url.ca, url.key) == (
        "broker.local", 8883, True, "/c/ca.crt", "/c/k.key",
    )  # fmt: skip
    assert str(url) == "mqtts://broker.local:8883"  # never the key paths in logs
    assert BrokerUrl.parse("mqtt://127.0.0.1:1883").tls is False
    for bad in ("http://x:1", "mqtt://", "mqtt://h:1?pem=x", "mqtt://h:99999"):
        with pytest.raises(BackendError):
            BrokerUrl.parse(bad)


def test_birth_is_retained_and_the_will_says_offline(
    mosquitto: tuple[str, int], links: list[KioskLink]
) -> None:
    host, port = mosquitto
    link = start_link(links, f"mqtt://{host}:{port}", catalog_version=7, models={"det": "v1"})
    time.sleep(0.2)
    birth = retained_status(host, port)
    assert birth["online"] is True and birth["boot_id"] == link.boot_id
    assert birth["catalog_version"] == 7 and birth["models"] == {"det": "v1"}
    assert validate("status", birth) == []
    # A socket dropped without DISCONNECT: the broker publishes the retained Will.
    link.stop(graceful=False)
    deadline = time.monotonic() + 10
    while (status := retained_status(host, port))["online"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status["online"] is False and status["reason"] == "lost"
    assert validate("status", status) == []
    # A clean stop says so itself (no Will).
    link = start_link(links, f"mqtt://{host}:{port}")
    link.stop()
    status = retained_status(host, port)
    assert (status["online"], status["reason"], status["boot_id"]) == (
        False,
        "shutdown",
        link.boot_id,
    )


def test_will_fires_when_the_kiosk_process_is_killed(mosquitto: tuple[str, int]) -> None:
    host, port = mosquitto
    topics = TopicTree("store-001", "lane-09")
    script = (
        "import sys, time\n"
        "from backend_client.client import KioskLink\n"
        "from backend_client.contract import TopicTree\n"
        f"link = KioskLink('mqtt://{host}:{port}', TopicTree('store-001', 'lane-09'))\n"
        "link.start(); assert link.wait_connected(15)\n"
        "print('up', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        assert retained_status(host, port, topics.status)["online"] is True
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while retained_status(host, port, topics.status)["online"]:
            assert time.monotonic() < deadline, "the Last Will never arrived"
            time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()


def test_reconnects_after_broker_restart(broker_factory: Any, links: list[KioskLink]) -> None:
    broker = broker_factory()
    link = start_link(links, f"mqtt://{broker.host}:{broker.port}")
    broker.kill9()
    deadline = time.monotonic() + 10
    while link.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not link.connected and link.health.last_error
    broker.restart()
    deadline = time.monotonic() + 20
    while link.health.connects < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert link.connected and link.health.connects == 2
    assert retained_status(broker.host, broker.port)["online"] is True  # a fresh birth


def test_cert_cn_must_equal_kiosk_id(tmp_path: Path) -> None:
    from tests.broker_util import make_certs

    certs = make_certs(tmp_path / "certs", "store-001", ["lane-01"])
    url = f"mqtts://127.0.0.1:1?ca={certs}/ca.crt&cert={certs}/lane-01.crt&key={certs}/lane-01.key"
    with pytest.raises(BackendError, match="is for 'lane-01' but this lane is 'lane-02'"):
        KioskLink(url, TopicTree("store-001", "lane-02"))


def test_tls_with_the_kiosk_certificate(
    tmp_path: Path, broker_factory: Any, links: list[KioskLink]
) -> None:
    from tests.broker_util import deploy_conf, make_certs

    certs = make_certs(tmp_path / "certs", "store-001", ["lane-01"])
    broker = broker_factory(deploy_conf(certs))
    url = (
        f"mqtts://127.0.0.1:{broker.port}?ca={certs}/ca.crt"
        f"&cert={certs}/lane-01.crt&key={certs}/lane-01.key"
    )
    link = start_link(links, url)
    assert link.health.connects == 1


class Commander:
    """A tablet/backend stand-in: publishes a command with a response topic, waits for it."""

    def __init__(self, host: str, port: int) -> None:
        self.answers: queue.Queue[Any] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = lambda _c, _u, m: self.answers.put(m)
        self.client.connect(host, port)
        self.client.subscribe(TOPICS.cmdresp, qos=1)
        self.client.loop_start()
        time.sleep(0.2)

    def send(self, action: str, payload: bytes, corr: bytes) -> Any:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = TOPICS.cmdresp
        props.CorrelationData = corr
        self.client.publish(TOPICS.cmd(action), payload, qos=1, properties=props)
        return self.answers.get(timeout=10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_commands_answered_on_the_response_topic(
    mosquitto: tuple[str, int], links: list[KioskLink], tmp_path: Path
) -> None:
    from backend_client.commands import CommandIntake, TrustStore

    host, port = mosquitto
    private = make_trust(tmp_path / "trust", "tablet-1", role="attendant")
    intake = CommandIntake(TrustStore.load(tmp_path / "trust"), "lane-01", tmp_path / "cmd.db")
    inputs: list[Any] = []
    start_link(links, f"mqtt://{host}:{port}", intake=intake, on_input=inputs.append)
    commander = Commander(host, port)
    try:
        good = signed_command(private, "tablet-1", "approve_age", "lane-01", {}, role="attendant")
        msg = commander.send("approve_age", good, b"corr-1")
        answer = json.loads(msg.payload)
        assert msg.properties.CorrelationData == b"corr-1"
        assert answer["accepted"] is True and answer["code"] == "ok", answer
        assert validate("cmdresp", answer) == []
        assert [type(i).__name__ for i in inputs] == ["AttendantCommand"]

        unsigned = json.loads(good)
        unsigned.pop("sig")
        msg = commander.send("approve_age", json.dumps(unsigned).encode(), b"corr-2")
        answer = json.loads(msg.payload)
        assert msg.properties.CorrelationData == b"corr-2"
        assert answer["accepted"] is False and answer["code"] != "ok"
        assert len(inputs) == 1  # the refused one never reached the core
    finally:
        commander.close()
        intake.close()


def test_without_trusted_keys_every_command_is_refused(
    mosquitto: tuple[str, int], links: list[KioskLink]
) -> None:
    host, port = mosquitto
    start_link(links, f"mqtt://{host}:{port}")
    commander = Commander(host, port)
    try:
        answer = json.loads(commander.send("approve_age", b"{}", b"c").payload)
        assert (answer["accepted"], answer["code"]) == (False, "unauthorized")
        assert validate("cmdresp", answer) == []
    finally:
        commander.close()
