"""A camera lane's evidence reaches the store: a package carried past the scanner into the
bagging area (the camera reads it, but where a scanner scans that sells nothing) raises a
non-scan alert citing the vision snapshot, and that JPEG arrives on ``snap/<id>`` with
metadata the backend accepts, blurred outside the lane's zones. Without MQTT the same
evidence is kept on the lane only.

A real Lane with a folder camera of drawn frames, a real (tiny) ONNX detector, the real
pipeline, core, outbox relay and snapshot publisher, and a real mosquitto.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt

from backend_client.schema_validation import validate_snapshot
from kiosk.app import Lane
from kiosk.config import parse_config_text
from kiosk.core.events import Event
from kiosk.core.inputs import ShopperAction
from tests.conftest import EXAMPLES, wait_for
from tests.test_lane_vision import _write_frames
from tests.vision_models import build_blob_model
from vision.types import Frame
from vision.worker import build_pipeline

KIOSK = "lane-c4"
STORE = "store-c4"  # its own store: the session broker is shared with other tests


def _lane(tmp_path: Path, events: list[Event], mqtt_url: str | None) -> Lane:
    _write_frames(tmp_path / "frames")
    model = build_blob_model(tmp_path / "model", size=160)
    link = f'[mqtt]\nenabled = true\nbroker = "{mqtt_url}"\n' if mqtt_url else ""
    config = parse_config_text(
        f"""
        [kiosk]
        id = "{KIOSK}"
        store = "{STORE}"
        data_dir = "{tmp_path / "data"}"
        [catalog]
        path = "{EXAMPLES / "catalog.csv"}"
        [checkout]
        camera_scans = false
        [security]
        policies = ["non_scan:alert"]
        [camera]
        enabled = true
        url = "folder:{tmp_path / "frames"}?fps=8"
        [vision]
        detector_model = "{model}"
        {link}
        """
    )
    lane = Lane(config, on_events=events.extend)
    # Queued before the camera starts: the shopper has begun when the package comes by.
    lane.put(ShopperAction(lane.clock(), "start", {"language": "en"}))
    return lane


def _non_scan_snaps(events: list[Event]) -> list[str]:
    for event in events:
        if event.type.value == "alert_raised" and event.data.get("reason") == "non_scan":
            return list(event.data.get("evidence", {}).get("snapshots") or [])
    return []


class SnapWatcher:
    """The backend's side: every JPEG the store's lanes publish on snap/<id>."""

    def __init__(self, host: str, port: int) -> None:
        self.got: dict[str, tuple[bytes, dict[str, str]]] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(host, port)
        self.client.loop_start()
        self.client.subscribe(f"opensco/{STORE}/kiosk/+/snap/#", qos=1)
        assert subscribed.wait(10)

    def _message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        props = dict(getattr(msg.properties, "UserProperty", []))
        with self._lock:
            self.got[msg.topic.rsplit("/", 1)[1]] = (bytes(msg.payload), props)

    def get(self, snap_id: str) -> tuple[bytes, dict[str, str]] | None:
        with self._lock:
            return self.got.get(snap_id)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_a_non_scan_snapshot_reaches_the_store_broker(
    mosquitto: tuple[str, int], tmp_path: Path
) -> None:
    host, port = mosquitto
    watcher = SnapWatcher(host, port)
    events: list[Event] = []
    lane = _lane(tmp_path, events, f"mqtt://{host}:{port}")
    lane.start()
    try:
        assert wait_for(lambda: _non_scan_snaps(events), timeout_s=60), [
            e.type.value for e in events
        ]
        snap_id = _non_scan_snaps(events)[0]
        assert wait_for(lambda: watcher.get(snap_id) is not None, timeout_s=30)
        evidence = lane.vision.pipeline.evidence
        local = evidence.path(snap_id).read_bytes()
        boot_id = lane.link.boot_id
    finally:
        lane.stop()
        watcher.close()
    jpeg, props = watcher.get(snap_id) or (b"", {})
    assert validate_snapshot(jpeg, props) == []
    assert props["snap_id"] == snap_id and props["kiosk_id"] == KIOSK
    assert props["boot_id"] == boot_id
    assert jpeg == local  # the attendant's local copy and the published one are the same
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.size > 0


def test_without_mqtt_the_evidence_stays_on_the_lane(tmp_path: Path) -> None:
    events: list[Event] = []
    lane = _lane(tmp_path, events, None)
    lane.start()
    try:
        assert wait_for(lambda: _non_scan_snaps(events), timeout_s=60)
        evidence = lane.vision.pipeline.evidence
        assert evidence.spool is None and lane.snapshots is None
        for snap_id in _non_scan_snaps(events):
            assert evidence.path(snap_id).is_file()
    finally:
        lane.stop()
    assert not (tmp_path / "data" / "snapshots").exists()  # nothing spooled for a backend


def test_camera_snapshots_are_blurred_outside_the_lane_zones(tmp_path: Path) -> None:
    """The worker's evidence store masks like the demo camera's: the scan zone stays sharp,
    the band above the zones (where a shopper stands) is blurred beyond recognition."""
    config = parse_config_text(
        f"""
        [kiosk]
        data_dir = "{tmp_path / "data"}"
        [vision]
        detector_model = "{tmp_path / "no-such-model.onnx"}"
        """
    )
    pipeline = build_pipeline(config.sections, config.data_dir, (640, 480))
    evidence = pipeline.evidence
    assert evidence is not None and evidence.spool is None
    texture = np.random.default_rng(7).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    snap_id = evidence.keep(Frame(texture, 1_000, 1, "drawn:"), reason="test")
    image = cv2.imdecode(np.frombuffer(evidence.path(snap_id).read_bytes(), np.uint8), 1)

    def detail(region: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(region, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())

    # examples/zones.json: scan spans x 0.05-0.45, y 0.1-0.9; nothing lies above y 0.1.
    sharp, blurred = detail(image[100:300, 60:250]), detail(image[0:40, 60:250])
    assert sharp > 20 * blurred, (sharp, blurred)
