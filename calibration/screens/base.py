"""What every calibration screen shares: the themed background and the result card."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.properties import StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from calibration.results import CheckResult
from calibration.screens.help import HelpPopup, help_id
from calibration.screens.widgets import VERDICT_WORD, detail_lines, headline

if TYPE_CHECKING:
    from calibration.app import CalibrationApp
    from calibration.screens.flow import Step


class CalScreen(Screen):
    def enter(self, step: Step | None, app: CalibrationApp) -> None:
        """Show ``step`` (None on start and summary); UI thread only."""

    def tick(self, app: CalibrationApp) -> None:
        """Called a few times a second while showing: live weight, live view."""

    def widget(self, wid: str) -> Any:
        return self.ids[wid]


class ResultCard(BoxLayout):
    """One check's verdict in its colour, its headline figure and, when ``detailed``,
    the other figures and the advice."""

    verdict = StringProperty("skipped")
    title = StringProperty("")
    body = StringProperty("")
    help_id = StringProperty("")  # the troubleshooting entry for a check that did not pass

    def show(self, result: CheckResult, *, detailed: bool = False, title: str = "") -> None:
        self.verdict = result.verdict.value
        word = VERDICT_WORD[result.verdict]
        self.title = f"{word}   {title or result.check} · {headline(result)}"
        lines = detail_lines(result) if detailed else []
        if result.advice and result.verdict.value != "pass":
            lines.append(result.advice)
        self.body = "\n".join(lines)
        self.help_id = help_id(result)

    def open_help(self) -> Any:
        self.popup = HelpPopup(self.help_id)
        self.popup.open()
        return self.popup


class VerdictBanner(BoxLayout):
    """The big PASS / WARN / FAIL in its colour (green, amber, red; grey when none)."""

    verdict = StringProperty("")
    text = StringProperty("")
