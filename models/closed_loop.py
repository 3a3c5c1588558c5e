"""Closed loop: item crops the lane labels itself (a good barcode read, a shopper's produce
pick) saved as a training set that ``sco train --from-closed-loop DIR`` can retrain from.

Off by default (``[models] closed_loop``). Only the item's box (with a small margin) is ever
written, never the whole frame, so faces and hands outside the box are not kept. Files appear
atomically; past the count, byte or age limit the oldest crops are removed first.

Layout (the trainer's formats):
- ``<dir>/classify/<label>/<id>.jpg`` (ImageFolder; a ``val`` split is carved at train time);
- ``<dir>/detect/images/<id>.jpg`` + ``<dir>/detect/labels/<id>.txt`` (YOLO, class 0 = item).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.errors import KioskError
from kiosk.files import write_atomically
from vision.privacy import blur_faces
from vision.types import BGRImage, Box

_LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+()-]{0,79}")
MARGIN = 0.1  # context around the item box, as a fraction of its size per side
JPEG_QUALITY = 90


class ClosedLoopError(KioskError):
    """A crop cannot be saved (bad label, empty box)."""


@dataclass(frozen=True)
class Retention:
    max_items: int = 5000
    max_bytes: int = 500 * 1024 * 1024
    max_age_s: float = 30 * 86400.0


@dataclass(frozen=True)
class _Entry:
    mtime: float
    size: int
    paths: tuple[Path, ...]


class ClosedLoopRecorder:
    def __init__(
        self,
        root: str | Path,
        *,
        enabled: bool = False,
        retention: Retention | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.enabled = enabled
        self.retention = retention or Retention()
        self._clock = clock
        self._lock = threading.Lock()
        self._seq = 0
        self._index: dict[str, _Entry] | None = None  # id -> files, scanned lazily once

    @classmethod
    def from_config(cls, config: Any) -> ClosedLoopRecorder:
        from models.registry import _section

        sec = _section(config, "models")
        root = sec.get("closed_loop_dir") or str(
            Path(_section(config, "kiosk").get("data_dir") or "var/opensco") / "closed-loop"
        )
        return cls(
            root,
            enabled=bool(sec.get("closed_loop", False)),
            retention=Retention(
                max_items=int(sec.get("closed_loop_max_items", 5000)),
                max_bytes=int(sec.get("closed_loop_max_mb", 500)) * 1024 * 1024,
                max_age_s=float(sec.get("closed_loop_max_age_days", 30.0)) * 86400.0,
            ),
        )

    # -- saving ------------------------------------------------------------------------

    def save(self, image: BGRImage, box: Box, label: str, *, source: str = "barcode") -> list[Path]:
        """Save the crop for both trainers; return the files written ([] when switched off)."""
        if not self.enabled:
            return []
        label = label.strip()
        if not _LABEL_RE.fullmatch(label) or ".." in label:
            raise ClosedLoopError(f"label {label!r} cannot name a folder")
        if source not in ("barcode", "produce"):
            raise ClosedLoopError(f"source must be barcode or produce, not {source!r}")
        h, w = image.shape[:2]
        crop_box = box.expanded(1.0 + 2 * MARGIN).clipped(w, h)
        x1, y1, x2, y2 = crop_box.as_int()
        if x2 - x1 < 4 or y2 - y1 < 4:
            raise ClosedLoopError(f"box {box} is too small or outside the {w}x{h} frame")
        crop = np.ascontiguousarray(image[y1:y2, x1:x2])
        crop, _ = blur_faces(crop)  # a face held up with the item is never kept sharp
        ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise ClosedLoopError("JPEG encoding failed")
        # The item box inside the crop, YOLO-normalised (class 0 = item).
        cw, ch = x2 - x1, y2 - y1
        inner = box.clipped(w, h)
        cx, cy = (inner.x1 + inner.x2) / 2 - x1, (inner.y1 + inner.y2) / 2 - y1
        yolo = f"0 {cx / cw:.6f} {cy / ch:.6f} {inner.width / cw:.6f} {inner.height / ch:.6f}\n"
        with self._lock:
            index = self._load_index()
            now = self._clock()
            self._seq += 1
            item_id = f"{int(now * 1000):014d}-{os.getpid()}-{self._seq:06d}-{source}"
            cls_path = self.root / "classify" / label / f"{item_id}.jpg"
            img_path = self.root / "detect" / "images" / f"{item_id}.jpg"
            lbl_path = self.root / "detect" / "labels" / f"{item_id}.txt"
            for p in (cls_path, img_path, lbl_path):
                p.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(cls_path, jpeg.tobytes())
            write_atomically(lbl_path, yolo)  # label before image: no unlabelled image
            write_atomically(img_path, jpeg.tobytes())
            paths = (cls_path, img_path, lbl_path)
            index[item_id] = _Entry(now, 2 * len(jpeg) + len(yolo), paths)
            self._prune(index, now)
        return [p for p in paths if p.exists()]

    # -- retention ---------------------------------------------------------------------

    def _load_index(self) -> dict[str, _Entry]:
        if self._index is not None:
            return self._index
        found: dict[str, list[Path]] = {}
        for pattern in ("classify/*/*.jpg", "detect/images/*.jpg", "detect/labels/*.txt"):
            for p in self.root.glob(pattern):
                found.setdefault(p.stem, []).append(p)
        index = {}
        for item_id, paths in found.items():
            stats = [p.stat() for p in paths if p.exists()]
            if stats:
                mtime = min(s.st_mtime for s in stats)
                index[item_id] = _Entry(mtime, sum(s.st_size for s in stats), tuple(paths))
        self._index = index
        return index

    def _prune(self, index: dict[str, _Entry], now: float) -> None:
        r = self.retention
        order = sorted(index, key=lambda k: (index[k].mtime, k))
        total = sum(e.size for e in index.values())
        for item_id in order:
            entry = index[item_id]
            too_old = now - entry.mtime > r.max_age_s
            if not (too_old or len(index) > r.max_items or total > r.max_bytes):
                break
            for p in entry.paths:
                p.unlink(missing_ok=True)
            total -= entry.size
            del index[item_id]

    def prune(self) -> int:
        """Delete crops past the age, count or byte limit (also done on every save); the
        number of crops removed. The lane calls this periodically, so crops age out on an
        idle lane too."""
        with self._lock:
            index = self._load_index()
            before = len(index)
            self._prune(index, self._clock())
            return before - len(index)

    def stats(self) -> dict[str, int]:
        with self._lock:
            index = self._load_index()
            return {"items": len(index), "bytes": sum(e.size for e in index.values())}


def classify_training_tree(
    closed_loop_dir: str | Path, out_dir: str | Path, val_every: int = 5
) -> Path:
    """An ImageFolder ``train``/``val`` tree of symlinks over ``<dir>/classify`` (every
    ``val_every``-th photo of a class goes to val) for ``sco train classifier``."""
    src = Path(closed_loop_dir) / "classify"
    labels = sorted(p.name for p in src.iterdir() if p.is_dir()) if src.is_dir() else []
    if not labels:
        raise ClosedLoopError(f"{src}: no labelled crops")
    out = Path(out_dir)
    for label in labels:
        files = sorted(p for p in (src / label).glob("*.jpg"))
        for split in ("train", "val"):
            (out / split / label).mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(files):
            split = "val" if len(files) > 1 and i % val_every == val_every - 1 else "train"
            link = out / split / label / f.name
            if not link.exists():
                link.symlink_to(f.resolve())
    return out


def detect_data_yaml(
    closed_loop_dir: str | Path,
    out_dir: str | Path,
    val_every: int = 5,
    names: tuple[str, ...] = ("item", "hand", "bag"),
) -> Path:
    """A YOLO ``data.yaml`` over ``<dir>/detect`` for ``sco train detector``; crops carry
    class 0 (item) and keep the shipped detector's class list so the two data sets mix."""
    src = Path(closed_loop_dir) / "detect" / "images"
    images = sorted(src.glob("*.jpg")) if src.is_dir() else []
    if not images:
        raise ClosedLoopError(f"{src}: no labelled crops")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    val = [p for i, p in enumerate(images) if i % val_every == val_every - 1] or images[:1]
    train = [p for p in images if p not in set(val)] or images
    (out / "train.txt").write_text("".join(f"{p.resolve()}\n" for p in train))
    (out / "val.txt").write_text("".join(f"{p.resolve()}\n" for p in val))
    yaml = out / "data.yaml"
    lines = "".join(f"  {i}: {n}\n" for i, n in enumerate(names))
    yaml.write_text(f"path: {out.resolve()}\ntrain: train.txt\nval: val.txt\nnames:\n{lines}")
    return yaml
