"""Help beside a failing check: the troubleshooting entry (docs/manual/<lang>/
troubleshooting.md) for the device it measured, in a popup with English and Chinese."""

from __future__ import annotations

from typing import Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.popup import Popup
from kivy.uix.scrollview import ScrollView
from kivy.utils import escape_markup

from calibration.results import CheckResult
from kiosk.help.kb import KnowledgeBaseError, lookup
from kiosk.ui.theme import FONT_NAME
from kiosk.ui.widgets.base import TouchButton


def help_id(result: CheckResult) -> str:
    """The KB entry for a result that is not a pass: its device ("camera", "scan_scale",
    "bagging_scale" are doctor check ids too); "" when there is none."""
    if result.verdict.value == "pass":
        return ""
    try:
        return result.device if lookup(result.device) is not None else ""
    except KnowledgeBaseError:
        return ""


def entry_text(check_id: str, lang: str) -> str:
    try:
        entry = lookup(check_id, lang)
    except KnowledgeBaseError as err:
        return escape_markup(str(err))
    if entry is None:
        return ""
    return f"[b]{escape_markup(entry.title)}[/b]\n\n{escape_markup(entry.plain())}"


class HelpPopup(Popup):
    """The entry, with a language switch and a close button big enough for a finger."""

    def __init__(self, check_id: str, lang: str = "en", **kwargs: Any) -> None:
        super().__init__(title="Help / 帮助", title_font=FONT_NAME, title_size="18sp",
                         size_hint=(0.8, 0.85), **kwargs)  # fmt: skip
        self.check_id = check_id
        box = BoxLayout(orientation="vertical", spacing=8)
        # Light text: the popup's own background is dark whatever the app's theme.
        self.body = Label(markup=True, halign="left", valign="top", size_hint_y=None,
                          font_name=FONT_NAME, font_size="17sp",
                          color=(0.95, 0.95, 0.95, 1))  # fmt: skip
        self.body.bind(width=lambda w, v: setattr(w, "text_size", (v, None)),
                       texture_size=lambda w, v: setattr(w, "height", v[1]))  # fmt: skip
        scroll = ScrollView(do_scroll_x=False)
        scroll.add_widget(self.body)
        box.add_widget(scroll)
        bar = BoxLayout(size_hint_y=None, height=64, spacing=8)
        for label, code in (("English", "en"), ("中文", "zh")):
            button = TouchButton(text=label)
            button.bind(on_release=lambda _b, c=code: self.set_lang(c))
            bar.add_widget(button)
        self.close_button = TouchButton(text="Close / 关闭", role="primary")
        self.close_button.bind(on_release=lambda _b: self.dismiss())
        bar.add_widget(self.close_button)
        box.add_widget(bar)
        self.content = box
        self.set_lang(lang)

    def set_lang(self, lang: str) -> None:
        self.lang = lang
        self.body.text = entry_text(self.check_id, lang)
