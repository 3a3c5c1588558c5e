"""Calibration records: saved, summarised, written into the config when accepted, rendered,
and published through the lane's own outbox to a real mosquitto, even one that was down."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backend_client.schema_validation import validate
from calibration import scale_checks as sc
from calibration.lane_journal import LaneBusyError
from calibration.publish import queue_record, record_sent
from calibration.record import (
    CalibrationRecord,
    RecordError,
    find_record,
    load_record,
    read_summary,
    save_record,
    write_summary,
)
from calibration.report import render_html
from calibration.results import CheckResult, Verdict
from kiosk.cli import main
from kiosk.config import load_config
from kiosk.core.inputs import input_from_dict
from kiosk.engine import Engine
from kiosk.replay import DEFAULT_CATALOG, load_catalog_file
from tests.broker_util import free_port
from tests.conftest import SESSIONS, Collector

TOL = sc.Tolerance.for_platform("bagging_scale")


def lane_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "lane.toml"
    path.write_text(
        '# lane 7, by the exit\n[kiosk]\nid = "lane-07"\nstore = "store-02"\n'
        f'data_dir = "{tmp_path / "data"}"\n\n[catalog]\npath = "{DEFAULT_CATALOG}"\n{extra}',
        encoding="utf-8",
    )
    return path


def run_sale(config_path: Path, lines: int | None = None) -> int:
    """Feed the example sale (or its first ``lines`` inputs) through a real Engine; the
    lane's last seq."""
    config = load_config(config_path)
    engine = Engine(load_catalog_file(config.catalog_path), config.core_settings(), config.data_dir)
    try:
        raw = [x for x in (SESSIONS / "plain-basket.jsonl").read_text().splitlines() if x.strip()]
        for line in raw[:lines]:
            engine.submit(input_from_dict(json.loads(line)))
        assert engine.journal is not None
        return engine.journal.outbox_last_seq()
    finally:
        engine.close()


def scale_session(config_path: Path) -> CalibrationRecord:
    """A session on a scale with a 0.8 % gain error, adjusted by its service and re-run."""
    record = CalibrationRecord.start(load_config(config_path), "Li Wei", now=1_765_000_000.0)
    record.add(sc.span_check("bagging_scale", 5000, 5040, TOL, ts=1_765_000_010.0))
    points = [(500, 504), (2000, 2016), (5000, 5040), (10000, 10080)]
    record.add(sc.linearity_check("bagging_scale", points, TOL, ts=1_765_000_020.0))
    record.add(sc.span_check("bagging_scale", 5000, 5000, TOL, ts=1_765_000_030.0))
    record.finish(1_765_000_100.0)
    return record


def test_a_rerun_keeps_before_and_after_and_the_file_round_trips(tmp_path: Path) -> None:
    config_path = lane_config(tmp_path)
    record = scale_session(config_path)
    span = record.checks[0]
    assert span.before is not None and span.before.verdict is Verdict.FAIL
    assert span.after.verdict is Verdict.PASS and span.runs == 2
    assert span.before.figures != span.after.figures
    assert record.verdict is Verdict.FAIL  # linearity was not re-run: still out of tolerance
    assert record.kiosk_id == "lane-07" and record.store_id == "store-02"
    assert set(record.models) == {"item-detector", "produce-classifier"}
    assert all(len(m["sha256"]) == 64 for m in record.models.values())
    path = save_record(record, tmp_path / "data")
    assert path == tmp_path / "data" / "calibration" / f"{record.record_id}.json"
    assert load_record(find_record(tmp_path / "data")).to_json() == record.to_json()
    path.write_text(path.read_text().replace('"technician"', '"tech"'))
    with pytest.raises(RecordError, match="technician"):
        load_record(path)
    with pytest.raises(RecordError, match="technician"):
        CalibrationRecord.start(load_config(config_path), "  ")


def test_the_summary_keeps_each_devices_latest(tmp_path: Path) -> None:
    config = load_config(lane_config(tmp_path))
    first = scale_session(lane_config(tmp_path))
    write_summary(first, config.data_dir)
    camera = CalibrationRecord.start(config, "Zhang Min")
    camera.add(
        CheckResult(
            "camera.sharpness",
            "camera",
            Verdict.PASS,
            {"laplacian_var": 410.0},
            {"min_laplacian_var": 120.0},
        )
    )
    camera.finish()
    write_summary(camera, config.data_dir)
    summary = read_summary(config.data_dir)
    assert summary["last"]["record_id"] == camera.record_id
    assert summary["devices"]["camera"]["verdict"] == "pass"
    assert summary["devices"]["bagging_scale"]["record_id"] == first.record_id
    assert summary["devices"]["bagging_scale"]["verdict"] == "fail"


