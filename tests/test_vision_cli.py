"""``sco vision run``: a rendered scene through the real pipeline, printed as replay inputs."""

from __future__ import annotations

import json
import subprocess

import pytest

from kiosk.core.inputs import BarcodeRead, ItemTrack, input_from_dict
from tests.conftest import EXAMPLES, SCO


@pytest.mark.slow
def test_vision_run_prints_camera_reads_the_replay_format_accepts(tmp_path) -> None:
    done = subprocess.run(
        [*SCO, "vision", "run", "synthetic:?script=scan(DRK-003)&seed=2&fps=10",
         "--model", str(tmp_path / "none.onnx"), "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    inputs = [input_from_dict(json.loads(line)) for line in done.stdout.splitlines()]
    reads = [i for i in inputs if isinstance(i, BarcodeRead)]
    assert len(reads) == 1 and reads[0].source == "camera"
    assert "frames in" in done.stderr


def test_vision_run_says_why_when_the_source_is_missing(tmp_path) -> None:
    done = subprocess.run(
        [*SCO, "vision", "run", str(tmp_path / "missing.mp4"), "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "missing.mp4" in done.stderr


@pytest.mark.slow
def test_the_shipped_detector_tracks_a_scanned_item_into_the_bagging_area(tmp_path) -> None:
    """The committed models/item-detector.onnx, run by the kiosk's own pipeline on a
    rendered scan: the read lands on a tracked item that then reaches the bagging area."""
    done = subprocess.run(
        [*SCO, "vision", "run", "synthetic:?script=scan(DRK-003)&seed=2&fps=10",
         "--catalog", str(EXAMPLES / "catalog.csv"), "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    inputs = [input_from_dict(json.loads(line)) for line in done.stdout.splitlines()]
    reads = [i for i in inputs if isinstance(i, BarcodeRead)]
    assert len(reads) == 1 and reads[0].track_id is not None
    mine = [i for i in inputs if isinstance(i, ItemTrack) and i.track_id == reads[0].track_id]
    assert {t.label for t in mine} == {"item"}
    assert any(t.zone == "bagging" and t.sku == "DRK-003" for t in mine)
