"""The tablet's own building blocks on top of the shopper app's (``TLabel``, ``TouchButton``,
``Panel``): a coloured card, a lane tile and an alert row. Colours come from the theme by
role, so the tablet and the kiosk read the same way (red stops, yellow waits)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.lang import Builder
from kivy.properties import ColorProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from kiosk.attendant.floor import AlertView, LaneView
from kiosk.attendant.screens import words
from kiosk.ui.widgets.base import TLabel, TouchButton

Builder.load_string(
    """
<Card>:
    padding: app.pad / 2
    spacing: app.gap / 2
    canvas.before:
        Color:
            rgba: self.bg
        RoundedRectangle:
            pos: self.pos
            size: self.size
            radius: [dp(6)]
""",
    filename="opensco-attendant-widgets.kv",
)


def role_colors(app: Any, role: str) -> tuple[Any, Any]:
    """(background, text) of a theme role: panel, warn, danger, ok, accent or muted."""
    if role == "muted":
        return app.c_muted, app.c_panel
    if role == "panel":
        return app.c_panel, app.c_fg
    return getattr(app, f"c_{role}"), getattr(app, f"c_{role}_fg")


class Card(BoxLayout):
    bg = ColorProperty((1, 1, 1, 1))
    fg = ColorProperty((0, 0, 0, 1))
    role = StringProperty("panel")

    def paint(self, app: Any, role: str) -> None:
        self.role = role
        self.bg, self.fg = role_colors(app, role)
        for child in self.walk(restrict=True):
            if isinstance(child, TLabel):
                child.color = self.fg


class LaneTile(Card):
    """One kiosk on the lane map: id, state in words and colour, wait, basket, link, and
    a button to its Lane screen (remote assistance) when ``on_screen`` is given."""

    def __init__(
        self,
        app: Any,
        lane: LaneView,
        now: float,
        on_open: Callable[[str], None],
        on_screen: Callable[[str], None] | None = None,
    ):
        rows = 4 if on_screen is not None else 3
        super().__init__(orientation="vertical", size_hint_y=None, height=app.touch_h * rows)
        self.kiosk_id = lane.kiosk_id
        title = f"{lane.kiosk_id} · {words.TRAINING_MARK}" if lane.training else lane.kiosk_id
        self.title = TLabel(text=title, font_size=app.fs_l, bold=True)
        self.state = TLabel(text=words.state_text(lane), font_size=app.fs_m)
        self.wait = TLabel(font_size=app.fs_s)
        basket = f"{lane.items} items, {words.money_text(lane.total_minor, lane.currency)}"
        self.basket = TLabel(text=basket, font_size=app.fs_s)
        link = "online" if lane.online else "OFFLINE"
        extra = [x for x in ("locked" if lane.locked else "", link) if x]
        self.link = TLabel(text=" · ".join(extra), font_size=app.fs_s)
        for w in (self.title, self.state, self.wait, self.basket, self.link):
            self.add_widget(w)
        self.screen_button: TouchButton | None = None
        if on_screen is not None:
            self.screen_button = TouchButton(text="Lane screen", role="secondary")
            self.screen_button.bind(on_release=lambda *_a: on_screen(self.kiosk_id))
            self.add_widget(self.screen_button)
        self.lane = lane
        self.refresh(now)
        self.paint(app, words.STATE_ROLES.get(lane.display_state, "panel"))
        self._on_open = on_open

    def refresh(self, now: float) -> None:
        known = self.lane.since_ts > 0  # a lane heard only through its status has no state yet
        self.wait.text = f"for {words.duration_text(self.lane.waiting_s(now))}" if known else ""

    def on_touch_up(self, touch: Any) -> bool:
        button = self.screen_button
        if button is not None and button.collide_point(*touch.pos):
            return bool(super().on_touch_up(touch))  # the button's own release opens it
        if self.collide_point(*touch.pos) and touch.grab_current is None:
            self._on_open(self.kiosk_id)
            return True
        return bool(super().on_touch_up(touch))


class AlertRow(Card):
    """One alert in the queue: severity colour, reason, lane, wait, who claimed it, Open."""

    def __init__(
        self, app: Any, alert: AlertView, now: float, on_open: Callable[[str], None]
    ) -> None:
        super().__init__(orientation="horizontal", size_hint_y=None, height=app.touch_h * 1.5)
        self.alert = alert
        self.key = alert.key
        text = BoxLayout(orientation="vertical")
        self.reason = TLabel(text=words.reason_text(alert), font_size=app.fs_m, bold=True)
        claimed = f"claimed by {alert.claimed_by}" if alert.claimed_by else "not claimed"
        self.where = TLabel(font_size=app.fs_s)
        self._where_head = f"{alert.kiosk_id} · {alert.severity}"
        if alert.training:  # practice: the trainee must still see it is not a real shopper
            self._where_head = f"{words.TRAINING_MARK} · {self._where_head}"
        self._claimed = claimed
        text.add_widget(self.reason)
        text.add_widget(self.where)
        self.add_widget(text)
        self.open = TouchButton(text="Open", role="secondary", size_hint_x=None,
                                width=app.touch_h * 2.5)  # fmt: skip
        self.open.bind(on_release=lambda *_a: on_open(self.key))
        self.add_widget(self.open)
        self.refresh(now)
        self.paint(app, words.SEVERITY_ROLES.get(alert.severity, "warn"))

    def refresh(self, now: float) -> None:
        wait = words.duration_text(self.alert.waiting_s(now))
        self.where.text = f"{self._where_head} · waiting {wait} · {self._claimed}"
