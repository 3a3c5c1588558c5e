"""A demo lane's non-scan carries real camera evidence end to end: the lane keeps a rendered
frame (the item's box outlined) through its evidence store and snapshot spool, the alert
cites its snap id, the lane publishes the JPEG on snap/<id>, the tablet (a real Kivy window
on Xvfb) shows that JPEG on the alert's detail screen, and ``sco backend listen --db FILE``
stores it with the flag for the loss-prevention review.

Real mosquitto, real lanes (``DemoFloor``), the listener as its own process; every wait
polls, nothing is timed.
"""

from __future__ import annotations

import queue
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest

from backend_client.contract import event_payload
from backend_client.review_store import ReviewStore
from kiosk.attendant.demo import COLA, DemoFloor
from kiosk.attendant.demo_camera import render_carry
from tests.conftest import SCO, wait_for
from tests.test_attendant_app import Tablet, _need_display

pytestmark = pytest.mark.slow

STORE = "store-c3"  # its own store: the session broker is shared with other tests
BOX_BGR = (0, 200, 255)  # vision.evidence draws item boxes in this colour


@pytest.fixture(scope="module")
def floor(
    mosquitto: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoFloor]:
    host, port = mosquitto
    demo = DemoFloor(broker=f"mqtt://{host}:{port}", lanes=1, store=STORE,
                     workdir=tmp_path_factory.mktemp("attendant-snap-floor"))  # fmt: skip
    demo.start()
    try:
        assert demo.wait_linked(), "the demo lane never connected"
        yield demo
    finally:
        demo.stop()


