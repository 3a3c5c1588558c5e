"""The e-receipt QR code: OpenCV's encoder, scaled with hard edges into a Kivy texture."""

from __future__ import annotations

import cv2
import numpy as np
from kivy.graphics.texture import Texture
from kivy.uix.image import Image


def qr_pixels(text: str, module_px: int = 8) -> np.ndarray:
    """RGB pixels of the QR code for ``text`` (quiet zone included), ``module_px`` per
    module; raises ValueError for empty text."""
    if not text:
        raise ValueError("no text to encode in a QR code")
    modules = cv2.QRCodeEncoder.create().encode(text)
    if modules is None or modules.size == 0:
        raise ValueError(f"text does not fit in a QR code: {len(text)} characters")
    big = np.kron(modules, np.ones((module_px, module_px), np.uint8))
    return np.ascontiguousarray(np.repeat(big[:, :, None], 3, axis=2))


class QrImage(Image):
    """Shows ``set_text``'s QR code; nearest-neighbour scaling keeps modules square."""

    text = ""

    def set_text(self, text: str | None) -> None:
        if text == self.text:
            return
        self.text = text or ""
        if not text:
            self.texture = None
            return
        rgb = np.flipud(qr_pixels(text))  # textures start at the bottom row
        tex = Texture.create(size=(rgb.shape[1], rgb.shape[0]), colorfmt="rgb")
        tex.mag_filter = "nearest"
        tex.min_filter = "nearest"
        tex.blit_buffer(rgb.tobytes(), colorfmt="rgb", bufferfmt="ubyte")
        self.texture = tex
