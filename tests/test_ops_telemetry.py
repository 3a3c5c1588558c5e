"""Telemetry of a real lane: Prometheus text on loopback /metrics, the tele topic on a real
broker, and ``sco status`` in a terminal — all following the lane's sales and interventions.

The lane runs headless with a bagging scale on a pty (the scale simulator speaks Toledo
8217), a payment terminal simulator on a pty and a file printer; nothing is mocked above
those hardware edges.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from backend_client.schema_validation import validate
from hardware.payment import PaymentTerminalSimulator
from hardware.scale.base import get_protocol
from hardware.scale.simulator import ScaleSimulator
from kiosk.app import Lane
from kiosk.config import parse_config_text
from kiosk.core.events import Event
from kiosk.core.inputs import AttendantCommand, BarcodeRead, ShopperAction
from kiosk.ops.metrics_http import ExpositionError, MetricsServer, parse_exposition
from kiosk.ops.telemetry import read_temperature_c, tele_fields
from tests.conftest import EXAMPLES, Collector, wait_for

REPO = Path(__file__).resolve().parents[1]
WATER, WATER_G = "6902974302088", 572
ALLOWED_LABELS = {"kiosk", "store", "device", "reason", "stage", "quantile", "score"}  # score: 1-5

# --- an independent, strict reader of the 0.0.4 text format ---------------------------------

_SAMPLE = re.compile(r'([a-z_:][a-z0-9_:]*)\{((?:[a-z_]+="(?:[^"\\\n]|\\.)*",?)*)\} (\S+)')
_LABEL = re.compile(r'([a-z_]+)="((?:[^"\\\n]|\\.)*)"')


def strict_parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every family: HELP, then TYPE, then its samples; each sample labelled kiosk and store."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    helped: set[str] = set()
    typed: dict[str, str] = {}
    family = ""
    for line in text.rstrip("\n").split("\n"):
        if line.startswith("# HELP "):
            family = line.split()[2]
            assert family.startswith("opensco_") and family not in helped, line
            helped.add(family)
            continue
        if line.startswith("# TYPE "):
            _h, _t, name, kind = line.split(" ")
            assert name == family and name not in typed, line
            assert kind in ("counter", "gauge", "summary"), line
            typed[name] = kind
            continue
        match = _SAMPLE.fullmatch(line)
        assert match, f"not a sample line: {line!r}"
        name, labels = match[1], frozenset(_LABEL.findall(match[2]))
        assert family in typed, f"{name} comes before its TYPE"
        suffixes = ("", "_sum", "_count") if typed[family] == "summary" else ("",)
        assert name in {family + s for s in suffixes}, f"{name} outside family {family}"
        assert {k for k, _ in labels} <= ALLOWED_LABELS, line
        assert {"kiosk", "store"} <= {k for k, _ in labels}, line
        if typed[family] == "counter":
            assert family.endswith("_total") and float(match[3]) >= 0, line
        assert (name, labels) not in samples, f"repeated series {line}"
        samples[(name, labels)] = float(match[3])
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    want = {("kiosk", "lane-07"), ("store", "store-01"), *labels.items()}
    return samples.get((name, frozenset(want)))


def scrape(url: str) -> dict[Any, float]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return strict_parse(answer.read().decode("utf-8"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sco(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "status", *args],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip


# --- the lane ---------------------------------------------------------------------------------


def test_a_running_lane_reports_its_health_and_kpis(
    mosquitto: tuple[str, int], tmp_path: Path
) -> None:
    host, port = mosquitto
    metrics_port = free_port()
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    events: list[Event] = []
    tele = Collector(host, port, "opensco/store-01/kiosk/lane-07/tele")
    with (
        ScaleSimulator(get_protocol("toledo8217"), tmp_path / "bagging") as bagging,
        PaymentTerminalSimulator(str(tmp_path / "terminal")),
    ):
        config = parse_config_text(
            f"""
            [kiosk]
            id = "lane-07"
            data_dir = "{tmp_path / "data"}"
            [catalog]
            path = "{EXAMPLES / "catalog.csv"}"
            [bagging_scale]
            enabled = true
            port = "{tmp_path / "bagging"}"
            protocol = "toledo8217"
            [payment]
            enabled = true
            port = "{tmp_path / "terminal"}"
            [printer]
            enabled = true
            url = "file:{tmp_path / "receipts.bin"}"
            [security]
            policies = ["unexpected_item:alert"]
            [mqtt]
            enabled = true
            broker = "mqtt://{host}:{port}"
            [ops]
            metrics_port = {metrics_port}
            tele_interval_s = 1
            """
        )
        lane = Lane(config, on_events=events.extend)
        lane.start()
        try:
            types = lambda: [e.type.value for e in events]  # noqa: E731
            # Before any sale: every device is there, with real figures from its adapter.
            assert lane.metrics.address[0] == "127.0.0.1"
            assert wait_for(lambda: value(scrape(url), "opensco_scale_connected",
                                          device="scale.bagging") == 1)  # fmt: skip
            first = scrape(url)
            assert value(first, "opensco_transactions_total") == 0
            assert value(first, "opensco_device_up", device="payment") == 1
            assert value(first, "opensco_device_up", device="mqtt") in (0, 1)
            assert value(first, "opensco_printer_paper", device="printer", reason="unknown") == 1
            assert value(first, "opensco_disk_free_bytes", device="data")
            assert value(first, "opensco_cpu_count") >= 1  # type: ignore[operator]
            assert value(first, "opensco_load1") is not None
            assert (value(first, "opensco_temperature_celsius") is None) == (
                read_temperature_c() is None
            )
            assert value(first, "opensco_scale_frames_ok_total", device="scale.bagging")

            # A sale: scan the water, bag it, pay at the terminal.
            now = lane.clock
            lane.put(ShopperAction(now(), "start", {"language": "en"}))
            lane.put(BarcodeRead(now(), WATER, "EAN13"))
            assert wait_for(lambda: "item_added" in types())
            bagging.place(WATER_G)
            assert wait_for(lambda: _bagging_settled_at(lane, WATER_G))
            lane.put(ShopperAction(now(), "pay", {"method": "card"}))
            assert wait_for(lambda: "transaction_completed" in types(), 30)
            sale = scrape(url)
            assert value(sale, "opensco_transactions_total") == 1
            assert value(sale, "opensco_transactions_completed_total") == 1
            started = next(e for e in events if e.type.value == "session_started")
            done = next(e for e in events if e.type.value == "transaction_completed")
            expected_s = (done.ts_ms - started.ts_ms) / 1000
            assert value(sale, "opensco_transaction_duration_seconds_count") == 1
            assert value(sale, "opensco_transaction_duration_seconds", quantile="0.5") == (
                pytest.approx(expected_s, abs=0.002)
            )
            assert value(sale, "opensco_outbox_last_seq") >= len(events)  # type: ignore[operator]

            # The shopper lifts the bag; the next one puts something unscanned down: the
            # attendant is called, and clears it.
            bagging.place(0)
            assert wait_for(lambda: _bagging_settled_at(lane, 0))
            lane.put(ShopperAction(now(), "start", {"language": "en"}))
            assert wait_for(lambda: types().count("session_started") == 2)
            bagging.place(348)
            assert wait_for(lambda: "alert_raised" in types())
            alert = next(e for e in events if e.type.value == "alert_raised")
            assert alert.data["kind"] == "unexpected_item"
            lane.put(
                AttendantCommand(now(), "clear", "att-01", {"alert_id": alert.data["alert_id"]})
            )
            assert wait_for(lambda: "alert_cleared" in types())
            cleared = next(e for e in events if e.type.value == "alert_cleared")
            after = scrape(url)
            assert value(after, "opensco_transactions_total") == 2
            assert value(after, "opensco_interventions_total", reason="unexpected_item") == 1
            assert value(after, "opensco_interventions_per_100_transactions") == 50.0
            assert value(after, "opensco_interventions_per_100_transactions_by_reason",
                         reason="unexpected_item") == 50.0  # fmt: skip
            assert value(after, "opensco_time_to_clear_seconds_count") == 1
            assert value(after, "opensco_time_to_clear_seconds", quantile="0.5") == (
                pytest.approx((cleared.ts_ms - alert.ts_ms) / 1000, abs=0.002)
            )

            # The same figures go out on the tele topic, valid against its schema.
            def tele_with_intervention(c: Collector) -> bool:
                return any(
                    p.get("kpis", {}).get("interventions.unexpected_item") == 1
                    for p in c.payloads()
                )

            assert tele.wait_for(tele_with_intervention)
            body = next(
                p for p in tele.payloads()
                if p.get("kpis", {}).get("interventions.unexpected_item") == 1
            )  # fmt: skip
            assert validate("tele", body) == []
            assert body["kpis"]["transactions"] == 2
            assert body["kpis"]["completed"] == 1
            assert body["kpis"]["interventions_per_100_by_reason.unexpected_item"] == 50.0
            assert body["kpis"]["transaction_duration_s.count"] == 1
            assert body["devices"]["scale.bagging"] != "offline"
            assert body["printer"]["paper"] == "unknown"
            assert body["scales"]["bagging"]["frames_ok"] > 0
            assert "disk_free_mb" in body["host"] and "load_1m" in body["host"]
            assert body["outbox"]["last_seq"] >= 1

            # Only loopback: the same port on another local address refuses the connection.
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.2", metrics_port), timeout=5).close()

            # sco status, in a terminal, reads the same endpoint.
            text = sco("--url", url)
            assert text.returncode == 0, text.stderr
            assert "lane lane-07 (store store-01)" in text.stdout
            assert "2 started, 1 completed" in text.stdout
            assert "unexpected_item 50" in text.stdout
            as_json = sco("--url", url, "--json")
            assert as_json.returncode == 0, as_json.stderr
            figures = json.loads(as_json.stdout)
            assert figures["kiosk"] == "lane-07"
            assert figures["metrics"]["opensco_transactions_total"] == 2
            assert figures["metrics"]["opensco_interventions_total"] == {
                "reason=unexpected_item": 1
            }
        finally:
            lane.stop()
            tele.close()
    # Stopped: the endpoint is gone, and the data folder still tells the KPIs.
    down = sco("--url", url)
    assert down.returncode == 1 and "cannot reach" in down.stderr
    offline = sco("--data-dir", str(tmp_path / "data"), "--json")
    assert offline.returncode == 0, offline.stderr
    metrics = json.loads(offline.stdout)["metrics"]
    assert metrics["opensco_transactions_total"] == 2
    assert metrics["opensco_transactions_completed_total"] == 1
    assert metrics["opensco_time_to_clear_seconds_count"] == 1


def _bagging_settled_at(lane: Lane, grams: int) -> bool:
    """The checkout itself has taken a stable bagging weight near ``grams``."""
    engine = lane.engine_thread.engine
    seen = engine.checkout.weights.get("bagging") if engine is not None else None
    return bool(seen and seen["stable"] and abs(seen["weight_g"] - grams) <= 15)


# --- smaller pieces ----------------------------------------------------------------------------


def test_a_taken_port_leaves_the_lane_selling_without_metrics(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = parse_config_text(
            f'[kiosk]\ndata_dir = "{tmp_path}"\n[catalog]\npath = "{EXAMPLES / "catalog.csv"}"\n'
            f"[ops]\nmetrics_port = {taken.getsockname()[1]}\n"
        )
        lane = Lane(config)
        lane.start()
        try:
            assert lane.metrics is None
            lane.put(ShopperAction(lane.clock(), "start", {"language": "en"}))
            assert wait_for(lambda: lane.health()["kpis"]["transactions"] == 1)
        finally:
            lane.stop()


def test_only_metrics_is_served_and_a_broken_figure_answers_500() -> None:
    def broken() -> str:
        raise RuntimeError("a sensor went away")

    server = MetricsServer(broken, 0).start()
    try:
        base = f"http://127.0.0.1:{server.address[1]}"
        for path, code in (("/", 404), ("/metrics", 500)):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(base + path, timeout=10)
            assert err.value.code == code
    finally:
        server.stop()


@pytest.mark.parametrize(
    "text",
    [
        "opensco_up{} 1\n",  # a sample before its TYPE
        "# TYPE opensco_up gauge\nopensco_up 1\nopensco_up 2\n",  # a repeated series
        "# TYPE opensco_up gauge\nopensco_up one\n",  # a value that is no number
        '# TYPE opensco_up gauge\nopensco_up{kiosk="a",kiosk="b"} 1\n',  # a repeated label
        "# TYPE opensco_up gauge\n# TYPE opensco_up counter\n",  # TYPE twice
        "# TYPE opensco_up sometimes\n",  # an unknown type
        '# TYPE opensco_up gauge\nopensco_down{kiosk="a"} 1\n',  # outside its family
    ],
)
def test_the_status_reader_refuses_what_the_format_does_not_allow(text: str) -> None:
    with pytest.raises(ExpositionError):
        parse_exposition(text)


def test_sco_status_says_what_to_give_and_what_is_missing(tmp_path: Path) -> None:
    bare = sco()
    assert bare.returncode == 1 and "--url, --data-dir or --config" in bare.stderr
    empty = sco("--data-dir", str(tmp_path))
    assert empty.returncode == 1 and "no journal" in empty.stderr


def test_tele_fields_leave_unknown_figures_out() -> None:
    snap = {
        "uptime_s": 3.0,
        "devices": {"camera": "offline"},
        "outbox": {"pending": 0, "error": "no such table: outbox"},
        "kpis": {"transactions": 0, "nudge_self_correction": None,
                 "time_to_clear_s": {"count": 0, "median": None}},
    }  # fmt: skip
    fields = tele_fields(snap)
    assert fields["kpis"] == {"transactions": 0, "time_to_clear_s.count": 0}
    assert fields["outbox"] == {"pending": 0}
    body = {"kiosk_id": "lane-07", "boot_id": "b-1", "ts": 1.0, **fields}
    assert validate("tele", body) == []


@pytest.mark.parametrize(("reply", "paper", "up"), [(0x1E, "near_end", 1), (0x72, "out", 0)])
def test_printer_paper_comes_from_its_sensor(
    tmp_path: Path, reply: int, paper: str, up: int
) -> None:
    from hardware.printer import ReceiptPrinter
    from kiosk.ops.metrics_http import render_metrics
    from tests.test_printer import PaperSensorDummy

    config = parse_config_text(
        f'[kiosk]\nid = "lane-07"\ndata_dir = "{tmp_path}"\n'
        f'[catalog]\npath = "{EXAMPLES / "catalog.csv"}"\n'
    )
    lane = Lane(config)
    # The printer answers DLE EOT 4 with this byte: the fake sits at the byte edge.
    lane.printer = ReceiptPrinter(lambda: PaperSensorDummy(bytes([reply])))
    lane.start()
    try:
        lane.telemetry.snapshot()  # asks the sensor on the device thread
        assert wait_for(lambda: lane.printer.health().detail["paper"] == paper)
        samples = strict_parse(render_metrics(lane.telemetry.snapshot()))
        assert value(samples, "opensco_printer_paper", device="printer", reason=paper) == 1
        assert value(samples, "opensco_printer_paper", device="printer", reason="ok") == 0
        assert value(samples, "opensco_device_up", device="printer") == up
    finally:
        lane.stop()


def test_camera_figures_come_from_the_camera_and_the_pipeline(tmp_path: Path) -> None:
    from kiosk.ops.metrics_http import render_metrics
    from tests.test_lane_vision import _lane

    events: list[Event] = []
    # A folder of rendered frames: a water bottle's barcode crosses the scan zone.
    lane = _lane(tmp_path, events, True, str(tmp_path / "no-such-model.onnx"))
    lane.start()
    try:
        assert wait_for(lambda: lane.vision.camera.ended, timeout_s=30)
        assert wait_for(lambda: any(e.type.value == "item_added" for e in events), 10)
        snap = lane.telemetry.snapshot()
        samples = strict_parse(render_metrics(snap))
    finally:
        lane.stop()
    cam = {"device": "camera"}
    frames = value_any(samples, "opensco_camera_frames_total", **cam)
    assert frames == lane.vision.camera.stats.frames and frames > 0
    reads = value_any(samples, "opensco_vision_barcode_reads_total", **cam)
    runs = value_any(samples, "opensco_vision_decode_runs_total", **cam)
    assert reads >= 1 and runs >= reads
    assert value_any(samples, "opensco_vision_decode_rate", **cam) == pytest.approx(
        reads / runs, abs=1e-4
    )
    assert value_any(samples, "opensco_vision_stage_seconds", stage="decode") > 0
    assert snap["devices"]["camera"] in ("ok", "offline")  # a folder source ends
    assert snap["vision"]["dropped"] == value_any(
        samples, "opensco_camera_frames_dropped_total", **cam
    )


def value_any(samples: dict[Any, float], name: str, **labels: str) -> float:
    """The one series of ``name`` carrying ``labels`` (whatever the lane's id)."""
    found = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls)]
    assert len(found) == 1, (name, labels, found)
    return found[0]
