"""The loss-prevention review app (Kivy, desktop window): flagged events with filters, one
event's evidence, precision by reason, exports. It reads and labels through the review
store's API only; every store call that shows data names the viewer, so the store writes
the access log.

Store calls run on the UI thread: they are single indexed queries on a local or LAN
database, and a reviewer waits for the answer anyway. A failing call shows its reason in
the status line and leaves the screen as it was.

English only: the app is for loss-prevention staff, whose tools (CCTV, case files) are in
the store chain's office language; the receipt and product names show Chinese as sent.
"""

from __future__ import annotations

import os

os.environ.setdefault("KIVY_NO_ARGS", "1")
# Text boxes use the clipboard; SDL2's needs no xclip/xsel (Kivy reads this on first use).
os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kivy.app import App
from kivy.config import Config
from kivy.properties import ColorProperty, NumericProperty, StringProperty

from kiosk.ui import theme
from kiosk.ui.app import ShopperApp

logger = logging.getLogger(__name__)
T = TypeVar("T")

# A desktop at arm's length: smaller than the shopper screen, still >= 48 dp to click.
REVIEW_SIZES = theme.Sizes(
    text_s=14, text_m=17, text_l=24, text_xl=30, text_xxl=40, touch=48, pad=12, gap=8
)
NAV = (("flags", "Flagged events"), ("precision", "Precision"), ("export", "Export"))


