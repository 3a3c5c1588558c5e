"""MotionGate on real drawn frames, and the region merging in front of the detector."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.vision_models import build_blob_model
from vision.detector import YoloOnnxDetector
from vision.motion import MotionGate, regions
from vision.types import Box

W, H = 640, 480


def counter(seed: int = 0) -> np.ndarray:
    """A textured grey counter top with a little sensor noise."""
    rng = np.random.default_rng(seed)
    img = np.full((H, W, 3), 90, np.uint8)
    for x in range(0, W, 80):
        cv2.line(img, (x, 0), (x, H - 1), (70, 70, 70), 2)
    noise = rng.integers(-4, 5, img.shape, dtype=np.int16)
    return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def with_item(img: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    out = img.copy()
    cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), (40, 200, 230), -1)
    return out


def covers(motion: list[Box], target: Box, slack: float = 12) -> bool:
    return any(
        m.x1 <= target.x1 + slack
        and m.y1 <= target.y1 + slack
        and m.x2 >= target.x2 - slack
        and m.y2 >= target.y2 - slack
        and m.area < 3 * target.expanded(1.3).area
        for m in motion
    )


def test_static_noisy_scene_is_idle() -> None:
    gate = MotionGate()
    for i in range(60):
        assert gate.update(counter(i)) == []
    assert gate.motion_frames == 0 and not gate.calibrating


def test_item_placed_gives_a_box_in_full_frame_pixels() -> None:
    gate = MotionGate()
    gate.update(counter(0))
    motion = gate.update(with_item(counter(1), 300, 200, 380, 260))
    assert covers(motion, Box(300, 200, 380, 260)), motion


def test_moving_item_is_followed_and_tiny_flicker_ignored() -> None:
    gate = MotionGate()
    gate.update(counter(0))
    for f in range(1, 12):
        x = 40 + 40 * f
        img = with_item(counter(f), x, 150, x + 60, 210)
        img[10:12, 10:12] = 255  # a 2 x 2 px glint: under the contour area
        motion = gate.update(img)
        assert covers(motion, Box(x, 150, x + 60, 210)), (f, motion)
        assert all(m.x2 > 30 or m.y2 > 30 for m in motion)


def test_lights_switching_recalibrates_instead_of_reporting_motion() -> None:
    gate = MotionGate()
    for i in range(5):
        gate.update(counter(i))
    bright = [cv2.add(counter(10 + i), np.full((H, W, 3), 80, np.uint8)) for i in range(40)]
    assert gate.update(bright[0]) == []
    assert gate.calibrating
    for img in bright[1:20]:
        assert gate.update(img) == []
    assert not gate.calibrating  # the new light level became the background
    item = with_item(bright[20], 100, 100, 180, 180)
    assert covers(gate.update(item), Box(100, 100, 180, 180))


def test_placed_item_is_absorbed_only_after_a_while() -> None:
    gate = MotionGate()
    gate.update(counter(0))
    frames_with_motion = 0
    for f in range(600):
        if gate.update(with_item(counter(f % 7), 200, 200, 260, 260)):
            frames_with_motion = f + 1
        elif frames_with_motion:
            break
    # stays "motion" for seconds at 30 fps (Frigate's slow alpha), then goes quiet
    assert 120 <= frames_with_motion < 500, frames_with_motion
    assert gate.update(with_item(counter(3), 200, 200, 260, 260)) == []
    # taking it away again is motion (where it was)
    assert covers(gate.update(counter(4)), Box(200, 200, 260, 260))


def test_resolution_change_resets_the_background() -> None:
    gate = MotionGate()
    gate.update(counter(0))
    small = cv2.resize(with_item(counter(1), 300, 200, 380, 260), (320, 240))
    assert gate.update(small) == []  # first frame at the new size is the background
    moved = cv2.resize(with_item(counter(2), 100, 100, 180, 160), (320, 240))
    assert covers(gate.update(moved), Box(50, 50, 90, 80), slack=8)


def test_bad_frames_refused() -> None:
    with pytest.raises(ValueError, match="uint8"):
        MotionGate().update(np.zeros((H, W, 3), np.float32))


# -- regions --------------------------------------------------------------------------------


def inside_frame(r: Box) -> bool:
    return r.x1 >= 0 and r.y1 >= 0 and r.x2 <= W and r.y2 <= H


def test_small_motion_gets_one_model_sized_square_region() -> None:
    (r,) = regions([Box(300, 200, 340, 230)], [], (W, H), 320)
    assert (r.width, r.height) == (320, 320)
    assert r.center == pytest.approx((320, 215), abs=1)
    assert inside_frame(r)


def test_region_at_the_edge_is_moved_inside_not_shrunk() -> None:
    (r,) = regions([Box(600, 440, 640, 480)], [], (W, H), 320)
    assert (r.x1, r.y1, r.x2, r.y2) == (320, 160, 640, 480)


def test_large_object_gets_margin() -> None:
    (r,) = regions([], [Box(100, 100, 400, 300)], (W, H), 160)
    assert r.width == pytest.approx(300 * 1.35, abs=1) and r.height == r.width
    assert inside_frame(r)


def test_motion_inside_a_tracked_region_adds_nothing() -> None:
    out = regions([Box(210, 210, 240, 240)], [Box(200, 200, 250, 250)], (W, H), 160)
    assert len(out) == 1


def test_nearby_motion_merges_far_motion_stays_apart() -> None:
    near = regions([Box(100, 100, 130, 130), Box(150, 120, 180, 150)], [], (W, H), 160)
    assert len(near) == 1
    far = regions([Box(10, 10, 40, 40), Box(560, 400, 600, 440)], [], (W, H), 160)
    assert len(far) == 2 and all(r.width == 160 for r in far)
    assert all(inside_frame(r) for r in far)


def test_many_scattered_boxes_collapse_to_one_region() -> None:
    boxes = [Box(x, y, x + 20, y + 20) for x in (10, 300, 600) for y in (10, 440)]
    out = regions(boxes, [], (W, H), 96, max_regions=4)
    assert len(out) == 1 and inside_frame(out[0])
    assert all(out[0].x1 <= b.x1 and out[0].x2 >= b.x2 for b in boxes)


def test_region_bigger_than_frame_is_the_frame() -> None:
    (r,) = regions([Box(0, 0, 640, 480)], [], (W, H), 320)
    assert (r.x1, r.y1, r.x2, r.y2) == (0, 0, 640, 480)


def test_motion_region_feeds_the_detector(tmp_path) -> None:
    det = YoloOnnxDetector(build_blob_model(tmp_path, size=128))
    gate = MotionGate()
    bg = np.zeros((H, W, 3), np.uint8)
    gate.update(bg)
    img = bg.copy()
    cv2.rectangle(img, (500, 60), (539, 99), (255, 255, 255), -1)
    motion = gate.update(img)
    (region,) = regions(motion, [], (W, H), det.input_w)
    (d,) = list(det.detect(img, region))
    assert d.box.iou(Box(500, 60, 540, 100)) > 0.9
