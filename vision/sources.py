"""The built-in camera sources: V4L2 devices, video files, image folders, network streams.

URL forms (see ``docs/vision.md``)::

    0 | v4l2:0 | v4l2:/dev/video0 [?width=1280&height=720&fps=30&fourcc=MJPG&buffersize=1]
    file:clip.mp4 | clip.mp4       [?loop=1&fps=30]     a video file (OpenCV's FFMPEG)
    file:still.jpg | still.jpg     [?loop=1&fps=5]      one image, as a one-frame folder
    folder:frames/ | frames/       [?loop=1&fps=30]     images sorted by name, digits by value
    rtsp://... | http://... | https://...              a live stream (OpenCV's FFMPEG)

Files and folders play once and then end unless ``loop=1``; ``fps=N`` paces them like a camera
(the default ``fps=0`` reads as fast as they decode). A network URL's query string belongs to
the camera and is passed through untouched.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qsl, urlsplit

import cv2
import numpy as np

from kiosk.errors import CameraError
from vision.camera import FrameSource, redact_url, register_source
from vision.types import BGRImage

logger = logging.getLogger("vision.sources")

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"}
)
STREAM_OPEN_TIMEOUT_S = 5.0
STREAM_READ_TIMEOUT_S = 5.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_DIGITS = re.compile(r"(\d+)")


# --- URL helpers ----------------------------------------------------------------------------


def split_url(url: str, scheme: str) -> tuple[str, dict[str, str]]:
    """``scheme:PATH?k=v`` (or a bare ``PATH?k=v``) -> (PATH, {k: v})."""
    rest = url
    if scheme and rest.lower().startswith(scheme + ":"):
        rest = rest[len(scheme) + 1 :]
        if rest.startswith("//"):  # file:///abs/path and file://localhost/abs/path
            rest = rest[2:]
            if not rest.startswith("/"):
                rest = "/" + rest.split("/", 1)[1] if "/" in rest else rest
    query = ""
    if "?" in rest:
        rest, query = rest.rsplit("?", 1)
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError as err:
        raise CameraError(f"bad options {query!r} in camera URL {url!r}: {err}") from err
    return rest, options


def take_options(url: str, options: dict[str, str], allowed: dict[str, type]) -> dict[str, object]:
    """Check and convert URL options; an unknown key or a bad value is a :class:`CameraError`
    that names what is accepted."""
    out: dict[str, object] = {}
    for key, raw in options.items():
        kind = allowed.get(key)
        if kind is None:
            raise CameraError(
                f"unknown option {key!r} in camera URL {url!r}; accepted: {', '.join(allowed)}"
            )
        try:
            if kind is bool:
                if raw.lower() not in _TRUE | _FALSE:
                    raise ValueError("expected 1 or 0")
                out[key] = raw.lower() in _TRUE
            elif kind is float or kind is int:
                value = kind(raw)
                if not np.isfinite(value) or value < 0:
                    raise ValueError("expected a number >= 0")
                out[key] = value
            else:
                out[key] = raw
        except ValueError as err:
            raise CameraError(f"bad value {key}={raw!r} in camera URL {url!r}: {err}") from err
    return out


def as_bgr(image: np.ndarray) -> BGRImage:
    """Grey, BGRA and 16-bit frames become 8-bit BGR, so every stage sees one layout."""
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(1.0, float(image.max())))
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def natural_key(path: Path) -> list[object]:
    """``frame2`` sorts before ``frame10``."""
    return [int(p) if p.isdigit() else p.lower() for p in _DIGITS.split(path.name)]


class Pacer:
    """Holds reads to ``fps`` per second; 0 means as fast as possible. After a stall it
    restarts the schedule rather than bursting to catch up."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps if fps > 0 else 0.0
        self._next: float | None = None

    def wait(self) -> None:
        if not self.period:
            return
        now = time.monotonic()
        if self._next is None or now - self._next > self.period:
            self._next = now
        elif self._next > now:
            time.sleep(self._next - now)
        self._next += self.period

    def reset(self) -> None:
        self._next = None


# --- files and folders ----------------------------------------------------------------------


