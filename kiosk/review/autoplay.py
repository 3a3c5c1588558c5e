"""A scripted walk through the review app's screens (``sco review --autoplay``), writing a
PNG of each: the issue's closing note and the tests use it; no labels are changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCREEN_ORDER = ("flags", "detail", "precision", "export")


def shot(app: Any, folder: Path, name: str) -> Path:
    """Settle the layout, then write ``folder/review_<name>.png``."""
    app.pump(frames=3)
    return app.screenshot(Path(folder) / f"review_{name}.png")


def tour(app: Any, folder: Path | None) -> list[Path]:
    """Show each screen in turn (the first flag for the detail, if there is one)."""
    written: list[Path] = []
    for name in SCREEN_ORDER:
        if name == "detail":
            rows = app.screen("flags").rows
            if not rows:
                continue
            app.open_flag(rows[0].flag_id)
        else:
            app.go(name)
        app.pump(lambda n=name: app.sm.current == n, timeout_s=10.0)
        if folder is not None:
            written.append(shot(app, folder, name))
    app.show_flags()
    return written
