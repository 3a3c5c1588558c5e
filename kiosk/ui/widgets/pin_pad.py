"""Leaving kiosk mode: Escape or the window's close button asks for the attendant PIN."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from kivy.uix.modalview import ModalView

from kiosk.ui.widgets.base import Panel, TLabel, TouchButton
from kiosk.ui.widgets.keypad import Keypad

# Staff-facing words, kept here rather than in the shopper's strings.
TITLE = {"en": "Attendant PIN to leave kiosk mode", "zh": "输入店员密码以退出自助模式"}
WRONG = {"en": "Wrong PIN", "zh": "密码错误"}
CANCEL = {"en": "Cancel", "zh": "取消"}


def pin_matches(typed: str, pin: str) -> bool:
    return hmac.compare_digest(typed.encode(), pin.encode())


class PinPad(ModalView):
    """A modal keypad; ``on_ok`` runs once the right PIN is typed."""

    def __init__(self, pin: str, on_ok: Callable[[], None], lang: str = "en", **kw: Any) -> None:
        super().__init__(size_hint=(0.5, None), auto_dismiss=False, **kw)
        self.pin, self.on_ok, self.lang = pin, on_ok, lang
        box = Panel()  # the theme's panel colour, as tall as its keys
        box.bind(height=self.setter("height"))
        self.title = TLabel(text=TITLE.get(lang, TITLE["en"]), halign="center")
        self.keypad = Keypad(max_digits=8, mask=True)
        self.keypad.bind(on_submit=lambda _k, code: self.check(code))
        self.cancel = TouchButton(text=CANCEL.get(lang, CANCEL["en"]))
        self.cancel.bind(on_release=lambda _b: self.dismiss())
        for widget in (self.title, self.keypad, self.cancel):
            box.add_widget(widget)
        self.add_widget(box)

    def check(self, code: str) -> bool:
        if pin_matches(code, self.pin):
            self.dismiss()
            self.on_ok()
            return True
        self.title.text = WRONG.get(self.lang, WRONG["en"])
        return False
