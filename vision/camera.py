"""Camera sources by URL and the capture thread that always hands out the newest frame.

A source is anything with ``open``/``read``/``close`` (:class:`FrameSource`), built from a URL
by the factory registered for its scheme (:func:`register_source`). The built-in schemes live
in :mod:`vision.sources`; plugins such as ``synthetic:`` register themselves when
:func:`make_source` first imports them.

:class:`Camera` runs one source on its own daemon thread. It keeps only the newest frame (a
consumer slower than the camera sees fresh frames, never a backlog), counts what it dropped,
and survives unplugging: on a failed read it reports, closes, and reopens every
``reconnect_s`` until the device is back. Nothing it does raises into the caller once started.
"""

from __future__ import annotations

import collections
import dataclasses
import importlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

import numpy as np

from kiosk.errors import CameraError
from vision.types import BGRImage, Frame, SourceStats

__all__ = [
    "Camera",
    "CameraError",
    "FrameSource",
    "iter_frames",
    "known_schemes",
    "make_source",
    "open_source",
    "redact_url",
    "register_source",
]

logger = logging.getLogger("vision.camera")

# Modules that register schemes when imported; a missing optional one is fine.
BUILTIN_SOURCE_MODULES = ("vision.sources",)
PLUGIN_SOURCE_MODULES = ("vision.synthetic_source",)
FPS_WINDOW_S = 2.0
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*:)[^@/?#]*@")


@runtime_checkable
class FrameSource(Protocol):
    """One camera-like thing. Built by a factory without touching the device; ``open`` does.

    ``read`` returns the next BGR frame, ``None`` at the end of a play-once file or folder,
    and raises :class:`CameraError` when the device fails; ``close`` is safe to call twice and
    a closed source may be opened again (that is how the capture thread reconnects).
    """

    url: str

    def open(self) -> None: ...

    def read(self) -> BGRImage | None: ...

    def close(self) -> None: ...


_FACTORIES: dict[str, Callable[[str], FrameSource]] = {}
_PLUGIN_ERRORS: dict[str, str] = {}
_loaded = False
_load_lock = threading.Lock()


def register_source(scheme: str, factory: Callable[[str], FrameSource]) -> None:
    """Make ``scheme:...`` URLs build their source with ``factory(url)`` (the whole URL).

    Registering a scheme again replaces its factory (a test or a site plugin may override).
    """
    key = scheme.lower().rstrip(":")
    if not _SCHEME.match(key + ":"):
        raise ValueError(f"not a URL scheme: {scheme!r}")
    _FACTORIES[key] = factory


def _load_plugins() -> None:
    global _loaded
    with _load_lock:
        if _loaded:
            return
        for name in BUILTIN_SOURCE_MODULES:
            importlib.import_module(name)
        for name in PLUGIN_SOURCE_MODULES:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as err:
                if err.name != name:  # the plugin exists but lacks a dependency: say so
                    _PLUGIN_ERRORS[name] = str(err)
            except Exception as err:  # a broken plugin must not take v4l2 cameras down with it
                _PLUGIN_ERRORS[name] = f"{type(err).__name__}: {err}"
                logger.warning("camera source plugin %s failed to import: %s", name, err)
        _loaded = True


def known_schemes() -> list[str]:
    """Every scheme :func:`make_source` accepts, sorted (bare paths and indexes aside)."""
    _load_plugins()
    return sorted(s for s in _FACTORIES if s != "path")


def redact_url(url: str) -> str:
    """``rtsp://user:secret@cam/x`` -> ``rtsp://user:***@cam/x``: URLs end up in logs and
    health reports, passwords must not."""
    return _PASSWORD.sub(r"\1***@", url)


def _scheme_of(url: str) -> str:
    """The registry key for ``url``: its scheme, ``v4l2`` for a bare index, ``path`` for a
    bare filesystem path."""
    text = url.strip()
    if text.isdigit() or text.startswith("/dev/video"):
        return "v4l2"
    m = _SCHEME.match(text)
    # A single letter before ':' is a drive letter, not a scheme; treat it as a path.
    if m and len(m.group(1)) > 1:
        return m.group(1).lower()
    return "path"


def make_source(url: str) -> FrameSource:
    """Build the source for ``url`` without opening it; a bad URL raises :class:`CameraError`
    that lists the schemes this install knows."""
    if not isinstance(url, str) or not url.strip():
        raise CameraError("empty camera URL; " + _schemes_hint())
    _load_plugins()
    scheme = _scheme_of(url)
    factory = _FACTORIES.get(scheme)
    if factory is None:
        raise CameraError(
            f"unknown camera source scheme {scheme!r} in {redact_url(url)!r}; " + _schemes_hint()
        )
    return factory(url.strip())


def open_source(url: str) -> FrameSource:
    """Build and open the source for ``url``; raises :class:`CameraError` with the reason."""
    source = make_source(url)
    source.open()
    return source


def _schemes_hint() -> str:
    names = sorted(s for s in _FACTORIES if s != "path")
    hint = (
        f"known schemes: {', '.join(n + ':' for n in names)} "
        "(or a device index such as 0, or a path to a video file, image or folder)"
    )
    for module, err in _PLUGIN_ERRORS.items():
        hint += f"; plugin {module} did not load: {err}"
    return hint


def iter_frames(
    url: str, limit: int | None = None, *, clock: Callable[[], float] = time.time
) -> Iterator[Frame]:
    """Pull frames synchronously, as fast as the source gives them (benchmarks, tests, tools).

    Ends at the end of a play-once source or after ``limit`` frames; a failing device raises
    :class:`CameraError` (no reconnecting here: that is :class:`Camera`'s job).
    """
    source = open_source(url)
    shown = redact_url(url)
    try:
        index = 0
        while limit is None or index < limit:
            image = source.read()
            if image is None:
                return
            yield Frame(image, int(clock() * 1000), index, shown)
            index += 1
    finally:
        source.close()


class Camera:
    """One source on a daemon capture thread; :meth:`latest` gives the newest unread frame.

    ``on_state(connected, reason)`` is called on the capture thread at each change (first
    open, loss, reconnect, end); keep it quick. ``clock`` stamps ``Frame.ts_ms``; fps is
    measured on the monotonic clock over the last ``fps_window_s`` seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        reconnect_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        on_state: Callable[[bool, str], None] | None = None,
        fps_window_s: float = FPS_WINDOW_S,
    ) -> None:
        if not reconnect_s > 0:
            raise ValueError(
                f"reconnect_s must be > 0 (a retry loop needs a pause); got {reconnect_s}"
            )
        self.url = url
        self.shown_url = redact_url(url)
        self._source = make_source(url)  # a malformed URL can never work: fail now, loudly
        self._reconnect_s = reconnect_s
        self._clock = clock
        self._on_state = on_state
        self._fps_window_s = fps_window_s
        self._cond = threading.Condition()
        self._pending: Frame | None = None
        self._stats = SourceStats()
        self._stats.extra.update(open_failures=0.0, read_failures=0.0, delivered=0.0)
        self._times: collections.deque[float] = collections.deque()
        self._ended = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._ever_connected = False
        self._outage = False  # a warning was logged for the current outage
        self._ever_reported = False  # on_state has been called at least once

    # --- consumer side -------------------------------------------------------------------

    def start(self) -> Camera:
        """Start capturing (idempotent while running)."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stopping.clear()
        self._ended = False  # a play-once source started again plays again
        self._ever_connected = False  # a deliberate restart is not a reconnect
        self._thread = threading.Thread(
            target=self._run, name=f"camera {self.shown_url}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and close the source. A read blocked in the driver can take up
        to the source's own timeout; the thread is a daemon either way."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                logger.warning(
                    "camera %s: capture thread still busy after %.1f s", self.shown_url, timeout
                )

    def __enter__(self) -> Camera:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def latest(self, timeout: float = 1.0) -> Frame | None:
        """The newest frame not handed out before, waiting up to ``timeout`` seconds for one.
        ``None`` on timeout, or at once when none is waiting and the camera is stopped or its
        play-once source has ended."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            while self._pending is None:
                if self._ended or self._stopping.is_set():
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            frame, self._pending = self._pending, None
            self._stats.extra["delivered"] += 1
            return frame

    @property
    def stats(self) -> SourceStats:
        """A snapshot copy: frames, dropped, fps (sliding window), reconnects, connected,
        last_error; ``extra`` has open_failures, read_failures, delivered, width, height."""
        with self._cond:
            self._trim_times(time.monotonic())
            snap = dataclasses.replace(self._stats, extra=dict(self._stats.extra))
            snap.fps = self._fps()
        return snap

    @property
    def ended(self) -> bool:
        """True once a play-once file or folder has delivered its last frame."""
        return self._ended

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- capture thread ------------------------------------------------------------------

    def _run(self) -> None:
        is_open = False
        try:
            while not self._stopping.is_set():
                if not is_open:
                    is_open = self._try_open()
                    if not is_open:
                        self._stopping.wait(self._reconnect_s)
                        continue
                try:
                    image = self._source.read()
                    if image is not None:
                        _check_image(image)
                except Exception as err:  # any driver failure is an outage
                    self._count("read_failures")
                    self._lost(_reason(err))
                    self._close()
                    is_open = False
                    self._stopping.wait(self._reconnect_s)
                    continue
                if image is None:
                    self._finish()
                    return
                self._publish(image)
        except Exception:  # a bug here must not die silently: log it, leave a safe state
            logger.exception("camera %s: capture thread failed", self.shown_url)
            self._set_state(False, "capture thread failed (see log)")
        finally:
            if is_open:
                self._close()
            with self._cond:
                self._stats.connected = False
                self._cond.notify_all()

    def _try_open(self) -> bool:
        try:
            self._source.open()
        except Exception as err:  # a missing device is expected; keep retrying
            self._count("open_failures")
            self._close()
            self._lost(_reason(err))
            return False
        reconnect = self._ever_connected
        self._ever_connected = True
        if self._outage:
            logger.warning("camera %s: connected, frames flowing again", self.shown_url)
        self._outage = False
        with self._cond:
            if reconnect:
                self._stats.reconnects += 1
            self._stats.last_error = ""
        self._set_state(True, "")
        return True

    def _lost(self, reason: str) -> None:
        # One warning per outage: a camera left unplugged overnight must not flood the log.
        if not self._outage:
            logger.warning(
                "camera %s: %s; retrying every %.1f s", self.shown_url, reason, self._reconnect_s
            )
            self._outage = True
        else:
            logger.debug("camera %s: still down: %s", self.shown_url, reason)
        with self._cond:
            self._stats.last_error = reason
        self._set_state(False, reason)

    def _finish(self) -> None:
        logger.info("camera %s: end of source", self.shown_url)
        with self._cond:
            self._ended = True
            self._cond.notify_all()
        self._set_state(False, "end of source")

    def _publish(self, image: BGRImage) -> None:
        now = time.monotonic()
        with self._cond:
            frame = Frame(image, int(self._clock() * 1000), self._stats.frames, self.shown_url)
            if self._pending is not None:
                self._stats.dropped += 1  # nobody took it before a newer one arrived
            self._pending = frame
            self._stats.frames += 1
            self._stats.extra["width"] = float(image.shape[1])
            self._stats.extra["height"] = float(image.shape[0])
            self._times.append(now)
            self._trim_times(now)
            self._cond.notify_all()

    def _set_state(self, connected: bool, reason: str) -> None:
        with self._cond:
            changed = self._stats.connected != connected or not self._ever_reported
            self._stats.connected = connected
            self._ever_reported = True
        if changed and self._on_state is not None:
            try:
                self._on_state(connected, reason)
            except Exception:  # a listener's bug must not stop the camera
                logger.exception("camera %s: on_state callback failed", self.shown_url)

    def _close(self) -> None:
        try:
            self._source.close()
        except Exception as err:  # closing a vanished device may fail too
            logger.debug("camera %s: close failed: %s", self.shown_url, err)

    def _count(self, key: str) -> None:
        with self._cond:
            self._stats.extra[key] += 1

    def _trim_times(self, now: float) -> None:
        while self._times and now - self._times[0] > self._fps_window_s:
            self._times.popleft()

    def _fps(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


def _check_image(image: object) -> None:
    # A plugin bug (wrong dtype, grey frames) is caught here, not three stages downstream.
    if not (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] == 3
        and image.size
    ):
        shape = getattr(image, "shape", None)
        kind = getattr(image, "dtype", type(image).__name__)
        raise CameraError(f"source gave a bad frame ({kind}, shape {shape}); want H x W x 3 uint8")


def _reason(err: BaseException) -> str:
    if isinstance(err, CameraError):
        return str(err)
    return f"{type(err).__name__}: {err}"
