"""Closed-loop crops: off by default, both trainer formats, only the item box, retention."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from models.closed_loop import (
    ClosedLoopError,
    ClosedLoopRecorder,
    Retention,
    classify_training_tree,
    detect_data_yaml,
)
from vision.types import Box


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


def frame() -> np.ndarray:
    img = np.zeros((480, 640, 3), np.uint8)
    img[100:200, 300:400] = (0, 200, 0)  # the item
    img[0:60, 0:60] = (255, 255, 255)  # "a face" far from the item: must never be stored
    return img


def test_switched_off_by_default_writes_nothing(tmp_path: Path) -> None:
    rec = ClosedLoopRecorder(tmp_path / "cl")
    assert rec.save(frame(), Box(300, 100, 400, 200), "4011") == []
    assert not (tmp_path / "cl").exists()


def test_saves_only_the_item_box_in_both_formats(tmp_path: Path) -> None:
    rec = ClosedLoopRecorder(tmp_path, enabled=True)
    paths = rec.save(frame(), Box(300, 100, 400, 200), "Granny-Smith", source="produce")
    assert len(paths) == 3
    cls_jpg = next(p for p in paths if p.parts[-3] == "classify")
    assert cls_jpg.parent.name == "Granny-Smith"
    crop = cv2.imread(str(cls_jpg))
    assert crop.shape[:2] == (120, 120)  # 100 px box + 10% margin per side, not the frame
    assert not (crop > 240).all(axis=2).any()
    label = (tmp_path / "detect" / "labels" / (cls_jpg.stem + ".txt")).read_text().split()
    assert label[0] == "0"
    cx, cy, w, h = map(float, label[1:])
    assert cx == pytest.approx(0.5) and cy == pytest.approx(0.5)
    assert w == pytest.approx(100 / 120) and h == pytest.approx(100 / 120)
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("label", ["", "../etc", "a/b", ".hidden", "x" * 200])
def test_bad_labels_are_refused(tmp_path: Path, label: str) -> None:
    rec = ClosedLoopRecorder(tmp_path, enabled=True)
    with pytest.raises(ClosedLoopError):
        rec.save(frame(), Box(300, 100, 400, 200), label)


def test_box_outside_the_frame_is_refused(tmp_path: Path) -> None:
    rec = ClosedLoopRecorder(tmp_path, enabled=True)
    with pytest.raises(ClosedLoopError):
        rec.save(frame(), Box(700, 500, 800, 600), "4011")


def test_count_limit_drops_the_oldest(tmp_path: Path) -> None:
    clock = Clock()
    rec = ClosedLoopRecorder(tmp_path, enabled=True, retention=Retention(max_items=3), clock=clock)
    first = rec.save(frame(), Box(300, 100, 400, 200), "first")
    for i in range(4):
        clock.t += 1
        rec.save(frame(), Box(300, 100, 400, 200), f"item{i}")
    assert rec.stats()["items"] == 3
    assert not any(p.exists() for p in first)
    assert len(list((tmp_path / "detect" / "images").glob("*.jpg"))) == 3
    assert len(list((tmp_path / "detect" / "labels").glob("*.txt"))) == 3
    # A new recorder over the same folder sees the same three (index rebuilt from disk).
    assert ClosedLoopRecorder(tmp_path, enabled=True).stats()["items"] == 3


def test_age_and_byte_limits(tmp_path: Path) -> None:
    clock = Clock()
    rec = ClosedLoopRecorder(tmp_path, enabled=True, retention=Retention(max_age_s=60), clock=clock)
    old = rec.save(frame(), Box(300, 100, 400, 200), "old")
    clock.t += 120
    rec.save(frame(), Box(300, 100, 400, 200), "new")
    assert not any(p.exists() for p in old) and rec.stats()["items"] == 1

    small = ClosedLoopRecorder(
        tmp_path / "b", enabled=True, retention=Retention(max_bytes=1), clock=clock
    )
    small.save(frame(), Box(300, 100, 400, 200), "x")
    assert small.stats()["items"] == 0  # one crop is already over the limit


def test_trainer_trees(tmp_path: Path) -> None:
    rec = ClosedLoopRecorder(tmp_path / "cl", enabled=True)
    for i in range(6):
        rec.save(frame(), Box(300 - i, 100, 400, 200), "4011" if i % 2 else "Banana")
    tree = classify_training_tree(tmp_path / "cl", tmp_path / "tree", val_every=3)
    assert sorted(p.name for p in (tree / "train").iterdir()) == ["4011", "Banana"]
    assert len(list(tree.rglob("*.jpg"))) == 6 and list((tree / "val").rglob("*.jpg"))
    yaml = detect_data_yaml(tmp_path / "cl", tmp_path / "det")
    text = yaml.read_text()
    assert "0: item" in text and "1: hand" in text
    train = (tmp_path / "det" / "train.txt").read_text().split()
    assert len(train) + len((tmp_path / "det" / "val.txt").read_text().split()) == 6
    with pytest.raises(ClosedLoopError):
        classify_training_tree(tmp_path / "empty", tmp_path / "t2")


def test_from_config() -> None:
    rec = ClosedLoopRecorder.from_config(
        {"kiosk": {"data_dir": "/d"}, "models": {"closed_loop": True, "closed_loop_max_mb": 2}}
    )
    assert rec.enabled and rec.root == Path("/d/closed-loop")
    assert rec.retention.max_bytes == 2 * 1024 * 1024
