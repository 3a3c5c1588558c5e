"""Screen 2: one flagged event: its snapshots, the evidence in words, the timeline around
it, the weights, the receipt next to it, and the two label buttons with a note."""

from __future__ import annotations

import io
import logging
from dataclasses import replace
from typing import Any

from kivy.core.image import Image as CoreImage
from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.image import Image
from kivy.uix.screenmanager import Screen

from kiosk.review.screens.common import ScrollText, app, label, text_input
from kiosk.review.words import (
    clock_time,
    describe_evidence,
    label_words,
    reason_words,
    receipt_text,
    timeline_lines,
    weight_lines,
)
from kiosk.ui.widgets.base import Panel, TouchButton

logger = logging.getLogger(__name__)

PURGED = "Image removed after retention"
UNREADABLE = "Image could not be read"
NO_IMAGES = "No snapshot was taken for this event"
NOT_RECEIVED = "Image never reached the store"
MAX_IMAGES = 2  # more would be too small to judge; the count says how many there are


def _heading(text: str) -> Any:
    a = app()
    return label(text=text, font_size=a.fs_m, bold=True)


def jpeg_texture(jpeg: bytes) -> Any:
    """A texture from JPEG bytes, or None when they do not decode."""
    try:
        return CoreImage(io.BytesIO(jpeg), ext="jpg").texture
    except Exception:  # Kivy's loaders raise several types for a bad image
        logger.warning("a snapshot of %d bytes did not decode", len(jpeg))
        return None


