"""Replaying the example input logs: outcomes checked by hand, determinism, bad lines."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kiosk.core.catalog import Catalog
from kiosk.core.events import event_json
from kiosk.replay import ReplayResult, replay_lines
from tests.conftest import SCO, SESSIONS


def _replay(name: str, catalog: Catalog, data_dir: Path | None = None) -> ReplayResult:
    with (SESSIONS / name).open(encoding="utf-8") as fh:
        return replay_lines(fh, catalog, data_dir=data_dir)


# Totals worked out by hand from examples/catalog.csv (see each comment).
@pytest.mark.parametrize(
    ("name", "completed", "total_minor", "change_minor", "cancelled"),
    [
        # water 2.00 x2 with "2 for 3.50" (-0.50), noodles 4.50, coke 3.00, oreo 6.90
        ("plain-basket.jsonl", 1, 1790, 0, 0),
        # bananas 1.184 kg x 6.98 = 8.26432 -> 8.26; apples 0.912 kg x 9.98 = 9.10; milk 3.50
        ("produce-by-weight.jsonl", 1, 2086, 0, 0),
        # roast duck 1.234 kg x 68.00 = 83.91; char siu label price 25.90; eggs 13.90; cash +15
        ("embedded-price.jsonl", 1, 12371, 1500, 0),
        # beer 5.50 + chips 7.50 less 10 % (0.75)
        ("age-restricted.jsonl", 1, 1225, 0, 0),
        ("cancelled.jsonl", 0, None, 0, 1),
        # only the noodles (4.50) survive the garbage
        ("bad-input.jsonl", 1, 450, 0, 0),
    ],
)
def test_example_sessions_end_as_expected(
    example_catalog: Catalog,
    name: str,
    completed: int,
    total_minor: int | None,
    change_minor: int,
    cancelled: int,
) -> None:
    result = _replay(name, example_catalog)
    assert len(result.receipts) == completed
    types = [e["type"] for e in result.events]
    assert types.count("transaction_cancelled") == cancelled
    if completed:
        receipt = result.receipts[0]
        assert receipt["total_minor"] == total_minor
        assert receipt["change_minor"] == change_minor
        paid = sum(p["amount_minor"] for p in receipt["payments"])
        assert paid - receipt["change_minor"] == receipt["total_minor"]


def test_age_restricted_session_needed_the_attendant(example_catalog: Catalog) -> None:
    events = _replay("age-restricted.jsonl", example_catalog).events
    types = [e["type"] for e in events]
    assert types.index("age_approval_requested") < types.index("age_approved")
    rejected = [e for e in events if e["type"] == "input_rejected"]
    assert [e["reason"] for e in rejected] == ["age check pending"]
    assert types.index("payment_requested") > types.index("age_approved")


def test_produce_weight_comes_from_the_stable_reading(example_catalog: Catalog) -> None:
    lines = [
        e["line"]
        for e in _replay("produce-by-weight.jsonl", example_catalog).events
        if e["type"] == "item_added"
    ]
    assert [(x["sku"], x["weight_g"]) for x in lines[:2]] == [("PRD-001", 1184), ("PRD-002", 912)]


def test_bad_lines_are_named_and_the_session_goes_on(example_catalog: Catalog) -> None:
    result = _replay("bad-input.jsonl", example_catalog)
    text = "\n".join(result.problems)
    for expected in (
        "line 2: unreadable barcode",
        "line 3: item not in catalog",
        "line 4: not valid JSON",
        "line 5: negative weight -40 g",
        "line 6: unknown input type 'teleport'",
        "line 7: unknown attendant command 'open_drawer'",
        "line 8: unknown shopper action 'dance'",
    ):
        assert expected in text
    rejected = [e["reason"] for e in result.events if e["type"] == "input_rejected"]
    assert len(rejected) == 5  # lines 2, 3, 5, 7, 8; lines 4 and 6 never reach the core


@pytest.mark.parametrize("name", sorted(p.name for p in SESSIONS.glob("*.jsonl")))
def test_replay_is_byte_identical_with_and_without_journal(
    example_catalog: Catalog, name: str, tmp_path: Path
) -> None:
    first = [event_json(e) for e in _replay(name, example_catalog).events]
    second = [event_json(e) for e in _replay(name, example_catalog).events]
    journaled = [event_json(e) for e in _replay(name, example_catalog, tmp_path).events]
    assert first == second == journaled
    seqs = [json.loads(x)["seq"] for x in first]
    assert seqs == list(range(1, len(seqs) + 1))


def test_sco_replay_cli_writes_events_and_names_bad_lines(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    proc = subprocess.run(
        [*SCO, "replay", str(SESSIONS / "bad-input.jsonl"), "--out", str(out), "--receipt"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "line 4: not valid JSON" in proc.stderr
    assert "TOTAL CNY" in proc.stderr and "4.50" in proc.stderr
    events = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert all({"event_id", "type", "ts", "seq"} <= e.keys() for e in events)
    assert events[-2]["type"] == "transaction_completed"
    strict = subprocess.run(
        [*SCO, "replay", str(SESSIONS / "bad-input.jsonl"), "--out", "-", "--strict"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert strict.returncode == 1


def test_sco_replay_reports_a_missing_catalog_clearly(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*SCO, "replay", str(SESSIONS / "plain-basket.jsonl"), "--catalog", "nope.csv"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "cannot read catalog nope.csv" in proc.stderr
    assert "Traceback" not in proc.stderr
