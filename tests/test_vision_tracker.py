"""IouTracker: association, confirmation, coasting, loss reported once, label and score votes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.vision_models import build_blob_model
from vision.detector import YoloOnnxDetector
from vision.tracker import IouTracker, Track
from vision.types import Box, Detection, Detections

NAMES = ("apple", "pear", "can")


def dets(*items: tuple[float, float, float, float, str, float]) -> Detections:
    return Detections.from_list(
        [Detection(Box(*b), lb, NAMES.index(lb), s) for *b, lb, s in items], NAMES
    )


def box_at(x: float, y: float, half: float = 20) -> tuple[float, float, float, float]:
    return (x - half, y - half, x + half, y + half)


def test_confirmed_after_min_hits_with_stable_id() -> None:
    tr = IouTracker(min_hits=3)
    assert tr.update(dets((*box_at(100, 100), "apple", 0.9)), 0, 0) == []
    assert tr.update(dets((*box_at(104, 100), "apple", 0.9)), 33, 1) == []
    (t,) = tr.update(dets((*box_at(108, 100), "apple", 0.9)), 66, 2)
    assert (t.track_id, t.hits, t.first_frame, t.last_frame, t.lost) == (1, 3, 0, 2, False)
    assert t.velocity[0] == pytest.approx(4 / 0.033, rel=0.05)
    assert len(tr.active) == 1


def test_two_items_keep_their_ids_when_crossing_nearby() -> None:
    tr = IouTracker(min_hits=1)
    seen: dict[int, list[float]] = {}
    for f in range(20):
        a = (*box_at(100 + 10 * f, 100), "apple", 0.9)
        b = (*box_at(400 - 10 * f, 200), "can", 0.8)  # passes under apple, 100 px apart
        for t in tr.update(dets(a, b), f * 33, f):
            seen.setdefault(t.track_id, []).append(t.box.center[1])
    assert set(seen) == {1, 2}
    assert set(seen[1]) == {100.0} and set(seen[2]) == {200.0}


def test_centroid_fallback_follows_a_fast_swipe() -> None:
    tr = IouTracker(min_hits=1)
    ids = set()
    for f in range(6):
        # 45 px per frame with a 40 px box: consecutive boxes do not overlap at all
        ids |= {
            t.track_id for t in tr.update(dets((*box_at(50 + 45 * f, 100), "can", 0.9)), f * 33, f)
        }
    assert ids == {1}
    no_fallback = IouTracker(min_hits=1, centroid_gate=0)
    for f in range(6):
        no_fallback.update(dets((*box_at(50 + 45 * f, 100), "can", 0.9)), f * 33, f)
    assert [t.track_id for t in no_fallback.active] == [1, 2, 3, 4, 5, 6]  # one per frame


def test_coast_predicts_with_constant_velocity_then_loses_once() -> None:
    tr = IouTracker(min_hits=2, max_age_ms=200)
    tr.update(dets((*box_at(100, 100), "apple", 0.9)), 0, 0)
    tr.update(dets((*box_at(110, 100), "apple", 0.9)), 100, 1)  # 100 px/s to the right
    (t,) = tr.coast(200, 2)
    assert t.predicted and not t.lost
    assert t.box.center == pytest.approx((120, 100))
    assert t.last_frame == 1
    (t,) = tr.coast(300, 3)
    assert t.box.center == pytest.approx((130, 100)) and not t.lost
    (t,) = tr.coast(301, 4)  # 201 ms since the last match
    assert t.lost and t.track_id == 1
    assert tr.coast(400, 5) == [] and tr.active == []


def test_coasting_track_is_picked_up_again() -> None:
    tr = IouTracker(min_hits=1, max_age_ms=500)
    tr.update(dets((*box_at(100, 100), "apple", 0.9)), 0, 0)
    tr.update(dets((*box_at(120, 100), "apple", 0.9)), 100, 1)
    tr.coast(200, 2)
    tr.coast(300, 3)
    (t,) = tr.update(dets((*box_at(160, 100), "apple", 0.9)), 300, 3)
    assert t.track_id == 1 and not t.predicted


def test_unconfirmed_track_vanishes_silently() -> None:
    tr = IouTracker(min_hits=3, max_age_ms=100)
    tr.update(dets((*box_at(100, 100), "apple", 0.9)), 0, 0)  # a one-frame false positive
    for f in range(1, 10):
        assert tr.coast(f * 50, f) == []
    assert tr.active == []


def test_label_is_a_majority_vote_and_score_a_median() -> None:
    tr = IouTracker(min_hits=1, history=5)
    seq = [("apple", 0.9), ("pear", 0.2), ("apple", 0.8), ("apple", 0.85), ("pear", 0.3)]
    out: list[Track] = []
    for f, (lb, s) in enumerate(seq):
        out = tr.update(dets((*box_at(100, 100), lb, s)), f * 33, f)
    (t,) = out
    assert t.label == "apple"
    assert t.score == pytest.approx(0.8)  # median of 0.9 0.2 0.8 0.85 0.3
    # a real change of mind wins once it holds the recent history
    for f in range(5, 9):
        (t,) = tr.update(dets((*box_at(100, 100), "can", 0.9)), f * 33, f)
    assert t.label == "can"


def test_ids_are_monotonic_and_never_reused() -> None:
    tr = IouTracker(min_hits=1, max_age_ms=0)
    ids = []
    for f in range(5):
        ids += [
            t.track_id
            for t in tr.update(dets((*box_at(100, 100 + 200 * (f % 2)), "can", 0.5)), f * 100, f)
            if not t.lost
        ]
    assert ids == [1, 2, 3, 4, 5]


def test_time_must_not_go_backwards() -> None:
    tr = IouTracker()
    tr.coast(100, 0)
    with pytest.raises(ValueError, match="backwards"):
        tr.coast(50, 1)


def test_tracks_a_square_through_the_real_detector(tmp_path) -> None:
    det = YoloOnnxDetector(build_blob_model(tmp_path, head="end2end"))
    tr = IouTracker(min_hits=2, max_age_ms=150)
    reported: list[Track] = []
    for f in range(30):
        img = np.zeros((480, 640, 3), np.uint8)
        if f < 20:
            x = 40 + 25 * f
            cv2.rectangle(img, (x, 200), (x + 60, 260), (255, 255, 255), -1)
        ts = f * 33
        # the detector runs on even frames only; odd frames coast
        reported += tr.update(det.detect(img), ts, f) if f % 2 == 0 else tr.coast(ts, f)
    assert {t.track_id for t in reported} == {1}
    lost = [t for t in reported if t.lost]
    assert len(lost) == 1 and lost[0].last_frame == 18
    assert lost[0].velocity[0] == pytest.approx(25 / 0.033, rel=0.1)


def test_track_leaving_the_frame_is_lost_at_once_and_clipped() -> None:
    tr = IouTracker(min_hits=1, max_age_ms=10_000, frame_size=(640, 480))
    tr.update(dets((*box_at(560, 100), "can", 0.9)), 0, 0)
    tr.update(dets((*box_at(600, 100), "can", 0.9)), 100, 1)  # 400 px/s to the right
    (t,) = tr.coast(200, 2)  # predicted centre 640: half off-frame, clipped
    assert not t.lost and t.box.x2 == 640 and t.box.x1 == pytest.approx(620)
    (t,) = tr.coast(300, 3)  # predicted box 660..700: gone
    assert t.lost
    assert tr.coast(400, 4) == []
