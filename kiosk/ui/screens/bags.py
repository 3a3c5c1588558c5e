"""Own-bag question: a bag put down now is a bag, not an unexpected item."""

from __future__ import annotations

from kiosk.ui.screens.base import BaseScreen


class BagsScreen(BaseScreen):
    pass
