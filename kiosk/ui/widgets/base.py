"""Building blocks every screen uses: themed labels and buttons, hiding, simulated taps.

Every rule binds to the app's theme properties (``app.c_*``, ``app.fs_*``,
``app.touch_h``), so large-text and high-contrast switches restyle all screens at once.
"""

from __future__ import annotations

from typing import Any

from kivy.base import EventLoop
from kivy.input.motionevent import MotionEvent
from kivy.lang import Builder
from kivy.properties import AliasProperty, BooleanProperty, OptionProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.widget import Widget

KV = """
#:import FONT kiosk.ui.theme.FONT_NAME

<TLabel>:
    font_name: FONT
    color: app.c_fg
    font_size: app.fs_m
    text_size: self.width, None
    halign: 'left'
    valign: 'middle'
    size_hint_y: None
    height: 0 if self.hidden else max(self.texture_size[1], self.font_size * 1.3)
    opacity: 0 if self.hidden else 1

<TouchButton>:
    font_name: FONT
    font_size: app.fs_m
    size_hint_y: None
    height: 0 if self.hidden else app.touch_h
    opacity: 0 if self.hidden else 1
    disabled: self.hidden
    background_normal: ''
    background_down: ''
    background_disabled_normal: ''
    text_size: self.width - dp(12), None
    halign: 'center'
    valign: 'middle'
    background_color: (app.c_accent, app.c_danger, app.c_ok, app.c_warn, app.c_button)[self.ri]
    color: (app.c_accent_fg, app.c_danger_fg, app.c_ok_fg, app.c_warn_fg, app.c_button_fg)[self.ri]
    canvas.after:
        Color:
            rgba: (0, 0, 0, 0.25 if self.state == 'down' else 0)
        Rectangle:
            pos: self.pos
            size: self.size

<Panel>:
    orientation: 'vertical'
    size_hint_y: None
    height: 0 if self.hidden else self.minimum_height
    opacity: 0 if self.hidden else 1
    disabled: self.hidden
    padding: app.pad
    spacing: app.gap
    canvas.before:
        Color:
            rgba: (app.c_warn, app.c_danger, app.c_ok, app.c_panel)[self.ri]
        Rectangle:
            pos: self.pos
            size: self.size
"""

BUTTON_ROLES = ("primary", "danger", "ok", "warn", "secondary")
PANEL_ROLES = ("warn", "danger", "ok", "panel")
_loaded = False


def load_rules() -> None:
    global _loaded
    if not _loaded:
        Builder.load_string(KV, filename="opensco-base.kv")
        _loaded = True


class TLabel(Label):
    hidden = BooleanProperty(False)


class TouchButton(Button):
    """A button at least ``app.touch_h`` (>= 48 dp) high."""

    hidden = BooleanProperty(False)
    role = OptionProperty("secondary", options=list(BUTTON_ROLES))
    # The role's index picks its colour from a tuple in the kv rule (bound to the theme).
    ri = AliasProperty(lambda self: BUTTON_ROLES.index(self.role), bind=("role",))


class Panel(BoxLayout):
    """A vertical box that sizes to its content; ``role`` picks its background."""

    hidden = BooleanProperty(False)
    role = OptionProperty("panel", options=list(PANEL_ROLES))
    ri = AliasProperty(lambda self: PANEL_ROLES.index(self.role), bind=("role",))


class _Touch(MotionEvent):
    """A finger as the window's input providers would report it (normalised position)."""

    def __init__(self, x: float, y: float) -> None:
        win = EventLoop.window
        super().__init__(
            "opensco-sim", 4242, {"x": x / win.width, "y": y / win.height},
            is_touch=True, type_id="touch",
        )  # fmt: skip
        self.profile = ["pos"]

    def depack(self, args: dict[str, Any]) -> None:
        self.sx, self.sy = args["x"], args["y"]
        super().depack(args)


def tap(widget: Widget) -> None:
    """Press and release a finger at the widget's centre, through the event loop's input
    queue like a touch screen; the caller pumps the loop for it to take effect."""
    x, y = widget.to_window(*widget.center)
    touch = _Touch(x, y)
    EventLoop._dispatch_input("begin", touch)  # Kivy's own test path
    EventLoop._dispatch_input("end", touch)


def walk_visible(root: Widget) -> list[Widget]:
    """The widgets a shopper can see and touch: not hidden, not transparent, not
    zero-sized, and inside no hidden container."""
    out: list[Widget] = []
    stack = [root]
    while stack:
        w = stack.pop()
        if getattr(w, "hidden", False) or w.opacity == 0 or w.height <= 0 or w.width <= 0:
            continue
        out.append(w)
        stack.extend(w.children)
    return out
