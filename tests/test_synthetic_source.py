"""``synthetic:`` camera URLs through the real camera registry and capture thread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kiosk.errors import CameraError
from models.scenes import photos
from models.scenes.video import TAIL_FRAMES
from tests.conftest import wait_for
from vision.camera import Camera, iter_frames, known_schemes, make_source
from vision.synthetic_source import SyntheticSource


def _drain(source: SyntheticSource, limit: int = 2000) -> list[np.ndarray]:
    frames = []
    while len(frames) < limit:
        image = source.read()
        if image is None:
            break
        frames.append(image)
    return frames


def test_scheme_is_registered() -> None:
    assert "synthetic" in known_schemes()
    assert isinstance(make_source("synthetic:?script=idle"), SyntheticSource)


def test_plays_once_and_ends() -> None:
    source = make_source("synthetic:?script=idle&seed=3&decode=0")
    source.open()
    frames = _drain(source)  # type: ignore[arg-type]
    assert len(frames) == 30 + TAIL_FRAMES  # one idle second at 30 fps, then the tail
    assert all(f.shape == (480, 640, 3) and f.dtype == np.uint8 for f in frames)
    assert source.read() is None  # stays ended
    source.close()


def test_loops_identically() -> None:
    source = make_source("synthetic:idle?seed=4&loop=1&decode=0")
    assert isinstance(source, SyntheticSource)
    source.open()
    n = 30 + TAIL_FRAMES
    first = [source.read() for _ in range(n)]
    again = [source.read() for _ in range(n)]
    assert source.passes == 1 and source.index == n - 1
    assert all(a is not None and b is not None and np.array_equal(a, b)
               for a, b in zip(first, again, strict=True))  # fmt: skip
    assert not np.array_equal(first[0], first[1])  # sensor noise differs frame to frame
    source.close()


def test_truth_follows_the_frames() -> None:
    source = make_source("synthetic:?script=scan(DRK-003)&seed=3")
    assert isinstance(source, SyntheticSource)
    source.open()
    zones, decodable = set(), 0
    while source.read() is not None:
        truth = source.truth
        assert truth is not None and truth.index == source.index
        zones |= {o.zone for o in truth.objects if o.cls == "item"}
        decodable += bool(truth.decodable_codes)
    assert {"scan", "bagging"} <= zones and decodable >= 3
    assert source.truth is None  # after the end


def test_options_and_errors() -> None:
    source = make_source("synthetic:?script=basket&fps=30&seed=9&photos=0")
    assert isinstance(source, SyntheticSource)
    assert (source.fps, source.seed, source.photos, source.loop) == (30.0, 9, False, False)
    for url in ("synthetic:?script=teleport", "synthetic:?seed=x", "synthetic:?colour=red",
                "synthetic:?script=scan(NOT-A-SKU)"):  # fmt: skip
        with pytest.raises(CameraError):
            make_source(url)
    with pytest.raises(CameraError):
        SyntheticSource("synthetic:?script=idle").read()  # not opened


def test_without_grocery_photos(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(photos, "GROCERY_ROOT", tmp_path / "missing")
    frames = list(iter_frames("synthetic:?script=place_produce(4011)&seed=1&decode=0", 40))
    assert len(frames) == 40 and frames[-1].image.shape == (480, 640, 3)


def test_runs_in_the_capture_thread() -> None:
    with Camera("synthetic:?script=hands&seed=2&loop=1&fps=60&decode=0") as camera:
        assert wait_for(lambda: camera.stats.frames >= 5, 30)
        frame = camera.latest(timeout=5)
        assert frame is not None and frame.size == (640, 480)
