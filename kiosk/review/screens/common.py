"""Pieces the review screens share: themed spinners and text boxes, scrolling text."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.metrics import dp
from kivy.uix.label import Label
from kivy.uix.scrollview import ScrollView
from kivy.uix.spinner import Spinner, SpinnerOption
from kivy.uix.textinput import TextInput

from kiosk.ui.theme import FONT_NAME

ANY = "Any"  # a filter spinner's "no filter" choice


def app() -> Any:
    return App.get_running_app()


class ThemedOption(SpinnerOption):
    def __init__(self, **kwargs: Any) -> None:
        a = app()
        kwargs.setdefault("font_name", FONT_NAME)
        kwargs.setdefault("font_size", a.fs_s)
        kwargs.setdefault("height", dp(40))
        super().__init__(**kwargs)
        self.background_normal = ""
        self.background_color = a.c_panel
        self.color = a.c_fg


class FilterSpinner(Spinner):
    """A labelled drop-down whose first choice means "no filter"."""

    def __init__(self, caption: str, **kwargs: Any) -> None:
        a = app()
        super().__init__(text=ANY, values=[ANY], option_cls=ThemedOption, **kwargs)
        self.caption = caption
        self.font_name = FONT_NAME
        self.font_size = a.fs_s
        self.background_normal = ""
        self.background_color = a.c_button
        self.color = a.c_button_fg
        self.size_hint_y = None
        self.height = dp(40)
        self.shorten = True
        self.text_size = (None, None)

    @property
    def choice(self) -> str | None:
        return None if self.text == ANY else self.text

    def offer(self, values: set[str] | list[str]) -> None:
        """Replace the choices, keeping the current one available."""
        keep = {self.text} - {ANY}
        self.values = [ANY, *sorted(set(values) | keep)]


def text_input(hint: str, **kwargs: Any) -> TextInput:
    a = app()
    box = TextInput(
        hint_text=hint,
        multiline=kwargs.pop("multiline", False),
        font_name=FONT_NAME,
        font_size=a.fs_s,
        write_tab=False,
        **kwargs,
    )
    if not box.multiline:
        box.size_hint_y, box.height = None, dp(40)
    return box


class ScrollText(ScrollView):
    """A block of text that scrolls when longer than its box."""

    def __init__(self, font_name: str = FONT_NAME, **kwargs: Any) -> None:
        super().__init__(do_scroll_x=False, bar_width=dp(6), **kwargs)
        a = app()
        self.label = Label(
            font_name=font_name,
            font_size=a.fs_s,
            color=a.c_fg,
            halign="left",
            valign="top",
            size_hint_y=None,
        )
        self.label.bind(
            width=lambda lbl, w: setattr(lbl, "text_size", (w, None)),
            texture_size=lambda lbl, ts: setattr(lbl, "height", ts[1]),
        )
        self.add_widget(self.label)

    @property
    def text(self) -> str:
        return self.label.text

    @text.setter
    def text(self, value: str) -> None:
        self.label.text = value
        self.scroll_y = 1


def label(text: str = "", **props: Any) -> Any:
    """A themed label (kiosk.ui.widgets.base.TLabel) with ``props`` set after it is built:
    its kv rule binds font size and colour to the app, which would win over constructor
    arguments."""
    from kiosk.ui.widgets.base import TLabel

    widget = TLabel(text=text)
    for key, value in props.items():
        setattr(widget, key, value)
    return widget
