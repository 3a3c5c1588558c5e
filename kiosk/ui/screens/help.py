"""Help: the attendant has been called; the shopper can go back to scanning."""

from __future__ import annotations

from kiosk.ui.screens.base import BaseScreen


class HelpScreen(BaseScreen):
    pass
