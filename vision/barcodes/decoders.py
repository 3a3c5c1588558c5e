"""One decoder port and its adapters: zxing-cpp, pyzbar (zbar) and OpenCV's barcode detector.

Adapters only translate: each returns :class:`RawCode` values in the coordinates of the image
it was given, with the symbology already mapped to our lowercase names. Nothing here decides
whether a read is valid (``normalise``) or which decoder runs when (``cascade``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import cv2
import numpy as np
import numpy.typing as npt

GrayImage = npt.NDArray[np.uint8]  # H x W, one channel
Points = tuple[tuple[float, float], ...]  # polygon corners, pixels of the image decoded


@dataclass(frozen=True)
class RawCode:
    """What a decoder says it read, before validation."""

    text: str  # GS1 content with FNC1 separators as \x1d
    symbology: str  # our name: ean13, upca, ..., code128, gs1_128, databar, qr, datamatrix
    points: Points  # corners (or a polygon) in the decoded image's pixels; may be empty
    decoder: str  # "zxing", "zbar", "opencv"
    gs1: bool = False  # the symbol itself announced GS1 content (FNC1 first / AIM id)


@runtime_checkable
class BarcodeDecoder(Protocol):
    name: str

    def decode(self, gray: GrayImage) -> list[RawCode]: ...


def as_gray(image: npt.NDArray[np.uint8]) -> GrayImage:
    """A contiguous one-channel uint8 view of a BGR or gray image; anything else is an error."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError("an image must be a uint8 numpy array")
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)  # type: ignore[return-value]
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim != 2:
        raise ValueError(f"expected a gray (H x W) or BGR (H x W x 3) image, got {image.shape}")
    return np.ascontiguousarray(image)


# --------------------------------------------------------------------------------------------
# zxing-cpp


class ZxingDecoder:
    """zxing-cpp: fastest of the three, and the only one with DataBar Limited and DataMatrix.

    ``try_rotate`` adds its 90°/270° scans (cheap, and upright-or-sideways is how most items
    arrive); ``try_downscale`` lets it find big codes in large photos.
    """

    name = "zxing"

    def __init__(
        self,
        *,
        try_rotate: bool = True,
        try_downscale: bool = True,
        try_invert: bool = False,
        binarizer: str = "local",
    ) -> None:
        import zxingcpp

        self._zx = zxingcpp
        f = zxingcpp.BarcodeFormat
        self._formats = zxingcpp.BarcodeFormats(
            (
                f.EAN13,
                f.EAN8,
                f.UPCA,
                f.UPCE,
                f.Code128,
                f.DataBar,
                f.DataBarExp,
                f.DataBarLtd,
                f.QRCode,
                f.DataMatrix,
            )
        )
        self._names = {
            f.EAN13: "ean13",
            f.EAN8: "ean8",
            f.UPCA: "upca",
            f.UPCE: "upce",
            f.Code128: "code128",
            f.DataBarLtd: "databar_ltd",
            f.QRCode: "qr",
            f.DataMatrix: "datamatrix",
        }
        binarizers = {
            "local": zxingcpp.Binarizer.LocalAverage,
            "global": zxingcpp.Binarizer.GlobalHistogram,
            "fixed": zxingcpp.Binarizer.FixedThreshold,
            "bool": zxingcpp.Binarizer.BoolCast,
        }
        self._kwargs: dict[str, Any] = {
            "formats": self._formats,
            "try_rotate": try_rotate,
            "try_downscale": try_downscale,
            "try_invert": try_invert,
            "text_mode": zxingcpp.TextMode.Plain,  # GS1 with \x1d, not "(01)..." HRI
            "binarizer": binarizers[binarizer],
        }

    def _symbology(self, barcode: object) -> str:
        fmt = barcode.format  # type: ignore[attr-defined]
        name = self._names.get(fmt)
        if name is not None:
            return name
        label = str(fmt).lower()
        if label.startswith("databar"):
            return "databar_exp" if "exp" in label else "databar"
        return label.replace(" ", "").replace("-", "")

    def decode(self, gray: GrayImage) -> list[RawCode]:
        out = []
        for b in self._zx.read_barcodes(gray, **self._kwargs):
            sym = self._symbology(b)
            aim = b.symbology_identifier
            gs1 = aim in ("]C1", "]e0", "]d2", "]Q3") or sym.startswith("databar")
            if sym == "code128" and gs1:
                sym = "gs1_128"
            p = b.position
            pts = tuple(
                (float(c.x), float(c.y))
                for c in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
            )
            out.append(RawCode(b.text, sym, pts, self.name, gs1))
        return out


