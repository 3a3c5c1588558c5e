"""Sign-in: attendant id and a PIN pad; the PIN unlocks the attendant's signing key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.attendant.screens.base import AttendantScreen

if TYPE_CHECKING:
    from kiosk.attendant.app import AttendantApp
    from kiosk.attendant.floor import FloorState


class TabletSigninScreen(AttendantScreen):
    def submit(self, pin: str) -> None:
        from kivy.app import App

        app = App.get_running_app()
        attendant = self.ids.attendant.text.strip()
        if not attendant:
            self.say("Type your attendant ID first")
            return
        self.say("")
        app.sign_in(attendant, pin)

    def say(self, message: str) -> None:
        self.ids.message.text = message

    def show(self, floor: FloorState, app: AttendantApp) -> None:
        pass
