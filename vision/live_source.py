"""``live:NAME`` camera URLs: frames pushed by a producer in the same process.

    live:demo                 the feed published under the name "demo"
    live:demo?timeout_s=5     seconds without a new frame before the read fails (default 5)

The demo's world renders a shopper live and ``push``es each frame to a :class:`LiveFeed`;
the lane's camera reads it through this source exactly as it reads a USB camera (newest
frame wins, a stalled feed is a camera error, so the capture thread reconnects).
"""

from __future__ import annotations

import threading
import time
from typing import ClassVar

from kiosk.errors import CameraError
from vision.types import BGRImage

SCHEME = "live"
DEFAULT_TIMEOUT_S = 5.0

_FEEDS: dict[str, LiveFeed] = {}
_FEEDS_LOCK = threading.Lock()


class LiveFeed:
    """The newest frame of a producer, with a sequence number readers wait on."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._cond = threading.Condition()
        self._image: BGRImage | None = None
        self._seq = 0
        self._closed = False

    @property
    def seq(self) -> int:
        return self._seq

    def push(self, image: BGRImage) -> None:
        with self._cond:
            self._image, self._seq = image, self._seq + 1
            self._cond.notify_all()

    def close(self) -> None:
        """The producer is done: readers get the end of the stream."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def latest(self) -> BGRImage | None:
        return self._image

    def wait_newer(self, seq: int, timeout_s: float) -> tuple[BGRImage, int] | None:
        """The newest frame after ``seq``; None at the end of the stream. Raises
        TimeoutError when nothing new came within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._seq <= seq and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no frame from live feed {self.name!r}")
                self._cond.wait(left)
            if self._seq <= seq or self._image is None:
                return None
            return self._image, self._seq


def publish_feed(feed: LiveFeed) -> LiveFeed:
    """Make ``live:<feed.name>`` read this feed (a new feed of the same name replaces it)."""
    with _FEEDS_LOCK:
        _FEEDS[feed.name] = feed
    return feed


def withdraw_feed(feed: LiveFeed) -> None:
    with _FEEDS_LOCK:
        if _FEEDS.get(feed.name) is feed:
            del _FEEDS[feed.name]


class LiveSource:
    """A FrameSource reading a published :class:`LiveFeed`."""

    OPTIONS: ClassVar[dict[str, type]] = {"timeout_s": float}

    def __init__(self, url: str) -> None:
        from vision.sources import split_url, take_options

        path, options = split_url(url, SCHEME)
        opts = take_options(url, options, self.OPTIONS)
        self.url = url
        self.name = path.strip()
        if not self.name:
            raise CameraError(f"camera URL {url!r} names no feed; write e.g. live:demo")
        self.timeout_s = float(opts.get("timeout_s", DEFAULT_TIMEOUT_S)) or DEFAULT_TIMEOUT_S  # type: ignore[arg-type]
        self._feed: LiveFeed | None = None
        self._seq = 0

    def open(self) -> None:
        with _FEEDS_LOCK:
            feed = _FEEDS.get(self.name)
        if feed is None:
            raise CameraError(f"no live feed called {self.name!r} is running")
        self._feed, self._seq = feed, feed.seq - 1  # the current frame is the first read

    def read(self) -> BGRImage | None:
        if self._feed is None:
            raise CameraError(f"live source {self.url!r} is not open")
        try:
            got = self._feed.wait_newer(self._seq, self.timeout_s)
        except TimeoutError as err:
            raise CameraError(f"{err} in {self.timeout_s:g} s") from err
        if got is None:
            return None
        image, self._seq = got
        return image

    def close(self) -> None:
        self._feed = None


def _factory(url: str) -> LiveSource:
    return LiveSource(url)


try:
    from vision.camera import register_source
except ImportError:  # rendering-only installs have no camera registry
    pass
else:
    register_source(SCHEME, _factory)
