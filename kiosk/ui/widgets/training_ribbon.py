"""The TRAINING ribbon: a bar above every shopper screen while the lane is in training mode
(docs/training.md), so nobody mistakes a practice sale for a real one. Zero height and
invisible otherwise, so a normal lane's screens are laid out exactly as without it."""

from __future__ import annotations

from kivy.lang import Builder

from kiosk.ui.widgets.base import TLabel

Builder.load_string(
    """
<TrainingRibbon>:
    hidden: not app.training
    text: app.tr('training_banner', app.lang)
    bold: True
    font_size: app.fs_m
    halign: 'center'
    color: app.c_warn_fg
    padding: app.gap, app.gap / 2
    height: 0 if self.hidden else max(self.texture_size[1], self.font_size * 1.6)
    canvas.before:
        Color:
            rgba: app.c_warn if not self.hidden else (0, 0, 0, 0)
        Rectangle:
            pos: self.pos
            size: self.size
""",
    filename="opensco-training-ribbon.kv",
)


class TrainingRibbon(TLabel):
    """Shown while ``app.training`` (the lane's training flag, from its ShopperState)."""
