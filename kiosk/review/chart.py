"""Precision by reason over time: the series (pure) and a Kivy widget that draws them.

Drawn with Kivy's own canvas (lines, points, text textures) so the review app needs no
plotting library at run time; the HTML report has its own SVG chart from the store.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kivy.core.text import Label as CoreLabel
from kivy.graphics import Color, Ellipse, Line, Rectangle
from kivy.metrics import dp, sp
from kivy.properties import ListProperty
from kivy.uix.widget import Widget

from kiosk.review.words import reason_words
from kiosk.ui.theme import FONT_NAME

# Distinguishable on white and for the common colour-vision deficiencies (Okabe-Ito).
SERIES_COLOURS = (
    (0.0, 0.45, 0.70),
    (0.84, 0.37, 0.0),
    (0.0, 0.62, 0.45),
    (0.80, 0.47, 0.65),
    (0.34, 0.71, 0.91),
    (0.90, 0.62, 0.0),
    (0.35, 0.35, 0.35),
    (0.95, 0.89, 0.26),
)


class PointLike(Protocol):
    reason: str
    bucket_start: float
    confirmed: int
    false_alarms: int
    unlabelled: int

    @property
    def precision(self) -> float | None: ...


@dataclass(frozen=True)
class Series:
    reason: str
    points: tuple[tuple[float, float], ...]  # (bucket_start, precision), labelled buckets only
    buckets: tuple[float, ...]  # every bucket with a flag of this reason, labelled or not
    confirmed: int
    false_alarms: int
    unlabelled: int

    @property
    def precision(self) -> float | None:
        judged = self.confirmed + self.false_alarms
        return self.confirmed / judged if judged else None

    def summary(self) -> str:
        """E.g. "Item bagged without a scan: 67% (2 confirmed, 1 false alarm, 3 not reviewed)"."""
        p = self.precision
        share = f"{p:.0%}" if p is not None else "no labels yet"
        alarms = "false alarm" if self.false_alarms == 1 else "false alarms"
        return (
            f"{reason_words(self.reason)}: {share} ({self.confirmed} confirmed, "
            f"{self.false_alarms} {alarms}, {self.unlabelled} not reviewed)"
        )


def build_series(points: Iterable[PointLike]) -> list[Series]:
    """One series per reason, buckets in time order; a bucket with no labelled flag has
    no precision and is left out of the line (its counts still add to the totals)."""
    by_reason: dict[str, list[PointLike]] = {}
    for p in points:
        by_reason.setdefault(p.reason, []).append(p)
    out = []
    for reason in sorted(by_reason):
        pts = sorted(by_reason[reason], key=lambda p: p.bucket_start)
        line = tuple((p.bucket_start, p.precision) for p in pts if p.precision is not None)
        out.append(
            Series(
                reason,
                line,  # type: ignore[arg-type]
                tuple(p.bucket_start for p in pts),
                sum(p.confirmed for p in pts),
                sum(p.false_alarms for p in pts),
                sum(p.unlabelled for p in pts),
            )
        )
    return out


def _text(
    canvas: Any,
    text: str,
    x: float,
    y: float,
    size: float,
    rgba: Sequence[float],
    anchor: str = "left",
) -> None:
    label = CoreLabel(text=text, font_size=size, font_name=FONT_NAME)
    label.refresh()
    tex = label.texture
    if anchor == "right":
        x -= tex.width
    elif anchor == "center":
        x -= tex.width / 2
    with canvas:
        Color(*rgba)
        Rectangle(texture=tex, pos=(x, y - tex.height / 2), size=tex.size)


class PrecisionChart(Widget):
    """Precision (0-100 %) per reason against the bucket's start date."""

    series = ListProperty()  # list[Series]
    fg = ListProperty([0.1, 0.12, 0.14, 1])
    grid = ListProperty([0.85, 0.87, 0.9, 1])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(pos=self.redraw, size=self.redraw, series=self.redraw)

    def redraw(self, *_: Any) -> None:
        c = self.canvas
        c.clear()
        left, bottom = self.x + dp(56), self.y + dp(40)
        legend_w = dp(280)
        w = max(self.width - dp(56) - legend_w - dp(16), dp(50))
        h = max(self.height - dp(56), dp(50))
        fs = sp(13)
        for i in range(5):  # horizontal grid at 0, 25 ... 100 %
            y = bottom + h * i / 4
            with c:
                Color(*self.grid)
                Line(points=[left, y, left + w, y], width=1)
            _text(c, f"{i * 25}%", left - dp(8), y, fs, self.fg, anchor="right")
        with c:
            Color(*self.fg)
            Line(points=[left, bottom + h, left, bottom, left + w, bottom], width=1.2)
        # The time axis spans every bucket with flags, so a lone label shows where it falls.
        starts = sorted({x for s in self.series for x in s.buckets})
        if not any(s.points for s in self.series):
            _text(
                c,
                "No labelled flags yet: label some to see precision.",
                left + w / 2,
                bottom + h / 2,
                sp(16),
                self.fg,
                anchor="center",
            )
        # x is proportional to time, so a quiet week still takes its width.
        t0, t1 = (starts[0], starts[-1]) if starts else (0.0, 0.0)
        xpos = {x: left + (w * (x - t0) / (t1 - t0) if t1 > t0 else w / 2) for x in starts}
        shown = max(1, len(starts) // 8)  # at most ~8 date labels
        for i, x in enumerate(starts):
            if i % shown == 0:
                day = time.strftime("%m-%d", time.localtime(x))
                _text(c, day, xpos[x], bottom - dp(16), fs, self.fg, anchor="center")
        r = dp(4)
        for n, s in enumerate(self.series):
            rgb = SERIES_COLOURS[n % len(SERIES_COLOURS)]
            pts = [(xpos[x], bottom + h * p) for x, p in s.points]
            with c:
                Color(*rgb, 1)
                if len(pts) > 1:
                    Line(points=[v for xy in pts for v in xy], width=dp(1.5))
                for px, py in pts:
                    Ellipse(pos=(px - r, py - r), size=(2 * r, 2 * r))
            ly = self.top - dp(16) - n * dp(22)
            lx = left + w + dp(16)
            with c:
                Color(*rgb, 1)
                Rectangle(pos=(lx, ly - dp(6)), size=(dp(12), dp(12)))
            p = s.precision
            share = f"{p:.0%}" if p is not None else "–"
            name = reason_words(s.reason)
            name = name if len(name) <= 27 else name[:26] + "…"
            _text(c, share, lx + dp(18), ly, fs, self.fg)
            _text(c, name, lx + dp(54), ly, fs, self.fg)
