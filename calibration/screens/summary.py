"""The summary: every result, the overall verdict, Save record and Open report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from calibration.screens.base import CalScreen, ResultCard
from calibration.screens.flow import DEVICE_WORDS
from calibration.screens.widgets import VERDICT_WORD

if TYPE_CHECKING:
    from calibration.app import CalibrationApp
    from calibration.screens.flow import Step


class SummaryScreen(CalScreen):
    def enter(self, step: Step | None, app: CalibrationApp) -> None:
        ids = self.ids
        ids.results.clear_widgets()
        results = app.all_results()
        for result in results:
            card = ResultCard()
            device = DEVICE_WORDS.get(result.device, result.device)
            card.show(result, title=f"{device} · {result.check.split('.', 1)[-1]}")
            ids.results.add_widget(card)
        verdict = app.overall() if results else None
        ids.verdict.text = (
            f"Overall: {VERDICT_WORD[verdict]}" if verdict is not None else "Nothing was checked"
        )
        ids.verdict.verdict = verdict.value if verdict is not None else ""
        self.say("\n".join(app.devices.record_notes) or "The record is not saved yet.")

    def say(self, text: str) -> None:
        self.ids.status.text = text

    def save(self, app: CalibrationApp) -> None:
        try:
            app.save_record()
        except Exception as err:  # disk full, bad data dir: say so, keep the results
            self.say(f"Record NOT saved: {err}")
            return
        self.say("\n".join(app.devices.record_notes))

    def report(self, app: CalibrationApp) -> None:
        try:
            path = app.write_report()
        except Exception as err:
            self.say(f"Report not written: {err}")
            return
        notes = list(app.devices.record_notes)
        notes.append(f"Report: {path}" if path else "Report not written: no record")
        self.say("\n".join(notes))
