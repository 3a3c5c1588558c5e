"""Welcome: choose 中文 / English, then Start (or just scan the first item)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.ui.screens.base import BaseScreen
from kiosk.ui.viewmodel import ShopperState

if TYPE_CHECKING:
    from kiosk.ui.app import ShopperApp


# Accessibility switches name themselves in both languages: a shopper who needs them may
# not be able to read the current one. (Kept here: the shopper strings have no such keys.)
LARGE_TEXT = "大字 / Large text"
HIGH_CONTRAST = "高对比度 / High contrast"


class WelcomeScreen(BaseScreen):
    def show(self, state: ShopperState, app: ShopperApp) -> None:
        self.ids.large_text.role = "ok" if state.large_text else "secondary"
        self.ids.high_contrast.role = "ok" if state.high_contrast else "secondary"
        # The chosen language is the primary button, so the shopper sees what is on.
        self.ids.lang_zh.role = "ok" if state.language == "zh" else "secondary"
        self.ids.lang_en.role = "ok" if state.language == "en" else "secondary"
