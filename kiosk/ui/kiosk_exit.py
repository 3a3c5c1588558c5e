"""Leaving kiosk mode: the attendant PIN pad, and what opens it.

Escape, the window's close button (or Alt+F4) and five quick taps in the top-left corner
(a touch screen has no keyboard) open the pad; the close request itself is always
swallowed. The pad shows dots, never digits, and every PIN goes through a ``PinGuard``
(hash check, wrong-PIN count, lockout), so the popup holds no secret of its own.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("KIVY_NO_ARGS", "1")  # Kivy must never read sco's command line

from kivy.metrics import dp
from kivy.uix.gridlayout import GridLayout
from kivy.uix.modalview import ModalView

from kiosk.ui.pin import MAX_PIN, PinGuard
from kiosk.ui.widgets.base import Panel, TLabel, TouchButton

logger = logging.getLogger(__name__)

KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "C", "0", "OK")
TITLE = "Attendant PIN to leave kiosk mode"
F1 = 282  # Kivy's key code: App binds it to its settings panel
CORNER_DP = 80  # the top-left square that counts secret taps
CORNER_TAPS = 5
CORNER_WINDOW_S = 3.0


class PinPopup(ModalView):
    """A modal PIN pad; ``on_ok`` runs once ``guard`` accepts the typed PIN."""

    def __init__(
        self,
        guard: PinGuard,
        on_ok: Callable[[], None],
        audit: Callable[[str], None] = lambda outcome: None,
        **kw: Any,
    ) -> None:
        super().__init__(size_hint=(0.45, None), auto_dismiss=False, **kw)
        self.guard, self.on_ok, self._audit = guard, on_ok, audit
        self.value = ""
        box = Panel()  # the theme's panel colour, as tall as its keys
        box.bind(height=self.setter("height"))
        self.title = TLabel(text=TITLE, halign="center")
        self.display = TLabel(text="", halign="center")
        self.status = TLabel(text="", halign="center", hidden=True)
        grid = GridLayout(cols=3, spacing=dp(8), size_hint_y=None)
        grid.bind(minimum_height=grid.setter("height"))
        self.keys: dict[str, TouchButton] = {}
        for key in KEYS:
            role = "primary" if key == "OK" else "secondary"
            button = TouchButton(text=key, role=role)
            button.bind(on_release=lambda _b, k=key: self.press(k))
            grid.add_widget(button)
            self.keys[key] = button
        self.cancel = TouchButton(text="Cancel")
        self.cancel.bind(on_release=lambda _b: self.dismiss())
        for widget in (self.title, self.display, self.status, grid, self.cancel):
            box.add_widget(widget)
        self.add_widget(box)

    def press(self, key: str) -> None:
        if key == "C":
            self.value = ""
        elif key == "OK":
            self.submit()
        elif key.isdigit() and len(self.value) < MAX_PIN:
            self.value += key
        self.display.text = "\u2022" * len(self.value)  # dots only: shoppers stand close by

    def submit(self) -> bool:
        typed, self.value = self.value, ""
        self.display.text = ""
        verdict = self.guard.check(typed)
        self._audit("ok" if verdict.ok else "refused")
        if verdict.ok:
            self.dismiss()
            self.on_ok()
            return True
        self.status.text = verdict.message
        self.status.hidden = False
        return False


class KioskExit:
    """Binds the window so that nothing but the attendant PIN ends kiosk mode."""

    def __init__(
        self, guard: PinGuard, on_exit: Callable[[], None], audit_path: str | Path | None = None
    ) -> None:
        self.guard = guard
        self.on_exit = on_exit
        self.audit_path = audit_path  # <data_dir>/audit.jsonl: every exit attempt, no PIN
        self.popup: PinPopup | None = None
        self.swallowed = 0  # close requests refused (Escape, close button, Alt+F4)
        self._taps: list[float] = []

    def install(self) -> None:
        from kivy.core.window import Window

        # Bound after the app's own handlers: Kivy calls the newest binding first, and
        # returning True stops the close before anything else sees it.
        Window.bind(
            on_request_close=self._on_close, on_keyboard=self._on_key, on_touch_down=self._on_tap
        )

    def uninstall(self) -> None:
        from kivy.core.window import Window

        Window.unbind(
            on_request_close=self._on_close, on_keyboard=self._on_key, on_touch_down=self._on_tap
        )

    def open_pad(self) -> PinPopup:
        if self.popup is None or self.popup.parent is None:
            self.popup = PinPopup(self.guard, self.on_exit, self._audit)
            self.popup.open()
        return self.popup

    def _audit(self, outcome: str) -> None:
        if self.audit_path is not None:
            from kiosk.ops.audit import append_event

            append_event(self.audit_path, "pin_exit", "", "leave_kiosk_mode", outcome)

    def _on_close(self, *_args: Any, **_kw: Any) -> bool:
        self.swallowed += 1
        logger.info("kiosk mode: a close request needs the attendant PIN")
        self.open_pad()
        return True

    def _on_key(self, _window: Any, key: int, *_args: Any) -> bool:
        if key == 27:  # Escape
            return self._on_close()
        return key == F1  # Kivy's settings panel must not open over the shopper screen

    def _on_tap(self, window: Any, touch: Any) -> bool:
        x, y = touch.pos
        if x > dp(CORNER_DP) or y < window.height - dp(CORNER_DP):
            return False
        now = time.monotonic()
        self._taps = [t for t in self._taps if now - t < CORNER_WINDOW_S] + [now]
        if len(self._taps) >= CORNER_TAPS:
            self._taps.clear()
            self.open_pad()
        return False  # the tap still reaches the screen below