def test_a_record_reaches_a_real_broker_that_was_down_at_first(
    mosquitto: tuple[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = lane_config(tmp_path)
    last_seq = run_sale(config_path)
    data = tmp_path / "data"
    record = scale_session(config_path)
    save_record(record, data)
    lane = ["calibrate", "record", "publish", "--config", str(config_path), "--timeout"]

    dead = f"mqtt://127.0.0.1:{free_port()}"
    assert main([*lane, "1", "--broker", dead]) == 3
    assert "not yet acknowledged" in capsys.readouterr().out
    assert record_sent(data, record.record_id) is False  # kept in the outbox, not lost

    host, port = mosquitto
    sub = Collector(host, port, "opensco/store-02/kiosk/lane-07/evt/calibration")
    try:
        assert main([*lane, "20", "--broker", f"mqtt://{host}:{port}"]) == 0
        assert sub.wait_for(lambda c: c.payloads())
        (event,) = sub.payloads()
        (message,) = sub.messages
    finally:
        sub.close()
    assert validate("event", event) == []
    assert event["type"] == "calibration_recorded" and event["seq"] == last_seq + 1
    assert event["kiosk_id"] == "lane-07" and event["store_id"] == "store-02"
    assert message.qos == 1
    props = dict(message.properties.UserProperty)
    assert props["type"] == "calibration_recorded" and props["event_id"] == event["event_id"]
    saved = load_record(find_record(data, record.record_id))
    assert saved.event_seq == last_seq + 1
    assert event["record"] == {**saved.to_json(), "event_seq": None}
    assert record_sent(data, record.record_id) is True
    # Queuing again does not send it twice.
    assert queue_record(saved, data) == last_seq + 1

    # The lane starts again and carries on after the record: no gap, no reused seq.
    config = load_config(config_path)
    engine = Engine(load_catalog_file(config.catalog_path), config.core_settings(), data)
    try:
        events = engine.submit(
            input_from_dict(
                {"t": 1_765_000_500.0, "type": "shopper", "action": "start", "args": {}}
            )
        )
        assert events[0].seq == last_seq + 2
    finally:
        engine.close()


def test_it_refuses_while_a_sale_is_open_or_the_lane_runs(tmp_path: Path) -> None:
    config_path = lane_config(tmp_path)
    data = tmp_path / "data"
    run_sale(config_path, lines=3)  # the shopper walked away mid-sale; the lane stopped
    record = scale_session(config_path)
    with pytest.raises(LaneBusyError, match="a sale is open"):
        queue_record(record, data)
    assert record.event_seq is None and record_sent(data, record.record_id) is None

    fresh = tmp_path / "fresh"
    fresh_config = lane_config(fresh.mkdir() or fresh)
    run_sale(fresh_config)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1]); "
            "c.execute('select count(*) from outbox').fetchone(); print('open', flush=True); "
            "time.sleep(60)",
            str(fresh / "data" / "journal.sqlite3"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(LaneBusyError, match=str(holder.pid)):
            queue_record(scale_session(fresh_config), fresh / "data")
    finally:
        holder.kill()
        holder.wait()
    assert queue_record(scale_session(fresh_config), fresh / "data") > 0


def settle_results() -> list[CheckResult]:
    noise = sc.NoiseFigures.from_readings([2000, 2003, 1997, 2004, 1996, 2002, 1998])
    return [sc.settle_check("bagging_scale", 2000, 900.0, noise, TOL, poll_hz=10, ts=1.0)]


def test_recommended_settings_are_written_only_when_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    section = (
        "\n# the bagging scale, serviced 2026-03\n[bagging_scale]\nenabled = false\n"
        'settle_ms = 250  # factory value\n\n# logs\n[logging]\nlevel = "INFO"\n'
    )
    config_path = lane_config(tmp_path, section)
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r.to_json()) + "\n" for r in settle_results()))
    save = [
        "calibrate",
        "record",
        "save",
        "--config",
        str(config_path),
        "--technician",
        "Li Wei",
        "--results",
        str(results),
    ]
    original = config_path.read_text()
    assert main(save) == 0
    assert "not applied" in capsys.readouterr().out and config_path.read_text() == original

    assert main([*save, "--apply"]) == 0
    text = config_path.read_text()
    expected = settle_results()[0].figures["recommended"]
    values = load_config(config_path).sections["bagging_scale"]
    assert all(values[k] == v for k, v in expected.items())
    assert f"settle_ms = {expected['settle_ms']}  # factory value" in text
    assert "# the bagging scale, serviced 2026-03" in text and "# lane 7, by the exit" in text
    assert config_path.with_name("lane.toml.bak").read_text() == original
    record = load_record(find_record(tmp_path / "data"))
    assert record.applied_settings["bagging_scale"]["settle_ms"] == {
        "before": 250,
        "after": expected["settle_ms"],
    }


def test_report_is_self_contained_html_with_a_linearity_plot(tmp_path: Path) -> None:
    record = scale_session(lane_config(tmp_path))
    record.technician = "Li <b>Wei</b>"
    page = render_html(record)
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "Li &lt;b&gt;Wei&lt;/b&gt;" in page and "<b>Wei" not in page
    assert page.count("<svg") == 1 and "<polygon" in page  # the error curve in its MPE band
    assert "FAIL" in page and "PASS" in page and record.software_version in page
    assert record.models["item-detector"]["sha256"] in page


def test_cli_report_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_path = lane_config(tmp_path)
    record = scale_session(config_path)
    save_record(record, tmp_path / "data")
    out = tmp_path / "report.html"
    assert main(["calibrate", "report", "--config", str(config_path), "--out", str(out)]) == 0
    assert out.read_text().count(record.record_id) >= 1
    assert main(["calibrate", "record", "show", "--config", str(config_path)]) == 0
    shown: Any = capsys.readouterr().out
    assert "fail -> pass" in shown and "FAIL by Li Wei" in shown
    assert main(["calibrate", "record", "show", "nope", "--config", str(config_path)]) == 2
