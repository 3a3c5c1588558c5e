"""Help: the illustrated shopper guide (scan, fruit & veg, own bags, pay) in English and
中文, and "help is on the way" while the attendant comes.

Every shopper screen reaches it through a ``GuideButton`` and calls the attendant with a
``CallAttendantButton`` (both usually in a ``HelpBar``); their kv rules live here, so
a screen's kv needs only ``#:import _help kiosk.ui.screens.help`` to use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kivy.lang import Builder
from kivy.uix.boxlayout import BoxLayout

from kiosk.ui.screens.base import BaseScreen
from kiosk.ui.screens.help_pictures import HelpPicture
from kiosk.ui.strings import text
from kiosk.ui.viewmodel import HELP_PAGES, ShopperState
from kiosk.ui.widgets.base import TouchButton

if TYPE_CHECKING:
    from kiosk.ui.app import ShopperApp

STEPS = 3  # numbered steps per page: help_<page>_1 .. _3
# Strings a step may quote (a button's label), so the guide always says what the button says.
QUOTED = ("produce_button", "bags_question", "bags_yes", "skip_bagging", "pay", "card", "qr",
          "cash")  # fmt: skip


def step_text(page: str, n: int, lang: str) -> str:
    """Step ``n`` of a guide page, with the quoted button labels filled in."""
    quoted = {key: text(key, lang) for key in QUOTED}
    return text(f"help_{page}_{n}", lang).format(**quoted)


class GuideButton(TouchButton):
    """Opens the shopper guide (calls nobody)."""


class CallAttendantButton(TouchButton):
    """Calls the attendant: the core raises a help alert on the tablet."""


class HelpBar(BoxLayout):
    """Help and Call attendant, side by side, for the foot of a screen."""


Builder.load_string(
    """
<GuideButton>:
    text: '?  ' + app.tr('help_guide_button', app.lang)
    on_release: app.vm.open_help()

<CallAttendantButton>:
    role: 'warn'
    text: app.tr('help_button', app.lang)
    on_release: app.vm.help()

<HelpBar>:
    size_hint_y: None
    height: app.touch_h
    spacing: app.gap * 2
    GuideButton:
        id: guide
        size_hint_x: 0.4
    CallAttendantButton:
        id: call
        size_hint_x: 0.6
""",
    filename="opensco-help-bar.kv",
)


class HelpScreen(BaseScreen):
    def show(self, state: ShopperState, app: ShopperApp) -> None:
        ids, lang, page = self.ids, state.language, state.help_page
        ids.title.text = text("help_title" if state.help_called else "help_guide_title", lang)
        ids.called.hidden = not state.help_called
        ids.call.hidden = state.help_called  # called once is enough; the banner says so
        for name in HELP_PAGES:
            ids[f"tab_{name}"].role = "primary" if name == page else "secondary"
        ids.page_title.text = text(f"help_page_{page}", lang)
        for n in range(1, STEPS + 1):
            ids[f"step_{n}"].text = step_text(page, n, lang)
        ids.picture.page = page
        ids.lang_zh.role = "ok" if lang == "zh" else "secondary"
        ids.lang_en.role = "ok" if lang == "en" else "secondary"


__all__ = ["CallAttendantButton", "GuideButton", "HelpBar", "HelpPicture", "HelpScreen"]