class VideoFileSource:
    """A video file through OpenCV (FFMPEG): once, or looping by reopening at the end."""

    OPTIONS: ClassVar[dict[str, type]] = {"loop": bool, "fps": float}

    def __init__(self, url: str, path: Path, options: dict[str, str]) -> None:
        opts = take_options(url, options, self.OPTIONS)
        self.url = url
        self.path = path
        self.loop = bool(opts.get("loop", False))
        self._pacer = Pacer(float(opts.get("fps", 0.0)))  # type: ignore[arg-type]
        self._cap: cv2.VideoCapture | None = None
        self._done = False
        self._pass_frames = 0

    def open(self) -> None:
        self._pacer.reset()
        self._reopen()

    def _reopen(self) -> None:
        self.close()
        if not self.path.is_file():
            raise CameraError(f"video file not found: {self.path}")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"cannot read {self.path}: not a video OpenCV/FFMPEG can decode")
        self._cap, self._done, self._pass_frames = cap, False, 0

    def read(self) -> BGRImage | None:
        if self._done:
            return None
        if self._cap is None:
            raise CameraError(f"video file {self.path} is not open")
        self._pacer.wait()
        ok, image = self._cap.read()
        if not ok and self.loop:
            if self._pass_frames == 0:  # looping an empty file would spin forever
                raise CameraError(f"video file {self.path} has no readable frames")
            self._reopen()  # rewinding by seeking is unreliable across codecs; reopening is not
            assert self._cap is not None
            ok, image = self._cap.read()
        if not ok:
            if self._pass_frames == 0:
                raise CameraError(f"video file {self.path} has no readable frames")
            self._done = True
            return None
        self._pass_frames += 1
        return as_bgr(image)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class FolderSource:
    """Images from a folder in natural name order (or one image file). Unreadable images are
    skipped with one warning each; the folder is listed again at each loop, so files dropped
    in later are picked up."""

    OPTIONS: ClassVar[dict[str, type]] = {"loop": bool, "fps": float}

    def __init__(self, url: str, path: Path, options: dict[str, str], *, single: bool = False):
        opts = take_options(url, options, self.OPTIONS)
        self.url = url
        self.path = path
        self.single = single
        self.loop = bool(opts.get("loop", False))
        self._pacer = Pacer(float(opts.get("fps", 0.0)))  # type: ignore[arg-type]
        self._files: list[Path] = []
        self._pos = 0
        self._good = 0
        self._open = False
        self._warned: set[Path] = set()

    def _list(self) -> list[Path]:
        if self.single:
            if not self.path.is_file():
                raise CameraError(f"image file not found: {self.path}")
            return [self.path]
        if not self.path.is_dir():
            raise CameraError(f"image folder not found: {self.path}")
        files = [
            p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        ]
        if not files:
            kinds = ", ".join(sorted(IMAGE_EXTENSIONS))
            raise CameraError(f"no images in folder {self.path} (looked for {kinds})")
        return sorted(files, key=natural_key)

    def open(self) -> None:
        self._files = self._list()
        self._pos, self._good, self._open = 0, 0, True
        self._pacer.reset()

    def read(self) -> BGRImage | None:
        if not self._open:
            raise CameraError(f"image source {self.path} is not open")
        self._pacer.wait()
        while True:
            if self._pos >= len(self._files):
                if self._good == 0:  # a whole pass of unreadable files: never spin on them
                    raise CameraError(f"no readable images in {self.path}")
                if not self.loop:
                    return None
                self._files, self._pos, self._good = self._list(), 0, 0
            path = self._files[self._pos]
            self._pos += 1
            image = self._decode(path)
            if image is not None:
                self._good += 1
                return image

    def _decode(self, path: Path) -> BGRImage | None:
        try:
            data = np.fromfile(str(path), np.uint8)  # fromfile + imdecode: any path, no stderr
            image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
        except (OSError, cv2.error) as err:
            image, why = None, str(err)
        else:
            why = "empty file" if not data.size else "not a decodable image"
        if image is None:
            if path not in self._warned:
                self._warned.add(path)
                logger.warning("camera %s: skipping %s: %s", self.url, path.name, why)
            return None
        return as_bgr(image)

    def close(self) -> None:
        self._open = False


def _path_factory(url: str, scheme: str) -> FrameSource:
    raw, options = split_url(url, scheme)
    if not raw:
        raise CameraError(f"camera URL {url!r} has no path")
    path = Path(raw).expanduser()
    if scheme == "folder" or path.is_dir():
        return FolderSource(url, path, options)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return FolderSource(url, path, options, single=True)
    return VideoFileSource(url, path, options)


# --- devices ------------------------------------------------------------------------------


