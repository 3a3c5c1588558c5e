"""The Kivy shopper app: paints ``ShopperState`` snapshots, turns touches into view-model
actions, and never waits on I/O.

Threads: the view-model's listener runs on the engine thread (and on the UI thread for
local screen changes); it only stores the newest snapshot and asks Kivy's Clock (thread
safe) to paint it on the next frame, so bursts of events cost one repaint.

``KIVY_NO_ARGS`` is set before Kivy is imported so that importing this module from ``sco``
never lets Kivy eat the command line; importing it needs no display (the window is made
when the app runs).
"""

from __future__ import annotations

import os

from kiosk.ui.themed_app import ThemedApp

os.environ.setdefault("KIVY_NO_ARGS", "1")

import importlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.config import Config
from kivy.properties import (
    BooleanProperty,
    StringProperty,
)

from kiosk.ui import theme
from kiosk.ui.screens import SCREENS
from kiosk.ui.strings import text
from kiosk.ui.viewmodel import ShopperState, ShopperViewModel
from kiosk.ui.widgets.overlay import PreviewSource

logger = logging.getLogger(__name__)

# Lane states in which no sale is open: a lock shows the closed screen at once.
NO_SALE = ("idle", "completed", "cancelled", "suspended")

FrameListener = Callable[[float, ShopperState | None], None]
AudioPrompt = Callable[[str, str], None]  # (strings key, language)
PrintReceipt = Callable[[dict[str, Any]], None]


def visible_screen(state: ShopperState) -> str:
    """Which screen a state shows: out of service wins, then a blocking intervention."""
    if state.out_of_service or (state.locked and state.lane_state in NO_SALE):
        return "out_of_service"
    if state.intervention is not None:
        return "intervention"
    return state.screen if state.screen in SCREENS else "attract"


def screen_class_name(name: str) -> str:
    return "".join(part.title() for part in name.split("_")) + "Screen"


