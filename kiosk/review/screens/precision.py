"""Screen 3: precision (confirmed losses / labelled flags) by reason over time, as a chart
and in words per reason."""

from __future__ import annotations

import inspect
from typing import Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.widget import Widget

from kiosk.review.chart import PrecisionChart, Series, build_series
from kiosk.review.screens.common import FilterSpinner, app, label

BUCKETS = ("day", "week", "month")


def precision_points(store: Any, f: Any, bucket: str, viewer: str) -> list[Any]:
    """The store's precision points; the view is logged under ``viewer`` where the store
    takes one (older stores: by listing the same flags, which logs)."""
    if "viewer" in inspect.signature(store.precision).parameters:
        return list(store.precision(f, bucket=bucket, viewer=viewer))
    store.flags(f, viewer=viewer)
    return list(store.precision(f, bucket=bucket))


class PrecisionScreen(Screen):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        a = app()
        self.series: list[Series] = []
        root = BoxLayout(orientation="vertical", padding=a.pad, spacing=a.gap)
        top = BoxLayout(size_hint_y=None, height=a.touch_h, spacing=a.gap)
        top.add_widget(label(text="Precision by reason", font_size=a.fs_l, bold=True))
        top.add_widget(label(text="Period:", font_size=a.fs_s, size_hint_x=0.15, halign="right"))
        self.bucket = FilterSpinner("Period", size_hint_x=0.15)
        self.bucket.values, self.bucket.text = list(BUCKETS), "week"
        self.bucket.bind(text=lambda *_: self.refresh())
        top.add_widget(self.bucket)
        root.add_widget(top)
        self.scope = label(text="", font_size=a.fs_s, color=a.c_muted)
        root.add_widget(self.scope)
        self.chart = PrecisionChart(fg=list(a.c_fg), size_hint_y=0.68)
        root.add_widget(self.chart)
        root.add_widget(label(text="Totals for the period shown", font_size=a.fs_m, bold=True))
        self.summary = BoxLayout(orientation="vertical", size_hint_y=0.32)
        root.add_widget(self.summary)
        self.add_widget(root)

    def refresh(self) -> None:
        """Precision for the list screen's store, lane and dates (all reasons and labels:
        a label filter would make the share meaningless)."""
        from dataclasses import replace

        a = app()
        base = a.current_filter()
        if base is None:
            return
        f = replace(base, reason=None, label=None, severity=None)
        points = a.call_store(
            "compute precision",
            lambda: precision_points(a.store, f, self.bucket.text, a.viewer),
        )
        if points is None:
            return
        self.series = build_series(points)
        self.chart.series = self.series
        where = (
            ", ".join(
                part
                for part in (
                    f"store {f.store_id}" if f.store_id else "",
                    f"lane {f.kiosk_id}" if f.kiosk_id else "",
                )
                if part
            )
            or "all stores and lanes"
        )
        self.scope.text = (
            f"{where}; precision = confirmed losses / (confirmed losses + false alarms), "
            f"by {self.bucket.text}"
        )
        self.summary.clear_widgets()
        if not self.series:
            self.summary.add_widget(label(text="No flagged events yet.", font_size=a.fs_s))
        for s in self.series:
            self.summary.add_widget(label(text=s.summary(), font_size=a.fs_s))
        self.summary.add_widget(Widget())  # takes the spare height: the lines stay on top

    def summary_texts(self) -> list[str]:
        return [w.text for w in reversed(self.summary.children) if hasattr(w, "text")]
