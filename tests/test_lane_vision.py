"""A lane with a camera: frames from a folder source flow through the vision worker into
the engine, and a package shown to the camera becomes an item in the sale."""

from __future__ import annotations

from pathlib import Path

import cv2

from kiosk.app import Lane
from kiosk.config import parse_config_text
from kiosk.core.events import Event
from kiosk.core.inputs import BarcodeRead
from tests.conftest import EXAMPLES, wait_for
from tests.test_vision_pipeline import _frame, _package, _path

WATER = "6902974302088"


def _write_frames(folder: Path) -> None:
    folder.mkdir()
    pack = _package(WATER)
    for i, x in enumerate(_path()):
        cv2.imwrite(str(folder / f"f{i:04d}.png"), _frame(x, i, pack).image)


def _lane(tmp_path: Path, events: list[Event], camera_scans: bool, model: str) -> Lane:
    _write_frames(tmp_path / "frames")
    config = parse_config_text(
        f"""
        [kiosk]
        data_dir = "{tmp_path / "data"}"
        [catalog]
        path = "{EXAMPLES / "catalog.csv"}"
        [checkout]
        camera_scans = {"true" if camera_scans else "false"}
        [camera]
        enabled = true
        url = "folder:{tmp_path / "frames"}?fps=30"
        [vision]
        detector_model = "{model}"
        """
    )
    return Lane(config, on_events=events.extend)


def test_a_package_shown_to_the_camera_is_sold(tmp_path: Path) -> None:
    events: list[Event] = []
    lane = _lane(tmp_path, events, True, str(tmp_path / "no-such-model.onnx"))
    lane.start()
    try:
        assert wait_for(lambda: lane.vision.camera.ended, timeout_s=30)
        assert wait_for(lambda: any(e.type.value == "item_added" for e in events), 10)
        health = lane.health()["vision"]
        assert health["frames_processed"] > 0 and "ms_per_frame" in health
        # The screen preview reads the frame vision just processed, never the camera.
        view = lane.vision.latest_view
        assert view is not None and view[0].image.ndim == 3
    finally:
        lane.stop()
    added = [e for e in events if e.type.value == "item_added"]
    assert len(added) == 1  # one presentation, one item, however many frames saw it


def test_where_a_scanner_scans_camera_reads_add_nothing(tmp_path: Path) -> None:
    events: list[Event] = []
    lane = _lane(tmp_path, events, False, str(tmp_path / "no-such-model.onnx"))
    seen: list[object] = []

    def record(item: object) -> None:
        seen.append(item)
        lane.put(item)  # type: ignore[arg-type]

    lane.vision._put = record
    lane.start()
    try:
        assert wait_for(lambda: any(isinstance(i, BarcodeRead) for i in seen), timeout_s=30)
        assert wait_for(lambda: lane.vision.camera.ended, timeout_s=30)
    finally:
        lane.stop()
    # The read reached the engine (and its journal) but sold nothing.
    assert not [e for e in events if e.type.value == "item_added"]
