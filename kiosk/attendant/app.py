"""The attendant's tablet app (Kivy, laid out for a 10" tablet at 1280x800 landscape).

Sign-in unlocks the attendant's signing key with a PIN, then a ``TabletClient`` folds the
store's kiosk topics into ``FloorState`` snapshots that the lane map, the alert queue and
the alert detail paint. Every action is a signed command; its answer (accepted / refused
with a code) shows in the answers bar. A chime plays on each new alert.

Threads: the client's listener runs on the MQTT thread; it only keeps the newest snapshot
and asks Kivy's Clock (thread safe) to paint it on the next frame, as the shopper app does.
Embedding (tests, the scripted demo) reuses the shopper app's ``start_embedded``, ``pump``
and ``screenshot``: one window per process, shared by the apps that run in it.
"""

from __future__ import annotations

import os

from kiosk.ui.themed_app import ThemedApp

os.environ.setdefault("KIVY_NO_ARGS", "1")

import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from kivy.clock import Clock
from kivy.config import Config
from kivy.properties import (
    BooleanProperty,
    NumericProperty,
    StringProperty,
)

from kiosk.attendant.floor import AlertView, FloorState
from kiosk.attendant.screens import SCREENS, load_kv, make_screen, words
from kiosk.errors import KioskError
from kiosk.ui import theme
from kiosk.ui.app import ShopperApp

logger = logging.getLogger(__name__)

ANSWERS_SHOWN = 3  # newest command answers in the bar at the bottom


