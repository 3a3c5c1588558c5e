"""One scale check: the instruction, the live weight, the technician's "Done" when the check
asks for a weight, then the measured figure against its limit in its verdict's colour and,
for linearity, the error plot."""

from __future__ import annotations

from typing import TYPE_CHECKING

from calibration.results import CheckResult, overall
from calibration.screens.base import CalScreen, ResultCard
from calibration.screens.widgets import VERDICT_WORD, plot_series

if TYPE_CHECKING:
    from calibration.app import CalibrationApp
    from calibration.screens.flow import Step


class ScaleScreen(CalScreen):
    step: Step | None = None

    def enter(self, step: Step | None, app: CalibrationApp) -> None:
        self.step = step
        if step is None:
            return
        ids = self.ids
        ids.title.text = step.title
        ids.instruction.text = step.instruction
        ids.prompt_panel.hidden = True
        ids.status.text = "Tap Start when ready."
        ids.results.clear_widgets()
        ids.plot.set([], [], "", "")
        ids.plot_box.hidden = True
        ids.verdict.text = ""
        ids.start.hidden = False
        ids.start.text = "Start"
        ids.next.text = "Next"
        previous = app.results.get(step.key)
        if previous:
            self.show_results(previous, "")

    def start(self, app: CalibrationApp) -> None:
        if app.run_step():
            self.ids.start.hidden = True
            self.ids.status.text = "Measuring …"
            self.ids.results.clear_widgets()
            self.ids.verdict.text = ""

    def show_prompt(self, text: str) -> None:
        self.ids.prompt.text = text
        self.ids.prompt_panel.hidden = False
        self.ids.status.text = "Waiting for you: tap Done when it is in place."

    def done(self, app: CalibrationApp) -> None:
        self.ids.prompt_panel.hidden = True
        self.ids.status.text = "Measuring …"
        app.confirm_prompt()

    def show_results(self, results: list[CheckResult], error: str) -> None:
        ids = self.ids
        ids.prompt_panel.hidden = True
        ids.start.hidden = False
        ids.start.text = "Retry"
        ids.results.clear_widgets()
        if error:
            ids.status.text = f"The check could not finish: {error}"
            return
        ids.status.text = ""
        for result in results:
            card = ResultCard()
            card.show(result, detailed=True)
            ids.results.add_widget(card)
        verdict = overall(results)
        ids.verdict.verdict = verdict.value
        ids.verdict.text = VERDICT_WORD[verdict]
        plotted = next((p for p in map(plot_series, results) if p is not None), None)
        if self.step is not None and self.step.plot and plotted is not None:
            xs, ys, xname, yname = plotted
            band = next((list(r.series["mpe_g"]) for r in results if "mpe_g" in r.series), [])
            ids.plot.set(xs, ys, xname, yname, band=band)
            ids.plot_box.hidden = False

    def tick(self, app: CalibrationApp) -> None:
        if self.step is None:
            return
        self.ids.live.text = live_text(app.devices.live_reading(self.step.device))


def live_text(live: tuple[int, bool] | None) -> str:
    """The readout: "2 000 g" when steady, "~ 2 040 g" while it moves, "—" with none."""
    if live is None:
        return "—"
    grams, stable = live
    shown = f"{grams:,} g".replace(",", " ")
    return shown if stable else f"~ {shown}"
