"""``synthetic:`` camera URLs: a scripted shopper rendered live by :mod:`models.scenes`.

    synthetic:?script=basket&seed=1&loop=1&fps=30
    synthetic:nonscan                              (the script name may stand as the path)

Options: ``script`` (a built-in name such as basket, nonscan, switch, produce, remove, hands,
empty, or actions like ``scan(DRK-001);skip_scan(SNK-004)``), ``seed`` (0), ``loop`` (0: end
after the script; 1: play it again, identically), ``fps`` (0: as fast as frames render; N:
paced to N per second), ``photos`` (1: use the grocery photos when present), ``decode`` (1:
check with zxing-cpp which barcodes are readable in each frame, for the ground truth).

The source is for the demo, tests and benchmarks: after each ``read`` its ``truth`` holds that
frame's ground truth (boxes, track ids, zones, decodable barcodes) and ``index`` its number.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from kiosk.errors import CameraError, KioskError
from vision.types import BGRImage

SCHEME = "synthetic"


class SyntheticSource:
    """A FrameSource playing a shopper script; see the module docstring for the URL."""

    OPTIONS: ClassVar[dict[str, type]] = {
        "script": str,
        "seed": int,
        "loop": bool,
        "fps": float,
        "photos": bool,
        "decode": bool,
    }

    def __init__(self, url: str) -> None:
        from models.scenes.script import parse_script
        from vision.sources import Pacer, split_url, take_options

        path, options = split_url(url, SCHEME)
        opts = take_options(url, options, self.OPTIONS)
        script_text = str(opts.get("script") or path.strip() or "basket")
        try:
            self.script = parse_script(script_text)
        except KioskError as err:
            raise CameraError(f"bad script in camera URL {url!r}: {err}") from err
        self.url = url
        self.seed = int(opts.get("seed", 0))  # type: ignore[call-overload]
        self.loop = bool(opts.get("loop", False))
        self.fps = float(opts.get("fps", 0.0))  # type: ignore[arg-type]
        self.photos = bool(opts.get("photos", True))
        self.decode = bool(opts.get("decode", True))
        self._pacer = Pacer(self.fps)
        self._frames: Iterator[tuple[BGRImage, object]] | None = None
        self.truth: object | None = None  # models.scenes.video.FrameTruth of the last frame
        self.index = -1  # frame number within the current pass
        self.passes = 0  # completed plays of the script

    def _start(self) -> None:
        from models.scenes.video import iter_scenario_frames

        self._frames = iter_scenario_frames(
            self.script,
            self.seed,
            fps=round(self.fps) or 30,
            with_photos=self.photos,
            check_decode=self.decode,
        )
        self.index = -1

    def open(self) -> None:
        self._pacer.reset()
        try:
            self._start()
        except KioskError as err:
            raise CameraError(f"synthetic source {self.url!r}: {err}") from err

    def read(self) -> BGRImage | None:
        if self._frames is None:
            raise CameraError(f"synthetic source {self.url!r} is not open")
        self._pacer.wait()
        item = next(self._frames, None)
        if item is None:
            self.passes += 1
            if not self.loop:
                self.truth = None
                return None
            self._start()
            item = next(self._frames, None)
            if item is None:
                raise CameraError(f"synthetic script in {self.url!r} renders no frames")
        image, self.truth = item
        self.index += 1
        return image

    def close(self) -> None:
        self._frames = None


def _factory(url: str) -> SyntheticSource:
    return SyntheticSource(url)


try:
    from vision.camera import register_source
except ImportError:  # the camera registry is optional for rendering-only installs
    pass
else:
    register_source(SCHEME, _factory)
