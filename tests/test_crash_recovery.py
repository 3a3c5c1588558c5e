"""kill -9 a real lane mid-session; it must restart exactly where it was."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import IO, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.core.catalog import Catalog
from kiosk.core.events import event_json
from kiosk.core.inputs import input_from_dict
from kiosk.core.settings import CoreSettings
from kiosk.engine import Engine
from kiosk.replay import replay_lines
from tests.conftest import SCO, SESSIONS

# A session long enough to be killed in the middle of: scans, produce, a void approval.
INPUTS = [
    {"t": 1000.0, "type": "shopper", "action": "start", "args": {"language": "zh"}},
    {"t": 1002.0, "type": "barcode", "data": "6902974302088"},
    {"t": 1004.0, "type": "barcode", "data": "6902974302088"},
    {"t": 1006.0, "type": "barcode", "data": "6901035603102"},
    {"t": 1008.0, "type": "weight", "platform": "scan", "weight_g": 1184, "stable": True},
    {"t": 1009.0, "type": "shopper", "action": "add_item", "args": {"plu": "4011"}},
    {"t": 1010.0, "type": "weight", "platform": "scan", "weight_g": 0, "stable": True},
    {"t": 1012.0, "type": "shopper", "action": "remove_item", "args": {"line_id": 2}},
    {
        "t": 1030.0,
        "type": "attendant",
        "command": "approve",
        "attendant_id": "a1",
        "args": {"alert_id": "A1-2"},
    },
    {"t": 1031.0, "type": "attendant", "command": "approve_age", "attendant_id": "a1"},
    {"t": 1034.0, "type": "barcode", "data": "6900840100110"},
    {"t": 1040.0, "type": "shopper", "action": "pay", "args": {"method": "card"}},
]


def _reference(catalog: Catalog) -> dict[str, Any]:
    """The uninterrupted run, plus the payment it needs."""
    lines = [json.dumps(x) for x in INPUTS]
    due = [e for e in replay_lines(lines, catalog).events if e["type"] == "payment_requested"]
    pay = {
        "t": 1050.0,
        "type": "payment",
        "approved": True,
        "method": "card",
        "amount_minor": due[-1]["amount_minor"],
        "reference": "T1",
    }
    full = replay_lines([*lines, json.dumps(pay)], catalog)
    return {"inputs": [*INPUTS, pay], "receipt": full.receipts[0], "events": full.events}


class Lane:
    """A `sco engine` subprocess driven over stdin/stdout."""

    def __init__(self, data_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [*SCO, "engine", "--data-dir", str(data_dir), "--ack"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.ready = self._read()
        assert self.ready["type"] == "engine_ready", self.ready

    def _read(self) -> dict[str, Any]:
        out: IO[str] = self.proc.stdout  # type: ignore[assignment]
        line = out.readline()
        if not line:
            raise AssertionError(f"lane died: {self.proc.stderr.read()}")  # type: ignore[union-attr]
        return dict(json.loads(line))

    def send(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        """Send one input and return its events once the lane acknowledged it."""
        self.proc.stdin.write(json.dumps(item) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        events = []
        while (record := self._read())["type"] != "ack":
            events.append(record)
        return events

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        assert self.proc.returncode == -signal.SIGKILL

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(timeout=10)


@pytest.mark.parametrize("kill_after", [1, 5, 9, 12])
def test_kill_9_mid_session_resumes_exactly(
    example_catalog: Catalog, tmp_path: Path, kill_after: int
) -> None:
    ref = _reference(example_catalog)
    lane = Lane(tmp_path)
    before: list[dict[str, Any]] = []
    for item in ref["inputs"][:kill_after]:
        before += lane.send(item)
    lane.kill9()

    lane = Lane(tmp_path)
    assert lane.ready["recovered_inputs"] == kill_after
    assert lane.ready["state"] in ("shopping", "intervention", "payment")
    assert lane.ready["session_id"] == before[0]["session_id"]
    after: list[dict[str, Any]] = []
    for item in ref["inputs"][kill_after:]:
        after += lane.send(item)
    lane.close()

    done = [e for e in after if e["type"] == "transaction_completed"]
    assert len(done) == 1
    assert done[0]["receipt"] == ref["receipt"]
    # Nothing repeated, nothing skipped: seq runs on from where the killed lane stopped.
    seqs = [e["seq"] for e in before + after]
    assert seqs == list(range(1, len(seqs) + 1))
    ids = [e["event_id"] for e in before + after]
    assert len(set(ids)) == len(ids)
    # Same event stream as the uninterrupted run, apart from the journal-specific ids.
    strip = [
        {k: v for k, v in e.items() if k not in ("event_id", "session_id")} for e in before + after
    ]
    ref_strip = [
        {k: v for k, v in e.items() if k not in ("event_id", "session_id")} for e in ref["events"]
    ]
    assert strip == ref_strip
    # Every backend event reached the outbox exactly once.
    with sqlite3.connect(tmp_path / "journal.sqlite3") as db:
        outbox = [r[0] for r in db.execute("SELECT event_id FROM outbox ORDER BY seq")]
    assert outbox == [e["event_id"] for e in before + after]


def test_lane_restarted_after_a_completed_sale_starts_clean(tmp_path: Path) -> None:
    lines = (SESSIONS / "plain-basket.jsonl").read_text(encoding="utf-8").splitlines()
    lane = Lane(tmp_path)
    for raw in lines:
        lane.send(json.loads(raw))
    lane.kill9()
    lane = Lane(tmp_path)
    assert lane.ready == {
        "type": "engine_ready",
        "recovered_inputs": 0,
        "state": "completed",
        "session_id": None,
    }
    events = lane.send({"t": 1764062000.0, "type": "barcode", "data": "6900840100110"})
    lane.close()
    started = [e for e in events if e["type"] == "session_started"]
    assert started and started[0]["txn_no"] == 2


@settings(max_examples=25, deadline=None)
@given(split=st.integers(min_value=0, max_value=13), journal_dir=st.uuids())
def test_journal_recovery_at_any_input_matches_an_uninterrupted_run(
    example_catalog: Catalog, tmp_path_factory: pytest.TempPathFactory, split: int, journal_dir: Any
) -> None:
    ref = _reference(example_catalog)
    inputs = [input_from_dict(x) for x in ref["inputs"]]
    data_dir = tmp_path_factory.mktemp(str(journal_dir))
    settings_ = CoreSettings()
    first = Engine(example_catalog, settings_, data_dir, new_journal_id="replay")
    events = [e for item in inputs[:split] for e in first.submit(item)]
    first.close()
    second = Engine(example_catalog, settings_, data_dir)
    assert second.recovered_inputs == (split if 0 < split < len(inputs) else 0)
    events += [e for item in inputs[split:] for e in second.submit(item)]
    second.close()
    assert [e.to_json() for e in events] == [event_json(e) for e in ref["events"]]
