"""Evidence snapshots: real JPEGs on disk, bounded, atomic, private, handed to the spool."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest

from backend_client.schema_validation import SNAPSHOT_MAX_BYTES
from backend_client.snapshots import SnapshotSpool
from vision.evidence import EvidenceError, EvidenceStore, mask_from_polygons
from vision.types import Box, Frame

REPO = Path(__file__).resolve().parents[1]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def scene(seed: int = 0, width: int = 320, height: int = 240) -> Frame:
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 90, np.uint8)
    cv2.rectangle(image, (100, 60), (220, 180), (40, 160, 230), -1)
    image = cv2.add(image, rng.integers(0, 40, image.shape, dtype=np.uint8))
    return Frame(image, ts_ms=10_000 + seed * 33, index=seed, source="rtsp://user:pw@cam/1")


def noise_frame(seed: int, width: int = 200, height: int = 150, ts_ms: int = 0) -> Frame:
    rng = np.random.default_rng(seed)
    return Frame(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), ts_ms, seed)


def store(tmp_path: Path, **kw: object) -> EvidenceStore:
    args: dict = {"max_bytes": 10_000_000, "max_age_s": 3600.0, "max_count": 100}
    args.update(kw)
    return EvidenceStore(tmp_path / "evidence", **args)


def test_keep_writes_a_real_jpeg_of_the_frame_or_the_crop(tmp_path: Path) -> None:
    ev = store(tmp_path)
    frame = scene()
    before = frame.image.copy()
    whole = ev.keep(frame, [Box(100, 60, 220, 180)], reason="ticket_switch")
    part = ev.keep(frame, [Box(100, 60, 220, 180)], crop=Box(90, 50, 230, 190))
    img = cv2.imread(str(ev.path(whole)))
    assert img is not None and img.shape == (240, 320, 3)
    # The box is outlined on the copy, never on the camera's frame.
    assert np.array_equal(frame.image, before)
    assert abs(int(img[120, 100, 2]) - 255) < 60 and abs(int(img[120, 100, 1]) - 200) < 60
    small = cv2.imread(str(ev.path(part)))
    assert small is not None and small.shape == (140, 140, 3)
    info = ev.info(whole)
    assert info["reason"] == "ticket_switch" and info["ts_ms"] == frame.ts_ms
    assert ev.info(part)["crop"] == [90, 50, 230, 190]
    # The camera URL can carry credentials: it is never written.
    assert b"pw@" not in ev.path(whole).read_bytes()
    assert ev.snapshots() == [whole, part]


def test_ids_are_unique_and_valid_snap_ids(tmp_path: Path) -> None:
    ev = store(tmp_path)
    frame = scene()
    ids = [ev.keep(frame) for _ in range(40)]
    assert len(set(ids)) == 40
    assert sorted(p.stem for p in ev.dir.glob("*.jpg")) == sorted(ids)


def test_count_age_and_byte_bounds_drop_the_oldest_first(tmp_path: Path) -> None:
    clock = Clock()
    ev = store(tmp_path, max_count=3, clock=clock)
    ids = []
    for i in range(5):
        clock.now += 1
        ids.append(ev.keep(scene(i)))
    assert ev.snapshots() == ids[2:]
    assert not (ev.dir / f"{ids[0]}.jpg").exists()

    clock.now += 3000
    fresh = ev.keep(scene(9))  # the count bound drops ids[2]
    clock.now += 1000  # ids[3] and ids[4] are now past the hour, the fresh one is not
    assert ev.prune() == 2 and ev.snapshots() == [fresh]

    sized = store(tmp_path / "b", max_bytes=100_000, clock=clock)
    kept = []
    for i in range(12):  # noise barely compresses: about 25 kB each
        clock.now += 1
        kept.append(sized.keep(noise_frame(i)))
    assert 0 < sized.total_bytes() <= 100_000
    assert sum(p.stat().st_size for p in sized.dir.glob("*.jpg")) == sized.total_bytes()
    assert sized.snapshots() == kept[-len(sized.snapshots()) :]
    with pytest.raises(EvidenceError):
        sized.path(kept[0])


def test_a_store_reopened_keeps_its_snapshots_in_age_order(tmp_path: Path) -> None:
    ev = store(tmp_path)
    ids = [ev.keep(scene(i)) for i in range(3)]
    again = store(tmp_path)
    assert set(again.snapshots()) == set(ids)
    assert again.total_bytes() == ev.total_bytes()


def test_a_crash_mid_write_leaves_no_half_file_visible(tmp_path: Path) -> None:
    directory = tmp_path / "evidence"
    store(tmp_path).keep(scene(1))
    # A child process dies (power cut) after writing the bytes, before the rename.
    child = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(REPO)!r})
        import numpy as np
        from vision.evidence import EvidenceStore
        from vision.types import Frame
        ev = EvidenceStore({str(directory)!r}, max_bytes=10**7, max_age_s=3600, max_count=10)
        os.replace = lambda *a, **k: os._exit(9)
        ev.keep(Frame(np.full((120, 160, 3), 77, np.uint8), 5, 0))
        """
    )
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, timeout=120)
    assert proc.returncode == 9, proc.stderr.decode()
    assert list(directory.glob("*.tmp")), "the child should have died mid-write"
    ev = EvidenceStore(directory, max_bytes=10**7, max_age_s=3600, max_count=10)
    assert len(ev.snapshots()) == 1
    assert not list(directory.glob("*.tmp"))
    for snap in ev.snapshots():
        assert cv2.imread(str(ev.path(snap))) is not None


