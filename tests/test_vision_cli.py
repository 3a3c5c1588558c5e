"""``sco vision run``: a rendered scene through the real pipeline, printed as replay inputs."""

from __future__ import annotations

import json
import subprocess

import pytest

from kiosk.core.inputs import BarcodeRead, input_from_dict
from tests.conftest import SCO


@pytest.mark.slow
def test_vision_run_prints_camera_reads_the_replay_format_accepts(tmp_path) -> None:
    done = subprocess.run(
        [*SCO, "vision", "run", "synthetic:?script=scan(DRK-003)&seed=2",
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
