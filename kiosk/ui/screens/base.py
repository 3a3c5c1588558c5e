"""What every screen shares: the background, ``show(state, app)``, kv loading."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kivy.lang import Builder
from kivy.uix.screenmanager import Screen

from kiosk.ui.viewmodel import ShopperState

if TYPE_CHECKING:
    from kiosk.ui.app import ShopperApp

HERE = Path(__file__).resolve().parent

Builder.load_string(
    """
<BaseScreen>:
    canvas.before:
        Color:
            rgba: app.c_bg
        Rectangle:
            pos: self.pos
            size: self.size
""",
    filename="opensco-screen.kv",
)


def load_kv(name: str) -> None:
    """Load ``<name>.kv`` once per process (Kivy would apply a twice-loaded rule twice)."""
    path = str(HERE / f"{name}.kv")
    if path not in Builder.files:
        Builder.load_file(path)


class BaseScreen(Screen):
    def show(self, state: ShopperState, app: ShopperApp) -> None:
        """Copy what this screen shows from the state; called on the UI thread only."""

    def widget(self, wid: str) -> Any:
        return self.ids[wid]
