"""Evidence snapshots: JPEG frames and crops kept for alerts and flagged events, size-bounded.

``keep`` writes one JPEG atomically (a crash leaves the old state, never a torn file under a
snapshot's name) and returns its snap id, the id an alert cites. When a ``SnapshotSpool`` is
given the same JPEG is handed to it first and its id is used, so the loss-prevention backend
receives the evidence over MQTT and it survives broker outages; the local copy is what the
attendant screen shows and is bounded by bytes, age and count (the spool bounds count and
age only).

Privacy: nothing identifying is drawn (item boxes only, no labels, no faces) and no camera URL
is written (it can hold credentials); with a zone mask everything outside the scan and
bagging zones is blurred before encoding, so shoppers' faces are never stored sharp.

The ``recent`` ring keeps references to the last frames (no copies, no encoding: frames are
immutable once captured) so that when an alert fires, the frames from just before it can be
saved with ``keep_recent``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from backend_client.schema_validation import SNAPSHOT_MAX_BYTES
from backend_client.snapshots import SnapshotSpool
from kiosk.errors import BackendError, KioskError
from kiosk.files import write_atomically
from vision.privacy import blur_faces
from vision.types import Box, Frame

logger = logging.getLogger(__name__)

SNAP_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")  # the backend's snap_id pattern
_BOX_COLOUR = (0, 200, 255)
PRUNE_EVERY_S = 60.0  # retention sweep period while frames flow
_BLUR_FACTOR = 16  # outside the zones: downscale this much and back (not recoverable)


class EvidenceError(KioskError):
    """A snapshot cannot be written or does not exist."""


@dataclass(frozen=True)
class _Entry:
    created_s: float
    size: int


def mask_from_polygons(
    width: int, height: int, polygons: Sequence[Sequence[tuple[float, float]]]
) -> npt.NDArray[np.uint8]:
    """A privacy mask (255 inside any polygon, the zones kept sharp) for ``EvidenceStore``."""
    mask = np.zeros((height, width), np.uint8)
    for poly in polygons:
        if len(poly) >= 3:
            cv2.fillPoly(mask, [np.round(np.asarray(poly, np.float64)).astype(np.int32)], 255)
    return mask


def _with_comment(jpeg: bytes, text: str) -> bytes:
    """Insert a COM segment (after JFIF's APP0 when there is one) carrying ``text``."""
    payload = text.encode("utf-8")[:65000]
    segment = b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload
    pos = 2
    if jpeg[2:4] == b"\xff\xe0":
        pos = 4 + int.from_bytes(jpeg[4:6], "big")
    return jpeg[:pos] + segment + jpeg[pos:]


def read_comment(jpeg: bytes) -> str | None:
    """The first COM segment's text, scanning headers only (stops at the image data)."""
    pos = 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF:
        marker, length = jpeg[pos + 1], int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
        if marker == 0xFE:
            return jpeg[pos + 4 : pos + 2 + length].decode("utf-8", "replace")
        if marker == 0xDA:
            break
        pos += 2 + length
    return None


def _looks_whole(path: Path) -> bool:
    # A JPEG starts with SOI and ends with EOI; a torn or foreign file fails one of them.
    try:
        size = path.stat().st_size
        if size < 4:
            return False
        with open(path, "rb") as fh:
            head = fh.read(3)
            fh.seek(size - 2)
            tail = fh.read(2)
    except OSError:
        return False
    return head == b"\xff\xd8\xff" and tail == b"\xff\xd9"


class EvidenceStore:
    def __init__(
        self,
        directory: str | Path,
        *,
        max_bytes: int,
        max_age_s: float,
        max_count: int,
        jpeg_quality: int = 80,
        spool: SnapshotSpool | None = None,
        kiosk_id: str = "",
        boot_id: str = "",
        privacy_mask: npt.NDArray[np.uint8] | None = None,
        recent_frames: int = 30,
        recent_interval_ms: int = 100,
        clock: Callable[[], float] = time.time,
        face_blur: bool = True,
    ) -> None:
        if max_bytes <= 0 or max_age_s <= 0 or max_count <= 0:
            raise ValueError("max_bytes, max_age_s and max_count must be positive")
        if not 1 <= jpeg_quality <= 100:
            raise ValueError("jpeg_quality must be 1..100")
        if spool is not None and not (kiosk_id and boot_id):
            raise ValueError("a spool needs kiosk_id and boot_id for the snapshot metadata")
        if privacy_mask is not None and privacy_mask.ndim != 2:
            raise ValueError("privacy_mask must be a 2-D array (nonzero = keep sharp)")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.max_age_s, self.max_count = max_bytes, max_age_s, max_count
        self.jpeg_quality = jpeg_quality
        self.spool, self.kiosk_id, self.boot_id = spool, kiosk_id, boot_id
        self.privacy_mask = privacy_mask
        self.face_blur = face_blur  # faces pixelated before encoding (vision/privacy.py)
        self._masks: dict[tuple[int, int], npt.NDArray[np.bool_]] = {}
        self.recent_interval_ms = recent_interval_ms
        self._recent: deque[Frame] = deque(maxlen=max(1, recent_frames))
        self._clock = clock
        self._lock = threading.Lock()
        self._index: dict[str, _Entry] = {}
        self._next_prune_s = 0.0
        self._scan()
        self.prune()

    # -- snapshots ---------------------------------------------------------------------

    def keep(
        self,
        frame: Frame,
        boxes: Sequence[Box] = (),
        *,
        crop: Box | None = None,
        reason: str = "",
        meta: Mapping[str, str] | None = None,
    ) -> str:
        """Save ``frame`` (or the ``crop`` region of it) as a JPEG with ``boxes`` outlined;
        returns its snap id. ``meta`` (e.g. alert_id, session_id) goes to the spool."""
        jpeg = self._encode(frame, boxes, crop, reason)
        snap_id = self._publish(jpeg, frame, dict(meta or {})) or uuid.uuid4().hex
        try:
            write_atomically(self.dir / f"{snap_id}.jpg", jpeg)
        except OSError as err:
            raise EvidenceError(f"cannot write snapshot {snap_id}: {err}") from err
        with self._lock:
            self._index[snap_id] = _Entry(self._clock(), len(jpeg))
        self.prune()
        return snap_id

    def path(self, snap_id: str) -> Path:
        """Where the snapshot's JPEG is; EvidenceError if unknown (or pruned)."""
        if not SNAP_ID.match(snap_id):
            raise EvidenceError(f"not a snapshot id: {snap_id!r}")
        with self._lock:
            known = snap_id in self._index
        if not known:
            raise EvidenceError(f"no snapshot {snap_id}")
        return self.dir / f"{snap_id}.jpg"

    def info(self, snap_id: str) -> dict[str, Any]:
        """The metadata written into the JPEG (ts_ms, frame, reason, crop)."""
        text = read_comment(self.path(snap_id).read_bytes())
        return dict(json.loads(text)) if text else {}

    def snapshots(self) -> list[str]:
        """Kept snap ids, oldest first."""
        with self._lock:
            return [k for k, _ in sorted(self._index.items(), key=lambda kv: kv[1].created_s)]

    def total_bytes(self) -> int:
        with self._lock:
            return sum(e.size for e in self._index.values())

    def prune(self, now_s: float | None = None) -> int:
        """Delete past the age limit, then oldest first while over the count or byte bound."""
        now_s = self._clock() if now_s is None else now_s
        with self._lock:
            order = sorted(self._index.items(), key=lambda kv: kv[1].created_s)
            doomed = [k for k, e in order if now_s - e.created_s > self.max_age_s]
            left = [(k, e) for k, e in order if k not in set(doomed)]
            total = sum(e.size for _, e in left)
            while left and (len(left) > self.max_count or total > self.max_bytes):
                k, e = left.pop(0)
                doomed.append(k)
                total -= e.size
            for k in doomed:
                del self._index[k]
        for k in doomed:
            (self.dir / f"{k}.jpg").unlink(missing_ok=True)
        return len(doomed)

    # -- the recent ring ---------------------------------------------------------------

    def remember(self, frame: Frame) -> None:
        """Offer a frame to the ring; kept at most every ``recent_interval_ms``. Also the
        periodic retention sweep: snapshots age out on a lane that takes no new ones."""
        now = self._clock()
        if now >= self._next_prune_s:
            self._next_prune_s = now + PRUNE_EVERY_S
            self.prune(now)
        with self._lock:
            last = self._recent[-1].ts_ms if self._recent else None
            # Thin the ring to one frame per interval (a clock stepped back is let through).
            if last is not None and 0 <= frame.ts_ms - last < self.recent_interval_ms:
                return
            self._recent.append(frame)

    def recent(self) -> list[Frame]:
        with self._lock:
            return list(self._recent)

    def keep_recent(
        self,
        ts_from: int,
        ts_to: int,
        *,
        reason: str = "",
        meta: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Save the ring's frames with ``ts_from <= ts_ms <= ts_to``; their snap ids, in order."""
        frames = sorted(
            (f for f in self.recent() if ts_from <= f.ts_ms <= ts_to), key=lambda f: f.ts_ms
        )
        return [self.keep(f, reason=reason, meta=meta) for f in frames]

    # -- internals ---------------------------------------------------------------------

    def _scan(self) -> None:
        for tmp in self.dir.glob("*.jpg.tmp"):  # a write that a crash cut short
            if SNAP_ID.match(tmp.name[: -len(".jpg.tmp")]):
                tmp.unlink(missing_ok=True)
        for path in self.dir.glob("*.jpg"):
            if not SNAP_ID.match(path.stem):
                continue  # not ours: left alone, not counted
            if not _looks_whole(path):
                logger.warning("evidence file %s is damaged; removed", path)
                path.unlink(missing_ok=True)
                continue
            st = path.stat()
            self._index[path.stem] = _Entry(st.st_mtime, st.st_size)

    def _mask(self, width: int, height: int) -> npt.NDArray[np.bool_] | None:
        if self.privacy_mask is None:
            return None
        if (width, height) not in self._masks:
            m = self.privacy_mask
            if m.shape != (height, width):
                m = cv2.resize(m, (width, height), interpolation=cv2.INTER_NEAREST)
            self._masks[(width, height)] = m > 0
        return self._masks[(width, height)]

    def _encode(self, frame: Frame, boxes: Sequence[Box], crop: Box | None, reason: str) -> bytes:
        image = frame.image
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
            raise EvidenceError("a snapshot needs a non-empty H x W x 3 uint8 image")
        w, h = frame.size
        mask = self._mask(w, h)
        if mask is not None:
            small = cv2.resize(
                image, (max(1, w // _BLUR_FACTOR), max(1, h // _BLUR_FACTOR)), cv2.INTER_AREA
            )
            blurred = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
            image = np.where(mask[..., None], image, blurred)
        if self.face_blur:
            image, _ = blur_faces(image)
        ox = oy = 0
        region = None
        if crop is not None:
            x1, y1, x2, y2 = crop.clipped(w, h).as_int()
            if x2 - x1 < 2 or y2 - y1 < 2:
                raise EvidenceError(f"crop {crop} lies outside the {w}x{h} frame")
            image, ox, oy, region = image[y1:y2, x1:x2], x1, y1, [x1, y1, x2, y2]
        image = np.ascontiguousarray(image).copy()  # never draw on the camera's frame
        for box in boxes:
            x1, y1, x2, y2 = box.as_int()
            cv2.rectangle(image, (x1 - ox, y1 - oy), (x2 - ox - 1, y2 - oy - 1), _BOX_COLOUR, 2)
        meta = {"ts_ms": frame.ts_ms, "frame": frame.index, "reason": reason, "crop": region}
        quality = self.jpeg_quality
        while True:
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise EvidenceError("JPEG encoding failed")
            jpeg = _with_comment(data.tobytes(), json.dumps(meta))
            # The backend refuses snapshots over its limit: lower quality, then size.
            if self.spool is None or len(jpeg) <= SNAPSHOT_MAX_BYTES:
                return jpeg
            if quality > 40:
                quality -= 15
            else:
                image = cv2.resize(image, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)

    def _publish(self, jpeg: bytes, frame: Frame, meta: dict[str, str]) -> str | None:
        if self.spool is None:
            return None
        try:
            return self.spool.add(
                jpeg,
                kiosk_id=self.kiosk_id,
                boot_id=self.boot_id,
                ts_s=max(0, frame.ts_ms) / 1000.0,
                **meta,
            )
        except (BackendError, OSError) as err:
            # Evidence is still kept locally; only its trip to the backend is lost.
            logger.warning("snapshot not spooled for the backend: %s", err)
            return None
