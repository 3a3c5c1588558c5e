"""One health record shape for every peripheral, so diagnostics can list them side by side.

Adapters build a fresh :class:`DeviceHealth` on request; it is a snapshot, never updated in
place. ``detail`` holds small JSON-ready extras (paper state, lamp state, port URL); never
payment data or secrets.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def wall_ms() -> int:
    """Unix time in integer milliseconds: the timestamp adapters put on what they report."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class DeviceHealth:
    name: str  # e.g. "printer", "light_tower", "payment"
    kind: str  # adapter kind, e.g. "escpos", "adafruit_tower", "jsonl_terminal"
    connected: bool
    state: str  # adapter-specific word: "ok", "out_of_paper", "idle", "busy", ...
    last_error: str | None = None
    last_seen_ts_ms: int | None = None  # last time the device answered or took our bytes
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "connected": self.connected,
            "state": self.state,
            "last_error": self.last_error,
            "last_seen_ts_ms": self.last_seen_ts_ms,
            "detail": dict(self.detail),
        }
