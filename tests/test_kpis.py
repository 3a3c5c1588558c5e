"""Loss-prevention KPIs folded from events: the same figures from a lane or a replay."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kiosk.core.kpis import KpiTracker
from tests.security_lane import Lane

REPO = Path(__file__).resolve().parents[1]


def _fold(lane: Lane) -> dict[str, object]:
    kpis = KpiTracker()
    for event in lane.events:
        kpis.observe(event.to_dict())
    return kpis.summary()


def test_interventions_per_100_by_reason_time_to_clear_and_self_correction() -> None:
    lane = Lane()
    lane.start()
    lane.bag(348)  # nudged, then fixed by scanning it
    lane.scan("cola")
    lane.bag(572)  # nudged, ignored, escalated
    lane.wait(9_000)
    (alert,) = lane.of("alert_raised")
    lane.wait(30_000)
    lane.attendant("clear", alert_id=alert["alert_id"])
    summary = _fold(lane)
    assert summary["transactions"] == 1
    assert summary["interventions_per_100_by_reason"] == {"unexpected_item": 100.0}
    assert summary["nudges"] == 2 and summary["nudge_self_correction"] == 0.5
    clear = summary["time_to_clear_ms"]
    assert isinstance(clear, dict) and clear["count"] == 1 and 30_000 <= clear["median"] <= 32_000


def test_sco_replay_prints_kpis_for_a_log() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "replay", "--kpis", "--out", "/dev/null",
         str(REPO / "examples" / "sessions" / "security-lane.jsonl")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    summary = json.loads(out.stderr.splitlines()[0])
    assert summary["completed"] == 1 and summary["lp_flags"] == {"produce_mismatch": 1}
    assert summary["nudges"] == 2 and summary["nudge_self_correction"] == 0.5
