"""The camera's live view with the zones drawn over it, editable by touch: put a finger on a
corner of a zone and drag it. The frame is letterboxed (its aspect kept), so a vertex's
normalised position is measured against the picture, not the widget.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from kivy.core.text import Label as CoreLabel
from kivy.graphics import Color, Ellipse, Line, Rectangle
from kivy.graphics.texture import Texture
from kivy.metrics import dp
from kivy.properties import NumericProperty, ObjectProperty, StringProperty
from kivy.uix.widget import Widget

from kiosk.ui.theme import FONT_NAME

ZONE_COLOURS = {
    "scan": (0.2, 0.6, 1.0),
    "bagging": (0.2, 0.85, 0.3),
    "produce_scale": (1.0, 0.6, 0.1),
    "exit": (0.95, 0.25, 0.25),
}
OTHER_COLOUR = (0.8, 0.4, 1.0)
GRAB_RADIUS_DP = 36  # a fingertip, generous: vertices are far apart on a lane's layout


class ZoneEditor(Widget):
    """Paints ``frame`` (BGR) with ``doc``'s polygons; drags vertices on touch."""

    doc = ObjectProperty(None, allownone=True)
    notice = StringProperty("")  # why the last move was refused, else ""
    moves = NumericProperty(0)  # vertices moved (the screen's Save button binds to it)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.frame_size: tuple[int, int] = (640, 480)
        self._texture: Texture | None = None
        self._labels: dict[str, Any] = {}
        self._grabbed: tuple[str, int] | None = None
        self.frames_shown = 0
        self.bind(pos=self.redraw, size=self.redraw, doc=self.redraw)

    # --- geometry ---------------------------------------------------------------------

    def image_rect(self) -> tuple[float, float, float, float]:
        """(x, y, w, h) of the picture inside the widget, aspect kept, centred."""
        fw, fh = self.frame_size
        scale = min(self.width / fw, self.height / fh) if fw and fh else 1.0
        w, h = fw * scale, fh * scale
        return self.x + (self.width - w) / 2, self.y + (self.height - h) / 2, w, h

    def to_norm(self, wx: float, wy: float) -> tuple[float, float]:
        """Widget coordinates -> normalised frame coordinates (y down, as zones store)."""
        x, y, w, h = self.image_rect()
        return (wx - x) / w, 1.0 - (wy - y) / h

    def to_widget(self, nx: float, ny: float) -> tuple[float, float]:
        x, y, w, h = self.image_rect()
        return x + nx * w, y + (1.0 - ny) * h

    # --- the picture ------------------------------------------------------------------

    def show_frame(self, bgr: np.ndarray) -> None:
        rgb = np.ascontiguousarray(np.flipud(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
        h, w = rgb.shape[:2]
        if self._texture is None or self._texture.size != (w, h):
            self._texture = Texture.create(size=(w, h), colorfmt="rgb")
        self._texture.blit_buffer(rgb.tobytes(), colorfmt="rgb", bufferfmt="ubyte")
        self.frame_size = (w, h)
        self.frames_shown += 1
        self.redraw()

    def redraw(self, *_args: Any) -> None:
        self.canvas.clear()
        x, y, w, h = self.image_rect()
        with self.canvas:
            Color(0.12, 0.12, 0.14, 1)
            Rectangle(pos=(x, y), size=(w, h))
            if self._texture is not None:
                Color(1, 1, 1, 1)
                Rectangle(texture=self._texture, pos=(x, y), size=(w, h))
            if self.doc is None:
                return
            r = dp(9)
            for name, pts in self.doc.zones.items():
                rgb = ZONE_COLOURS.get(name, OTHER_COLOUR)
                flat = [c for p in pts for c in self.to_widget(*p)]
                Color(*rgb, 1)
                Line(points=flat, close=True, width=dp(2))
                for i in range(0, len(flat), 2):
                    grabbed = self._grabbed is not None and self._grabbed[0] == name
                    Color(*(rgb if not grabbed else (1, 1, 1)), 1)
                    Ellipse(pos=(flat[i] - r, flat[i + 1] - r), size=(2 * r, 2 * r))
                label = self._label(name)
                lx = min(flat[0::2]) + dp(6)
                ly = max(flat[1::2]) - label.height - dp(6)
                Color(0, 0, 0, 0.55)
                Rectangle(
                    pos=(lx - dp(3), ly - dp(2)), size=(label.width + dp(6), label.height + dp(4))
                )
                Color(*rgb, 1)
                Rectangle(texture=label, pos=(lx, ly), size=label.size)

    def _label(self, name: str) -> Any:
        if name not in self._labels:
            core = CoreLabel(text=name, font_size=dp(16), font_name=FONT_NAME, bold=True)
            core.refresh()
            self._labels[name] = core.texture
        return self._labels[name]

    # --- touch ------------------------------------------------------------------------

    def on_touch_down(self, touch: Any) -> bool:
        if self.doc is None or self.disabled or not self.collide_point(*touch.pos):
            return super().on_touch_down(touch)
        _x, _y, w, h = self.image_rect()
        nx, ny = self.to_norm(*touch.pos)
        hit = self.doc.nearest_vertex(nx, ny, dp(GRAB_RADIUS_DP) / h, aspect=w / h)
        if hit is None:
            return super().on_touch_down(touch)
        self._grabbed = hit
        touch.grab(self)
        self.redraw()
        return True

    def on_touch_move(self, touch: Any) -> bool:
        if touch.grab_current is not self or self._grabbed is None:
            return super().on_touch_move(touch)
        zone, index = self._grabbed
        why = self.doc.move_vertex(zone, index, *self.to_norm(*touch.pos))
        self.notice = why or ""
        self.redraw()
        return True

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return super().on_touch_up(touch)
        touch.ungrab(self)
        if self._grabbed is not None:
            self.moves += 1
        self._grabbed = None
        self.redraw()
        return True
