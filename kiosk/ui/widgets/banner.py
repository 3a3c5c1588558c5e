"""A coloured strip with one message: nudges (private, non-blocking) and the age check."""

from __future__ import annotations

from kivy.lang import Builder
from kivy.properties import StringProperty

from kiosk.ui.widgets.base import Panel

Builder.load_string(
    """
<Banner>:
    hidden: not self.message
    TLabel:
        id: text
        text: root.message
        font_size: app.fs_l
        halign: 'center'
        color: (app.c_warn_fg, app.c_danger_fg, app.c_ok_fg, app.c_fg)[root.ri]
""",
    filename="opensco-banner.kv",
)


class Banner(Panel):
    message = StringProperty("")

    def show(self, message: str | None, role: str = "warn") -> None:
        self.role = role
        self.message = message or ""
