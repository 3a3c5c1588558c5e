"""Outbox relay throughput vs raw paho QoS 1, against a private mosquitto on loopback.

    .venv/bin/python bench/outbox.py                   # 20 000 events
    .venv/bin/python bench/outbox.py --events 100000   # the memory figure

Prints events/s for the relay (SQLite outbox → QoS 1, each row marked sent on its PUBACK)
and for raw paho QoS 1 publishes of the same payloads to the same broker, their ratio
(target >= 0.8) and peak RSS. Prints; never asserts.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from backend_client.client import KioskLink, publish_properties
from backend_client.contract import EVENT_SCHEMA, TopicTree, event_payload
from backend_client.relay import OutboxRelay
from kiosk.core.events import Event, EventType, make_event_id
from kiosk.core.inputs import Tick
from kiosk.journal import Journal

TOPICS = TopicTree("store-01", "lane-01")


def start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, port
        except OSError:
            time.sleep(0.02)
    raise SystemExit("mosquitto did not start")


def fill(journal_path: Path, count: int) -> None:
    journal = Journal(journal_path, new_journal_id="bench")
    for first in range(1, count + 1, 1000):
        events = [
            Event(EventType.ITEM_ADDED, 1_700_000_000_000 + s, s,
                  make_event_id("lane-01", "bench", s), "session-1",
                  {"line": {"line_id": s, "code": "6901234567892", "name_en": "Green tea 500 ml",
                            "qty": 1, "unit_price_minor": 350, "total_minor": 350}})
            for s in range(first, min(first + 1000, count + 1))
        ]  # fmt: skip
        journal.record(Tick(ts_ms=first), _returning(events), lambda: None)
    journal.close()


def _returning(events: list[Event]) -> Callable[[object], list[Event]]:
    return lambda _item: events


def bench_relay(port: int, journal_path: Path, window: int) -> float:
    link = KioskLink(f"mqtt://127.0.0.1:{port}", TOPICS, max_inflight=window)
    relay = OutboxRelay(link, journal_path, window=window)
    link.start()
    if not link.wait_connected(10):
        raise SystemExit(f"relay could not connect: {link.health.last_error}")
    start = time.perf_counter()
    relay.idle.wait(600)
    elapsed = time.perf_counter() - start
    link.stop()
    return elapsed


def bench_raw(port: int, journal_path: Path, window: int) -> tuple[float, int]:
    journal = Journal(journal_path)
    rows = journal.outbox_range(1, 10**9, limit=10**9)
    journal.close()
    messages = [
        (TOPICS.event(r.type), event_payload(json.loads(r.payload), kiosk_id="lane-01",
                                             store="store-01", boot_id="b"), r)
        for r in rows
    ]  # fmt: skip
    done = threading.Event()
    # Flow control like the relay's window: paho rescans its whole queue on every PUBACK,
    # so queueing all N messages at once would make raw paho quadratic, not faster.
    slots = threading.BoundedSemaphore(window)
    acked = 0

    def on_publish(*_a: object) -> None:
        nonlocal acked
        acked += 1
        slots.release()
        if acked == len(messages):
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="raw", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(window)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    start = time.perf_counter()
    for topic, payload, row in messages:  # same properties as the relay sends
        slots.acquire()
        props = publish_properties()
        props.UserProperty = [("event_id", row.event_id), ("type", row.type),
                              ("schema", EVENT_SCHEMA)]  # fmt: skip
        client.publish(topic, payload, qos=1, properties=props)
    done.wait(600)
    elapsed = time.perf_counter() - start
    client.loop_stop()
    client.disconnect()
    return elapsed, len(messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=100, help="QoS 1 messages in flight")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker, port = start_broker(workdir)
        try:
            journal_path = workdir / "journal.sqlite3"
            fill(journal_path, args.events)
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            relay_s = bench_relay(port, journal_path, args.window)
            rss_relay = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            raw_s, count = bench_raw(port, journal_path, args.window)
            rss_raw = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        finally:
            broker.terminate()
            broker.wait(5)
    relay_rate, raw_rate = args.events / relay_s, count / raw_s
    print(f"events: {args.events}, window {args.window}, mosquitto on loopback")
    print(f"outbox relay (SQLite → QoS 1, marked on PUBACK): {relay_rate:,.0f} events/s")
    print(f"raw paho QoS 1, same payloads:                   {raw_rate:,.0f} events/s")
    print(f"ratio relay / raw: {relay_rate / raw_rate:.2f} (target >= 0.8)")
    print(
        f"peak RSS: {rss_before / 1024:.0f} MB before the relay, {rss_relay / 1024:.0f} MB after "
        f"the relay, {rss_raw / 1024:.0f} MB after raw paho (its payloads are built in memory)"
    )


if __name__ == "__main__":
    main()
