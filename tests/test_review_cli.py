"""``sco backend listen --db URL`` fills the review store from a real broker (each event sent
twice), and ``sco review`` lists, labels, measures, exports and purges it; SQLite and
PostgreSQL alike."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import queue
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from backend_client.contract import event_payload
from backend_client.review_store import ReviewStore
from kiosk.cli import main
from tests.conftest import SCO
from tests.pg_util import postgres_server, postgres_url  # noqa: F401  (fixtures)
from tests.review_util import (  # noqa: F401
    flagged,
    jpeg,
    snapshot_props,
    store_url,
    two_lanes,
)


def sco(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``sco ARGS`` in this process (the listener runs as its own process below)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(args))
        except SystemExit as exit_:  # argparse refusing the command line
            rc = int(exit_.code or 0)
    if check:
        assert rc == 0, err.getvalue()
    return subprocess.CompletedProcess(list(args), rc, out.getvalue(), err.getvalue())


def _lines(stream: Any, out: queue.Queue[str]) -> None:
    for line in stream:
        out.put(line)


def listen_and_publish(host: str, port: int, db: str) -> None:
    """Start the listener, wait until a probe event reaches it, publish every event twice."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    wire = [(prefix + t.removeprefix("opensco"), p) for t, p in two_lanes()]
    proc = subprocess.Popen(
        [*SCO, "backend", "listen", "--broker", f"mqtt://{host}:{port}", "--db", db,
         "--prefix", prefix, "--count", str(len(wire) + 1), "--timeout", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(host, port)
    client.loop_start()
    try:
        probe = event_payload(
            {"event_id": str(uuid.uuid4()), "type": "device_status", "seq": 1, "ts": 1.0,
             "session_id": None, "device": "probe", "status": "ok"},
            kiosk_id="probe", store="store-01", boot_id="b",
        )  # fmt: skip
        topic = f"{prefix}/store-01/kiosk/probe/evt/device"
        seen: list[str] = []
        for _ in range(300):  # until the listener has subscribed (its "new" line)
            client.publish(topic, probe, qos=1).wait_for_publish(10)
            try:
                seen.append(lines.get(timeout=0.5))
            except queue.Empty:
                continue
            if seen[-1].startswith("new probe"):
                break
        assert any(s.startswith("new probe") for s in seen), seen
        for _round in range(2):
            for t, payload in wire:
                client.publish(t, payload, qos=1).wait_for_publish(10)
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        client.loop_stop()
        client.disconnect()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_listen_then_review_from_the_command_line(
    mosquitto: tuple[str, int],
    store_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    with ReviewStore.open(store_url) as store:  # an image from 40 days ago: past retention
        old = jpeg(3)
        props = snapshot_props(old, "snap-old", "lane-09")
        assert store.ingest_snapshot(old, props, now=time.time() - 40 * 86400) == "new"
    listen_and_publish(*mosquitto, store_url)
    with ReviewStore.open(store_url) as store:  # the listener purged it while it ran
        assert store.snapshot_jpeg("snap-old", viewer="lp-0") is None
    # The stream's own duplicates were re-sent while the listener was still running: the store
    # holds each flag once.
    out = sco("review", "list", "--db", store_url, "--json", "--viewer", "lp-1").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["reason"] for r in rows) == ["non_scan", "produce_mismatch"]
    assert all(r["label"] is None and r["time"] for r in rows)

    flag_id = flagged("lane-02", "alert_raised")["event_id"]
    out = sco("review", "label", flag_id, "confirmed_loss", "--note", "on camera",
              "--reviewer", "lp-1", "--db", store_url).stdout  # fmt: skip
    assert "confirmed_loss" in out
    points = [
        json.loads(line)
        for line in sco("review", "precision", "--db", store_url, "--json").stdout.splitlines()
    ]
    assert {p["reason"]: p["precision"] for p in points} == {
        "non_scan": 1.0,
        "produce_mismatch": None,
    }
    out = sco("review", "--db", store_url, "list", "--json", "--label", "unlabelled").stdout
    assert [json.loads(x)["reason"] for x in out.splitlines()] == ["produce_mismatch"]

    detail = json.loads(sco("review", "show", flag_id, "--db", store_url, "--json").stdout)
    assert detail["flag"]["label"] == "confirmed_loss" and detail["timeline"]

    sco("review", "export", "--db", store_url, "--csv", str(tmp_path / "f.csv"))
    with open(tmp_path / "f.csv", encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 2
    sco("review", "export", "--db", store_url, "--html", str(tmp_path / "r.html"))
    assert "<svg" in (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "purged 0" in sco("review", "purge", "--db", store_url).stdout

    log = [json.loads(x) for x in sco("review", "log", "--db", store_url).stdout.splitlines()]
    actions = [e["action"] for e in reversed(log)]
    assert actions == ["snapshot", "list", "label", "list", "detail", "export_csv", "report_html"]
    assert log[-2]["viewer"] == "lp-1"  # the list after the purge check (lp-0)


def test_review_cli_errors_are_clear(tmp_path: Path) -> None:
    db = str(tmp_path / "r.sqlite3")
    bad = sco("review", "label", "nope", "false_alarm", "--reviewer", "x", "--db", db, check=False)
    assert bad.returncode == 2 and "no flag 'nope'" in bad.stderr
    bad = sco("review", "list", "--db", "mysql://x/y", check=False)
    assert bad.returncode == 2 and "unknown database URL" in bad.stderr
    bad = sco("review", "list", "--db", db, "--since", "yesterday", check=False)
    assert bad.returncode == 2 and "not a date" in bad.stderr
    bad = sco("review", "export", "--db", db, check=False)
    assert bad.returncode == 2  # --csv or --html is required
