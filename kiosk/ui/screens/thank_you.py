"""Thank you (and take your bags); the view-model returns to attract after a moment."""

from __future__ import annotations

from kiosk.ui.screens.base import BaseScreen


class ThankYouScreen(BaseScreen):
    pass
