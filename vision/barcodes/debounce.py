"""Debounce: one physical presentation of a code is one read, however many frames see it.

A code is *present* from the first frame that reads it until it has not been read for
``gap_ms``; only the first frame of a presentation yields a read. A code that flickers out
for a few frames (motion blur, a thumb over it, a frame where no pass decodes it) stays one
read as long as the holes are shorter than the gap. The pipeline can end a presentation early
with :meth:`item_left` (its track left the scan zone) or :meth:`zone_cleared` (the zone is
empty), so the same product scanned again straight away is a new read.

EAN/UPC reads must be seen in ``confirm_frames`` frames (default 2) of a presentation before
they count: their one mod-10 check digit lets about 1 in 10 misdecodes through, and on 300
degraded frames zxing-cpp's first pass misread 2 EAN codes with a valid check digit (its
fallback passes 1-3 each, zbar none). A misread hangs on the exact pixels of one frame, so a
second frame agreeing filters it, at the cost of one frame of latency. Code128, DataBar and
2D codes carry their own strong symbol checksums and count on their first frame.

The default gap, 800 ms, is 24 frames at 30 fps: longer than the read holes seen on moving
codes (a few frames) and shorter than taking an item away and presenting it again, which a
person does in a second or more (and the tracker's zone exit usually ends it sooner).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kiosk.core.barcodes import is_valid_gtin
from vision.types import BarcodeHit

DEFAULT_GAP_MS = 800
WEAK_CHECK = frozenset({"ean13", "ean8", "upca", "upce"})


@dataclass
class _Presence:
    last_ms: int
    frames: int = 1
    reported: bool = False


def hit_key(hit: BarcodeHit) -> str:
    """What identifies a code across frames: its GTIN-14 when it has one, else its text."""
    return hit.gtin or hit.text


class ReadDebouncer:
    """Feed it every frame's hits with the frame's time; it returns the new reads only.

    With ``confirm_frames=1`` every code counts on its first frame.

    Two different codes in one frame are two reads. Two codes with the same content in one
    frame are one read (the camera cannot tell two identical packs from one seen twice; the
    tracker and the scale count quantity).
    """

    def __init__(self, gap_ms: int = DEFAULT_GAP_MS, confirm_frames: int = 2) -> None:
        if gap_ms <= 0:
            raise ValueError(f"gap_ms must be positive, got {gap_ms}")
        if confirm_frames < 1:
            raise ValueError(f"confirm_frames must be 1 or more, got {confirm_frames}")
        self.gap_ms = gap_ms
        self.confirm_frames = confirm_frames
        self._seen: dict[str, _Presence] = {}

    @property
    def present(self) -> frozenset[str]:
        """Keys (GTIN-14 or text) of the codes in a presentation right now (read or not yet)."""
        return frozenset(self._seen)

    def update(self, hits: Iterable[BarcodeHit], ts_ms: int) -> list[BarcodeHit]:
        """Record one frame's hits; returns those that become a read on this frame."""
        self.expire(ts_ms)
        new: list[BarcodeHit] = []
        counted: set[str] = set()
        for hit in hits:
            key = hit_key(hit)
            if key in counted:
                continue  # the same content twice in one frame counts once
            counted.add(key)
            p = self._seen.get(key)
            if p is None:
                p = self._seen[key] = _Presence(ts_ms)
            else:
                p.frames += 1
                # A frame stamped earlier than the last one (clock step) must not shorten it.
                p.last_ms = max(p.last_ms, ts_ms)
            need = self.confirm_frames if hit.symbology in WEAK_CHECK else 1
            if not p.reported and p.frames >= need:
                p.reported = True
                new.append(hit)
        return new

    def expire(self, ts_ms: int) -> None:
        """End presentations not seen for more than ``gap_ms`` before ``ts_ms``."""
        gone = [k for k, p in self._seen.items() if ts_ms - p.last_ms > self.gap_ms]
        for k in gone:
            del self._seen[k]

    def item_left(self, gtin_or_text: str) -> bool:
        """The item carrying this code left the zone; returns whether it was present.

        A GTIN may be given in any of its lengths (8, 12, 13, 14 digits)."""
        key = gtin_or_text.strip()
        if key.isascii() and is_valid_gtin(key):
            key = key.zfill(14)
        return self._seen.pop(key, None) is not None

    def zone_cleared(self) -> None:
        """Nothing is in the zone any more: every presentation has ended."""
        self._seen.clear()
