"""The zones file being edited: normalised polygons, moved a vertex at a time, saved in the
``opensco.zones/1`` shape that :mod:`vision.zones` reads.

Kept free of Kivy so the rules (a move that would make a polygon invalid is refused, the
file keeps its priority, anchor and comment) are the same for the touch editor and any
other caller. Every save is checked by loading it back through ``ZoneMap.from_dict``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vision.zones import ZONES_SCHEMA, Zone, ZoneError, ZoneMap

# Where zones start when the lane has none yet: the example layout (scan left, bagging right).
DEFAULT_ZONES: dict[str, list[list[float]]] = {
    "scan": [[0.05, 0.1], [0.45, 0.1], [0.45, 0.9], [0.05, 0.9]],
    "bagging": [[0.55, 0.1], [0.95, 0.1], [0.95, 0.9], [0.55, 0.9]],
    "produce_scale": [[0.15, 0.55], [0.35, 0.55], [0.35, 0.85], [0.15, 0.85]],
    "exit": [[0.95, 0.0], [1.0, 0.0], [1.0, 1.0], [0.95, 1.0]],
}
DEFAULT_PRIORITY = ["produce_scale", "scan", "bagging", "exit"]
DECIMALS = 4  # 1/10000 of the frame: finer than a pixel at any lane camera's resolution


@dataclass
class ZoneDoc:
    """Zone name -> list of [x, y] (0..1, y down), plus the file's other keys."""

    zones: dict[str, list[list[float]]]
    extra: dict[str, Any] = field(default_factory=dict)  # schema, priority, anchor, comment
    path: Path | None = None
    dirty: bool = False

    @classmethod
    def load(cls, path: Path | None) -> ZoneDoc:
        """The lane's zones file; the default layout when there is none yet. A malformed
        file raises ZoneError (the technician must see why, not lose it silently)."""
        if path is None or not path.exists():
            zones = {k: [list(p) for p in v] for k, v in DEFAULT_ZONES.items()}
            extra = {"schema": ZONES_SCHEMA, "priority": list(DEFAULT_PRIORITY)}
            return cls(zones, extra, path, dirty=True)
        ZoneMap.load(path)  # validates; raises ZoneError naming the file
        raw = json.loads(path.read_text(encoding="utf-8"))
        zones = {str(k): [[float(x), float(y)] for x, y in v] for k, v in raw["zones"].items()}
        extra = {k: v for k, v in raw.items() if k != "zones"}
        return cls(zones, extra, path)

    def zone_map(self) -> ZoneMap:
        return ZoneMap.from_dict(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": ZONES_SCHEMA}
        out.update({k: v for k, v in self.extra.items() if k != "schema"})
        out["zones"] = {
            name: [[round(x, DECIMALS), round(y, DECIMALS)] for x, y in pts]
            for name, pts in self.zones.items()
        }
        return out

    def nearest_vertex(
        self, x: float, y: float, max_dist: float, aspect: float = 1.0
    ) -> tuple[str, int] | None:
        """The vertex closest to normalised (x, y) within ``max_dist`` (in units of the
        frame's height; ``aspect`` = width / height makes the distance isotropic)."""
        best: tuple[float, str, int] | None = None
        for name, pts in self.zones.items():
            for i, (px, py) in enumerate(pts):
                d = ((px - x) * aspect) ** 2 + (py - y) ** 2
                if d <= max_dist**2 and (best is None or d < best[0]):
                    best = (d, name, i)
        return None if best is None else (best[1], best[2])

    def move_vertex(self, zone: str, index: int, x: float, y: float) -> str | None:
        """Move one vertex (clamped to the frame). Returns None when done, else why the
        move was refused (the polygon would cross itself or lose its area)."""
        x, y = min(1.0, max(0.0, x)), min(1.0, max(0.0, y))
        pts = [list(p) for p in self.zones[zone]]
        pts[index] = [x, y]
        try:
            Zone(zone, tuple((p[0], p[1]) for p in pts))
        except ZoneError as err:
            return str(err)
        self.zones[zone] = pts
        self.dirty = True
        return None

    def save(self, path: Path | None = None) -> Path:
        """Write atomically (a crash mid-write must not leave a half file the lane cannot
        load), after checking the result loads as a ZoneMap."""
        target = path or self.path
        if target is None:
            raise ZoneError("no zones file to save to: pass zones_path or set vision.zones_file")
        data = self.to_dict()
        ZoneMap.from_dict(data)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".zones-", suffix=".json", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2)
                handle.write("\n")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.path, self.dirty = target, False
        return target
