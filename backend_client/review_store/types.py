"""The review store's value types: what a filter asks for and what a reviewer sees."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LABEL_FILTERS = ("confirmed_loss", "false_alarm", "unlabelled")
BUCKETS = ("day", "week", "month")
DAY_S = 86_400.0


@dataclass(frozen=True)
class RetentionPolicy:
    """How long snapshot images are kept after they reach the store (seconds).

    ``retention_class`` "case" keeps ``case_s``, "short" keeps ``short_s``; a snapshot without
    a class keeps ``case_s`` if it is evidence of a flag, else ``short_s``."""

    short_s: float = 7 * DAY_S
    case_s: float = 30 * DAY_S


@dataclass(frozen=True)
class FlagFilter:
    store_id: str | None = None
    kiosk_id: str | None = None
    since_ts: float | None = None
    until_ts: float | None = None
    reason: str | None = None
    severity: str | None = None
    label: str | None = None  # "confirmed_loss" | "false_alarm" | "unlabelled"
    limit: int = 500

    def __post_init__(self) -> None:
        if self.label is not None and self.label not in LABEL_FILTERS:
            raise ValueError(f"label filter must be one of {', '.join(LABEL_FILTERS)}")
        if self.limit < 1:
            raise ValueError("limit must be at least 1")

    def describe(self) -> str:
        """The fields that differ from the defaults, for the access log."""
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value != f.default:
                parts.append(f"{f.name}={value}")
        return " ".join(parts)


@dataclass(frozen=True)
class SnapshotInfo:
    snap_id: str
    ts: float | None  # None: the flag cites it but the image never arrived
    size: int
    present: bool  # False once purged (or never received)
    kiosk_id: str = ""
    camera: str | None = None
    retention_class: str | None = None
    purged_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FlagRow:
    flag_id: str
    kiosk_id: str
    store_id: str
    ts: float
    session_id: str | None
    event_type: str  # "alert_raised" | "lp_flagged"
    reason: str
    severity: str
    outcome: str  # "alert" | "flag"
    alert_id: str | None
    snap_ids: tuple[str, ...]
    evidence: Mapping[str, Any]
    label: str | None
    note: str
    labelled_by: str | None
    labelled_ts: float | None

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["snap_ids"] = list(self.snap_ids)
        out["evidence"] = dict(self.evidence)
        out["time"] = iso(self.ts)
        return out


@dataclass(frozen=True)
class FlagDetail:
    flag: FlagRow
    timeline: tuple[Mapping[str, Any], ...]  # the session's events within ±60 s, by seq
    receipt: Mapping[str, Any] | None  # the session's transaction_completed receipt
    weights: tuple[Mapping[str, Any], ...]  # weight readings from the timeline and evidence
    snapshots: tuple[SnapshotInfo, ...]
    labels: tuple[Mapping[str, Any], ...] = ()  # every label given, oldest first

    def to_json(self) -> dict[str, Any]:
        return {
            "flag": self.flag.to_json(),
            "timeline": [dict(e) for e in self.timeline],
            "receipt": dict(self.receipt) if self.receipt is not None else None,
            "weights": [dict(w) for w in self.weights],
            "snapshots": [s.to_json() for s in self.snapshots],
            "labels": [dict(x) for x in self.labels],
        }


@dataclass(frozen=True)
class PrecisionPoint:
    reason: str
    bucket_start: float
    confirmed: int
    false_alarms: int
    unlabelled: int

    @property
    def precision(self) -> float | None:
        labelled = self.confirmed + self.false_alarms
        return self.confirmed / labelled if labelled else None

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["precision"] = self.precision
        out["bucket"] = iso(self.bucket_start)[:10]
        return out


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def bucket_start(ts: float, bucket: str) -> float:
    """The UTC start of the day, ISO week (Monday) or month that ``ts`` falls in."""
    day = dt.datetime.fromtimestamp(ts, dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket == "day":
        start = day
    elif bucket == "week":
        start = day - dt.timedelta(days=day.weekday())
    elif bucket == "month":
        start = day.replace(day=1)
    else:
        raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}")
    return start.timestamp()
