"""What every doctor check shares: its verdict, its result and what it is given to look at."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from kiosk.config import KioskConfig


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"  # the lane works, but someone should look soon
    FAIL = "fail"  # the lane cannot work properly until this is fixed
    SKIP = "skip"  # not configured on this lane, or not checkable until another fix


# Worst first: the report's overall verdict is the worst level of any check.
SEVERITY = {Level.SKIP: 0, Level.OK: 0, Level.WARN: 1, Level.FAIL: 2}


@dataclass(frozen=True)
class CheckResult:
    check: str  # a stable id: "camera", "tls.client_cert", "journal.outbox"
    title: str  # what a technician calls it: "Camera", "Client certificate"
    level: Level
    fact: str  # what was measured, in plain words ("30 frames at 14.8 fps from folder:...")
    advice: str = ""  # what to do about it; empty when nothing is to be done
    data: dict[str, Any] = field(default_factory=dict)  # the measured values, for --json

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "title": self.title, "level": self.level.value,
                "fact": self.fact, "advice": self.advice, "data": self.data}  # fmt: skip


@dataclass(frozen=True)
class DoctorContext:
    """What the checks look at: the lane's config (None when it could not be read)."""

    config_path: str
    config: KioskConfig | None
    timeout_s: float  # each device's own limit (a frame, a reading, a CONNACK)
    now: datetime  # timezone-aware; given so a test can set the clock


def result(
    check: str, title: str, level: Level, fact: str, advice: str = "", /, **data: Any
) -> CheckResult:
    quiet = level in (Level.OK, Level.SKIP)  # nothing to do about either
    return CheckResult(check, title, level, fact, "" if quiet else advice, data)
