"""Real barcode symbols for printed packaging, made by zxing-cpp's writer.

The symbol is generated once per code at one pixel per module and scaled at draw time, so a
frame can show it at any size; what a decoder reads back is exactly the catalog payload.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

from kiosk.errors import KioskError

Gray = npt.NDArray[np.uint8]


@functools.lru_cache(maxsize=256)
def symbol(code: str, fmt: str) -> Gray:
    """The symbol with quiet zones and human-readable digits, one pixel per module."""
    try:
        bc = zxingcpp.create_barcode(code, getattr(zxingcpp.BarcodeFormat, fmt))
        img = np.asarray(bc.to_image(scale=1, add_quiet_zones=True, add_hrt=True), np.uint8)
    except (AttributeError, RuntimeError, ValueError, TypeError) as exc:
        raise KioskError(f"cannot make a {fmt} barcode for {code!r}: {exc}") from exc
    img.setflags(write=False)
    return img


def symbol_modules(code: str, fmt: str) -> int:
    """Width of the symbol in modules, quiet zones included."""
    return int(symbol(code, fmt).shape[1])


def draw_symbol(code: str, fmt: str, ppm: float, height_ratio: float = 0.55) -> Gray:
    """The symbol at ``ppm`` pixels per module, bars ``height_ratio`` of its width tall."""
    base = symbol(code, fmt)
    w = max(8, round(base.shape[1] * ppm))
    h = max(6, round(w * height_ratio))
    # Print at a whole number of pixels per module, then average down, as a camera would see
    # a sharp print; plain linear resizing at fractional scales smears bars and fails decoders.
    k = max(1, int(np.ceil(ppm)))
    sharp = cv2.resize(base, (base.shape[1] * k, h), interpolation=cv2.INTER_NEAREST)
    if k * base.shape[1] == w:
        return sharp
    return cv2.resize(sharp, (w, h), interpolation=cv2.INTER_AREA)


def read_codes(image: npt.NDArray[np.uint8]) -> list[str]:
    """Payloads zxing-cpp decodes in an image (a test and ground-truth helper)."""
    return [r.text for r in zxingcpp.read_barcodes(image) if r.valid]