class ReviewApp(App):
    """The review window for one ``viewer`` (the access log's name for the person)."""

    # Theme properties the shared widget rules (kiosk.ui.widgets.base) bind to.
    c_bg = ColorProperty()
    c_panel = ColorProperty()
    c_fg = ColorProperty()
    c_muted = ColorProperty()
    c_accent = ColorProperty()
    c_accent_fg = ColorProperty()
    c_button = ColorProperty()
    c_button_fg = ColorProperty()
    c_warn = ColorProperty()
    c_warn_fg = ColorProperty()
    c_danger = ColorProperty()
    c_danger_fg = ColorProperty()
    c_ok = ColorProperty()
    c_ok_fg = ColorProperty()
    fs_s = NumericProperty(14)
    fs_m = NumericProperty(17)
    fs_l = NumericProperty(24)
    fs_xl = NumericProperty(30)
    fs_xxl = NumericProperty(40)
    touch_h = NumericProperty(48)
    pad = NumericProperty(12)
    gap = NumericProperty(8)
    status = StringProperty("")

    # The shopper app's window helpers work for any App (they use only Kivy's loop).
    start_embedded = ShopperApp.start_embedded
    pump = ShopperApp.pump
    screenshot = ShopperApp.screenshot

    def __init__(
        self,
        store: Any,
        *,
        viewer: str,
        screenshots: Path | None = None,
        window_size: tuple[int, int] = (1280, 800),
        font_path: str | Path | None = None,
        **kwargs: Any,
    ) -> None:
        if not viewer.strip():
            raise ValueError("a viewer id is needed: every view is written to the access log")
        super().__init__(**kwargs)
        self.store = store
        self.viewer = viewer.strip()
        self.screenshots = screenshots
        self.window_size = window_size
        self.font_path = Path(font_path) if font_path is not None else None
        self.title = "OpenSCO loss-prevention review"
        self.sm: Any = None
        self.nav_buttons: dict[str, Any] = {}
        self.status_label: Any = None
        self._apply_theme()
        self._configure_window()

    def _apply_theme(self) -> None:
        from kivy.metrics import dp, sp

        for name, value in vars(theme.palette(False)).items():
            setattr(self, f"c_{name}", value)
        s = REVIEW_SIZES
        self.fs_s, self.fs_m, self.fs_l = sp(s.text_s), sp(s.text_m), sp(s.text_l)
        self.fs_xl, self.fs_xxl = sp(s.text_xl), sp(s.text_xxl)
        self.touch_h, self.pad, self.gap = dp(s.touch), dp(s.pad), dp(s.gap)

    def _configure_window(self) -> None:
        if "kivy.core.window" in sys.modules:
            return  # a window exists already (tests): build() resizes it
        w, h = self.window_size
        Config.set("graphics", "width", str(w))
        Config.set("graphics", "height", str(h))
        Config.set("graphics", "fullscreen", "0")
        Config.set("input", "mouse", "mouse,disable_multitouch")
        Config.set("kivy", "exit_on_escape", "0")  # Escape goes back a screen instead

    def build(self) -> Any:
        from kivy.core.window import Window
        from kivy.graphics import Color, Rectangle
        from kivy.uix.boxlayout import BoxLayout
        from kivy.uix.screenmanager import NoTransition, ScreenManager

        from kiosk.review.screens.common import label
        from kiosk.review.screens.detail import DetailScreen
        from kiosk.review.screens.export import ExportScreen
        from kiosk.review.screens.flags import FlagsScreen
        from kiosk.review.screens.precision import PrecisionScreen
        from kiosk.ui.widgets.base import Panel, TouchButton, load_rules

        theme.register_font(self.font_path)  # ConfigError naming fonts-noto-cjk if missing
        load_rules()
        if tuple(Window.size) != self.window_size:
            Window.size = self.window_size
        root = BoxLayout(orientation="vertical")
        with root.canvas.before:
            Color(*self.c_bg)
            bg = Rectangle(pos=root.pos, size=root.size)
        root.bind(pos=lambda w, p: setattr(bg, "pos", p), size=lambda w, s: setattr(bg, "size", s))
        nav = BoxLayout(
            size_hint_y=None, height=self.touch_h, spacing=self.gap, padding=(self.pad, 0)
        )
        nav.add_widget(self.bar_text("OpenSCO review", 0.3, bold=True, font_size=self.fs_l))
        for name, words in NAV:
            btn = TouchButton(text=words, size_hint_x=0.16)
            btn.bind(on_release=lambda _b, n=name: self.go(n))
            self.nav_buttons[name] = btn
            nav.add_widget(btn)
        nav.add_widget(self.bar_text(f"Reviewer: {self.viewer}", 0.22, halign="right"))
        root.add_widget(nav)
        sm = ScreenManager(transition=NoTransition())
        for screen in (
            FlagsScreen(name="flags"),
            DetailScreen(name="detail"),
            PrecisionScreen(name="precision"),
            ExportScreen(name="export"),
        ):
            sm.add_widget(screen)
        self.sm = sm
        root.add_widget(sm)
        bar = Panel(role="panel", padding=(self.pad, 4))
        self.status_label = label(font_size=self.fs_s)
        bar.add_widget(self.status_label)
        root.add_widget(bar)
        Window.bind(on_key_down=self._on_key)
        self.show_flags()
        return root

    def bar_text(self, text: str, share: float, **kwargs: Any) -> Any:
        from kivy.uix.label import Label

        kwargs.setdefault("font_size", self.fs_s)
        label = Label(text=text, font_name=theme.FONT_NAME, color=self.c_fg, size_hint_x=share,
                      valign="middle", shorten=True, **kwargs)  # fmt: skip
        label.bind(size=lambda w, s: setattr(w, "text_size", s))
        return label

    def on_stop(self) -> None:
        from kivy.core.window import Window

        Window.unbind(on_key_down=self._on_key)

    def close_embedded(self) -> None:
        """Detach from the window and leave it open for a later app in this process."""
        from kivy.core.window import Window

        self.dispatch("on_stop")  # the kv ``app`` proxy lets go of an app only on the event
        if self.root is not None and self.root.parent is Window:
            Window.remove_widget(self.root)

    # --- navigation ---------------------------------------------------------------------

    def screen(self, name: str | None = None) -> Any:
        return self.sm.get_screen(name or self.sm.current)

    def _switch(self, name: str) -> None:
        self.sm.current = name
        for key, btn in self.nav_buttons.items():
            btn.role = "ok" if key == name or (key == "flags" and name == "detail") else "secondary"

    def go(self, name: str) -> None:
        {"flags": self.show_flags, "precision": self.show_precision, "export": self.show_export}[
            name
        ]()

    def show_flags(self, refresh: bool = True) -> None:
        if refresh:
            self.screen("flags").refresh()
        self._switch("flags")

    def open_flag(self, flag_id: str) -> None:
        detail = self.call_store(
            "open the flag", lambda: self.store.detail(flag_id, viewer=self.viewer)
        )
        if detail is None:
            return
        self.screen("detail").show(detail)
        self._switch("detail")

    def show_precision(self) -> None:
        self.screen("precision").refresh()
        self._switch("precision")

    def show_export(self) -> None:
        self.screen("export").refresh()
        self._switch("export")

    def current_filter(self) -> Any:
        """The list screen's filters; None (and a message) when a date is badly written."""
        from kiosk.review.screens.flags import DateError

        try:
            return self.screen("flags").current_filter()
        except DateError as err:
            self.say(str(err), error=True)
            return None

    # --- helpers ------------------------------------------------------------------------

    def say(self, message: str, *, error: bool = False) -> None:
        self.status = message
        if self.status_label is not None:
            self.status_label.text = message
            self.status_label.color = self.c_danger if error else self.c_fg

    def call_store(
        self, what: str, fn: Callable[[], T], catch: tuple[type[BaseException], ...] = ()
    ) -> T | None:
        """Run one store call; on failure show why and return None (the screen stays)."""
        try:
            return fn()
        except catch as err:
            self.say(f"Could not {what}: {err}", error=True)
        except Exception as err:  # the database is outside this app: say it, keep running
            logger.exception("review store call failed: %s", what)
            self.say(f"Could not {what}: {type(err).__name__}: {err}", error=True)
        return None

    def _on_key(self, _window: Any, key: int, *_args: Any) -> bool:
        if key == 27 and self.sm.current == "detail":  # Escape: back to the list
            self.show_flags()
            return True
        if key == 293 and self.screenshots is not None:  # F12: a screenshot for a case file
            from kiosk.review.autoplay import shot

            path = shot(self, self.screenshots, self.sm.current)
            self.say(f"Screenshot written: {path}")
            return True
        return False


def run_review_app(
    store: Any, *, viewer: str, screenshots: Path | None = None, autoplay: bool = False
) -> int:
    """Open the review window on ``store`` for ``viewer``; returns an exit status.

    ``autoplay`` walks through every screen (list, the first flag, precision, export) and
    closes, writing a PNG of each into ``screenshots`` when given; otherwise F12 writes a
    PNG of the current screen there."""
    try:
        app = ReviewApp(store, viewer=viewer, screenshots=screenshots)
    except ValueError as err:
        print(f"sco review: {err}", file=sys.stderr)
        return 2
    if not autoplay:
        app.run()
        return 0
    from kiosk.review.autoplay import tour

    app.start_embedded()
    try:
        written = tour(app, screenshots)
    finally:
        app.close_embedded()
    for path in written:
        print(path)
    return 0
