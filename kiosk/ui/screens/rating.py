"""One-tap rating: five buttons, one to five stars; a tap is the whole survey."""

from __future__ import annotations

from kiosk.ui.screens.base import BaseScreen

STARS = {score: "★" * score for score in range(1, 6)}


class RatingScreen(BaseScreen):
    pass
