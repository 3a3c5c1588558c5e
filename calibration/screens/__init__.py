"""The guided calibration app's screens: start, scale (one per scale check), zones (live view
with the zone editor), checks (camera checks) and summary; one module and one kv file each,
plus ``common.kv`` (shared rules), ``flow`` (steps and the worker) and the widgets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCREENS = ("start", "scale", "zones", "checks", "summary")


def load_kv(name: str) -> None:
    """Load ``<name>.kv`` once per process (Kivy would apply a twice-loaded rule twice)."""
    from kivy.lang import Builder

    path = str(HERE / f"{name}.kv")
    if path not in Builder.files:
        Builder.load_file(path)


def make_screen(name: str) -> Any:
    import importlib

    module = importlib.import_module(f"calibration.screens.{name}")
    load_kv(name)
    return getattr(module, name.title() + "Screen")(name=name)