class Listener:
    """``sco backend listen --db FILE`` for this store, started and seen to subscribe."""

    def __init__(self, host: str, port: int, db: Path) -> None:
        self.db = db
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.proc = subprocess.Popen(
            [*SCO, "backend", "listen", "--broker", f"mqtt://{host}:{port}", "--db", str(db),
             "--store", STORE, "--timeout", "300"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()
        self._wait_subscribed(host, port)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _drain(self) -> None:
        while not self.lines.empty():
            self.seen.append(self.lines.get_nowait())

    def _wait_subscribed(self, host: str, port: int) -> None:
        # A probe event (not a flag) until the listener prints it: it is subscribed then.
        probe = event_payload(
            {"event_id": str(uuid.uuid4()), "type": "device_status", "seq": 1, "ts": 1.0,
             "session_id": None, "device": "probe", "status": "ok"},
            kiosk_id="probe", store=STORE, boot_id="b",
        )  # fmt: skip
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.connect(host, port)
        client.loop_start()
        try:
            for _ in range(300):
                client.publish(f"opensco/{STORE}/kiosk/probe/evt/device", probe, qos=1)
                if wait_for(lambda: self._drain() or any("probe" in s for s in self.seen), 0.5):
                    return
                assert self.proc.poll() is None, self.proc.stderr.read() if self.proc.stderr else ""
            pytest.fail(f"the listener never subscribed: {self.seen}")
        finally:
            client.loop_stop()
            client.disconnect()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def listener(mosquitto: tuple[str, int], tmp_path: Path) -> Iterator[Listener]:
    started = Listener(*mosquitto, tmp_path / "review.sqlite3")
    try:
        yield started
    finally:
        started.stop()


def _texture_rgb(texture: Any) -> np.ndarray:
    w, h = texture.size
    rgba = np.frombuffer(texture.pixels, np.uint8).reshape(h, w, 4)
    return rgba[..., :3].astype(np.int16)


def test_the_non_scan_snapshot_reaches_the_tablet_screen_and_the_review_store(
    floor: DemoFloor, listener: Listener, tmp_path: Path
) -> None:
    _need_display()
    lane = floor.lane("lane-01")
    tablet = Tablet(floor, tmp_path / "shots")
    try:
        tablet.sign_in()
        floor.run_in_background(lane.play_non_scan, "non-scan")
        tablet.wait(lambda: tablet.queue_row("lane-01", "non_scan") is not None,
                    "the non-scan on the queue")  # fmt: skip

        # The lane kept one snapshot through its spool and the alert cites it.
        (raised,) = [a for a in lane.of("alert_raised") if a["kind"] == "non_scan"]
        assert lane.snap_ids and raised["evidence"]["snapshots"] == lane.snap_ids
        snap = lane.snap_ids[0]
        spool = lane.lane.snapshots
        sent_jpeg, meta = spool.load(snap)
        assert meta["kiosk_id"] == "lane-01" and meta["camera"] == "demo-render"
        row = tablet.queue_row("lane-01", "non_scan")
        assert row.alert.snap_ids == (snap,)

        # The JPEG shows the lane with the carried item's box drawn in the evidence colour.
        image = cv2.imdecode(np.frombuffer(sent_jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (480, 640, 3)
        raw, box = render_carry(COLA[0], lane.camera.seed)
        x1, y1, x2, _y2 = box.as_int()
        patch = np.s_[y1 : y1 + 2, (x1 + x2) // 2 - 5 : (x1 + x2) // 2 + 5]
        edge, unboxed = image[patch].reshape(-1, 3), raw[patch].reshape(-1, 3)
        # JPEG smears colour a little; the frame without the drawn box is far from it.
        assert np.abs(edge.mean(axis=0) - BOX_BGR).max() < 60, edge.mean(axis=0)
        assert np.abs(unboxed.mean(axis=0) - BOX_BGR).max() > 100, unboxed.mean(axis=0)

        # The tablet received exactly those bytes on snap/<id> and paints them.
        tablet.tap(row.open)
        detail = tablet.app.screen("detail")
        tablet.wait(lambda: tablet.app.sm.current == "detail", "the alert detail")
        tablet.wait(lambda: tablet.app.image(snap) is not None, "the snapshot on the tablet")
        assert tablet.app.image(snap) == sent_jpeg
        tablet.wait(lambda: detail.ids.snapshot.texture is not None, "the snapshot painted")
        assert detail._snap == snap
        assert detail.ids.no_image.text == "" and detail.ids.snapshot.opacity == 1
        texture = detail.ids.snapshot.texture
        assert tuple(texture.size) == (640, 480)
        shown = _texture_rgb(texture)
        want = image[..., ::-1].astype(np.int16)  # the JPEG as RGB
        diff = min(np.abs(shown - want).mean(), np.abs(shown[::-1] - want).mean())
        assert diff < 6, f"the painted texture is not the published JPEG (mean diff {diff:.1f})"
        tablet.shot("non-scan-snapshot")
    finally:
        tablet.close()

    # The review store keeps the same image with the flag.
    store = ReviewStore.open(listener.db)
    try:

        def flagged() -> Any:
            rows = store.flags(viewer="c3-test")
            return next((r for r in rows if r.alert_id == raised["alert_id"]
                         and r.kiosk_id == "lane-01"), None)  # fmt: skip

        def stored() -> bool:
            row = flagged()
            if row is None:
                return False
            return any(s.present for s in store.detail(row.flag_id, viewer="c3-test").snapshots)

        assert wait_for(stored, 60), (
            f"the listener never stored the flag's snapshot: {listener.seen}"
        )
        flag = flagged()
        assert flag.reason == "non_scan" and flag.snap_ids == (snap,)
        (info,) = store.detail(flag.flag_id, viewer="c3-test").snapshots
        assert info.snap_id == snap and info.present and info.camera == "demo-render"
        assert store.snapshot_jpeg(snap, viewer="c3-test", kiosk_id="lane-01") == sent_jpeg
    finally:
        store.close()


def test_a_lane_without_a_link_keeps_its_evidence_locally_and_a_failed_render_keeps_none(
    tmp_path: Path,
) -> None:
    from kiosk.attendant.demo_camera import DemoCamera

    camera = DemoCamera(object(), "lane-09", tmp_path)  # no spool: nothing to publish through
    snap = camera.keep_carry(COLA[0], 1_700_000_000_000)
    assert snap is not None and camera.store().snapshots() == [snap]
    assert camera.store().info(snap)["reason"] == "enter bagging"
    assert camera.keep_carry("0000000000000", 1_700_000_000_000) is None  # unknown product
    assert camera.store().snapshots() == [snap]
