"""A PLU keypad: digits, clear, delete and OK, big enough for a thumb."""

from __future__ import annotations

from typing import Any

from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from kiosk.ui.widgets.base import TouchButton

Builder.load_string(
    """
<Keypad>:
    orientation: 'vertical'
    spacing: app.gap
    size_hint_y: None
    height: self.minimum_height
    TLabel:
        id: display
        text: ('•' * len(root.value) if root.mask else root.value) or root.placeholder
        color: app.c_fg if root.value else app.c_muted
        font_size: app.fs_l if root.value else app.fs_s
        halign: 'center'
    GridLayout:
        id: keygrid
        cols: 3
        spacing: app.gap
        size_hint_y: None
        height: self.minimum_height
""",
    filename="opensco-keypad.kv",
)

KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "C", "0", "OK")


class Keypad(BoxLayout):
    value = StringProperty("")
    placeholder = StringProperty("")
    max_digits = NumericProperty(5)  # PLUs are 4 or 5 digits
    mask = BooleanProperty(False)  # a PIN shows dots

    __events__ = ("on_submit",)

    def __init__(self, **kwargs: Any) -> None:
        self.buttons: dict[str, TouchButton] = {}
        super().__init__(**kwargs)

    def on_kv_post(self, base_widget: Any) -> None:
        # The grid exists only once this class's kv rule has been applied.
        if self.buttons:
            return
        grid: GridLayout = self.ids.keygrid
        for key in KEYS:
            btn = TouchButton(text=key, role="primary" if key == "OK" else "secondary")
            btn.bind(on_release=lambda _b, k=key: self.press(k))
            grid.add_widget(btn)
            self.buttons[key] = btn

    def press(self, key: str) -> None:
        if key == "C":
            self.value = ""
        elif key == "OK":
            if self.value:
                code, self.value = self.value, ""
                self.dispatch("on_submit", code)
        elif key.isdigit() and len(self.value) < self.max_digits:
            self.value += key

    def on_submit(self, code: str) -> None:
        pass
