"""Live camera preview: polls a non-blocking source and paints frame + overlay."""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np
from kivy.graphics.texture import Texture
from kivy.properties import BooleanProperty
from kivy.uix.image import Image

from kiosk.ui.widgets.overlay import PreviewSource, draw_overlay

logger = logging.getLogger(__name__)


class CameraPreview(Image):
    hidden = BooleanProperty(False)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.source_fn: PreviewSource | None = None
        self.frames_shown = 0
        self._failed = False

    def refresh(self) -> bool:
        """Draw the source's latest frame; False when there was none. A failing source is
        logged once and shows nothing: the preview must never take the screen down."""
        if self.source_fn is None or self.hidden:
            return False
        try:
            frame = self.source_fn()
            if frame is None:
                return False
            bgr = draw_overlay(frame)
        except Exception:
            if not self._failed:
                logger.exception("camera preview source failed")
                self._failed = True
            return False
        self._failed = False
        rgb = np.ascontiguousarray(np.flipud(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
        h, w = rgb.shape[:2]
        tex: Any = getattr(self, "texture", None)
        if tex is None or tex.size != (w, h):
            tex = Texture.create(size=(w, h), colorfmt="rgb")
        tex.blit_buffer(rgb.tobytes(), colorfmt="rgb", bufferfmt="ubyte")
        self.texture = tex
        self.canvas.ask_update()
        self.frames_shown += 1
        return True
