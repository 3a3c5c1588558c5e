"""The checkout's camera layout: zone polygons from ``examples/zones.json`` in frame pixels.

The calibration file stores normalised points so it survives a resolution change; the renderer
needs pixels. When the file is missing or unreadable the documented default layout is used, so
rendering never depends on another file being present.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

ZONES_FILE = Path(__file__).resolve().parents[2] / "examples" / "zones.json"
DEFAULT_ZONES: dict[str, list[tuple[float, float]]] = {
    "scan": [(0.05, 0.1), (0.45, 0.1), (0.45, 0.9), (0.05, 0.9)],
    "bagging": [(0.55, 0.1), (0.95, 0.1), (0.95, 0.9), (0.55, 0.9)],
    "produce_scale": [(0.15, 0.55), (0.35, 0.55), (0.35, 0.85), (0.15, 0.85)],
    "exit": [(0.95, 0.0), (1.0, 0.0), (1.0, 1.0), (0.95, 1.0)],
}
DEFAULT_PRIORITY = ("produce_scale", "scan", "bagging", "exit")


@dataclass(frozen=True)
class Layout:
    """Zone polygons in pixels of a ``width`` x ``height`` frame."""

    width: int
    height: int
    zones: dict[str, npt.NDArray[np.float32]]  # name -> N x 2 pixel points
    priority: tuple[str, ...]

    def rect(self, name: str) -> tuple[float, float, float, float]:
        """Bounding rectangle (x1, y1, x2, y2) of a zone, in pixels."""
        pts = self.zones[name]
        return (
            float(pts[:, 0].min()),
            float(pts[:, 1].min()),
            float(pts[:, 0].max()),
            float(pts[:, 1].max()),
        )

    def zone_of(self, x: float, y: float) -> str | None:
        """The zone holding a point (a box's centre), by the calibration's priority order."""
        import cv2

        for name in self.priority:
            pts = self.zones.get(name)
            if pts is not None and cv2.pointPolygonTest(pts, (float(x), float(y)), False) >= 0:
                return name
        return None


def load_layout(width: int = 640, height: int = 480, path: Path | None = None) -> Layout:
    """Read the zones calibration (normalised polygons) and scale it to the frame size."""
    path = ZONES_FILE if path is None else path
    zones_n: dict[str, list[tuple[float, float]]] = dict(DEFAULT_ZONES)
    priority: tuple[str, ...] = DEFAULT_PRIORITY
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        loaded = {
            str(name): [(float(p[0]), float(p[1])) for p in pts]
            for name, pts in doc["zones"].items()
        }
        if all(len(pts) >= 3 for pts in loaded.values()) and {"scan", "bagging"} <= set(loaded):
            zones_n = loaded
            priority = tuple(doc.get("priority", list(loaded)))
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        pass  # missing or malformed calibration: keep the defaults above
    zones = {
        name: (np.array(pts, np.float32) * np.array([width, height], np.float32))
        for name, pts in zones_n.items()
    }
    return Layout(width, height, zones, priority)
