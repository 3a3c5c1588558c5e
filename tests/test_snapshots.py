"""Snapshot evidence: spooled before publishing, published on snap/<id> with its metadata,
size-bounded, kept a bounded time, and never lost to a broker outage."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest

from backend_client.client import KioskLink
from backend_client.contract import TopicTree
from backend_client.schema_validation import SNAPSHOT_MAX_BYTES, validate_snapshot
from backend_client.snapshots import SnapshotPublisher, SnapshotSpool
from kiosk.errors import BackendError
from tests.conftest import wait_for


def jpeg(seed: int = 0, size: int = 64) -> bytes:
    rng = np.random.default_rng(seed)
    ok, data = cv2.imencode(".jpg", rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    assert ok
    return data.tobytes()


def test_spool_refuses_what_is_not_a_small_jpeg(tmp_path: Path) -> None:
    spool = SnapshotSpool(tmp_path)
    ident = {"kiosk_id": "lane-01", "boot_id": "b1", "ts_s": 1.0}
    with pytest.raises(BackendError, match=r"(?i)jpeg"):
        spool.add(b"GIF89a not a jpeg", **ident)
    with pytest.raises(BackendError, match="limit"):
        spool.add(b"\xff\xd8\xff" + bytes(SNAPSHOT_MAX_BYTES), **ident)
    assert spool.pending() == []


def test_retention_bounds_count_and_age(tmp_path: Path) -> None:
    spool = SnapshotSpool(tmp_path, max_count=3, max_age_s=3600)
    ids = [spool.add(jpeg(i), kiosk_id="lane-01", boot_id="b1", ts_s=float(i)) for i in range(5)]
    assert set(spool.pending()) <= set(ids) and len(spool.pending()) == 3
    old = tmp_path / f"{spool.pending()[0]}.jpg"
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert spool.prune() == 1
    assert not old.exists() and not old.with_suffix(".json").exists()


def test_snapshots_reach_the_broker_after_an_outage(
    mosquitto: tuple[str, int], tmp_path: Path
) -> None:
    host, port = mosquitto
    spool = SnapshotSpool(tmp_path / "spool")
    images = [jpeg(i) for i in range(3)]
    # Taken while the lane had no broker: they wait on disk.
    ids = [
        spool.add(img, kiosk_id="lane-01", boot_id="b1", ts_s=1.0 + i)
        for i, img in enumerate(images)
    ]
    got: dict[str, tuple[bytes, dict[str, str]]] = {}
    done = threading.Event()

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        props = dict(getattr(msg.properties, "UserProperty", []))
        got[msg.topic.rsplit("/", 1)[1]] = (bytes(msg.payload), props)
        if len(got) == len(ids):
            done.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="lp-review", protocol=mqtt.MQTTv5)
    sub.on_message = on_message
    sub.connect(host, port)
    sub.loop_start()
    sub.subscribe("opensco/+/kiosk/+/snap/+", qos=1)
    time.sleep(0.3)
    link = KioskLink(f"mqtt://{host}:{port}", TopicTree("store-01", "lane-01"))
    SnapshotPublisher(link, spool)
    link.start()
    try:
        assert done.wait(10)
        assert wait_for(lambda: spool.pending() == [])
    finally:
        link.stop()
        sub.loop_stop()
        sub.disconnect()
    for snap_id, image in zip(ids, images, strict=True):
        payload, props = got[snap_id]
        assert payload == image
        assert validate_snapshot(payload, props) == []
        assert props["snap_id"] == snap_id
