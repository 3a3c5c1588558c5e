"""Value types shared by every vision stage: frames, boxes, detections, barcode hits.

Stages talk only through these, so each can be tested alone and swapped (another decoder,
another detector) without touching its neighbours. Arrays are numpy; coordinates are pixels
of the full camera frame, ``x1, y1`` top-left inclusive, ``x2, y2`` bottom-right exclusive.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

BGRImage = npt.NDArray[np.uint8]  # H x W x 3, OpenCV's channel order


@dataclass(frozen=True)
class Frame:
    """One camera frame: the image and when and where it was taken."""

    image: BGRImage
    ts_ms: int  # monotonic-ish wall clock of capture, milliseconds
    index: int  # frame number from the source, counting from 0
    source: str = ""  # the camera URL it came from

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)"""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(frozen=True)
class Box:
    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        if not (self.x2 >= self.x1 and self.y2 >= self.y1):
            raise ValueError(f"box corners out of order: {self}")

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return (self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2

    def iou(self, other: Box) -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def clipped(self, width: int, height: int) -> Box:
        return Box(
            min(max(self.x1, 0.0), width),
            min(max(self.y1, 0.0), height),
            min(max(self.x2, 0.0), width),
            min(max(self.y2, 0.0), height),
        )

    def expanded(self, factor: float) -> Box:
        """The same centre, sides scaled by ``factor`` (a margin for crops)."""
        cx, cy = self.center
        hw, hh = self.width * factor / 2, self.height * factor / 2
        return Box(cx - hw, cy - hh, cx + hw, cy + hh)

    def as_int(self) -> tuple[int, int, int, int]:
        return int(self.x1), int(self.y1), int(np.ceil(self.x2)), int(np.ceil(self.y2))


@dataclass(frozen=True)
class Detection:
    box: Box
    label: str
    class_id: int
    score: float


@dataclass(frozen=True)
class Detections:
    """A validated set of detections on one frame (supervision-style: parallel arrays).

    ``xyxy`` is N x 4 float32, ``scores`` N float32 in [0, 1], ``class_ids`` N int64 indexing
    ``class_names``. Construction checks shapes and ranges so a bad model output fails here,
    with a message, instead of deep in the tracker.
    """

    xyxy: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    class_ids: npt.NDArray[np.int64]
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.scores)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"xyxy must be N x 4 with N={n}; got {self.xyxy.shape}")
        if self.class_ids.shape != (n,):
            raise ValueError(f"class_ids must have {n} entries; got {self.class_ids.shape}")
        if n and not np.all(np.isfinite(self.xyxy)):
            raise ValueError("box coordinates must be finite")
        if n and (self.scores.min() < 0 or self.scores.max() > 1 or np.isnan(self.scores).any()):
            raise ValueError("scores must lie in [0, 1]")
        if n and (self.class_ids.min() < 0 or self.class_ids.max() >= len(self.class_names)):
            raise ValueError("class id out of range of class_names")
        if n and np.any(self.xyxy[:, 2:] < self.xyxy[:, :2]):
            raise ValueError("box corners out of order")

    @classmethod
    def empty(cls, class_names: Sequence[str]) -> Detections:
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros(0, np.int64),
            tuple(class_names),
        )

    @classmethod
    def from_list(cls, items: Sequence[Detection], class_names: Sequence[str]) -> Detections:
        if not items:
            return cls.empty(class_names)
        return cls(
            np.array([[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in items], np.float32),
            np.array([d.score for d in items], np.float32),
            np.array([d.class_id for d in items], np.int64),
            tuple(class_names),
        )

    def __len__(self) -> int:
        return len(self.scores)

    def __iter__(self) -> Iterator[Detection]:
        for (x1, y1, x2, y2), score, cid in zip(
            self.xyxy, self.scores, self.class_ids, strict=True
        ):
            yield Detection(
                Box(float(x1), float(y1), float(x2), float(y2)),
                self.class_names[int(cid)],
                int(cid),
                float(score),
            )

    def filtered(self, mask: npt.NDArray[np.bool_]) -> Detections:
        return Detections(
            self.xyxy[mask], self.scores[mask], self.class_ids[mask], self.class_names
        )


@dataclass(frozen=True)
class BarcodeHit:
    """One decoded barcode in one frame, validated and normalised."""

    text: str  # the decoded payload as the symbol carries it (GS1 strings with FNC1 as \x1d)
    # ean13 | ean8 | upca | upce | code128 | gs1_128 | databar | databar_exp | qr | datamatrix
    symbology: str
    gtin: str | None  # GTIN-14 when the payload carries one, else None
    box: Box | None = None  # where in the frame, when the decoder says
    decoder: str = ""  # which decoder and pass read it, e.g. "zxing", "zbar+rot45"


@dataclass(frozen=True)
class ZoneTransition:
    """A track entered or left a zone; ``frame_index`` is the frame where it happened."""

    track_id: int
    zone: str
    entered: bool
    ts_ms: int
    frame_index: int
    snapshot_id: str | None = None


@dataclass
class SourceStats:
    """What a camera source reports about itself (exposed to health and the benchmarks)."""

    frames: int = 0
    dropped: int = 0  # frames captured but replaced by a newer one before anyone read them
    fps: float = 0.0
    reconnects: int = 0
    connected: bool = False
    last_error: str = ""
    extra: dict[str, float] = field(default_factory=dict)
