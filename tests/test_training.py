"""Training mode end to end: a real lane in training mode on a real mosquitto, a scripted
trainee acting through the real tablet client (signed commands), every scenario scored and
a result sheet written. Nothing of it may count as a sale or a loss-prevention flag."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kiosk.attendant.client import TabletClient
from kiosk.attendant.keyring import unlock
from kiosk.training.lanes import TrainingFloor
from kiosk.training.runner import TrainingRun, parse_scenarios
from kiosk.training.scoring import SCENARIOS
from kiosk.training.sheet import write_sheet
from kiosk.training.trainee import RIGHT_HANDLING, ScriptedTrainee

SHEET_COPY = Path("/work/notes/training-sheet.html")


@pytest.fixture
def floor(mosquitto: tuple[str, int], tmp_path: Path) -> Any:
    host, port = mosquitto
    floor = TrainingFloor(broker=f"mqtt://{host}:{port}", lanes=1, workdir=tmp_path / "floor",
                          store="train-store")  # fmt: skip
    floor.start()
    try:
        yield floor
    finally:
        floor.stop()


def test_a_scored_run_right_on_four_scenarios_wrong_on_one(floor: TrainingFloor,
                                                           tmp_path: Path) -> None:  # fmt: skip
    signer = unlock(floor.keyring_dir, floor.attendant_id, floor.pin)
    tablet = TabletClient(floor.broker_url or "", floor.store, signer, tablet_id="trainee-tab")
    tablet.start()
    # Right everywhere but the weight mismatch: the trainee voids the correctly scanned
    # water (wrong) and then cancels the whole sale instead of clearing the alert.
    plan = dict(RIGHT_HANDLING)
    plan["weight_mismatch"] = (("void_item", {"line_id": "{line}"}),
                               ("cancel_transaction", {}))  # fmt: skip
    trainee = ScriptedTrainee(tablet, "lane-01", plan, think_s=0.3)
    try:
        result = TrainingRun(floor, "trainee-17", parse_scenarios("all"),
                             on_alert=trainee.handle, handle_timeout_s=60).run()  # fmt: skip
    finally:
        tablet.stop()
    by_name = {s.name: s for s in result.scenarios}
    assert list(by_name) == list(SCENARIOS)
    for name in ("age_check", "non_scan", "ticket_switch", "cancelled_sale"):
        s = by_name[name]
        assert s.verdict == "right", (name, s)
        assert s.wrong_actions == [] and s.unnecessary_actions == [], (name, s)
        assert s.time_to_clear_s is not None and 60 <= s.score <= 100
    wrong = by_name["weight_mismatch"]
    assert wrong.verdict == "wrong" and wrong.score == 0
    assert wrong.wrong_actions == ["void_item", "cancel_transaction"]
    assert "the alert was not cleared by the trainee" in wrong.remarks
    assert result.total == sum(s.score for s in result.scenarios) and result.out_of == 500

    page, data = write_sheet(result, tmp_path / "sheet")
    sheet = json.loads(data.read_text(encoding="utf-8"))
    assert sheet["training"] is True and sheet["right"] == 4 and sheet["total"] == result.total
    assert [s["verdict"] for s in sheet["scenarios"]] == [
        "right",
        "right",
        "right",
        "wrong",
        "right",
    ]
    text = page.read_text(encoding="utf-8")
    assert "TRAINING" in text and f"{result.total} / 500" in text and "Not handled" not in text
    if SHEET_COPY.parent.is_dir():
        SHEET_COPY.write_text(text, encoding="utf-8")

    # Nothing of the run counts: every event marked, no KPI sale, no sale in telemetry,
    # and payment went through the simulated terminal only.
    sim = floor.lane("lane-01")
    assert sim.events and all(e.data.get("training") is True for e in sim.events)
    assert sum(1 for e in sim.events if e.type.value == "transaction_completed") == 3
    lane = sim.lane
    assert lane.kpis.summary()["transactions"] == 0 and lane.kpis.training_events > 0
    assert lane.telemetry.sales.ended["completed"] == 0
    assert lane.payment_sim is not None
    assert sum(1 for r in lane.payment_sim.requests if r.get("op") == "pay") == 3
