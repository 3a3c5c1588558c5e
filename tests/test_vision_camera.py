"""Camera sources and the capture thread: real files, folders and OpenCV, a gated source only
where a test must control when a frame arrives (the hardware edge)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import pytest

from kiosk.errors import CameraError, KioskError
from tests.conftest import wait_for
from vision import camera_cli
from vision.camera import (
    Camera,
    iter_frames,
    known_schemes,
    make_source,
    open_source,
    redact_url,
    register_source,
)
from vision.types import BGRImage


def solid(level: int, size: tuple[int, int] = (64, 48)) -> BGRImage:
    return np.full((size[1], size[0], 3), level, np.uint8)


def level_of(image: BGRImage) -> int:
    return round(float(image.mean()))


def write_folder(folder: Path, levels: list[int], names: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, level in enumerate(levels):
        name = names[i] if names else f"frame{i}.png"
        assert cv2.imwrite(str(folder / name), solid(level))
    return folder


def write_video(path: Path, levels: list[int]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    assert writer.isOpened()
    for level in levels:
        writer.write(solid(level))
    writer.release()
    return path


# --- a source at the hardware edge whose frames the test releases one by one ---------------


class GatedSource:
    """Blocks in read() until the test pushes an image, "fail" (device error) or "end"."""

    sources: ClassVar[dict[str, GatedSource]] = {}

    def __init__(self, url: str) -> None:
        self.url = url
        self.items: queue.Queue[object] = queue.Queue()
        self.opens = 0
        self.refuse_open = threading.Event()
        GatedSource.sources[url] = self

    def open(self) -> None:
        if self.refuse_open.is_set():
            raise CameraError("gate: device absent")
        self.opens += 1

    def read(self) -> BGRImage | None:
        item = self.items.get()
        if isinstance(item, np.ndarray):
            return item
        if item == "fail":
            raise CameraError("gate: device vanished")
        assert item == "end"
        return None

    def close(self) -> None:
        pass


@pytest.fixture
def gated() -> Iterator[type[GatedSource]]:
    register_source("gated", GatedSource)
    GatedSource.sources.clear()
    yield GatedSource
    for source in GatedSource.sources.values():
        source.items.put("end")  # let any capture thread still waiting in read() finish


class StateLog:
    def __init__(self) -> None:
        self.calls: list[tuple[bool, str]] = []

    def __call__(self, connected: bool, reason: str) -> None:
        self.calls.append((connected, reason))


# --- URLs and errors ------------------------------------------------------------------------


def test_unknown_scheme_names_the_known_ones() -> None:
    with pytest.raises(CameraError) as err:
        make_source("gopher://cam/1")
    text = str(err.value)
    assert "'gopher'" in text
    for scheme in ("v4l2:", "file:", "folder:", "rtsp:", "http:", "https:"):
        assert scheme in text
    assert isinstance(err.value, KioskError)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("", "empty camera URL"),
        ("   ", "empty camera URL"),
        ("v4l2:abc", "v4l2:0"),
        ("v4l2:0?fourcc=MJPEG", "fourcc"),
        ("v4l2:0?zoom=2", "accepted: width, height, fps, fourcc, buffersize"),
        ("folder:/tmp?speed=2", "unknown option 'speed'"),
        ("clip.mp4?loop=maybe", "loop='maybe'"),
        ("clip.mp4?fps=-3", "fps='-3'"),
        ("clip.mp4?fps=nan", "fps='nan'"),
        ("http:///stream", "has no host"),
        ("rtsp://cam:notaport/x", "bad port"),
    ],
)
def test_bad_urls_get_a_clear_error(url: str, words: str) -> None:
    with pytest.raises(CameraError) as err:
        make_source(url)
    assert words in str(err.value)


def test_missing_things_fail_to_open_with_their_path(tmp_path: Path) -> None:
    cases = {
        str(tmp_path / "nope.mp4"): "video file not found",
        f"file:{tmp_path / 'nope.avi'}": "video file not found",
        f"folder:{tmp_path / 'nodir'}": "image folder not found",
        str(tmp_path / "nope.jpg"): "image file not found",
        "v4l2:/dev/video-opensco-test": "no camera at /dev/video-opensco-test",
        "/dev/video-opensco-test?width=640": "no camera at /dev/video-opensco-test",
        "63": "no camera at /dev/video63",
    }
    for url, words in cases.items():
        with pytest.raises(CameraError) as err:
            open_source(url)
        assert words in str(err.value), url
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CameraError, match="no images in folder"):
        open_source(f"folder:{empty}")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(CameraError, match="not a video"):
        open_source(str(garbage))


def test_nothing_listening_is_a_clear_stream_error() -> None:
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CameraError, match=f"cannot reach 127.0.0.1:{port}"):
        open_source(f"http://127.0.0.1:{port}/stream.mjpg")


def test_passwords_never_reach_messages() -> None:
    assert (
        redact_url("rtsp://admin:s3cret@10.0.0.5:554/h264") == "rtsp://admin:***@10.0.0.5:554/h264"
    )
    assert redact_url("http://cam/x?y=1") == "http://cam/x?y=1"
    with pytest.raises(CameraError) as err:
        make_source("rtsp://admin:s3cret@cam:bad/x")
    assert "s3cret" not in str(err.value)


def test_synthetic_plugin_registers_itself_when_present() -> None:
    schemes = known_schemes()
    assert {"v4l2", "file", "folder", "rtsp", "http", "https"} <= set(schemes)
    if importlib.util.find_spec("vision.synthetic_source") is not None:
        assert "synthetic" in schemes


# --- folders, images and video files -----------------------------------------------------


def test_folder_plays_once_in_natural_order(tmp_path: Path) -> None:
    names = ["f10.png", "f2.png", "f1.png", "notes.txt"]
    folder = write_folder(tmp_path / "shots", [100, 20, 10], names[:3])
    (folder / names[3]).write_text("not an image")
    frames = list(iter_frames(f"folder:{folder}", clock=lambda: 12.3456))
    assert [level_of(f.image) for f in frames] == [10, 20, 100]
    assert [f.index for f in frames] == [0, 1, 2]
    assert all(f.ts_ms == 12345 for f in frames)
    assert frames[0].source == f"folder:{folder}"
    assert list(iter_frames(str(folder))) and len(list(iter_frames(str(folder)))) == 3  # bare


def test_folder_loops_and_picks_up_new_files(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "loop", [10, 20, 30])
    source = open_source(f"folder:{folder}?loop=1")
    got = [level_of(source.read()) for _ in range(7)]  # type: ignore[arg-type]
    assert got == [10, 20, 30, 10, 20, 30, 10]
    cv2.imwrite(str(folder / "frame3.png"), solid(40))  # dropped in during the pass
    got = [level_of(source.read()) for _ in range(6)]  # type: ignore[arg-type]
    assert got == [20, 30, 10, 20, 30, 40]  # seen from the next listing on
    source.close()


def test_corrupt_images_are_skipped_with_one_warning_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = write_folder(tmp_path / "mixed", [10, 30], ["a1.png", "a3.png"])
    (folder / "a2.jpg").write_bytes(b"\xff\xd8\xff garbage, not a JPEG")
    (folder / "a4.png").write_bytes(b"")
    caplog.set_level(logging.WARNING, logger="vision.sources")
    got = [level_of(f.image) for f in iter_frames(f"folder:{folder}?loop=1", limit=6)]
    assert got == [10, 30, 10, 30, 10, 30]
    warned = [r.getMessage() for r in caplog.records if r.name == "vision.sources"]
    assert len(warned) == 2, warned  # once per bad file, not once per pass
    assert any("a2.jpg" in w for w in warned) and any("a4.png" in w for w in warned)


def test_a_folder_of_only_bad_images_errors_instead_of_spinning(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "x.jpg").write_bytes(b"nope")
    source = open_source(f"folder:{folder}?loop=1")
    with pytest.raises(CameraError, match="no readable images"):
        source.read()


def test_single_image_file_once_or_looping(tmp_path: Path) -> None:
    path = tmp_path / "still.png"
    cv2.imwrite(str(path), solid(77))
    assert [level_of(f.image) for f in iter_frames(str(path))] == [77]
    assert len(list(iter_frames(f"file:{path}?loop=1", limit=5))) == 5


def test_grey_and_alpha_images_become_bgr(tmp_path: Path) -> None:
    folder = tmp_path / "kinds"
    folder.mkdir()
    cv2.imwrite(str(folder / "1grey.png"), np.full((8, 8), 50, np.uint8))
    cv2.imwrite(str(folder / "2alpha.png"), np.full((8, 8, 4), 60, np.uint8))
    cv2.imwrite(str(folder / "3deep.png"), np.full((8, 8, 3), 65535, np.uint16))
    frames = list(iter_frames(str(folder)))
    assert [f.image.shape for f in frames] == [(8, 8, 3)] * 3
    assert all(f.image.dtype == np.uint8 for f in frames)
    assert [level_of(f.image) for f in frames] == [50, 60, 255]


def test_video_file_once_and_looping(tmp_path: Path) -> None:
    levels = [0, 40, 80, 120, 160]
    video = write_video(tmp_path / "clip.avi", levels)
    once = [level_of(f.image) for f in iter_frames(f"file:{video}")]
    assert len(once) == 5
    assert all(abs(a - b) <= 4 for a, b in zip(once, levels, strict=True))
    looped = [level_of(f.image) for f in iter_frames(f"{video}?loop=1&fps=0", limit=12)]
    assert all(abs(a - b) <= 4 for a, b in zip(looped, (levels * 3)[:12], strict=True))
    source = open_source(str(video))
    for _ in range(5):
        assert source.read() is not None
    assert source.read() is None and source.read() is None  # the end stays the end
    source.close()


def test_file_urls_with_slashes(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", [10, 20])
    assert len(list(iter_frames(f"file://{video}"))) == 2
    assert len(list(iter_frames(f"file://localhost{video}"))) == 2


def test_iter_frames_stops_at_limit(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "lim", [1, 2, 3, 4])
    assert [f.index for f in iter_frames(str(folder), limit=2)] == [0, 1]
    assert list(iter_frames(str(folder), limit=0)) == []


# --- the capture thread ---------------------------------------------------------------------


def test_camera_plays_a_folder_once_then_ends(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "once", [10, 20, 30, 40])
    states = StateLog()
    camera = Camera(f"folder:{folder}?fps=0", on_state=states, clock=lambda: 5.0).start()
    got = []
    while (frame := camera.latest(timeout=5)) is not None:
        got.append(frame)
    assert wait_for(lambda: not camera.running)
    assert camera.ended
    stats = camera.stats
    assert stats.frames == 4 and not stats.connected
    # Whatever the consumer missed was counted as dropped: nothing vanishes unaccounted.
    assert len(got) + stats.dropped == 4
    assert [f.index for f in got] == sorted({f.index for f in got})
    assert got[-1].index == 3 and all(f.ts_ms == 5000 for f in got)
    assert states.calls == [(True, ""), (False, "end of source")]
    assert camera.latest(timeout=0.01) is None
    camera.stop()
    camera.start()  # a play-once source started again plays again; indexes keep counting
    assert wait_for(lambda: camera.ended and camera.stats.frames == 8)
    frame = camera.latest(timeout=1)
    assert frame is not None and frame.index == 7
    camera.stop()


def test_latest_is_the_newest_frame_and_drops_are_counted(gated: type[GatedSource]) -> None:
    with Camera("gated:newest") as camera:
        gate = gated.sources["gated:newest"]
        for level in (10, 20, 30):
            gate.items.put(solid(level))
        assert wait_for(lambda: camera.stats.frames == 3)
        frame = camera.latest(timeout=1)
        assert frame is not None and frame.index == 2 and level_of(frame.image) == 30
        assert camera.stats.dropped == 2
        assert camera.latest(timeout=0.05) is None  # each frame is handed out once
        gate.items.put(solid(40))
        frame = camera.latest(timeout=5)
        assert frame is not None and frame.index == 3 and level_of(frame.image) == 40
        assert camera.stats.dropped == 2
        gate.items.put("end")


def test_a_source_faster_than_its_consumer(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "fast", list(range(0, 200, 10)))
    with Camera(f"folder:{folder}?loop=1") as camera:
        seen: list[int] = []
        for _ in range(10):
            before = camera.stats.frames
            # Let the camera get two frames ahead, so at least one is stale when we read.
            assert wait_for(lambda b=before: camera.stats.frames >= b + 2)
            frame = camera.latest(timeout=5)
            assert frame is not None
            seen.append(frame.index)
    leftover = camera.latest(timeout=0)  # a frame captured after our last read, if any
    stats = camera.stats
    assert seen == sorted(set(seen))  # strictly newer each time, never repeated
    assert stats.dropped >= 10
    assert stats.frames == stats.dropped + int(stats.extra["delivered"])
    assert int(stats.extra["delivered"]) == 10 + (leftover is not None)
    assert stats.fps > 0


def test_missing_file_keeps_retrying_then_plays_when_it_appears(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vision.camera")
    video = tmp_path / "later.avi"
    states = StateLog()
    camera = Camera(f"{video}?loop=1", reconnect_s=0.02, on_state=states).start()
    try:
        assert wait_for(lambda: camera.stats.extra["open_failures"] >= 5)
        stats = camera.stats
        assert camera.running and not stats.connected and stats.frames == 0
        assert "video file not found" in stats.last_error and str(video) in stats.last_error
        assert camera.latest(timeout=0.01) is None
        # One warning and one state change for the whole outage, not one per retry.
        assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == 1
        assert states.calls == [(False, stats.last_error)]
        # The file turns up whole (a USB stick mounted late), as a rename makes it appear.
        os.replace(write_video(tmp_path / "partial.avi", [50, 60]), video)
        assert wait_for(lambda: camera.latest(timeout=0.05) is not None)
        stats = camera.stats
        assert stats.connected and stats.last_error == "" and stats.reconnects == 0
        assert states.calls[-1] == (True, "")
    finally:
        camera.stop()


def test_device_failure_reports_and_reconnects(
    gated: type[GatedSource], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vision.camera")
    states = StateLog()
    with Camera("gated:unplug", reconnect_s=0.02, on_state=states) as camera:
        gate = gated.sources["gated:unplug"]
        gate.items.put(solid(10))
        assert camera.latest(timeout=5) is not None
        gate.refuse_open.set()
        gate.items.put("fail")  # the device vanishes and stays away for a while
        assert wait_for(lambda: camera.stats.extra["open_failures"] >= 3)
        stats = camera.stats
        assert not stats.connected and stats.last_error == "gate: device absent"
        assert stats.extra["read_failures"] == 1 and camera.running
        assert states.calls == [(True, ""), (False, "gate: device vanished")]
        gate.refuse_open.clear()  # plugged back in
        assert wait_for(lambda: camera.stats.connected)
        gate.items.put(solid(20))
        frame = camera.latest(timeout=5)
        assert frame is not None and frame.index == 1 and level_of(frame.image) == 20
        assert camera.stats.reconnects == 1 and gate.opens == 2
        assert states.calls[-1] == (True, "")
        outages = [r for r in caplog.records if "retrying" in r.getMessage()]
        assert len(outages) == 1
        gate.items.put("end")


def test_a_bad_frame_from_a_plugin_is_an_outage_not_a_crash(gated: type[GatedSource]) -> None:
    with Camera("gated:bad", reconnect_s=0.02) as camera:
        gate = gated.sources["gated:bad"]
        gate.items.put(np.zeros((4, 4), np.float32))
        assert wait_for(lambda: "bad frame" in camera.stats.last_error)
        gate.items.put(solid(5))
        frame = camera.latest(timeout=5)
        assert frame is not None and level_of(frame.image) == 5 and camera.running
        assert camera.stats.reconnects == 1 and camera.stats.frames == 1
        gate.items.put("end")


def test_a_failing_listener_does_not_stop_the_camera(
    gated: type[GatedSource], caplog: pytest.LogCaptureFixture
) -> None:
    def bad_listener(_connected: bool, _reason: str) -> None:
        raise RuntimeError("listener bug")

    with Camera("gated:listener", on_state=bad_listener) as camera:
        gate = gated.sources["gated:listener"]
        gate.items.put(solid(10))
        assert camera.latest(timeout=5) is not None
        assert camera.running
        assert any("on_state callback failed" in r.getMessage() for r in caplog.records)
        gate.items.put("end")


def test_camera_refuses_what_can_never_work() -> None:
    with pytest.raises(CameraError, match="unknown camera source scheme"):
        Camera("nosuch:thing")
    with pytest.raises(ValueError, match="reconnect_s"):
        Camera("0", reconnect_s=0)


def test_stop_is_prompt_and_latest_then_returns_none(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "stop", [1, 2, 3])
    camera = Camera(f"folder:{folder}?loop=1&fps=200").start()
    assert camera.latest(timeout=5) is not None
    camera.stop()
    assert not camera.running
    camera.latest(timeout=0)  # the last captured frame may still be waiting: take it
    assert camera.latest(timeout=30) is None  # then nothing, and no waiting once stopped


# --- sco camera -----------------------------------------------------------------------------


def sco_main(argv: list[str]) -> int:
    """``sco camera ...`` through this plugin's own parser, so another package's half-done
    plugin cannot break these tests."""
    parser = argparse.ArgumentParser(prog="sco")
    camera_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_probe_reports_frames_size_and_drops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_folder(tmp_path / "probe", [10, 20, 30, 40, 50])
    assert sco_main(["camera", "probe", f"folder:{folder}", "--frames", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["frames"] >= 1 and report["width"] == 64
    assert report["height"] == 48 and report["errors"] == []
    assert report["frames"] + report["dropped"] <= report["captured"] <= 5
    assert sco_main(["camera", "probe", f"folder:{folder}"]) == 0
    out = capsys.readouterr().out
    assert "size: 64x48" in out and "dropped" in out and "errors: none" in out


def test_cli_probe_fails_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.mp4"
    assert sco_main(["camera", "probe", str(missing), "--timeout", "30"]) == 1
    err = capsys.readouterr().err
    assert "video file not found" in err and str(missing) in err
    assert sco_main(["camera", "probe", "nosuch:x", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"] and "unknown camera source scheme" in report["errors"][0]


def test_cli_snapshot_writes_a_real_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = write_video(tmp_path / "clip.avi", [30, 90, 150])
    out = tmp_path / "snap.jpg"
    assert sco_main(["camera", "snapshot", str(video), str(out), "--skip", "2"]) == 0
    image = cv2.imread(str(out))
    assert image is not None and image.shape == (48, 64, 3) and abs(level_of(image) - 150) <= 5
    assert "snap.jpg" in capsys.readouterr().out
    assert sco_main(["camera", "snapshot", str(tmp_path / "none.avi"), str(out)]) == 1
    assert "video file not found" in capsys.readouterr().err
    assert sco_main(["camera", "snapshot", str(video), str(tmp_path / "x.gif")]) == 2