class FloorClient(Protocol):
    """What the app needs of ``kiosk.attendant.client.TabletClient``."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def subscribe(self, listener: Callable[[FloorState], None]) -> None: ...
    def unsubscribe(self, listener: Callable[[FloorState], None]) -> None: ...
    def snapshot(self) -> FloorState: ...
    def send(self, kiosk_id: str, action: str, args: dict[str, Any] | None = None) -> str: ...
    def claim(self, kiosk_id: str, alert_id: str) -> None: ...
    def release(self, kiosk_id: str, alert_id: str) -> None: ...
    def image(self, snap_id: str) -> bytes | None: ...


# (signer, on_new_alert) -> a client for the store's broker, not yet started.
ClientFactory = Callable[[Any, Callable[[AlertView], None]], FloorClient]


class AttendantApp(ThemedApp):
    """The tablet: sign-in, lane map, alert queue, alert detail."""

    store_id = StringProperty("")
    tablet_id = StringProperty("")
    signed_in = StringProperty("")  # the attendant id once the PIN unlocked the key
    connected = BooleanProperty(False)
    alert_count = NumericProperty(0)
    current = StringProperty("signin")
    notice = StringProperty("")  # a command that could not be sent, in words
    training = BooleanProperty(False)  # a trainee's tablet (--training): banner on every screen
    # Theme (kiosk.ui.theme.apply fills these; the shared widgets' kv rules bind to them).

    # The shopper app's embedding helpers use nothing of its lane: one implementation.
    start_embedded = ShopperApp.start_embedded
    pump = ShopperApp.pump
    screenshot = ShopperApp.screenshot

    def __init__(
        self,
        *,
        keyring_dir: str | Path,
        connect: ClientFactory,
        store: str,
        tablet_id: str = "tablet-01",
        attendant_id: str = "",
        clock: Callable[[], float] = time.time,
        chime: bool = True,
        window_size: tuple[int, int] = (1280, 800),
        font_path: str | Path | None = None,
        tick_interval_s: float = 1.0,
        training: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.title = "OpenSCO attendant" + (" · TRAINING" if training else "")
        self.training = training
        self.keyring_dir = Path(keyring_dir)
        self.connect = connect
        self.store_id, self.tablet_id = store, tablet_id
        self.attendant_hint = attendant_id
        self.clock = clock
        self.chime_enabled = chime
        self.window_size = window_size
        self.font_path = Path(font_path) if font_path is not None else None
        self.tick_interval_s = tick_interval_s
        self.client: FloorClient | None = None
        self.attendant_id = ""
        self.floor: FloorState | None = None
        self.sm: Any = None
        self.shell: Any = None
        self.chimes = 0  # new alerts announced (tests and the demo read it)
        # Alert key -> time.monotonic() of the first frame that painted it (latency figures).
        self.first_painted: dict[str, float] = {}
        self._sound: Any = None
        self._pending: FloorState | None = None
        self._pending_lock = threading.Lock()
        self._events: list[Any] = []
        theme.apply(self, large_text=False, high_contrast=False)
        if "kivy.core.window" not in sys.modules:  # tests reuse an existing window
            Config.set("graphics", "width", str(window_size[0]))
            Config.set("graphics", "height", str(window_size[1]))
            Config.set("graphics", "fullscreen", "0")
            Config.set("input", "mouse", "mouse,disable_multitouch")

    # --- set-up -----------------------------------------------------------------------

    def build(self) -> Any:
        from kivy.core.window import Window
        from kivy.factory import Factory
        from kivy.uix.screenmanager import NoTransition

        from kiosk.attendant import widgets
        from kiosk.ui.widgets import keypad
        from kiosk.ui.widgets.base import load_rules

        theme.register_font(self.font_path)
        load_rules()
        del keypad, widgets  # imported to register their classes and rules
        load_kv("shell")
        if tuple(Window.size) != self.window_size:
            Window.size = self.window_size
        self.shell = Factory.AttendantShell()
        self.sm = self.shell.ids.sm
        self.sm.transition = NoTransition()
        for name in SCREENS:
            self.sm.add_widget(make_screen(name))
        self.sm.get_screen("signin").ids.attendant.text = self.attendant_hint
        self._events.append(Clock.schedule_interval(self._tick, self.tick_interval_s))
        return self.shell

    def on_stop(self) -> None:
        for event in self._events:
            event.cancel()
        self._events = []
        self._disconnect()

    def close_embedded(self) -> None:
        """Detach from the window but leave it open for a later app in this process."""
        from kivy.core.window import Window

        self.dispatch("on_stop")  # dispatched: kv's ``app`` proxy lets go only on the event
        if self.root is not None and self.root.parent is Window:
            Window.remove_widget(self.root)

    # --- sign-in ----------------------------------------------------------------------

    def sign_in(self, attendant_id: str, pin: str) -> bool:
        """Unlock the key with the PIN and connect; the sign-in screen says why not."""
        from kiosk.attendant.keyring import unlock

        signin = self.sm.get_screen("signin")
        try:
            signer = unlock(self.keyring_dir, attendant_id, pin)
        except KioskError as err:  # PinError says attempts left or until when locked out
            signin.say(str(err))
            return False
        try:
            client = self.connect(signer, self._on_new_alert)
            client.subscribe(self._on_floor)
            client.start()
        except (KioskError, OSError, ValueError) as err:
            signin.say(f"Cannot connect to the store broker: {err}")
            return False
        self.client = client
        self.attendant_id = attendant_id
        self.signed_in = attendant_id
        self._on_floor(client.snapshot())
        self.show_screen("queue")
        return True

    def sign_out(self) -> None:
        self._disconnect()
        self.signed_in = ""
        self.attendant_id = ""
        self.floor = None
        self.connected = False
        self.alert_count = 0
        self.shell.ids.answers.clear_widgets()
        self.show_screen("signin")

    def _disconnect(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.unsubscribe(self._on_floor)
            try:
                client.stop()
            except Exception:  # leaving: say it and go on
                logger.exception("the tablet client did not stop cleanly")

    # --- floor in (MQTT thread) → paint (UI thread) -------------------------------------

    def _on_floor(self, floor: FloorState) -> None:
        with self._pending_lock:
            first = self._pending is None
            self._pending = floor
        if first:
            Clock.schedule_once(self._apply_pending, 0)

    def _apply_pending(self, _dt: float = 0) -> None:
        with self._pending_lock:
            floor, self._pending = self._pending, None
        if floor is not None and self.client is not None:
            self._apply(floor)

    def _apply(self, floor: FloorState) -> None:
        self.floor = floor
        self.connected = floor.connected
        self.alert_count = len(floor.alerts)
        self._show_answers(floor)
        screen = self.sm.get_screen(self.sm.current)
        try:
            screen.show(floor, self)
        except Exception:  # a drawing bug must not freeze the tablet on an old floor
            logger.exception("screen %s could not show the floor", self.sm.current)
        painted = time.monotonic()
        for alert in floor.alerts:
            self.first_painted.setdefault(alert.key, painted)

    def _show_answers(self, floor: FloorState) -> None:
        from kiosk.attendant.widgets import Card
        from kiosk.ui.widgets.base import TLabel

        box = self.shell.ids.answers
        shown = floor.commands[:ANSWERS_SHOWN]
        if getattr(box, "shown", None) == shown:
            return
        box.shown = shown
        box.clear_widgets()
        for cmd in shown:
            role = words.COMMAND_ROLES.get(cmd.status, "panel")
            card = Card(size_hint_y=None, height=self.fs_m * 1.8)
            label = TLabel(text=words.command_text(cmd), font_size=self.fs_s)
            card.add_widget(label)
            card.paint(self, role)
            box.add_widget(card)

    def _on_new_alert(self, alert: AlertView) -> None:  # MQTT thread
        Clock.schedule_once(lambda _dt: self._chime(alert), 0)

    def _chime(self, alert: AlertView) -> None:
        from kiosk.attendant.sound import load_chime, play_chime

        self.chimes += 1
        logger.debug("new alert %s (%s)", alert.key, alert.kind)
        if not self.chime_enabled:
            return
        if self._sound is None:
            self._sound = load_chime() or False  # False: no audio here, do not retry
        if self._sound:
            play_chime(self._sound)

    def _tick(self, _dt: float) -> None:
        if self.sm is not None and self.floor is not None:
            self.sm.get_screen(self.sm.current).refresh(self.now())

    # --- navigation and actions (UI thread) ---------------------------------------------

    def now(self) -> float:
        return self.clock()

    def show_screen(self, name: str) -> None:
        screen = self.sm.get_screen(name)
        if self.floor is not None:
            screen.show(self.floor, self)
        self.sm.current = name
        self.current = name

    def open_alert(self, key: str) -> None:
        self.sm.get_screen("detail").open(key.split("/", 1)[0], key)
        self.show_screen("detail")

    def open_lane(self, kiosk_id: str) -> None:
        lane = self.floor.lane(kiosk_id) if self.floor is not None else None
        key = lane.alert_keys[0] if lane is not None and lane.alert_keys else None
        self.sm.get_screen("detail").open(kiosk_id, key)
        self.show_screen("detail")

    def send(self, kiosk_id: str, action: str, args: dict[str, Any] | None = None) -> str | None:
        """Sign and publish a command; its answer appears in the bar when the lane replies."""
        if self.client is None:
            return None
        try:
            return self.client.send(kiosk_id, action, args or {})
        except (KioskError, OSError, ValueError) as err:
            logger.warning("%s to %s not sent: %s", action, kiosk_id, err)
            self.notice = f"{words.ACTION_WORDS.get(action, action)} not sent: {err}"
            return None

    def claim(self, alert: AlertView) -> None:
        if self.client is not None:
            self.client.claim(alert.kiosk_id, alert.alert_id)

    def release(self, alert: AlertView) -> None:
        if self.client is not None:
            self.client.release(alert.kiosk_id, alert.alert_id)

    def image(self, snap_id: str) -> bytes | None:
        return self.client.image(snap_id) if self.client is not None else None

    def screen(self, name: str | None = None) -> Any:
        return self.sm.get_screen(name or self.sm.current)
