"""``sco demo``: the scripted purchase in a real window (Xvfb), through the real lane, and
the text replay. The journal's outbox is the witness of what happened at the lane."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SCO

AUTOPLAY_TIMEOUT_S = 600  # generous: a busy machine is slow, never wrong


def _need_display() -> None:
    if not os.environ.get("DISPLAY"):
        if os.environ.get("OPENSCO_REQUIRE_SERVICES") == "1":
            pytest.fail("DISPLAY is not set: Xvfb should be running (OPENSCO_REQUIRE_SERVICES=1)")
        pytest.skip("no DISPLAY (run under xvfb-run)")


def _outbox(data_dir: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(data_dir / "journal.sqlite3") as db:
        rows = db.execute("SELECT payload FROM outbox ORDER BY seq").fetchall()
    return [json.loads(payload) for (payload,) in rows]


@pytest.mark.slow
def test_autoplay_completes_a_purchase_in_a_real_window(tmp_path: Path) -> None:
    _need_display()
    shots, data = tmp_path / "screens", tmp_path / "lane"
    env = dict(os.environ)
    env.setdefault("KIVY_HOME", str(tmp_path / "kivy-home"))
    env.update(KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1", KIVY_CLIPBOARD="sdl2")
    proc = subprocess.run(
        [*SCO, "demo", "--autoplay", "--screenshots", str(shots), "--data-dir", str(data),
         "--broker", "off", "--timeout", "400"],
        capture_output=True, text=True, timeout=AUTOPLAY_TIMEOUT_S, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    figures = json.loads(next(x for x in proc.stdout.splitlines() if x.startswith("{")))
    assert figures["screens"] >= 8

    pngs = sorted(shots.glob("*.png"))
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in pngs}
    assert len(pngs) >= 8 and len(digests) == len(pngs), [p.name for p in pngs]
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5_000, p
    names = {p.stem.split("-", 1)[1] for p in pngs}
    assert {"attract", "welcome", "scanning", "nudge", "age_check", "produce",
            "receipt", "thank_you"} <= names  # fmt: skip

    events = _outbox(data)
    types = [e["type"] for e in events]
    completed = [e for e in events if e["type"] == "transaction_completed"]
    assert len(completed) == 1
    lines = completed[0]["receipt"]["lines"]
    assert any(line.get("weight_g") for line in lines), lines  # the weighed bananas
    assert "age_approved" in types
    nudged = {e["finding_id"] for e in events if e["type"] == "nudge_shown" and e.get("finding_id")}
    corrected = [
        e for e in events
        if e["type"] == "mismatch_resolved" and e["resolution"] == "self_corrected"
        and e["finding_id"] in nudged
    ]  # fmt: skip
    assert corrected, [e for e in events if e["type"] in ("nudge_shown", "mismatch_resolved")]
    # The scanner-scale read the items (a scanner lane: camera reads do not sell).
    added = [e for e in events if e["type"] == "item_added"]
    assert {e["line"]["sku"] for e in added} >= {"DRK-003", "DRK-009", "PRD-001"}
    assert all(e.get("source") == "scanner_scale" for e in added if not e["line"].get("weight_g"))
    assert (data / "receipts.bin").stat().st_size > 0  # the lane printed the receipt


@pytest.mark.parametrize(("lang", "total_label"), [("en", "TOTAL CNY"), ("zh", "合计 CNY")])
def test_replay_prints_the_example_receipt(lang: str, total_label: str) -> None:
    proc = subprocess.run([*SCO, "demo", "--replay", "--lang", lang], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    total_line = next(x for x in proc.stdout.splitlines() if x.startswith(total_label))
    assert total_line.endswith("17.90")


def test_the_demo_says_what_it_needs_without_a_display(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run(
        [*SCO, "demo", "--data-dir", str(tmp_path / "lane")],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "needs a display" in proc.stderr and "./run.sh demo" in proc.stderr


def test_a_fresh_lane_never_deletes_a_folder_the_demo_did_not_make(tmp_path: Path) -> None:
    from kiosk.demo.cli import _empty_lane_dir
    from kiosk.errors import KioskError

    lane = tmp_path / "lane"
    (lane / "evidence").mkdir(parents=True)
    for name in ("journal.sqlite3", "journal.sqlite3-wal", "demo.toml"):
        (lane / name).write_text("x")
    _empty_lane_dir(lane)
    assert not lane.exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("x")
    (mine / "demo.toml").write_text("x")
    with pytest.raises(KioskError, match=r"thesis\.tex"):
        _empty_lane_dir(mine)
    assert (mine / "thesis.tex").exists()
