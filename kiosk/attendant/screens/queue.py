"""The alert queue, most urgent first: reason, lane, waiting time, severity, claimed by."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.attendant.screens.base import AttendantScreen
from kiosk.attendant.widgets import AlertRow

if TYPE_CHECKING:
    from kiosk.attendant.app import AttendantApp
    from kiosk.attendant.floor import FloorState


class TabletQueueScreen(AttendantScreen):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.rows: list[AlertRow] = []
        self._shown: object = None

    def show(self, floor: FloorState, app: AttendantApp) -> None:
        if floor.alerts == self._shown:
            return
        self._shown = floor.alerts
        box = self.ids.rows
        box.clear_widgets()
        self.rows = [AlertRow(app, alert, app.now(), app.open_alert) for alert in floor.alerts]
        for row in self.rows:
            box.add_widget(row)
        n = len(floor.alerts)
        self.ids.summary.text = (
            f"{n} open alert{'s' if n != 1 else ''}, most urgent first" if n else "No open alerts"
        )

    def row(self, key: str) -> AlertRow | None:
        return next((r for r in self.rows if r.key == key), None)

    def refresh(self, now: float) -> None:
        for row in self.rows:
            row.refresh(now)