class ShopperApp(ThemedApp):
    """The shopper touch screen for one lane, painting ``vm``'s snapshots."""

    lang = StringProperty("en")
    training = BooleanProperty(False)  # the TRAINING ribbon over every screen
    large_text = BooleanProperty(False)
    high_contrast = BooleanProperty(False)
    # Theme (kiosk.ui.theme.apply fills these; every kv rule binds to them).

    def __init__(
        self,
        vm: ShopperViewModel,
        *,
        fullscreen: bool = False,
        large_text: bool = False,
        high_contrast: bool = False,
        preview: PreviewSource | None = None,
        audio: AudioPrompt | None = None,
        print_receipt: PrintReceipt | None = None,
        image_root: str | Path | None = None,
        window_size: tuple[int, int] = (1280, 800),
        font_path: str | Path | None = None,
        tick_interval_s: float = 1.0,
        preview_fps: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vm = vm
        self.title = "OpenSCO"
        self.fullscreen = fullscreen
        self.preview_source = preview
        self.audio = audio  # None: silent (the default); prompts are optional
        self.print_receipt = print_receipt
        self.image_root = Path(image_root) if image_root is not None else None
        self.window_size = window_size
        self.font_path = Path(font_path) if font_path is not None else None
        self.tick_interval_s = tick_interval_s
        self.preview_fps = preview_fps
        self._preview_event: Any = None
        self.frames_drawn = 0
        self.frame_listeners: list[FrameListener] = []
        self.shown_state: ShopperState | None = None  # what the last painted frame shows
        self.sm: Any = None
        self.training_ribbon: Any = None
        self._pending: ShopperState | None = None
        self._pending_lock = threading.Lock()
        self._events: list[Any] = []
        self._unhook_flip: Callable[[], None] = lambda: None
        state = vm.snapshot()
        if large_text != state.large_text:
            vm.toggle_large_text()
        if high_contrast != state.high_contrast:
            vm.toggle_high_contrast()
        self.large_text, self.high_contrast = large_text, high_contrast
        theme.apply(self, large_text=large_text, high_contrast=high_contrast)
        self._configure_window()

    # --- set-up -----------------------------------------------------------------------

    def _configure_window(self) -> None:
        """Window options must be in Kivy's Config before the window exists."""
        if "kivy.core.window" in sys.modules:
            return  # a window already exists (tests reuse it): build() resizes it
        w, h = self.window_size
        Config.set("graphics", "width", str(w))
        Config.set("graphics", "height", str(h))
        Config.set("graphics", "fullscreen", "auto" if self.fullscreen else "0")
        Config.set("input", "mouse", "mouse,disable_multitouch")  # no red dots on right-click
        if self.fullscreen:
            Config.set("kivy", "exit_on_escape", "0")  # leaving kiosk mode is the lane's call

    def build(self) -> Any:
        from kivy.core.window import Window
        from kivy.uix.boxlayout import BoxLayout
        from kivy.uix.screenmanager import NoTransition, ScreenManager

        from kiosk.ui.screens.base import load_kv
        from kiosk.ui.widgets import banner, camera_preview, cart_list, keypad, qr_image
        from kiosk.ui.widgets.base import load_rules
        from kiosk.ui.widgets.training_ribbon import TrainingRibbon

        theme.register_font(self.font_path)  # ConfigError naming fonts-noto-cjk if missing
        load_rules()
        del banner, camera_preview, cart_list, keypad, qr_image  # imported to register classes
        if not self.fullscreen and tuple(Window.size) != self.window_size:
            Window.size = self.window_size
        sm = ScreenManager(transition=NoTransition())
        for name in SCREENS:
            module = importlib.import_module(f"kiosk.ui.screens.{name}")
            load_kv(name)
            sm.add_widget(getattr(module, screen_class_name(name))(name=name))
        self.sm = sm
        self.vm.subscribe(self._on_state)
        self._events.append(Clock.schedule_interval(self._tick, self.tick_interval_s))
        self.set_preview(self.preview_source)
        # Frames are counted after the buffer swap (Window.on_flip's own listeners run
        # before it), so a latency measured here includes drawing the frame.
        original_flip = Window.flip

        def flip_and_count() -> None:
            original_flip()
            self._on_flip()

        Window.flip = flip_and_count
        self._unhook_flip = lambda: setattr(Window, "flip", original_flip)
        self._apply(self.vm.snapshot())
        # The shell: the TRAINING ribbon (zero height unless training) above every screen.
        shell = BoxLayout(orientation="vertical")
        self.training_ribbon = TrainingRibbon()
        shell.add_widget(self.training_ribbon)
        shell.add_widget(sm)
        return shell

    def on_stop(self) -> None:
        for event in self._events:
            event.cancel()
        self.set_preview(None)
        self._unhook_flip()
        self._unhook_flip = lambda: None

    # --- state in (any thread) → paint (UI thread) ------------------------------------

    def _on_state(self, state: ShopperState) -> None:
        with self._pending_lock:
            first = self._pending is None
            if first or state.version > self._pending.version:  # type: ignore[union-attr]
                self._pending = state
        if first:
            Clock.schedule_once(self._apply_pending, 0)

    def _apply_pending(self, _dt: float = 0) -> None:
        with self._pending_lock:
            state, self._pending = self._pending, None
        if state is not None and (self.shown_state is None or
                                  state.version > self.shown_state.version):  # fmt: skip
            self._apply(state)

    def _apply(self, state: ShopperState) -> None:
        if (state.large_text, state.high_contrast) != (self.large_text, self.high_contrast):
            self.large_text, self.high_contrast = state.large_text, state.high_contrast
            theme.apply(self, large_text=state.large_text, high_contrast=state.high_contrast)
            self.sm.get_screen("scanning").ids.cart.forget()  # rows are sized at build
        self.lang = state.language
        self.training = state.training
        name = visible_screen(state)
        screen = self.sm.get_screen(name)
        try:
            screen.show(state, self)
        except Exception:  # a drawing bug must not freeze the lane on an old screen
            logger.exception("screen %s could not show state %d", name, state.version)
        if self.sm.current != name:
            self.sm.current = name
        self._prompt(self.shown_state, state)
        self.shown_state = state

    def _prompt(self, old: ShopperState | None, new: ShopperState) -> None:
        if self.audio is None:
            return
        key = None
        if new.intervention is not None and (old is None or old.intervention is None):
            key = "intervention_title"
        elif new.nudge is not None and (old is None or old.nudge != new.nudge):
            key = new.nudge.key
        if key is not None:
            try:
                self.audio(key, new.language)
            except Exception:
                logger.exception("audio prompt failed")

    def set_preview(self, source: PreviewSource | None) -> None:
        """Turn the camera preview on (polled at ``preview_fps``) or off (None)."""
        self.preview_source = source
        if self._preview_event is not None:
            self._preview_event.cancel()
            self._preview_event = None
        if source is not None and self.sm is not None:
            self._preview_event = Clock.schedule_interval(
                self._refresh_preview, 1.0 / self.preview_fps
            )
        if self.sm is not None:
            self.sm.get_screen("scanning").ids.preview.source_fn = source
            self.sm.get_screen("scanning").ids.preview.hidden = source is None

    def _tick(self, _dt: float) -> None:
        self.vm.tick()

    def _refresh_preview(self, _dt: float) -> None:
        if self.sm is not None and self.sm.current == "scanning":
            self.sm.get_screen("scanning").ids.preview.refresh()

    def _on_flip(self) -> None:
        self.frames_drawn += 1
        if self.frame_listeners:
            now = time.perf_counter()
            for listener in list(self.frame_listeners):
                listener(now, self.shown_state)

    # --- helpers for kv rules, the lane, tests and the demo ------------------------------

    def tr(self, key: str, lang: str) -> str:
        return text(key, lang)

    def screen(self, name: str | None = None) -> Any:
        """The screen widget called ``name`` (default: the one showing)."""
        return self.sm.get_screen(name or self.sm.current)

    def do_print_receipt(self) -> None:
        receipt = self.vm.snapshot().receipt
        if self.print_receipt is None or receipt is None:
            return
        try:
            self.print_receipt(receipt)  # the lane queues it; this must not block
        except Exception:
            logger.exception("receipt printing failed")

    def screenshot(self, path: str | Path) -> Path:
        """Write what the window shows now (screens and any popup over them) as a PNG;
        drawn into an off-screen buffer, so it never depends on the swap's back buffer."""
        from kivy.core.image import Image as CoreImage
        from kivy.core.window import Window
        from kivy.graphics import ClearBuffers, ClearColor, Fbo, Scale, Translate

        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        w, h = Window.size
        fbo = Fbo(size=(w, h), with_stencilbuffer=True)
        with fbo:
            ClearColor(*Window.clearcolor)
            ClearBuffers()
            Scale(1, -1, 1)
            Translate(0, -h, 0)
        fbo.add(Window.canvas)
        try:
            fbo.draw()
            CoreImage(fbo.texture).save(str(out), flipped=False)
        finally:
            fbo.remove(Window.canvas)
        return out

    def start_embedded(self) -> None:
        """Open the window without entering Kivy's main loop: the caller drives frames
        with ``pump`` (tests, benchmarks, a scripted demo)."""
        from kivy.base import EventLoop, runTouchApp

        self._run_prepare()
        if EventLoop.status != "started":  # a second app in one process reuses the loop
            runTouchApp(embedded=True)

    def close_embedded(self) -> None:
        """Detach from the window but leave it open (Kivy makes one per process), so a
        later app in the same process can use it."""
        from kivy.core.window import Window

        # Dispatched, not called: Kivy's kv ``app`` proxy lets go of an app only on the
        # event, and a later app's kv rules would otherwise still reach this one.
        self.dispatch("on_stop")
        self.vm.unsubscribe(self._on_state)
        if self.root is not None and self.root.parent is Window:
            Window.remove_widget(self.root)

    def pump(
        self, until: Callable[[], object] | None = None, timeout_s: float = 10.0, frames: int = 1
    ) -> bool:
        """Run event-loop iterations until ``until()`` is true (or ``frames`` of them when
        no predicate); False when ``timeout_s`` passed first."""
        from kivy.base import EventLoop

        deadline = time.monotonic() + timeout_s
        done = 0
        while True:
            EventLoop.idle()
            done += 1
            if until is None and done >= frames:
                return True
            if until is not None and until():
                return True
            if time.monotonic() > deadline:
                return bool(until()) if until is not None else False
