"""Welcome: choose 中文 / English, then Start (or just scan the first item)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.ui.screens.base import BaseScreen
from kiosk.ui.viewmodel import ShopperState

if TYPE_CHECKING:
    from kiosk.ui.app import ShopperApp


class WelcomeScreen(BaseScreen):
    def show(self, state: ShopperState, app: ShopperApp) -> None:
        # The chosen language is the primary button, so the shopper sees what is on.
        self.ids.lang_zh.role = "ok" if state.language == "zh" else "secondary"
        self.ids.lang_en.role = "ok" if state.language == "en" else "secondary"
