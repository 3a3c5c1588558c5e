"""Help: the troubleshooting knowledge base (docs/manual/<lang>/troubleshooting.md), one
entry per `sco doctor` check id, in English or Chinese; opened from the top bar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kivy.properties import StringProperty
from kivy.utils import escape_markup

from kiosk.attendant.screens.base import AttendantScreen
from kiosk.help.kb import KnowledgeBaseError, load_kb
from kiosk.ui.widgets.base import TouchButton

if TYPE_CHECKING:
    from kiosk.attendant.app import AttendantApp
    from kiosk.attendant.floor import FloorState

HEADINGS = {"en": "Troubleshooting: what a lane's check means and who fixes it",
            "zh": "故障排除：检查结果的含义，以及由谁处理"}  # fmt: skip


class TabletHelpScreen(AttendantScreen):
    lang = StringProperty("en")
    selected = StringProperty("")  # the check id whose entry is shown

    def show(self, floor: FloorState, app: AttendantApp) -> None:
        if not self.ids.entries.children:
            self._fill()

    def set_lang(self, lang: str) -> None:
        self.lang = lang
        self._fill()

    def open_entry(self, check_id: str) -> None:
        self.selected = check_id
        self._fill()

    def _fill(self) -> None:
        box = self.ids.entries
        box.clear_widgets()
        self.ids.heading.text = HEADINGS[self.lang]
        try:
            kb = load_kb(self.lang)
        except KnowledgeBaseError as err:  # a missing manual must not crash the tablet
            self.ids.body.text = str(err)
            return
        if self.selected not in kb.entries:
            self.selected = next(iter(kb.entries), "")
        for check_id, entry in kb.entries.items():
            role = "primary" if check_id == self.selected else "secondary"
            button = TouchButton(text=entry.title, size_hint_y=None, role=role)
            button.bind(on_release=lambda _b, c=check_id: self.open_entry(c))
            box.add_widget(button)
        entry = kb.get(self.selected)
        body = self.ids.body
        body.markup = True
        body.text = (
            f"[b]{escape_markup(entry.title)}[/b]  ({entry.check_id})\n\n"
            + escape_markup(entry.plain())
            if entry
            else ""
        )
