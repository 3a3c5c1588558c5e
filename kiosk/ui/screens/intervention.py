"""Intervention: blocking until an attendant resolves it; says why and what to do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.ui.screens.base import BaseScreen
from kiosk.ui.strings import reason_text
from kiosk.ui.viewmodel import ShopperState

if TYPE_CHECKING:
    from kiosk.ui.app import ShopperApp


class InterventionScreen(BaseScreen):
    def show(self, state: ShopperState, app: ShopperApp) -> None:
        reason = state.intervention.reason if state.intervention else ""
        self.ids.reason.text = reason_text(reason, state.language)