# --------------------------------------------------------------------------------------------
# pyzbar


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """zbar prints 'decoder/databar.c: WARNING' lines on fd 2 for some frames; keep logs clean."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


_STDERR_LOCK = threading.Lock()


class ZbarDecoder:
    """pyzbar over the system libzbar: slower, but the most tolerant of blur and fractional
    module sizes (research/vision.md §1.3), so it is the cascade's first fallback.

    zbar reads UPC-A as a 13-digit EAN-13 with a leading 0, and GS1-128 as CODE128 without the
    leading FNC1 marker: normalisation recognises GS1 content by parsing it.
    """

    name = "zbar"

    def __init__(self, *, quiet: bool = False) -> None:
        """``quiet`` silences zbar's stderr assertion lines by pointing fd 2 at /dev/null while
        it runs: right for a command-line tool, wrong in a threaded service (it would hide the
        other threads' stderr for those milliseconds), hence off by default."""
        from pyzbar import pyzbar  # type: ignore[import-untyped]

        self._pz = pyzbar
        s = pyzbar.ZBarSymbol
        self._symbols = [
            s.EAN13,
            s.EAN8,
            s.UPCA,
            s.UPCE,
            s.CODE128,
            s.DATABAR,
            s.DATABAR_EXP,
            s.QRCODE,
        ]
        self._names = {
            "EAN13": "ean13",
            "EAN8": "ean8",
            "UPCA": "upca",
            "UPCE": "upce",
            "CODE128": "code128",
            "DATABAR": "databar",
            "DATABAR_EXP": "databar_exp",
            "QRCODE": "qr",
        }
        self._quiet = quiet

    def decode(self, gray: GrayImage) -> list[RawCode]:
        gray = np.ascontiguousarray(gray)
        if self._quiet:
            with _STDERR_LOCK, _quiet_stderr():
                symbols = self._pz.decode(gray, symbols=self._symbols)
        else:
            symbols = self._pz.decode(gray, symbols=self._symbols)
        out = []
        for s in symbols:
            try:
                text = s.data.decode("utf-8")
            except UnicodeDecodeError:
                text = s.data.decode("latin-1")
            sym = self._names.get(s.type, s.type.lower())
            pts = tuple((float(p.x), float(p.y)) for p in s.polygon)
            out.append(RawCode(text, sym, pts, self.name, sym.startswith("databar")))
        return out


# --------------------------------------------------------------------------------------------
# OpenCV


class OpenCVDecoder:
    """``cv2.barcode.BarcodeDetector``: EAN/UPC only, but rotation invariant. Kept for the
    benchmark comparison; the cascade does not use it (no Code128, DataBar, 2D codes)."""

    name = "opencv"

    _NAMES: ClassVar[dict[str, str]] = {
        "EAN_13": "ean13",
        "EAN_8": "ean8",
        "UPC_A": "upca",
        "UPC_E": "upce",
    }

    def __init__(self) -> None:
        self._det = cv2.barcode.BarcodeDetector()

    def decode(self, gray: GrayImage) -> list[RawCode]:
        ok, texts, types, corners = self._det.detectAndDecodeWithType(gray)
        if not ok:
            return []
        # Corners may be missing or not one set per code: then the hits have no box.
        per_code: list[Any] = list(corners) if corners is not None else []
        if len(per_code) != len(texts):
            per_code = [None] * len(texts)
        out = []
        for text, kind, pts in zip(texts, types, per_code, strict=True):
            if not text:
                continue
            points: Points = () if pts is None else tuple((float(x), float(y)) for x, y in pts)
            out.append(RawCode(text, self._NAMES.get(kind, kind.lower()), points, self.name))
        return out
