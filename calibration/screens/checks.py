"""The camera checks: the live view (with the zones), Run checks, then each check's figure
against its limit in its verdict's colour."""

from __future__ import annotations

from typing import TYPE_CHECKING

from calibration.results import CheckResult, overall
from calibration.screens.base import CalScreen, ResultCard
from calibration.screens.widgets import VERDICT_WORD

if TYPE_CHECKING:
    from calibration.app import CalibrationApp
    from calibration.screens.flow import Step


class ChecksScreen(CalScreen):
    def enter(self, step: Step | None, app: CalibrationApp) -> None:
        self.ids.instruction.text = step.instruction if step is not None else ""
        self.ids.results.clear_widgets()
        self.ids.status.text = "Tap Run checks when the card is in place."
        self.ids.run.text = "Run checks"
        self.ids.verdict.text = ""
        self.ids.view.doc = app.screen("zones").doc
        previous = app.results.get(step.key) if step is not None else None
        if previous:
            self.show_results(previous, "")

    def run(self, app: CalibrationApp) -> None:
        if app.run_step():
            self.ids.status.text = (
                "Measuring: sharpness, exposure, glare, px/module, alignment, read rate …"
            )
            self.ids.results.clear_widgets()
            self.ids.verdict.text = ""

    def show_prompt(self, text: str) -> None:
        self.ids.status.text = text

    def show_results(self, results: list[CheckResult], error: str) -> None:
        self.ids.run.text = "Run again"
        self.ids.results.clear_widgets()
        if error:
            self.ids.status.text = f"The checks could not finish: {error}"
            return
        self.ids.status.text = ""
        for result in results:
            card = ResultCard()
            card.show(result, detailed=False, title=result.check.split(".", 1)[-1])
            self.ids.results.add_widget(card)
        verdict = overall(results)
        self.ids.verdict.verdict = verdict.value
        self.ids.verdict.text = "Camera: " + VERDICT_WORD[verdict]

    def tick(self, app: CalibrationApp) -> None:
        view = self.ids.view
        if app.devices.frame is not None and view.frames_shown < app.devices.frame_count:
            view.show_frame(app.devices.frame)
            view.frames_shown = app.devices.frame_count
