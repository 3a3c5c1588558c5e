"""A software stability filter for scales that report motion poorly.

Pure: fed ``(ts_ms, ScaleReading)`` pairs in time order, it returns the reading with
``stable`` recomputed. A reading is stable only when the scale itself does not say
"motion" AND the last ``window_n`` weights lie within one division of each other AND they
have done so for at least ``settle_ms``. Frames without a weight (over capacity, errors)
restart the window: the weight that follows has to settle again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

from hardware.scale.base import ScaleReading


class StabilityFilter:
    def __init__(self, division_g: int, window_n: int, settle_ms: int) -> None:
        if division_g < 0 or window_n < 1 or settle_ms < 0:
            raise ValueError("division_g >= 0, window_n >= 1 and settle_ms >= 0 are required")
        self.division_g = division_g
        self.window_n = window_n
        self.settle_ms = settle_ms
        # The current run: the longest suffix of readings whose weights lie within one
        # division, as (index, ts_ms, weight). Monotonic queues keep its min and max, so a
        # reading costs O(1) however long the pan has been steady.
        self._run: deque[tuple[int, int, int]] = deque()
        self._lows: deque[tuple[int, int]] = deque()
        self._highs: deque[tuple[int, int]] = deque()
        self._count = 0

    def reset(self) -> None:
        self._run.clear()
        self._lows.clear()
        self._highs.clear()

    def feed(self, ts_ms: int, reading: ScaleReading) -> ScaleReading:
        if reading.weight_g is None or reading.error:
            self.reset()
            return replace(reading, stable=False) if reading.stable else reading
        weight = reading.weight_g
        index = self._count
        self._count += 1
        self._run.append((index, ts_ms, weight))
        while self._lows and self._lows[-1][1] >= weight:
            self._lows.pop()
        self._lows.append((index, weight))
        while self._highs and self._highs[-1][1] <= weight:
            self._highs.pop()
        self._highs.append((index, weight))
        # Drop from the front until the run is within one division again.
        while self._highs[0][1] - self._lows[0][1] > self.division_g:
            self._pop_oldest()
        self._trim(ts_ms)
        steady = len(self._run) >= self.window_n and ts_ms - self._run[0][1] >= self.settle_ms
        stable = reading.stable and steady
        return reading if stable == reading.stable else replace(reading, stable=stable)

    def _pop_oldest(self) -> None:
        index = self._run.popleft()[0]
        if self._lows[0][0] == index:
            self._lows.popleft()
        if self._highs[0][0] == index:
            self._highs.popleft()

    def _trim(self, now_ms: int) -> None:
        # Dropping the oldest entry changes no verdict once the next one is already old
        # enough and enough entries remain: the run stays steady, and any later weight that
        # breaks the shorter run would have broken the longer one too.
        while len(self._run) > self.window_n and now_ms - self._run[1][1] >= self.settle_ms:
            self._pop_oldest()
