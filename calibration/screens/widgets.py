"""Pieces the calibration screens share: verdict colours, result texts, the linearity plot
(Kivy graphics, no plotting library) and a simulated drag for tests and autoplay."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kivy.base import EventLoop
from kivy.core.text import Label as CoreLabel
from kivy.graphics import Color, Ellipse, Line, Rectangle
from kivy.input.motionevent import MotionEvent
from kivy.metrics import dp
from kivy.properties import ListProperty, StringProperty
from kivy.uix.widget import Widget

from calibration.results import CheckResult, Verdict
from kiosk.ui.theme import FONT_NAME

# Panel / button roles of kiosk.ui.widgets.base per verdict.
VERDICT_ROLE = {
    Verdict.PASS: "ok",
    Verdict.WARN: "warn",
    Verdict.FAIL: "danger",
    Verdict.SKIPPED: "panel",
}
VERDICT_WORD = {
    Verdict.PASS: "PASS",
    Verdict.WARN: "WARN",
    Verdict.FAIL: "FAIL",
    Verdict.SKIPPED: "SKIPPED",
}


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={fmt(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)


def _with_unit(key: str, value: Any, unit: str) -> tuple[str, str]:
    """(label, value text): ``error_g`` -> ("error", "3 g"); a count stays bare."""
    for suffix, shown in (("_g", "g"), ("_pct", "%"), ("_ms", "ms"), ("_px", "px")):
        if key.endswith(suffix):
            return key[: -len(suffix)].replace("_", " "), f"{fmt(value)} {shown}"
    if unit and unit != "g" and not isinstance(value, Mapping | list | tuple | str):
        return key.replace("_", " "), f"{fmt(value)} {unit}"
    return key.replace("_", " "), fmt(value)


def _limit_text(result: CheckResult) -> str:
    lim = result.limits
    mpe = next((k for k in lim if k.startswith("mpe")), None)
    if mpe is not None:
        return f"MPE ±{fmt(lim[mpe])} g"
    parts = [f"{k.replace('_', ' ')} {fmt(v)}" for k, v in lim.items()
             if k.startswith(("fail_", "warn_"))]  # fmt: skip
    return ", ".join(parts)


# The figure a check is judged on, where the result does not name it after its limit.
KEY_FIGURES = ("error_g", "max_error_g", "zero_g", "spread_g", "max_diff_g", "settle_ms",
               "rate", "laplacian_variance", "px_per_module", "max_offset_pct", "mean")  # fmt: skip


def headline(result: CheckResult) -> str:
    """The measured figure against its limit, e.g. ``error 3 g (MPE ±2 g)``: the figure
    named like its limit, else the error-like figure, else the first."""
    for key, value in result.figures.items():
        if key in result.limits:
            label, text = _with_unit(key, value, result.unit)
            return f"{label} {text} (limit {fmt(result.limits[key])})"
    key = next((k for k in KEY_FIGURES if k in result.figures), None)
    if key is None:
        key = next((k for k, v in result.figures.items() if isinstance(v, int | float)), None)
    if key is None:
        return result.advice or "no figure"
    label, text = _with_unit(key, result.figures[key], result.unit)
    limit = _limit_text(result)
    return f"{label} {text}" + (f" ({limit})" if limit else "")


def detail_lines(result: CheckResult, limit: int = 8) -> list[str]:
    lines = []
    for key, value in list(result.figures.items())[:limit]:
        label, text = _with_unit(key, value, result.unit)
        lim = f"   (limit {fmt(result.limits[key])})" if key in result.limits else ""
        lines.append(f"{label}: {text}{lim}")
    return lines


def plot_series(result: CheckResult) -> tuple[list[float], list[float], str, str] | None:
    """(xs, ys, x name, y name) for a plot when the result carries two equal-length series:
    an x series named applied/load/reference, and an error (preferred) or indicated series."""
    series = {k: list(v) for k, v in result.series.items()}
    xkey = next((k for k in series if any(w in k for w in ("applied", "load", "ref", "x"))), None)
    if xkey is None:
        return None
    others = [k for k in series if k != xkey and len(series[k]) == len(series[xkey])]
    ykey = next((k for k in others if "err" in k), others[0] if others else None)
    if ykey is None or not series[xkey]:
        return None
    return series[xkey], series[ykey], xkey, ykey


class LinePlot(Widget):
    """Points joined by a line, with the +-``band`` limits (one per point) drawn around zero."""

    xs = ListProperty([])
    ys = ListProperty([])
    band = ListProperty([])
    x_name = StringProperty("")
    y_name = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(pos=self.redraw, size=self.redraw, xs=self.redraw, ys=self.redraw,
                  band=self.redraw)  # fmt: skip

    def set(self, xs: Sequence[float], ys: Sequence[float], x_name: str, y_name: str,
            band: Sequence[float] = ()) -> None:  # fmt: skip
        self.x_name, self.y_name = x_name, y_name
        self.band = [float(b) for b in band] if len(band) == len(xs) else []
        self.xs, self.ys = list(xs), list(ys)

    def redraw(self, *_args: Any) -> None:
        self.canvas.clear()
        if not self.xs or len(self.xs) != len(self.ys) or self.width < 40 or self.height < 40:
            return
        m = dp(44)
        left, bottom = self.x + m, self.y + m * 0.8
        w, h = self.width - m * 1.3, self.height - m * 1.4
        x0, x1 = min(self.xs), max(self.xs)
        ys = [*self.ys, *self.band, *(-b for b in self.band)]
        y0, y1 = min(ys), max(ys)
        if x1 == x0:
            x0, x1 = x0 - 1, x1 + 1
        pad = (y1 - y0) * 0.15 or 1.0
        y0, y1 = y0 - pad, y1 + pad

        def px(x: float, y: float) -> tuple[float, float]:
            return left + (x - x0) / (x1 - x0) * w, bottom + (y - y0) / (y1 - y0) * h

        with self.canvas:
            Color(1, 1, 1, 1)
            Rectangle(pos=(left, bottom), size=(w, h))
            if self.band:
                Color(0.75, 0.15, 0.12, 0.9)
                for sign in (1, -1):
                    edge = [c for x, b in zip(self.xs, self.band, strict=True)
                            for c in px(x, sign * b)]  # fmt: skip
                    Line(points=edge, width=1, dash_length=6, dash_offset=4)
            Color(0.35, 0.38, 0.42, 1)
            Line(points=[left, bottom, left, bottom + h, left, bottom, left + w, bottom], width=1)
            if y0 < 0 < y1:
                Line(points=[*px(x0, 0), *px(x1, 0)], width=1, dash_length=4, dash_offset=4)
            Color(0.04, 0.35, 0.75, 1)
            pts = [c for x, y in zip(self.xs, self.ys, strict=True) for c in px(x, y)]
            Line(points=pts, width=dp(1.6))
            r = dp(5)
            for i in range(0, len(pts), 2):
                Ellipse(pos=(pts[i] - r, pts[i + 1] - r), size=(2 * r, 2 * r))
            Color(0.1, 0.1, 0.12, 1)
            for text, pos in (
                (f"{fmt(x0)}", (left, self.y + dp(4))),
                (f"{fmt(x1)}", (left + w - dp(40), self.y + dp(4))),
                (self.x_name, (left + w / 2 - dp(30), self.y + dp(4))),
                (f"{fmt(y1)}", (self.x + dp(2), bottom + h - dp(16))),
                (f"{fmt(y0)}", (self.x + dp(2), bottom)),
                (self.y_name, (left + dp(6), bottom + h - dp(20))),
            ):
                core = CoreLabel(text=text, font_size=dp(13), font_name=FONT_NAME)
                core.refresh()
                Rectangle(texture=core.texture, pos=pos, size=core.texture.size)


class _Finger(MotionEvent):
    """A finger as the window's input providers report it (normalised position)."""

    def __init__(self, x: float, y: float) -> None:
        win = EventLoop.window
        super().__init__("opensco-drag", 4343, {"x": x / win.width, "y": y / win.height},
                         is_touch=True, type_id="touch")  # fmt: skip
        self.profile = ["pos"]

    def depack(self, args: dict[str, Any]) -> None:
        self.sx, self.sy = args["x"], args["y"]
        super().depack(args)


def drag(start: tuple[float, float], end: tuple[float, float], steps: int = 6,
         pump: Any = None) -> None:  # fmt: skip
    """Press at window ``start``, move in ``steps`` to ``end``, lift, through the event
    loop's input queue like a touch screen; ``pump()`` runs between moves when given."""
    win = EventLoop.window
    touch = _Finger(*start)
    EventLoop._dispatch_input("begin", touch)
    if pump:
        pump()
    for i in range(1, steps + 1):
        x = start[0] + (end[0] - start[0]) * i / steps
        y = start[1] + (end[1] - start[1]) * i / steps
        touch.move({"x": x / win.width, "y": y / win.height})
        EventLoop._dispatch_input("update", touch)
        if pump:
            pump()
    EventLoop._dispatch_input("end", touch)
    if pump:
        pump()
