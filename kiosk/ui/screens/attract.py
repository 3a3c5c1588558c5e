"""Attract loop: any touch wakes the lane (a scan starts a sale without it)."""

from __future__ import annotations

from typing import Any

from kivy.app import App

from kiosk.ui.screens.base import BaseScreen


class AttractScreen(BaseScreen):
    def on_touch_down(self, touch: Any) -> bool:
        if super().on_touch_down(touch):  # Help or Call attendant took it
            return True
        if self.collide_point(*touch.pos):
            App.get_running_app().vm.touch_start()
            return True
        return False
