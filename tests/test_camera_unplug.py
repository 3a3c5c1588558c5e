"""Unplugging a network camera: a real MJPEG stream over HTTP on loopback, killed and
restarted under a running :class:`Camera`, read through OpenCV's FFMPEG backend."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from kiosk.errors import CameraError
from tests.conftest import wait_for
from vision.camera import Camera, open_source, register_source
from vision.sources import StreamSource

BOUNDARY = "opensco-frame"


class MjpegServer:
    """An IP camera on 127.0.0.1: ``/stream.mjpg`` is multipart/x-mixed-replace JPEG frames
    of one flat grey ``level``. ``kill()`` is the cable pulled: listener and streams gone."""

    def __init__(
        self, level: int, port: int = 0, *, fps: float = 50, content_length: bool = True
    ) -> None:
        self.level = level
        self.period = 1.0 / fps
        self.content_length = content_length
        self.stalled = threading.Event()  # connection stays open, frames stop
        self.dead = threading.Event()
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/stream.mjpg":
                    self.send_error(404)
                    return
                with server.lock:
                    server.conns.append(self.connection)
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                jpeg = server.jpeg()
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                if server.content_length:
                    head += f"Content-Length: {len(jpeg)}\r\n"
                part = head.encode() + b"\r\n" + jpeg + b"\r\n"
                with contextlib.suppress(OSError):
                    while not server.dead.is_set():
                        if not server.stalled.is_set():
                            self.wfile.write(part)
                            self.wfile.flush()
                        time.sleep(server.period)

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def jpeg(self) -> bytes:
        ok, data = cv2.imencode(".jpg", np.full((120, 160, 3), self.level, np.uint8))
        assert ok
        return data.tobytes()

    def kill(self) -> None:
        self.dead.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        with self.lock:
            conns, self.conns = self.conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
        self.thread.join(5)


@pytest.fixture
def servers() -> Iterator[list[MjpegServer]]:
    started: list[MjpegServer] = []
    yield started
    for server in started:
        if not server.dead.is_set():
            server.kill()


def level_of(image: np.ndarray) -> int:
    return round(float(image.mean()))


def test_opencv_reads_mjpeg_over_http(servers: list[MjpegServer]) -> None:
    for content_length in (True, False):  # many IP cameras leave Content-Length out
        server = MjpegServer(90, content_length=content_length)
        servers.append(server)
        source = open_source(server.url)
        try:
            levels = [level_of(source.read()) for _ in range(3)]  # type: ignore[arg-type]
        finally:
            source.close()
        assert all(abs(v - 90) <= 3 for v in levels), levels


def test_wrong_path_is_a_clear_error(servers: list[MjpegServer]) -> None:
    server = MjpegServer(90)
    servers.append(server)
    with pytest.raises(CameraError, match="no video stream opened"):
        open_source(f"http://127.0.0.1:{server.port}/wrong")


def test_unplug_and_replug_an_http_camera(
    servers: list[MjpegServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vision.camera")
    first = MjpegServer(60)
    servers.append(first)
    states: list[tuple[bool, str]] = []
    camera = Camera(first.url, reconnect_s=0.1, on_state=lambda c, r: states.append((c, r)))
    camera.start()
    try:
        assert wait_for(lambda: camera.stats.frames >= 5, 30)
        frame = camera.latest(timeout=5)
        assert frame is not None and abs(level_of(frame.image) - 60) <= 3
        assert frame.source == first.url and frame.size == (160, 120)

        first.kill()  # unplugged
        assert wait_for(lambda: not camera.stats.connected, 30)
        assert wait_for(lambda: camera.stats.extra["open_failures"] >= 3, 30)  # still trying
        stats = camera.stats
        assert camera.running and not camera.ended
        assert f"127.0.0.1:{first.port}" in stats.last_error
        assert states[0] == (True, "") and states[1][0] is False
        while camera.latest(timeout=0) is not None:  # frames buffered before the cut
            pass
        assert camera.latest(timeout=0.3) is None
        frames_before = camera.stats.frames

        second = MjpegServer(180, port=first.port)  # plugged back in, same address
        servers.append(second)
        assert wait_for(lambda: camera.stats.connected, 30)

        def fresh_frame() -> bool:
            f = camera.latest(timeout=0.1)
            return f is not None and abs(level_of(f.image) - 180) <= 3

        assert wait_for(fresh_frame, 30)
        stats = camera.stats
        assert stats.reconnects == 1 and stats.last_error == ""
        assert stats.frames > frames_before
        assert states[-1] == (True, "") and len(states) == 3
        outages = [r for r in caplog.records if "retrying" in r.getMessage()]
        assert len(outages) == 1  # one warning for the whole outage, not one per retry
    finally:
        camera.stop()
    assert not camera.running


def test_a_stalled_stream_times_out_and_reconnects(servers: list[MjpegServer]) -> None:
    # A camera that keeps the connection but stops sending (a hung encoder) must be noticed:
    # the read timeout turns it into an outage. A short timeout keeps the test quick.
    register_source("http", lambda url: StreamSource(url, open_timeout_s=1.0, read_timeout_s=1.0))
    try:
        server = MjpegServer(120)
        servers.append(server)
        with Camera(server.url, reconnect_s=0.1) as camera:
            assert wait_for(lambda: camera.latest(timeout=0.1) is not None, 30)
            server.stalled.set()
            assert wait_for(lambda: not camera.stats.connected, 30)
            assert "stalled" in camera.stats.last_error
            assert camera.stats.extra["read_failures"] >= 1 and camera.running
            server.stalled.clear()
            assert wait_for(lambda: camera.stats.connected and camera.stats.reconnects >= 1, 30)
            while camera.latest(timeout=0) is not None:
                pass
            assert camera.latest(timeout=10) is not None
    finally:
        register_source("http", StreamSource)
