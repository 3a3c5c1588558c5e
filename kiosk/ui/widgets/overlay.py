"""What the camera preview draws, as plain numpy/OpenCV (no Kivy): the frame, the zone
polygons and each tracked item's box, so the drawing is testable without a window."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from vision.types import Box

# BGR, one colour per zone the lane knows; others get grey.
ZONE_COLOURS: dict[str, tuple[int, int, int]] = {
    "scan": (255, 160, 0),
    "produce_scale": (0, 200, 255),
    "bagging": (60, 200, 60),
    "exit": (200, 80, 200),
}
TRACK_COLOUR = (0, 0, 255)


@dataclass(frozen=True)
class PreviewTrack:
    box: Box  # pixels of the frame
    track_id: int | None = None
    label: str = ""


@dataclass(frozen=True)
class PreviewFrame:
    """The latest camera frame (BGR, HxWx3 uint8) with zones (normalised 0..1 points, as
    in zones.json) and the tracks to outline."""

    image: np.ndarray
    zones: Mapping[str, Sequence[Sequence[float]]] = field(default_factory=dict)
    tracks: Sequence[PreviewTrack] = ()


# The app polls this; it must return at once (the latest frame or None), never wait.
PreviewSource = Callable[[], PreviewFrame | None]


def draw_overlay(frame: PreviewFrame) -> np.ndarray:
    """A copy of the frame with zones and track boxes drawn on it (BGR)."""
    img = frame.image
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"preview frames are HxWx3 uint8 BGR, got {img.shape} {img.dtype}")
    out = img.copy()
    h, w = out.shape[:2]
    thick = max(1, round(min(w, h) / 240))
    for name, points in frame.zones.items():
        pts = np.array([[round(x * w), round(y * h)] for x, y in points], np.int32)
        colour = ZONE_COLOURS.get(name, (160, 160, 160))
        cv2.polylines(out, [pts], True, colour, thick)
        cv2.putText(out, name, (int(pts[0][0]) + 3, int(pts[0][1]) + 14),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)  # fmt: skip
    for t in frame.tracks:
        p1 = (round(t.box.x1), round(t.box.y1))
        p2 = (round(t.box.x2), round(t.box.y2))
        cv2.rectangle(out, p1, p2, TRACK_COLOUR, thick)
        tag = f"#{t.track_id} {t.label}".strip() if t.track_id is not None else t.label
        if tag:
            cv2.putText(out, tag, (p1[0], max(12, p1[1] - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.45, TRACK_COLOUR, 1, cv2.LINE_AA)  # fmt: skip
    return out
