"""Zones: loading and validation, zone_of, and the enter/leave events with hysteresis."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from vision.types import Box
from vision.zones import OUTSIDE, Zone, ZoneError, ZoneMap, ZoneWatcher

SIZE = (640, 480)


@dataclass
class T:  # the fields ZoneWatcher reads from vision.tracker.Track
    track_id: int
    box: Box
    lost: bool = False


def centred(x: float, y: float, half: float = 20) -> Box:
    return Box(x - half, y - half, x + half, y + half)


@pytest.fixture
def zones() -> ZoneMap:
    return ZoneMap.load(EXAMPLES / "zones.json", SIZE)


def test_example_file_layout(zones: ZoneMap) -> None:
    assert set(zones.names) == {"scan", "bagging", "produce_scale", "exit"}
    assert zones.zone_of(centred(100, 100)) == "scan"
    assert zones.zone_of(centred(160, 300)) == "produce_scale"  # inside scan too: specific wins
    assert zones.zone_of(centred(480, 240)) == "bagging"
    assert zones.zone_of(centred(630, 240, 5)) == "exit"
    assert zones.zone_of(centred(320, 240)) == OUTSIDE  # the gap between scan and bagging
    assert zones.zone_of(centred(100, 20, 10)) == OUTSIDE  # above the scan zone


def test_normalised_zones_survive_a_resolution_change(zones: ZoneMap) -> None:
    # the same physical spot at 1280 x 960
    assert zones.zone_of(centred(960, 480), (1280, 960)) == "bagging"
    assert zones.zone_of(centred(320, 600), (1280, 960)) == "produce_scale"


def test_anchor_is_the_centre_unless_told(tmp_path: Path) -> None:
    raw = {"schema": "opensco.zones/1", "zones": {"floor": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}}
    box = Box(100, 100, 140, 260)  # centre y 180 (above the floor zone), bottom 260 (on it)
    assert ZoneMap.from_dict(raw, SIZE).zone_of(box) == OUTSIDE
    oblique = ZoneMap.from_dict({**raw, "anchor": "bottom_center"}, SIZE)
    assert oblique.zone_of(box) == "floor"


def test_smallest_zone_wins_without_priority() -> None:
    raw = {
        "schema": "opensco.zones/1",
        "zones": {
            "big": [[0, 0], [1, 0], [1, 1], [0, 1]],
            "small": [[0.4, 0.4], [0.6, 0.4], [0.6, 0.6]],
        },
    }
    zm = ZoneMap.from_dict(raw, SIZE)
    assert zm.names == ("small", "big")


@pytest.mark.parametrize(
    ("zones", "message"),
    [
        ({"scan": [[0, 0], [1, 0]]}, "at least 3 points"),
        ({"scan": [[0, 0], [1.5, 0], [1, 1]]}, "within 0..1"),
        ({"scan": [[0, 0], [-0.1, 0], [1, 1]]}, "within 0..1"),
        ({"scan": [[0, 0], [0.5, 0.5], [1, 1]]}, "no area"),
        ({"scan": [[0, 0], [1, 0.8], [1, 0], [0, 1]]}, "edges cross"),
        ({"scan": [[0, 0], [1, "a"], [1, 1]]}, "list of"),
        ({"scan": [[0, 0, 0], [1, 0], [1, 1]]}, r"every point must be \[x, y\]"),
        ({"outside": [[0, 0], [1, 0], [1, 1]]}, "name other than"),
        ({}, "must map"),
    ],
)
def test_bad_polygons_refused(tmp_path: Path, zones: dict, message: str) -> None:
    path = tmp_path / "zones.json"
    path.write_text(json.dumps({"schema": "opensco.zones/1", "zones": zones}))
    with pytest.raises(ZoneError, match=message) as err:
        ZoneMap.load(path)
    assert str(path) in str(err.value)


def test_bad_files_refused(tmp_path: Path) -> None:
    with pytest.raises(ZoneError, match="not found"):
        ZoneMap.load(tmp_path / "none.json")
    (tmp_path / "a.json").write_text("{")
    with pytest.raises(ZoneError, match="unreadable"):
        ZoneMap.load(tmp_path / "a.json")
    (tmp_path / "b.json").write_text(json.dumps({"zones": {}}))
    with pytest.raises(ZoneError, match=r"opensco\.zones/1"):
        ZoneMap.load(tmp_path / "b.json")
    square = [[0, 0], [1, 0], [1, 1], [0, 1]]
    bad_priority = {"schema": "opensco.zones/1", "zones": {"a": square}, "priority": ["b"]}
    with pytest.raises(ZoneError, match="priority"):
        ZoneMap.from_dict(bad_priority)
    with pytest.raises(ZoneError, match="frame size"):
        ZoneMap.from_dict({"schema": "opensco.zones/1", "zones": {"a": square}}).zone_of(
            centred(1, 1)
        )


def test_zone_accepts_a_concave_polygon() -> None:
    # an L-shaped counter is legal; only crossing edges are refused
    zone = Zone("l", ((0, 0), (1, 0), (1, 0.3), (0.3, 0.3), (0.3, 1), (0, 1)))
    assert zone.area == pytest.approx(0.3 + 0.7 * 0.3)


def test_item_moving_scan_to_bagging_emits_events_at_the_right_frames(zones: ZoneMap) -> None:
    watch = ZoneWatcher(zones, SIZE, confirm=2)
    events = []
    # x walks left to right in 12 px steps; the anchor enters scan (x >= 32) at x = 36,
    # leaves it (beyond x = 288 + margin 9.6) at 300, enters bagging (x >= 352) at 360
    for frame, x in enumerate(range(0, 641, 12)):
        events += watch.update([T(1, centred(x, 160))], frame, frame * 33)
    seen = [(e.zone, e.entered, e.frame_index) for e in events]
    frame_of = {x: f for f, x in enumerate(range(0, 641, 12))}
    assert seen == [
        ("scan", True, frame_of[36]),
        ("scan", False, frame_of[300]),
        ("bagging", True, frame_of[360]),
        ("exit", True, frame_of[612]),  # exit starts at x = 608
        ("bagging", False, frame_of[624]),  # bagging ends at 608, plus the margin
    ]
    assert events[0].ts_ms == frame_of[36] * 33


def test_jitter_on_a_border_does_not_flap(zones: ZoneMap) -> None:
    watch = ZoneWatcher(zones, SIZE)
    events = []
    # the item sits in the scan zone, then jitters 4 px either side of its right edge (288)
    for frame in range(60):
        x = 200 if frame < 5 else 288 + (4 if frame % 2 else -4)
        events += watch.update([T(7, centred(x, 200))], frame, frame * 33)
    assert [(e.zone, e.entered) for e in events] == [("scan", True)]
    naive = ZoneWatcher(zones, SIZE, margin=0, confirm=1)  # no hysteresis: it flaps
    flaps = sum(
        len(naive.update([T(7, centred(288 + (4 if f % 2 else -4), 200))], f, f)) for f in range(60)
    )
    assert flaps == 60
    # a single-frame glitch far away does not count either (confirm=2)
    events = watch.update([T(7, centred(500, 200))], 60, 60 * 33)
    events += watch.update([T(7, centred(284, 200))], 61, 61 * 33)
    assert events == []
    assert watch.primary_zone(7) == "scan"


def test_nested_zone_enters_without_leaving_the_outer(zones: ZoneMap) -> None:
    watch = ZoneWatcher(zones, SIZE, confirm=1)
    ev = watch.update([T(3, centred(100, 150))], 0, 0)
    assert [(e.zone, e.entered) for e in ev] == [("scan", True)]
    ev = watch.update([T(3, centred(160, 320))], 1, 33)
    assert [(e.zone, e.entered) for e in ev] == [("produce_scale", True)]
    assert watch.zones_of(3) == {"scan", "produce_scale"}
    assert watch.primary_zone(3) == "produce_scale"


def test_lost_track_leaves_every_zone_once(zones: ZoneMap) -> None:
    watch = ZoneWatcher(zones, SIZE, confirm=1)
    watch.update([T(5, centred(160, 320)), T(6, centred(480, 240))], 0, 0)
    ev = watch.update([T(5, centred(160, 320), lost=True)], 9, 300)
    assert [(e.track_id, e.zone, e.entered, e.frame_index) for e in ev] == [
        (5, "produce_scale", False, 9),
        (5, "scan", False, 9),
    ]
    assert watch.zones_of(5) == frozenset() and watch.zones_of(6) == {"bagging"}
    assert watch.update([T(5, centred(160, 320), lost=True)], 10, 333) == []


def test_detector_tracker_and_zones_together(tmp_path: Path, zones: ZoneMap) -> None:
    """A white item slides from the scan zone across to the exit and vanishes."""
    import cv2
    import numpy as np

    from tests.vision_models import build_blob_model
    from vision.detector import YoloOnnxDetector
    from vision.tracker import IouTracker

    det = YoloOnnxDetector(build_blob_model(tmp_path, head="end2end", size=160))
    tracker = IouTracker(min_hits=2, max_age_ms=1000, frame_size=SIZE)
    watch = ZoneWatcher(zones, SIZE)
    events = []
    centre_x = {}
    for f in range(40):
        img = np.zeros((480, 640, 3), np.uint8)
        if f < 34:
            x = 20 + 18 * f  # left edge; the box is 50 px wide
            centre_x[f] = x + 25
            cv2.rectangle(img, (x, 150), (x + 49, 199), (255, 255, 255), -1)
        tracks = tracker.update(det.detect(img), f * 33, f)
        events += watch.update(tracks, f, f * 33)

    def first_frame(pred: object) -> int:
        return min(f for f, cx in centre_x.items() if pred(cx))  # type: ignore[operator]

    got = [(e.track_id, e.zone, e.entered) for e in events]
    assert got == [
        (1, "scan", True),
        (1, "scan", False),
        (1, "bagging", True),
        (1, "bagging", False),  # same frame as entering exit: leaving is listed first
        (1, "exit", True),
        (1, "exit", False),
    ]
    expected = [
        1,  # confirmed at frame 1 (min_hits=2), already inside
        first_frame(lambda cx: cx > 288 + 9.6),  # the scan edge plus the margin
        first_frame(lambda cx: cx >= 352),
        first_frame(lambda cx: cx > 608 + 9.6),
        first_frame(lambda cx: cx >= 608),
    ]
    # detected boxes are within a pixel or two, so an edge may fall a frame either way
    for e, want in zip(events, expected, strict=False):
        assert abs(e.frame_index - want) <= 1, (e, want)
    # last seen at frame 33 half off-frame; its predicted box leaves the frame within a few
    # frames, long before max_age (1 s, frame 63) would have declared it lost
    assert 34 <= events[-1].frame_index <= 36
