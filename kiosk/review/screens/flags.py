"""Screen 1: the flagged events, filtered by store, lane, date range, reason, severity and
label, in a table; tapping a row opens its detail."""

from __future__ import annotations

import time
from typing import Any

from kivy.graphics import Color, Rectangle
from kivy.metrics import dp
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.recycleboxlayout import RecycleBoxLayout
from kivy.uix.recycleview import RecycleView
from kivy.uix.recycleview.views import RecycleDataViewBehavior
from kivy.uix.screenmanager import Screen

from kiosk.review.screens.common import FilterSpinner, app, label, text_input
from kiosk.review.words import clock_time, label_words, reason_words
from kiosk.ui.theme import FONT_NAME
from kiosk.ui.widgets.base import TouchButton

# (data key, heading, share of the row's width)
COLUMNS = (
    ("time", "Time", 0.17),
    ("lane", "Lane", 0.13),
    ("reason", "Reason", 0.27),
    ("severity", "Severity", 0.09),
    ("outcome", "Outcome", 0.09),
    ("label", "Label", 0.25),
)
SEVERITIES = ("low", "medium", "high")
LABEL_CHOICES = ("unlabelled", "confirmed_loss", "false_alarm")
OUTCOME_WORDS = {"alert": "Alert", "flag": "Flag only"}


class DateError(ValueError):
    pass


def parse_day(text: str, *, end: bool) -> float | None:
    """``YYYY-MM-DD`` (local time) as Unix seconds: its start, or the end for ``end``."""
    text = text.strip()
    if not text:
        return None
    try:
        start = time.mktime(time.strptime(text, "%Y-%m-%d"))
    except ValueError:
        raise DateError(
            f"{text!r} is not a date: write it as YYYY-MM-DD, e.g. 2025-11-25"
        ) from None
    return start + 86400 - 0.001 if end else start


def row_data(row: Any, index: int) -> dict[str, Any]:
    return {
        "flag_id": row.flag_id,
        "index": index,
        "time": clock_time(row.ts),
        "lane": f"{row.store_id}/{row.kiosk_id}",
        "reason": reason_words(row.reason),
        "severity": row.severity,
        "outcome": OUTCOME_WORDS.get(row.outcome, row.outcome),
        "label": label_words(row.label) + (f" — {row.note}" if row.note else ""),
    }


def _cell(width: float, **kwargs: Any) -> Label:
    a = app()
    cell = Label(
        font_name=FONT_NAME,
        font_size=a.fs_s,
        color=a.c_fg,
        size_hint_x=width,
        halign="left",
        valign="middle",
        shorten=True,
        shorten_from="right",
        **kwargs,
    )
    cell.bind(size=lambda c, s: setattr(c, "text_size", (s[0] - dp(8), s[1])))
    return cell


class FlagRowView(RecycleDataViewBehavior, ButtonBehavior, BoxLayout):
    """One table row; tapping it opens the flag."""

    flag_id = StringProperty("")
    index = NumericProperty(0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(orientation="horizontal", **kwargs)
        self.cells = {key: _cell(w) for key, _, w in COLUMNS}
        for cell in self.cells.values():
            self.add_widget(cell)
        with self.canvas.before:
            self._bg_colour = Color(1, 1, 1, 1)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=self._move, size=self._move)

    def _move(self, *_: Any) -> None:
        self._bg.pos, self._bg.size = self.pos, self.size

    def refresh_view_attrs(self, rv: Any, index: int, data: dict[str, Any]) -> Any:
        self.flag_id, self.index = data["flag_id"], index
        for key, cell in self.cells.items():
            cell.text = data[key]
        a = app()
        self._bg_colour.rgba = a.c_panel if index % 2 else a.c_bg
        return super().refresh_view_attrs(rv, index, data)

    def on_release(self) -> None:
        app().open_flag(self.flag_id)


