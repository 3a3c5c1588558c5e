"""What every tablet screen shares: the background, ``show(floor, app)`` and ``refresh``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.lang import Builder
from kivy.uix.screenmanager import Screen

if TYPE_CHECKING:
    from kiosk.attendant.app import AttendantApp
    from kiosk.attendant.floor import FloorState

Builder.load_string(
    """
<AttendantScreen>:
    canvas.before:
        Color:
            rgba: app.c_bg
        Rectangle:
            pos: self.pos
            size: self.size
""",
    filename="opensco-attendant-screen.kv",
)


class AttendantScreen(Screen):
    def show(self, floor: FloorState, app: AttendantApp) -> None:
        """Copy what this screen shows from the floor; UI thread only."""

    def refresh(self, now: float) -> None:
        """Waiting times move on each second without a new floor state."""

    def widget(self, wid: str) -> Any:
        return self.ids[wid]
