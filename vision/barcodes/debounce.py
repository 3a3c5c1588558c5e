"""Debounce: one physical presentation of a code is one read, however many frames see it.

A code is *present* from the first frame that reads it until it has not been read for
``gap_ms``; only the first frame of a presentation yields a read. A code that flickers out
for a few frames (motion blur, a thumb over it, a frame where no pass decodes it) stays one
read as long as the holes are shorter than the gap. The pipeline can end a presentation early
with :meth:`item_left` (its track left the scan zone) or :meth:`zone_cleared` (the zone is
empty), so the same product scanned again straight away is a new read.

The default gap, 800 ms, is 24 frames at 30 fps: longer than the read holes seen on moving
codes (a few frames) and shorter than taking an item away and presenting it again, which a
person does in a second or more (and the tracker's zone exit usually ends it sooner).
"""

from __future__ import annotations

from collections.abc import Iterable

from kiosk.core.barcodes import is_valid_gtin
from vision.types import BarcodeHit

DEFAULT_GAP_MS = 800


def hit_key(hit: BarcodeHit) -> str:
    """What identifies a code across frames: its GTIN-14 when it has one, else its text."""
    return hit.gtin or hit.text


class ReadDebouncer:
    """Feed it every frame's hits with the frame's time; it returns the new reads only.

    Two different codes in one frame are two reads. Two codes with the same content in one
    frame are one read (the camera cannot tell two identical packs from one seen twice; the
    tracker and the scale count quantity).
    """

    def __init__(self, gap_ms: int = DEFAULT_GAP_MS) -> None:
        if gap_ms <= 0:
            raise ValueError(f"gap_ms must be positive, got {gap_ms}")
        self.gap_ms = gap_ms
        self._last_seen: dict[str, int] = {}

    @property
    def present(self) -> frozenset[str]:
        """Keys (GTIN-14 or text) of the codes in a presentation right now."""
        return frozenset(self._last_seen)

    def update(self, hits: Iterable[BarcodeHit], ts_ms: int) -> list[BarcodeHit]:
        """Record one frame's hits; returns those that start a new presentation."""
        self.expire(ts_ms)
        new: list[BarcodeHit] = []
        for hit in hits:
            key = hit_key(hit)
            last = self._last_seen.get(key)
            if last is None:
                new.append(hit)
                self._last_seen[key] = ts_ms
            else:
                # A frame stamped earlier than the last one (clock step) must not shorten it.
                self._last_seen[key] = max(last, ts_ms)
        return new

    def expire(self, ts_ms: int) -> None:
        """End presentations not seen for more than ``gap_ms`` before ``ts_ms``."""
        gone = [k for k, t in self._last_seen.items() if ts_ms - t > self.gap_ms]
        for k in gone:
            del self._last_seen[k]

    def item_left(self, gtin_or_text: str) -> bool:
        """The item carrying this code left the zone; returns whether it was present.

        A GTIN may be given in any of its lengths (8, 12, 13, 14 digits)."""
        key = gtin_or_text.strip()
        if key.isascii() and is_valid_gtin(key):
            key = key.zfill(14)
        return self._last_seen.pop(key, None) is not None

    def zone_cleared(self) -> None:
        """Nothing is in the zone any more: every presentation has ended."""
        self._last_seen.clear()