class FlagsScreen(Screen):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        a = app()
        self.rows: list[Any] = []
        self.known: dict[str, set[str]] = {"store": set(), "lane": set(), "reason": set()}
        root = BoxLayout(orientation="vertical", padding=a.pad, spacing=a.gap)
        self.store = FilterSpinner("Store")
        self.lane = FilterSpinner("Lane")
        self.reason = FilterSpinner("Reason")
        self.severity = FilterSpinner("Severity")
        self.severity.offer(list(SEVERITIES))
        self.label = FilterSpinner("Label")
        self.label.offer(list(LABEL_CHOICES))
        self.since = text_input("YYYY-MM-DD")
        self.until = text_input("YYYY-MM-DD")
        fields = (
            ("Store", self.store),
            ("Lane", self.lane),
            ("Reason", self.reason),
            ("Severity", self.severity),
            ("Label", self.label),
            ("From", self.since),
            ("To", self.until),
        )
        # Captions above their fields; the reason gets the widest box (long names).
        bar = GridLayout(cols=len(fields), size_hint_y=None, height=dp(66), spacing=(a.gap, 2))
        widths = (0.12, 0.16, 0.24, 0.1, 0.14, 0.12, 0.12)
        for (caption, _), w in zip(fields, widths, strict=True):
            bar.add_widget(label(text=caption, font_size=a.fs_s, color=a.c_muted, size_hint_x=w))
        for (_, widget), w in zip(fields, widths, strict=True):
            widget.size_hint_x = w
            bar.add_widget(widget)
        root.add_widget(bar)
        buttons = BoxLayout(size_hint_y=None, height=a.touch_h, spacing=a.gap)
        self.apply_btn = TouchButton(text="Apply filters", role="primary")
        self.apply_btn.bind(on_release=lambda *_: self.refresh())
        self.clear_btn = TouchButton(text="Clear filters")
        self.clear_btn.bind(on_release=lambda *_: self.clear())
        self.count = label(text="", font_size=a.fs_m)
        buttons.add_widget(self.apply_btn)
        buttons.add_widget(self.clear_btn)
        buttons.add_widget(self.count)
        root.add_widget(buttons)
        heading = BoxLayout(size_hint_y=None, height=dp(32))
        for _, title, w in COLUMNS:
            heading.add_widget(_cell(w, text=title, bold=True))
        root.add_widget(heading)
        self.table = RecycleView(bar_width=dp(8), scroll_type=["bars", "content"])
        layout = RecycleBoxLayout(
            orientation="vertical",
            default_size=(None, dp(40)),
            default_size_hint=(1, None),
            size_hint_y=None,
        )
        layout.bind(minimum_height=layout.setter("height"))
        self.table.add_widget(layout)
        self.table.viewclass = FlagRowView  # after the layout: RecycleView forwards it there
        root.add_widget(self.table)
        self.add_widget(root)

    # --- what the filters say -----------------------------------------------------------

    def current_filter(self) -> Any:
        """The filters as the store's FlagFilter; DateError for a badly written date."""
        from backend_client.review_store import FlagFilter

        lane = self.lane.choice
        return FlagFilter(
            store_id=self.store.choice,
            kiosk_id=lane.split("/", 1)[1] if lane else None,
            since_ts=parse_day(self.since.text, end=False),
            until_ts=parse_day(self.until.text, end=True),
            reason=self._reason_key(self.reason.choice),
            severity=self.severity.choice,
            label=self.label.choice,
        )

    def _reason_key(self, shown: str | None) -> str | None:
        if shown is None:
            return None
        for key in self.known["reason"]:
            if reason_words(key) == shown:
                return key
        return shown

    def clear(self) -> None:
        for spinner in (self.store, self.lane, self.reason, self.severity, self.label):
            spinner.text = "Any"
        self.since.text = self.until.text = ""
        self.refresh()

    def rows_visible(self) -> list[FlagRowView]:
        """The row widgets on screen now (the table recycles them while scrolling)."""
        return [w for w in self.table.layout_manager.children if isinstance(w, FlagRowView)]

    # --- data in ------------------------------------------------------------------------

    def refresh(self) -> None:
        a = app()
        try:
            f = self.current_filter()
        except DateError as err:
            a.say(str(err), error=True)
            return
        rows = a.call_store("list the flags", lambda: a.store.flags(f, viewer=a.viewer))
        if rows is None:
            return
        self.rows = list(rows)
        for r in self.rows:  # choices grow with what the store has shown
            self.known["store"].add(r.store_id)
            self.known["lane"].add(f"{r.store_id}/{r.kiosk_id}")
            self.known["reason"].add(r.reason)
        self.store.offer(self.known["store"])
        self.lane.offer(self.known["lane"])
        self.reason.offer({reason_words(k) for k in self.known["reason"]})
        self.table.data = [row_data(r, i) for i, r in enumerate(self.rows)]
        n = len(self.rows)
        more = " (the first ones: narrow the filters)" if n >= f.limit else ""
        self.count.text = f"{n} flagged event{'s' if n != 1 else ''}{more}"
        a.say("")
