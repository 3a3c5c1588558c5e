"""Out of service (or locked by an attendant): wins over every other screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.ui.screens.base import BaseScreen
from kiosk.ui.strings import text
from kiosk.ui.viewmodel import ShopperState

if TYPE_CHECKING:
    from kiosk.ui.app import ShopperApp


class OutOfServiceScreen(BaseScreen):
    def show(self, state: ShopperState, app: ShopperApp) -> None:
        lang = state.language
        if state.out_of_service:
            self.ids.title.text = text("out_of_service", lang)
            self.ids.reason.text = state.out_of_service  # small print, for staff
        else:  # locked by an attendant
            self.ids.title.text = text("lane_closed", lang)
            self.ids.reason.text = ""
        self.ids.reason.hidden = not self.ids.reason.text
