"""The tablet's screens: sign-in, lane map, alert queue, alert detail (one module and one
kv file each), and ``words``, the texts they show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCREENS = ("signin", "lanes", "queue", "detail", "assist", "help")


def load_kv(name: str) -> None:
    """Load ``<name>.kv`` once per process (Kivy would apply a twice-loaded rule twice)."""
    from kivy.lang import Builder

    path = str(HERE / f"{name}.kv")
    if path not in Builder.files:
        Builder.load_file(path)


def make_screen(name: str) -> Any:
    import importlib

    module = importlib.import_module(f"kiosk.attendant.screens.{name}")
    load_kv(name)
    # "Tablet" prefix: kv rules match by class name, and the shopper and review apps
    # have screens called Help and Detail in the same process.
    return getattr(module, "Tablet" + name.title() + "Screen")(name=name)
