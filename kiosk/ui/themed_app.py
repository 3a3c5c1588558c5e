"""The theme properties every OpenSCO Kivy app exposes to its kv rules (``app.c_bg``,
``app.fs_m``, ...); ``kiosk.ui.theme.apply`` fills them. One declaration for the shopper,
attendant, review and calibration apps."""

from __future__ import annotations

import os

os.environ.setdefault("KIVY_NO_ARGS", "1")  # before Kivy: it must never read sco's argv

from kivy.app import App
from kivy.properties import ColorProperty, NumericProperty


class ThemedApp(App):
    c_bg = ColorProperty()
    c_panel = ColorProperty()
    c_fg = ColorProperty()
    c_muted = ColorProperty()
    c_accent = ColorProperty()
    c_accent_fg = ColorProperty()
    c_button = ColorProperty()
    c_button_fg = ColorProperty()
    c_warn = ColorProperty()
    c_warn_fg = ColorProperty()
    c_danger = ColorProperty()
    c_danger_fg = ColorProperty()
    c_ok = ColorProperty()
    c_ok_fg = ColorProperty()
    fs_s = NumericProperty(16)
    fs_m = NumericProperty(22)
    fs_l = NumericProperty(30)
    fs_xl = NumericProperty(40)
    fs_xxl = NumericProperty(60)
    touch_h = NumericProperty(64)
    pad = NumericProperty(16)
    gap = NumericProperty(10)
