"""Loss-prevention KPIs folded from the event stream of a live lane (or a replay).

What a retailer asks of a lane: how often it stops shoppers and why, how long a stop
lasts, and how often a private nudge was enough. Computed from events only, so the same
figures come from a lane's outbox, the backend, or ``sco replay --kpis``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from kiosk.core.security.findings import SECURITY_REASONS

_SESSION_ENDS = ("transaction_completed", "transaction_cancelled", "transaction_suspended")


class KpiTracker:
    def __init__(self) -> None:
        self.sessions = 0
        self.completed = 0
        self.interventions: Counter[str] = Counter()
        self.alerts: Counter[str] = Counter()
        self.flags: Counter[str] = Counter()
        self.nudges: Counter[str] = Counter()
        self.self_corrected: Counter[str] = Counter()
        self._nudged: dict[str, str] = {}  # finding id -> reason, while open
        self._raised: dict[str, tuple[int, str]] = {}  # alert id -> (ms, kind)
        self.clear_ms: list[int] = []
        self.ratings: Counter[int] = Counter()
        self.comments = 0  # how many answers came with words; the words stay in the events
        self.training_events = 0  # seen and left out of every figure

    def observe(self, event: Mapping[str, Any]) -> None:
        if event.get("training") is True:  # a training lane's sale is practice, not a KPI
            self.training_events += 1
            return
        kind = event.get("type")
        ts_ms = round(float(event.get("ts", 0)) * 1000)
        if kind == "session_started":
            self.sessions += 1
        elif kind == "transaction_completed":
            self.completed += 1
        elif kind == "alert_raised":
            alert = str(event.get("kind"))
            self.alerts[alert] += 1
            if alert in SECURITY_REASONS:
                self.interventions[alert] += 1
                self._raised[str(event.get("alert_id"))] = (ts_ms, alert)
        elif kind == "alert_cleared":
            raised = self._raised.pop(str(event.get("alert_id")), None)
            if raised is not None and event.get("resolution") != "session ended":
                self.clear_ms.append(ts_ms - raised[0])
        elif kind == "survey_answered":
            score = event.get("score")
            if isinstance(score, int) and 1 <= score <= 5:  # a bad replay line is not a score
                self.ratings[score] += 1
                self.comments += bool(event.get("comment"))
        elif kind == "lp_flagged":
            self.flags[str(event.get("reason"))] += 1
        elif kind == "mismatch_detected" and event.get("action") in ("nudge", "prompt"):
            reason = str(event.get("reason"))
            self.nudges[reason] += 1
            self._nudged[str(event.get("finding_id"))] = reason
        elif kind == "mismatch_resolved":
            reason = self._nudged.pop(str(event.get("finding_id")), "")
            if reason and event.get("resolution") == "self_corrected":
                self.self_corrected[reason] += 1
        if kind in _SESSION_ENDS or kind == "session_reset":
            self._nudged.clear()

    def summary(self) -> dict[str, Any]:
        per100 = 100 / self.sessions if self.sessions else 0.0
        nudges = sum(self.nudges.values())
        cleared = sorted(self.clear_ms)
        answers = sum(self.ratings.values())
        score_sum = sum(k * v for k, v in self.ratings.items())
        mean_score = round(score_sum / answers, 2) if answers else None
        return {
            "transactions": self.sessions,
            "completed": self.completed,
            "interventions_per_100": round(sum(self.interventions.values()) * per100, 2),
            "interventions_per_100_by_reason": {
                k: round(v * per100, 2) for k, v in sorted(self.interventions.items())
            },
            "alerts_per_100_by_kind": {
                k: round(v * per100, 2) for k, v in sorted(self.alerts.items())
            },
            "lp_flags": dict(sorted(self.flags.items())),
            "nudges": nudges,
            "nudge_self_correction": round(sum(self.self_corrected.values()) / nudges, 4)
            if nudges
            else None,
            "survey": {
                "answers": answers,
                "mean": mean_score,
                "by_score": {score: self.ratings[score] for score in range(1, 6)},
                "comments": self.comments,
            },
            "time_to_clear_ms": {
                "count": len(cleared),
                "median": cleared[len(cleared) // 2] if cleared else None,
                "p90": cleared[min(len(cleared) - 1, int(0.9 * len(cleared)))] if cleared else None,
            },
        }
