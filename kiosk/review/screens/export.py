"""Screen 4: export the flags the list's filters select, as CSV and as an HTML report,
into a folder the reviewer chooses."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from kiosk.files import write_atomically
from kiosk.review.screens.common import app, label, text_input
from kiosk.ui.widgets.base import TouchButton


def default_folder() -> Path:
    return Path.home() / "opensco-review-exports"


class ExportError(OSError):
    pass


def export_to(store: Any, f: Any, folder: Path, kind: str, viewer: str) -> tuple[Path, str]:
    """Write one export into ``folder`` (made if missing); returns (path, what it holds)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ExportError(f"cannot make the folder {folder}: {err.strerror or err}") from err
    if not os.access(folder, os.W_OK):
        raise ExportError(f"the folder {folder} is not writable")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if kind == "csv":
        path = folder / f"flags-{stamp}.csv"
        tmp = path.with_suffix(".csv.part")
        with tmp.open("w", encoding="utf-8", newline="") as out:
            n = store.export_csv(f, out, viewer=viewer)
        tmp.replace(path)  # a half-written export is never left under the final name
        return path, f"{n} flag{'s' if n != 1 else ''}"
    path = folder / f"report-{stamp}.html"
    html = store.report_html(f, viewer=viewer)
    write_atomically(path, html.encode("utf-8"))
    return path, f"{len(html) // 1024 + 1} KiB"


class ExportScreen(Screen):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        a = app()
        self.written: list[Path] = []
        root = BoxLayout(orientation="vertical", padding=a.pad * 2, spacing=a.gap * 2)
        root.add_widget(label(text="Export", font_size=a.fs_l, bold=True))
        self.scope = label(text="", font_size=a.fs_s, color=a.c_muted)
        root.add_widget(self.scope)
        root.add_widget(label(text="Folder", font_size=a.fs_m))
        self.folder = text_input("Folder to write to")
        self.folder.text = str(default_folder())
        root.add_widget(self.folder)
        row = BoxLayout(size_hint_y=None, height=a.touch_h, spacing=a.gap)
        self.csv_btn = TouchButton(text="Export CSV", role="primary")
        self.html_btn = TouchButton(text="Export HTML report", role="ok")
        self.csv_btn.bind(on_release=lambda *_: self.export("csv"))
        self.html_btn.bind(on_release=lambda *_: self.export("html"))
        row.add_widget(self.csv_btn)
        row.add_widget(self.html_btn)
        root.add_widget(row)
        self.result = label(text="", font_size=a.fs_m)
        root.add_widget(self.result)
        root.add_widget(
            label(
                text="Exports contain what the kiosks recorded about each flag and the "
                "reviewers' labels; no payment data. Snapshots are not copied into exports.",
                font_size=a.fs_s,
                color=a.c_muted,
            )
        )
        root.add_widget(BoxLayout())  # the rest of the height stays empty
        self.add_widget(root)

    def refresh(self) -> None:
        f = app().current_filter()
        self.scope.text = "Flags: " + (describe_filter(f) if f is not None else "?")

    def export(self, kind: str) -> Path | None:
        a = app()
        f = a.current_filter()
        if f is None:
            return None
        folder = Path(os.path.expanduser(self.folder.text.strip() or str(default_folder())))
        try:
            done = a.call_store(
                f"export {kind.upper()}",
                lambda: export_to(a.store, f, folder, kind, a.viewer),
                catch=(ExportError,),
            )
        except OSError as err:  # disk full, permissions changed under us
            done = None
            a.say(f"Export failed: {err}", error=True)
        if done is None:
            self.result.text = "Nothing written."
            return None
        path, what = done
        self.written.append(path)
        self.result.text = f"Wrote {path} ({what})"
        a.say(self.result.text)
        return path


def describe_filter(f: Any) -> str:
    parts = [
        f"store {f.store_id}" if f.store_id else "",
        f"lane {f.kiosk_id}" if f.kiosk_id else "",
        f"reason {f.reason}" if f.reason else "",
        f"severity {f.severity}" if f.severity else "",
        f"label {f.label}" if f.label else "",
        f"from {time.strftime('%Y-%m-%d', time.localtime(f.since_ts))}" if f.since_ts else "",
        f"to {time.strftime('%Y-%m-%d', time.localtime(f.until_ts))}" if f.until_ts else "",
    ]
    chosen = ", ".join(p for p in parts if p)
    return (chosen or "all") + " (set on the Flags screen)"
