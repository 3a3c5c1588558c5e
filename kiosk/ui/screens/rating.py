"""Exit survey: one to five stars, one tap sends; an optional comment typed first goes
with the score (cleaned and bounded in the view-model and the core)."""

from __future__ import annotations

from kiosk.core.survey import COMMENT_MAX_CHARS
from kiosk.ui.screens.base import BaseScreen

STARS = {score: "★" * score for score in range(1, 6)}


class RatingScreen(BaseScreen):
    def on_pre_enter(self, *args: object) -> None:
        self.ids.comment.text = ""  # never show the last shopper's words

    def limit_comment(self) -> None:
        """Stop typing at the limit (the core would cut it there anyway)."""
        box = self.ids.comment
        if len(box.text) > COMMENT_MAX_CHARS:
            box.text = box.text[:COMMENT_MAX_CHARS]
