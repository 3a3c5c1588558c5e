"""Privacy: faces blurred in stored and published evidence (real mosquitto), product regions
left alone, detection measured on real photos and rendered lane frames, and every image store
pruned by age."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest

from backend_client.client import KioskLink
from backend_client.contract import TopicTree
from backend_client.snapshots import SnapshotPublisher, SnapshotSpool
from models.closed_loop import ClosedLoopRecorder, Retention
from tests.conftest import wait_for
from vision import privacy
from vision.evidence import EvidenceStore
from vision.types import Box, Frame

LANE = "lane-07"


def grace_hopper() -> np.ndarray:
    """A real portrait photo that ships inside matplotlib (one face)."""
    cbook = pytest.importorskip("matplotlib.cbook")
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    image = cv2.imread(str(path))
    assert image is not None
    return image


def lane_frame(index: int = 0) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A rendered top-down lane frame (640x480) and its item boxes."""
    from models.scenes.dataset import Kit, render_image

    image, labels, _ = render_image(11, 0, index, Kit.load(with_photos=False))
    return np.ascontiguousarray(image), [lb.box for lb in labels if lb.cls == "item"]


def sharpness(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


@pytest.fixture(scope="module")
def detector() -> privacy.FaceDetector:
    return privacy.default_detector()


def test_faces_are_found_in_real_photos_and_not_in_lane_frames(
    detector: privacy.FaceDetector,
) -> None:
    faces = detector.detect(grace_hopper())
    assert len(faces) == 1
    x, y, w, h = faces[0]
    assert 120 <= x + w / 2 <= 400 and 100 <= y + h / 2 <= 380  # on her face
    for i in range(3):  # no false face on an ordinary lane frame (products, hands, bags)
        assert detector.detect(lane_frame(i)[0]) == []


def test_a_snapshot_stores_and_publishes_the_face_blurred_and_the_products_sharp(
    mosquitto: tuple[str, int], tmp_path: Path, detector: privacy.FaceDetector
) -> None:
    host, port = mosquitto
    frame_img, items = lane_frame(0)
    face = cv2.resize(grace_hopper()[60:420, 90:450], (220, 220), interpolation=cv2.INTER_AREA)
    fx, fy = 410, 250  # a shopper leaning into the camera's view, clear of the items
    # Items well clear of the face and of the margin its blur adds around it.
    items = [b for b in items if b[2] <= fx - 80 or b[3] <= fy - 80]
    assert items, "the rendered frame has items away from the face"
    frame_img[fy : fy + 220, fx : fx + 220] = face
    original = frame_img.copy()

    received: dict[str, bytes] = {}
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="lp", protocol=mqtt.MQTTv5)
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_message = lambda _c, _u, m: received.__setitem__(m.topic, m.payload)
    sub.connect(host, port)
    sub.loop_start()
    sub.subscribe(f"opensco/store-01/kiosk/{LANE}/snap/#", 1)
    assert subscribed.wait(5)
    link = KioskLink(f"mqtt://{host}:{port}", TopicTree("store-01", LANE))
    spool = SnapshotSpool(tmp_path / "spool")
    SnapshotPublisher(link, spool)
    link.start()
    try:
        store = EvidenceStore(
            tmp_path / "evidence",
            max_bytes=10_000_000,
            max_age_s=3600,
            max_count=100,
            spool=spool,
            kiosk_id=LANE,
            boot_id=link.boot_id,
            jpeg_quality=95,
        )
        snap_id = store.keep(Frame(frame_img, 1000, 1, "cam"), reason="test")
        assert np.array_equal(frame_img, original)  # the camera's frame is never drawn on
        stored = store.path(snap_id).read_bytes()
        topic = TopicTree("store-01", LANE).snapshot(snap_id)
        assert wait_for(lambda: topic in received)
    finally:
        link.stop()
        sub.loop_stop()
        sub.disconnect()
    assert received[topic] == stored == spool.load(snap_id)[0]

    image = cv2.imdecode(np.frombuffer(received[topic], np.uint8), cv2.IMREAD_COLOR)
    region = (slice(fy + 50, fy + 170), slice(fx + 50, fx + 170))  # eyes, nose, mouth
    assert sharpness(image[region]) < 0.1 * sharpness(original[region])
    assert detector.detect(image) == []  # nothing recognisable as a face is left
    # The products the alert is about are exactly what plain JPEG encoding gives.
    _, plain = cv2.imencode(".jpg", original, [cv2.IMWRITE_JPEG_QUALITY, 95])
    reference = cv2.imdecode(plain, cv2.IMREAD_COLOR)
    for x1, y1, x2, y2 in items:
        diff = np.abs(image[y1:y2, x1:x2].astype(int) - reference[y1:y2, x1:x2].astype(int))
        assert diff.mean() < 0.5


def test_when_detection_cannot_run_the_whole_snapshot_is_blurred(tmp_path: Path) -> None:
    class Broken(privacy.FaceDetector):
        def __init__(self) -> None:
            pass

        def detect(self, image: Any) -> list[privacy.Rect]:
            raise privacy.CascadeError("cascade file missing")

    image, _ = lane_frame(1)
    blurred, boxes = privacy.blur_faces(image, Broken())
    assert boxes == [(0, 0, 640, 480)] and sharpness(blurred) < 0.1 * sharpness(image)


def test_a_cascade_that_is_not_one_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.xml"
    bad.write_text(
        "<opencv_storage><cascade><featureType>LBP</featureType></cascade></opencv_storage>"
    )
    with pytest.raises(privacy.CascadeError, match="not a HAAR"):
        privacy.HaarCascade(bad)
    with pytest.raises(privacy.CascadeError, match="cannot read"):
        privacy.HaarCascade(tmp_path / "missing.xml")


def test_every_image_store_is_pruned_by_age(tmp_path: Path) -> None:
    now = [1_000_000.0]
    clock = lambda: now[0]  # noqa: E731
    image, items = lane_frame(2)
    store = EvidenceStore(
        tmp_path / "ev", max_bytes=10**8, max_age_s=3600, max_count=100, clock=clock
    )
    snap = store.keep(Frame(image, 1, 1, "cam"))
    now[0] += 3601
    # No new snapshot: the sweep that runs with the frame flow still deletes it.
    store.remember(Frame(image, 2, 2, "cam"))
    assert store.snapshots() == [] and not (tmp_path / "ev" / f"{snap}.jpg").exists()

    loop = ClosedLoopRecorder(
        tmp_path / "cl", enabled=True, retention=Retention(max_age_s=60.0), clock=clock
    )
    assert loop.save(image, Box(*items[0]), "apple")
    assert loop.prune() == 0
    now[0] += 61
    assert loop.prune() == 1 and not list((tmp_path / "cl").rglob("*.jpg"))

    spool = SnapshotSpool(tmp_path / "spool", max_age_s=60)
    _, jpeg = cv2.imencode(".jpg", image)
    sid = spool.add(jpeg.tobytes(), kiosk_id=LANE, boot_id="b" * 32, ts_s=1.0)
    assert spool.prune(now_s=(tmp_path / "spool" / f"{sid}.jpg").stat().st_mtime + 61) == 1
