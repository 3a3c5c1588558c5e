"""Start: who is calibrating, which lane, which devices were found."""

from __future__ import annotations

from typing import TYPE_CHECKING

from calibration.screens.base import CalScreen

if TYPE_CHECKING:
    from calibration.app import CalibrationApp
    from calibration.screens.flow import Step


class StartScreen(CalScreen):
    def enter(self, step: Step | None, app: CalibrationApp) -> None:
        self.ids.technician.text = app.technician
        self.say("")
        self.tick(app)

    def say(self, text: str) -> None:
        self.ids.notice.text = text

    def tick(self, app: CalibrationApp) -> None:
        devices = app.devices
        lines = list(devices.lines) or ["Looking for devices …"]
        self.ids.devices.text = "\n".join(lines)
        ready = devices.done.is_set()
        self.ids.begin.disabled = not ready
        self.ids.begin.text = "Start calibration" if ready else "Looking for devices …"