class DetailScreen(Screen):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        a = app()
        self.detail: Any = None
        self.images: list[Image] = []
        self.placeholders: list[str] = []  # what each image slot shows instead
        root = BoxLayout(orientation="vertical", padding=a.pad, spacing=a.gap)
        top = BoxLayout(size_hint_y=None, height=a.touch_h, spacing=a.gap)
        self.back = TouchButton(text="< Back to the list", size_hint_x=0.22)
        self.back.bind(on_release=lambda *_: a.show_flags(refresh=False))
        self.title = a.bar_text("", 0.78, bold=True, font_size=a.fs_l)
        top.add_widget(self.back)
        top.add_widget(self.title)
        root.add_widget(top)
        self.subtitle = label(text="", font_size=a.fs_s, color=a.c_muted)
        root.add_widget(self.subtitle)

        columns = BoxLayout(spacing=a.gap * 2)
        left = BoxLayout(orientation="vertical", size_hint_x=0.38, spacing=a.gap)
        left.add_widget(_heading("Snapshots"))
        self.image_box = BoxLayout(orientation="vertical", spacing=a.gap, size_hint_y=0.62)
        left.add_widget(self.image_box)
        left.add_widget(_heading("Evidence"))
        self.evidence = ScrollText(size_hint_y=0.38)
        left.add_widget(self.evidence)

        middle = BoxLayout(orientation="vertical", size_hint_x=0.32, spacing=a.gap)
        middle.add_widget(_heading("Timeline (seconds from the flag)"))
        self.timeline = ScrollText(size_hint_y=0.7)
        middle.add_widget(self.timeline)
        middle.add_widget(_heading("Weights"))
        self.weights = ScrollText(size_hint_y=0.3)
        middle.add_widget(self.weights)

        right = BoxLayout(orientation="vertical", size_hint_x=0.30, spacing=a.gap)
        right.add_widget(_heading("Receipt"))
        # Monospaced, so the amounts line up as on the printed slip (the English receipt
        # has no Chinese characters, which this font lacks).
        self.receipt = ScrollText(font_name="RobotoMono-Regular")
        right.add_widget(self.receipt)
        decide = Panel(role="panel", padding=dp(8), spacing=dp(6))
        self.current_label = label(text="", font_size=a.fs_s)
        self.note = text_input("Note for the case file (optional)")
        self.confirm = TouchButton(text="Confirmed loss", role="danger")
        self.false_alarm = TouchButton(text="False alarm", role="ok")
        self.confirm.bind(on_release=lambda *_: self.set_label("confirmed_loss"))
        self.false_alarm.bind(on_release=lambda *_: self.set_label("false_alarm"))
        pair = BoxLayout(size_hint_y=None, height=a.touch_h, spacing=a.gap)
        pair.add_widget(self.confirm)
        pair.add_widget(self.false_alarm)
        for w in (self.current_label, self.note, pair):
            decide.add_widget(w)
        right.add_widget(decide)

        for col in (left, middle, right):
            columns.add_widget(col)
        root.add_widget(columns)
        self.add_widget(root)

    def show(self, detail: Any) -> None:
        """Paint ``detail`` (a FlagDetail); loads its images through the store (logged)."""
        a = app()
        self.detail = detail
        flag = detail.flag
        self.title.text = reason_words(flag.reason)
        self.subtitle.text = (
            f"{clock_time(flag.ts)}   store {flag.store_id}, lane {flag.kiosk_id}   "
            f"severity {flag.severity}   outcome {flag.outcome}   "
            f"session {flag.session_id or '-'}   flag {flag.flag_id}"
        )
        self.evidence.text = "\n".join(f"• {line}" for line in describe_evidence(flag.evidence))
        lines = timeline_lines(detail.timeline, flag.ts, flag.flag_id)
        self.timeline.text = "\n".join(lines) or "No other events of this session were received."
        self.weights.text = (
            "\n".join(weight_lines(detail.weights, flag.ts)) or "No weight readings."
        )
        self.receipt.text = receipt_text(detail.receipt)
        self.note.text = flag.note or ""
        self._show_label(flag, getattr(detail, "labels", ()))
        self._show_images(a, detail)

    def _show_label(self, flag: Any, history: Any = ()) -> None:
        who = f" by {flag.labelled_by}" if flag.labelled_by else ""
        when = f" at {clock_time(flag.labelled_ts)}" if flag.labelled_ts else ""
        text = f"Label: {label_words(flag.label)}{who}{when}"
        if len(history) > 1:  # relabelled: the earlier decisions stay visible
            earlier = [label_words(h.get("label")) for h in list(history)[:-1]]
            text += f" (before: {', '.join(earlier)})"
        self.current_label.text = text

    def _show_images(self, a: Any, detail: Any) -> None:
        self.image_box.clear_widgets()
        self.images, self.placeholders = [], []
        snaps = list(detail.snapshots)
        if not snaps:
            self.placeholders.append(NO_IMAGES)
            self.image_box.add_widget(label(text=NO_IMAGES, color=a.c_muted, halign="center"))
            return
        for info in snaps[:MAX_IMAGES]:
            texture, why = None, PURGED if info.purged_at is not None else NOT_RECEIVED
            if info.present:
                jpeg = a.call_store(
                    "load a snapshot",
                    lambda i=info: a.store.snapshot_jpeg(i.snap_id, viewer=a.viewer),
                )
                texture = jpeg_texture(jpeg) if jpeg else None
                why = PURGED if not jpeg else UNREADABLE
            if texture is not None:
                img = Image(texture=texture, fit_mode="contain")
                self.images.append(img)
                self.image_box.add_widget(img)
            else:
                self.placeholders.append(why)
                box = Panel(role="warn", size_hint_y=1)
                when = f"\n(taken {clock_time(info.ts)})" if info.ts else ""
                box.add_widget(label(text=why + when, halign="center"))
                self.image_box.add_widget(box)
        if len(snaps) > MAX_IMAGES:
            self.image_box.add_widget(
                label(
                    text=f"{len(snaps) - MAX_IMAGES} more snapshot(s) in the export",
                    font_size=a.fs_s,
                    color=a.c_muted,
                )
            )

    def set_label(self, label: str) -> None:
        a = app()
        if self.detail is None:
            return
        flag_id, note = self.detail.flag.flag_id, self.note.text.strip()
        row = a.call_store(
            "save the label",
            lambda: a.store.label(flag_id, label, note, reviewer=a.viewer),
        )
        if row is None:
            return
        history = (*getattr(self.detail, "labels", ()), {"label": label, "note": note})
        extra = {"labels": history} if hasattr(self.detail, "labels") else {}
        self.detail = replace(self.detail, flag=row, **extra)
        self._show_label(row, history)
        a.say(f"Saved: {label_words(label)}" + (f" — {note}" if note else ""))