class V4L2Source:
    """A local camera through OpenCV's V4L2 backend. ``buffersize=1`` by default so the
    driver does not queue stale frames behind the one we want."""

    OPTIONS: ClassVar[dict[str, type]] = {
        "width": int,
        "height": int,
        "fps": float,
        "fourcc": str,
        "buffersize": int,
    }

    def __init__(self, url: str) -> None:
        raw, options = split_url(url, "v4l2")
        self.url = url
        self.opts = take_options(url, options, self.OPTIONS)
        fourcc = str(self.opts.get("fourcc", ""))
        if fourcc and len(fourcc) != 4:
            raise CameraError(f"fourcc must be 4 characters (e.g. MJPG, YUYV); got {fourcc!r}")
        raw = raw.strip()
        if raw.isdigit():
            self.index: int | None = int(raw)
            self.device = f"/dev/video{self.index}"
        elif raw.startswith("/"):
            self.index, self.device = None, raw
        else:
            raise CameraError(
                f"bad device in camera URL {url!r}: use v4l2:0 (an index) or v4l2:/dev/video0"
            )
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        self.close()
        dev = Path(self.device)
        if not dev.exists():
            raise CameraError(
                f"no camera at {self.device} (unplugged? `ls /dev/video*` lists them)"
            )
        if not os.access(dev, os.R_OK | os.W_OK):
            raise CameraError(
                f"no permission to open {self.device} (add the kiosk user to the 'video' group)"
            )
        target: int | str = self.index if self.index is not None else self.device
        cap = cv2.VideoCapture(target, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"cannot open camera {self.device} (busy, or not a capture device)")
        o = self.opts
        if o.get("fourcc"):
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*str(o["fourcc"])))
        props = {
            "width": cv2.CAP_PROP_FRAME_WIDTH,
            "height": cv2.CAP_PROP_FRAME_HEIGHT,
            "fps": cv2.CAP_PROP_FPS,
        }
        for key, prop in props.items():
            if key in o:
                cap.set(prop, float(o[key]))  # type: ignore[arg-type]
        cap.set(cv2.CAP_PROP_BUFFERSIZE, float(o.get("buffersize", 1)))  # type: ignore[arg-type]
        self._cap = cap

    def read(self) -> BGRImage | None:
        if self._cap is None:
            raise CameraError(f"camera {self.device} is not open")
        ok, image = self._cap.read()
        if not ok or image is None:
            raise CameraError(f"camera {self.device} stopped delivering frames (unplugged?)")
        return as_bgr(image)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


# --- network streams ----------------------------------------------------------------------


class StreamSource:
    """RTSP or HTTP(S) (MJPEG, HLS, ...) through OpenCV's FFMPEG backend, with open and read
    timeouts so a camera that stalls is noticed instead of hanging the capture thread."""

    def __init__(
        self,
        url: str,
        *,
        open_timeout_s: float = STREAM_OPEN_TIMEOUT_S,
        read_timeout_s: float = STREAM_READ_TIMEOUT_S,
    ) -> None:
        parts = urlsplit(url)
        if not parts.hostname:
            raise CameraError(f"camera URL {redact_url(url)!r} has no host")
        try:
            port = parts.port
        except ValueError as err:
            raise CameraError(f"bad port in camera URL {redact_url(url)!r}") from err
        self.url = url
        self.scheme = parts.scheme.lower()
        self.host = parts.hostname
        self.port = port or {"http": 80, "https": 443, "rtsp": 554}.get(self.scheme, 80)
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        self.close()
        shown = redact_url(self.url)
        if not self._behind_proxy():
            # A plain TCP check first: a clear "connection refused" instead of FFMPEG noise.
            try:
                with socket.create_connection((self.host, self.port), self.open_timeout_s):
                    pass
            except OSError as err:
                why = err.strerror or str(err) or type(err).__name__
                raise CameraError(f"cannot reach {self.host}:{self.port}: {why}") from err
        if self.scheme == "rtsp":
            # RTSP over UDP loses packets on a busy LAN; TCP unless the site chose otherwise.
            os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_timeout_s * 1000),
        ]  # fmt: skip
        cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            raise CameraError(
                f"{shown}: reached the host but no video stream opened "
                "(wrong path or credentials, or a format FFMPEG cannot read)"
            )
        self._cap = cap

    def _behind_proxy(self) -> bool:
        if self.scheme not in ("http", "https"):
            return False
        names = (f"{self.scheme}_proxy", f"{self.scheme.upper()}_PROXY")
        return any(os.environ.get(n) for n in names)

    def read(self) -> BGRImage | None:
        if self._cap is None:
            raise CameraError(f"stream {redact_url(self.url)} is not open")
        ok, image = self._cap.read()
        if not ok or image is None:
            raise CameraError(
                f"stream {redact_url(self.url)} ended or stalled "
                f"(no frame within {self.read_timeout_s:g} s)"
            )
        return as_bgr(image)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


register_source("v4l2", V4L2Source)
register_source("file", lambda url: _path_factory(url, "file"))
register_source("folder", lambda url: _path_factory(url, "folder"))
register_source("path", lambda url: _path_factory(url, ""))  # a bare path or bare index
for _scheme in ("rtsp", "rtsps", "http", "https"):
    register_source(_scheme, StreamSource)
