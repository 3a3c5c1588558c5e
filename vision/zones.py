"""Zones from calibration (scan, bagging, produce scale, exit) and the events tracks make in them.

Polygons are stored in NORMALISED coordinates (0..1 of frame width and height) so one
calibration survives a change of camera resolution. A box is placed by its ANCHOR: the box
centre by default, because the kiosk camera looks straight down, so an item's footprint lies
under its centre; ``"anchor": "bottom_center"`` suits an oblique camera, where the bottom edge
of the box is where the item touches the counter.

A box in several zones (the produce scale sits inside the scan zone) belongs, for
``zone_of``, to the most specific one: the first in the file's ``priority`` list, else the
smallest by area. ``ZoneWatcher`` tracks membership of each zone separately, so moving onto
the produce scale enters ``produce_scale`` without leaving ``scan``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.errors import ConfigError
from vision.types import Box, ZoneTransition

ZONES_SCHEMA = "opensco.zones/1"
OUTSIDE = "outside"
ANCHORS = ("center", "bottom_center")


class ZoneError(ConfigError):
    """A zones file is missing or malformed."""


def _cross(o: Sequence[float], a: Sequence[float], b: Sequence[float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(
    p1: Sequence[float], p2: Sequence[float], q1: Sequence[float], q2: Sequence[float]
) -> bool:
    """Proper crossing only: touching at an end point does not count."""
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


@dataclass(frozen=True)
class Zone:
    name: str
    polygon: tuple[tuple[float, float], ...]  # normalised (x, y), 0..1

    def __post_init__(self) -> None:
        where = f"zone {self.name!r}"
        if not self.name or self.name == OUTSIDE:
            raise ZoneError(f"{where}: a zone needs a name other than {OUTSIDE!r}")
        if len(self.polygon) < 3:
            raise ZoneError(f"{where}: a polygon needs at least 3 points, got {len(self.polygon)}")
        for pt in self.polygon:
            if len(pt) != 2 or not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in pt):
                raise ZoneError(f"{where}: point {pt} must be [x, y] within 0..1 (normalised)")
        if self.area < 1e-6:
            raise ZoneError(f"{where}: polygon has no area (points on one line?)")
        n = len(self.polygon)
        for i in range(n):
            for j in range(i + 2, n):
                if i == 0 and j == n - 1:
                    continue  # neighbours through the closing edge
                a, b = self.polygon[i], self.polygon[(i + 1) % n]
                c, d = self.polygon[j], self.polygon[(j + 1) % n]
                if _segments_cross(a, b, c, d):
                    raise ZoneError(f"{where}: polygon edges cross (points out of order?)")

    @property
    def area(self) -> float:
        """Normalised area (shoelace)."""
        pts = self.polygon
        s = sum(
            pts[i][0] * pts[(i + 1) % len(pts)][1] - pts[(i + 1) % len(pts)][0] * pts[i][1]
            for i in range(len(pts))
        )
        return abs(s) / 2

    def pixels(self, frame_size: tuple[int, int]) -> np.ndarray:
        w, h = frame_size
        return np.array([[x * w, y * h] for x, y in self.polygon], np.float32).reshape(-1, 1, 2)


def anchor_point(box: Box, anchor: str = "center") -> tuple[float, float]:
    cx, cy = box.center
    return (cx, box.y2) if anchor == "bottom_center" else (cx, cy)


@dataclass(frozen=True)
class ZoneMap:
    zones: tuple[Zone, ...]  # most specific first
    anchor: str = "center"
    frame_size: tuple[int, int] | None = None  # (width, height) when fixed
    _pixels: dict[tuple[int, int], list[np.ndarray]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def load(cls, path: str | Path, frame_size: tuple[int, int] | None = None) -> ZoneMap:
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ZoneError(f"{path}: zones file not found") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ZoneError(f"{path}: unreadable zones file ({err})") from None
        try:
            return cls.from_dict(raw, frame_size)
        except ZoneError as err:
            raise ZoneError(f"{path}: {err}") from None

    @classmethod
    def from_dict(cls, raw: Any, frame_size: tuple[int, int] | None = None) -> ZoneMap:
        if not isinstance(raw, Mapping) or raw.get("schema") != ZONES_SCHEMA:
            raise ZoneError(f"not an {ZONES_SCHEMA} file")
        polys = raw.get("zones")
        if not isinstance(polys, Mapping) or not polys:
            raise ZoneError("'zones' must map zone names to polygons")
        zones = []
        for name, pts in polys.items():
            if not isinstance(pts, list) or not all(
                isinstance(p, list) and all(isinstance(v, int | float) for v in p) for p in pts
            ):
                raise ZoneError(f"zone {name!r}: polygon must be a list of [x, y] numbers")
            if any(len(p) != 2 for p in pts):
                raise ZoneError(f"zone {name!r}: every point must be [x, y]")
            zones.append(Zone(str(name), tuple((float(p[0]), float(p[1])) for p in pts)))
        anchor = raw.get("anchor", "center")
        if anchor not in ANCHORS:
            raise ZoneError(f"anchor must be one of {ANCHORS}, got {anchor!r}")
        priority = raw.get("priority")
        if priority is None:
            zones.sort(key=lambda z: z.area)  # nested zones: the inner, smaller one wins
        else:
            names = [z.name for z in zones]
            if not isinstance(priority, list) or sorted(map(str, priority)) != sorted(names):
                raise ZoneError(f"'priority' must list each zone once: {sorted(names)}")
            zones.sort(key=lambda z: priority.index(z.name))
        return cls(tuple(zones), anchor, frame_size)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(z.name for z in self.zones)

    def _polys(self, frame_size: tuple[int, int] | None) -> list[np.ndarray]:
        size = frame_size or self.frame_size
        if size is None:
            raise ZoneError("zone lookup needs the frame size (width, height)")
        size = (int(size[0]), int(size[1]))
        if size not in self._pixels:
            self._pixels[size] = [z.pixels(size) for z in self.zones]
        return self._pixels[size]

    def distances(self, box: Box, frame_size: tuple[int, int] | None = None) -> dict[str, float]:
        """Signed pixel distance of the box anchor to each zone edge (> 0 inside)."""
        pt = anchor_point(box, self.anchor)
        return {
            z.name: cv2.pointPolygonTest(poly, pt, True)
            for z, poly in zip(self.zones, self._polys(frame_size), strict=True)
        }

    def zone_of(self, box: Box, frame_size: tuple[int, int] | None = None) -> str:
        """The most specific zone holding the box anchor (edges count), else ``"outside"``."""
        pt = anchor_point(box, self.anchor)
        for z, poly in zip(self.zones, self._polys(frame_size), strict=True):
            if cv2.pointPolygonTest(poly, pt, False) >= 0:
                return z.name
        return OUTSIDE


class ZoneWatcher:
    """Turns track boxes into enter/leave events, one zone at a time, without flapping.

    Hysteresis, in space and time: a track enters a zone once its anchor is inside and
    leaves once it is more than ``margin`` (a fraction of the frame's shorter side) outside;
    a change counts only after ``confirm`` consecutive observations agree, and the event
    carries the frame and time of the FIRST of them, where it happened. A lost track leaves
    every zone it was in, at the update that reports the loss.
    """

    def __init__(
        self,
        zone_map: ZoneMap,
        frame_size: tuple[int, int],
        *,
        margin: float = 0.02,
        confirm: int = 2,
    ) -> None:
        if confirm < 1 or margin < 0:
            raise ValueError("confirm must be >= 1 and margin >= 0")
        self.zone_map, self.frame_size = zone_map, frame_size
        self.margin_px = margin * min(frame_size)
        self.confirm = confirm
        self._inside: dict[int, set[str]] = {}
        # (track, zone) -> (wanted state, first frame, first ts, count)
        self._pending: dict[tuple[int, str], tuple[bool, int, int, int]] = {}

    def zones_of(self, track_id: int) -> frozenset[str]:
        return frozenset(self._inside.get(track_id, ()))

    def primary_zone(self, track_id: int) -> str:
        """The most specific zone the track is in (the core's ``ItemTrack.zone``)."""
        inside = self._inside.get(track_id, set())
        return next((n for n in self.zone_map.names if n in inside), OUTSIDE)

    def update(self, tracks: Iterable[Any], frame_index: int, ts_ms: int) -> list[ZoneTransition]:
        """``tracks``: objects with ``track_id``, ``box``, ``lost`` (``vision.tracker.Track``)."""
        out: list[ZoneTransition] = []
        for track in tracks:
            tid = int(track.track_id)
            inside = self._inside.setdefault(tid, set())
            if track.lost:
                for zone in sorted(inside, key=self.zone_map.names.index):
                    out.append(ZoneTransition(tid, zone, False, ts_ms, frame_index))
                self._forget(tid)
                continue
            dist = self.zone_map.distances(track.box, self.frame_size)
            for zone, d in dist.items():
                now_in = zone in inside
                want = d >= -self.margin_px if now_in else d >= 0
                key = (tid, zone)
                if want == now_in:
                    self._pending.pop(key, None)
                    continue
                _, f0, t0, n = self._pending.get(key, (want, frame_index, ts_ms, 0))
                n += 1
                if n < self.confirm:
                    self._pending[key] = (want, f0, t0, n)
                    continue
                self._pending.pop(key, None)
                (inside.add if want else inside.discard)(zone)
                out.append(ZoneTransition(tid, zone, want, t0, f0))
        # leaving before entering when one item crosses from zone to zone in one frame
        out.sort(key=lambda t: (t.frame_index, t.entered, t.track_id))
        return out

    def _forget(self, tid: int) -> None:
        self._inside.pop(tid, None)
        for key in [k for k in self._pending if k[0] == tid]:
            del self._pending[key]