def test_damaged_and_foreign_files_are_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ev = store(tmp_path)
    good = ev.keep(scene())
    whole = ev.path(good).read_bytes()
    (ev.dir / "0badc0de.jpg").write_bytes(whole[: len(whole) // 2])  # torn
    (ev.dir / "cafe.jpg").write_bytes(b"not a jpeg at all")
    (ev.dir / "Holiday Photo.jpg").write_bytes(whole)  # not one of our names
    (ev.dir / "notes.txt").write_text("technician notes")
    with caplog.at_level(logging.WARNING):
        again = store(tmp_path)
    assert again.snapshots() == [good]
    assert "damaged" in caplog.text
    for bad in ("0badc0de", "cafe"):
        with pytest.raises(EvidenceError):
            again.path(bad)
    assert (ev.dir / "notes.txt").exists() and (ev.dir / "Holiday Photo.jpg").exists()


def test_bad_input_gets_a_clear_error(tmp_path: Path) -> None:
    ev = store(tmp_path)
    with pytest.raises(EvidenceError, match="outside"):
        ev.keep(scene(), crop=Box(1000, 1000, 1100, 1100))
    with pytest.raises(EvidenceError, match="not a snapshot id"):
        ev.path("../../etc/passwd")
    with pytest.raises(EvidenceError):
        ev.keep(Frame(np.zeros((0, 0, 3), np.uint8), 0, 0))
    with pytest.raises(ValueError):
        EvidenceStore(tmp_path / "x", max_bytes=0, max_age_s=1, max_count=1)
    assert ev.snapshots() == []


def test_outside_the_zones_is_blurred(tmp_path: Path) -> None:
    zone = [(40, 30), (160, 30), (160, 120), (40, 120)]
    mask = mask_from_polygons(200, 150, [zone])
    ev = store(tmp_path, privacy_mask=mask, jpeg_quality=95)
    # Coarse noise (4 px cells): JPEG keeps it, a blur wipes it out.
    coarse = noise_frame(3, 50, 38).image
    frame = Frame(cv2.resize(coarse, (200, 152), interpolation=cv2.INTER_NEAREST)[:150], 0, 0)
    img = cv2.imread(str(ev.path(ev.keep(frame))))
    assert img is not None
    orig = frame.image.astype(float)
    inside = np.abs(img[40:110, 50:150] - orig[40:110, 50:150]).mean()
    outside = np.abs(img[130:, :] - orig[130:, :]).mean()
    assert inside < 20 and outside > 50  # sharp in the zone, noise averaged away outside

    def detail(a: np.ndarray) -> float:
        return float(np.abs(np.diff(a.astype(float), axis=1)).mean())

    assert detail(img[130:, :]) < detail(orig[130:, :]) / 3
    # A mask made for another resolution is scaled to the frame.
    big = Frame(cv2.resize(frame.image, (400, 300), interpolation=cv2.INTER_NEAREST), 0, 0)
    assert cv2.imread(str(ev.path(ev.keep(big)))).shape == (300, 400, 3)


def test_recent_ring_is_thinned_bounded_and_copies_nothing(tmp_path: Path) -> None:
    ev = store(tmp_path, recent_frames=10, recent_interval_ms=100)
    frames = [noise_frame(i, 64, 48, ts_ms=i * 33) for i in range(60)]  # 2 s at 30 fps
    for f in frames:
        ev.remember(f)
    ring = ev.recent()
    assert len(ring) == 10
    assert all(b.ts_ms - a.ts_ms >= 100 for a, b in pairwise(ring))
    assert ring[-1].ts_ms >= frames[-1].ts_ms - 132
    assert any(r is f for r in ring for f in frames[-5:])  # references, not copies
    window = [f for f in ring if 1500 <= f.ts_ms <= 1800]
    ids = ev.keep_recent(1500, 1800, reason="before alert")
    assert len(ids) == len(window) >= 2
    assert [ev.info(i)["ts_ms"] for i in ids] == [f.ts_ms for f in window]
    assert ev.keep_recent(5000, 6000) == []


def test_kept_evidence_goes_to_the_backend_spool_under_the_same_id(tmp_path: Path) -> None:
    spool = SnapshotSpool(tmp_path / "spool")
    ev = store(tmp_path, spool=spool, kiosk_id="lane-01", boot_id="b1")
    snap = ev.keep(
        scene(), [Box(100, 60, 220, 180)], reason="ticket_switch", meta={"alert_id": "a-1"}
    )
    assert spool.pending() == [snap]
    jpeg, meta = spool.load(snap)
    assert jpeg == ev.path(snap).read_bytes()
    assert meta["alert_id"] == "a-1" and meta["kiosk_id"] == "lane-01"
    # A frame too big for the backend's limit is shrunk to fit, not refused.
    big = ev.keep(noise_frame(1, 1280, 960))
    assert big in spool.pending() and len(spool.load(big)[0]) <= SNAPSHOT_MAX_BYTES


def test_evidence_is_kept_locally_when_the_spool_refuses_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = SnapshotSpool(tmp_path / "spool")
    ev = store(tmp_path, spool=spool, kiosk_id="Lane 01!", boot_id="b1")  # bad kiosk id
    with caplog.at_level(logging.WARNING):
        snap = ev.keep(scene())
    assert "not spooled" in caplog.text
    assert spool.pending() == [] and cv2.imread(str(ev.path(snap))) is not None
