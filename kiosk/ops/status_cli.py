"""``sco status``: a lane's health and KPIs in the terminal.

From a running lane's loopback ``/metrics`` (``--url``, or ``--config`` with ``[ops]
metrics_port``), or, with the lane stopped, from its data folder (``--data-dir``): the
outbox and the KPIs folded from the journal's events, plus this machine's disk and load.
Both paths go through the same exposition text, so the terminal shows what Prometheus sees.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiosk.core.kpis import KpiTracker
from kiosk.ops.metrics_http import ExpositionError, Family, parse_exposition, render_metrics
from kiosk.ops.telemetry import SaleTimer, host_figures, kpi_figures, outbox_figures

EXIT_UNREACHABLE = 1
BASE_LABELS = ("kiosk", "store")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show a lane's device health and KPIs",
        description="Show a lane's device health and KPIs from its loopback /metrics "
        "endpoint, or from its data folder while it is stopped.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--url", help="the lane's metrics URL, e.g. http://127.0.0.1:9464/metrics")
    source.add_argument("--data-dir", help="read a stopped lane's data folder instead")
    parser.add_argument("--config", help="the lane's TOML file: its metrics port and data dir")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=run_status)


def run_status(args: argparse.Namespace) -> int:
    try:
        source, text = _exposition(args)
        families = parse_exposition(text)
    except StatusError as err:
        print(f"sco status: {err}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except ExpositionError as err:
        print(f"sco status: {source} is not Prometheus text: {err}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if args.json:
        print(json.dumps({"source": source, **as_json(families)}, indent=2, sort_keys=True))
    else:
        print(f"source: {source}")
        print(format_status(families))
    return 0


class StatusError(Exception):
    """Nothing to show: the endpoint cannot be reached or the folder holds no journal."""


def _exposition(args: argparse.Namespace) -> tuple[str, str]:
    kiosk, store, url, data_dir = "unknown", "unknown", args.url, args.data_dir
    if args.config:
        from kiosk.config import load_config
        from kiosk.errors import ConfigError

        try:
            config = load_config(args.config)
        except ConfigError as err:
            raise StatusError(str(err)) from err
        kiosk, store = config.kiosk_id, config.store_id
        port = config.sections["ops"]["metrics_port"]
        if url is None and data_dir is None:
            if port:
                url = f"http://127.0.0.1:{port}/metrics"
            else:
                data_dir = config.data_dir
    if url is None and data_dir is None:
        raise StatusError("give --url, --data-dir or --config (see sco status --help)")
    if url is not None:
        return url, fetch(url)
    return str(data_dir), offline_metrics(Path(str(data_dir)), kiosk, store)


def fetch(url: str, timeout_s: float = 5.0) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            return answer.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        raise StatusError(f"{url} answered {err.code} {err.reason}") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise StatusError(
            f"cannot reach {url} ({reason}); is the lane running with [ops] metrics_port set?"
        ) from err


def offline_metrics(data_dir: Path, kiosk: str, store: str) -> str:
    """The figures a stopped lane still has: outbox, KPIs from the journal, this host."""
    journal = data_dir / "journal.sqlite3"
    if not journal.is_file():
        raise StatusError(f"no journal at {journal}; is {data_dir} a lane's data folder?")
    kpis, sales = KpiTracker(), SaleTimer()
    try:
        db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=2)
        try:
            rows = db.execute("SELECT payload FROM outbox ORDER BY seq").fetchall()
        finally:
            db.close()
    except sqlite3.Error as err:
        raise StatusError(f"cannot read {journal}: {err}") from err
    for (payload,) in rows:
        try:
            event = json.loads(payload)
        except ValueError:
            continue  # one damaged row must not hide the rest
        kpis.observe(event)
        sales.observe(event)
    snapshot = {
        "kiosk_id": kiosk,
        "store_id": store,
        "ts": time.time(),
        "outbox": outbox_figures(journal),
        "host": host_figures(data_dir),
        "kpis": kpi_figures(kpis, sales),
    }
    return render_metrics(snapshot)


# --- reading the families ----------------------------------------------------------------


def _value(families: Mapping[str, Family], name: str, **labels: str) -> float | None:
    family = families.get(name)
    if family is None:
        return None
    for sample, sample_labels, value in family.samples:
        have = dict(sample_labels)
        if sample == name and all(have.get(k) == v for k, v in labels.items()):
            return value
    return None


def _series(families: Mapping[str, Family], name: str, label: str) -> dict[str, float]:
    family = families.get(name)
    if family is None:
        return {}
    return {dict(labels).get(label, ""): value for _s, labels, value in family.samples}


def as_json(families: Mapping[str, Family]) -> dict[str, Any]:
    """``{"kiosk", "store", "metrics": {sample: value | {"k=v,...": value}}}``."""
    metrics: dict[str, Any] = {}
    base: dict[str, str] = {}
    for family in families.values():
        for sample, labels, value in family.samples:
            extra = [(k, v) for k, v in labels if k not in BASE_LABELS]
            base.update((k, v) for k, v in labels if k in BASE_LABELS)
            if extra:
                key = ",".join(f"{k}={v}" for k, v in extra)
                metrics.setdefault(sample, {})[key] = value
            else:
                metrics[sample] = value
    return {"kiosk": base.get("kiosk"), "store": base.get("store"), "metrics": metrics}


def _num(value: float | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.{digits}f}" if not float(value).is_integer() else str(int(value))
    return text + unit


def format_status(f: Mapping[str, Family]) -> str:
    """A screenful of plain text, one line per area."""
    base = as_json(f)
    uptime = _num(_value(f, "opensco_uptime_seconds"), " s", 0)
    lines = [f"lane {base['kiosk']} (store {base['store']}), up {uptime}"]
    devices = _series(f, "opensco_device_up", "device")
    if devices:
        words = [f"{d} {'ok' if up else 'FAULT'}" for d, up in sorted(devices.items())]
        lines.append("devices:      " + ", ".join(words))
    if "opensco_camera_fps" in f:
        latency = _series(f, "opensco_vision_model_latency_seconds", "device")
        lines.append(
            f"camera:       {_num(_value(f, 'opensco_camera_fps'))} fps, "
            f"{_num(_value(f, 'opensco_camera_frames_dropped_total'))} dropped of "
            f"{_num(_value(f, 'opensco_camera_frames_total'))} frames, "
            f"{_num(_value(f, 'opensco_vision_barcode_reads_total'))} reads in "
            f"{_num(_value(f, 'opensco_vision_decode_runs_total'))} decode runs "
            f"(rate {_num(_value(f, 'opensco_vision_decode_rate'), '', 3)}), model latency "
            + (", ".join(f"{m} {v * 1000:.1f} ms" for m, v in latency.items()) or "n/a")
        )
    for device, ok in sorted(_series(f, "opensco_scale_frames_ok_total", "device").items()):
        bad = _value(f, "opensco_scale_frames_bad_total", device=device)
        lines.append(f"{device + ':':<14}{_num(ok)} good frames, {_num(bad)} bad")
    paper = [r for r, v in _series(f, "opensco_printer_paper", "reason").items() if v]
    if paper:
        lines.append(f"printer:      paper {paper[0]}")
    lines.append(
        f"outbox:       {_num(_value(f, 'opensco_outbox_pending'))} pending, oldest "
        f"{_num(_value(f, 'opensco_outbox_oldest_age_seconds'), ' s')}, last seq "
        f"{_num(_value(f, 'opensco_outbox_last_seq'))}, "
        f"{_num(_mb(_value(f, 'opensco_outbox_disk_bytes')), ' MB')} on disk"
    )
    lines.append(
        f"host:         load {_num(_value(f, 'opensco_load1'), '', 2)} "
        f"{_num(_value(f, 'opensco_load5'), '', 2)} {_num(_value(f, 'opensco_load15'), '', 2)} "
        f"on {_num(_value(f, 'opensco_cpu_count'))} CPUs, disk "
        f"{_num(_mb(_value(f, 'opensco_disk_free_bytes', device='data')), ' MB')} free, "
        f"temperature {_num(_value(f, 'opensco_temperature_celsius'), ' °C')}"
    )
    lines.extend(_kpi_lines(f))
    return "\n".join(lines)


def _mb(value: float | None) -> float | None:
    return None if value is None else round(value / 1e6, 1)


def _kpi_lines(f: Mapping[str, Family]) -> list[str]:
    if "opensco_transactions_total" not in f:
        return []
    duration = "opensco_transaction_duration_seconds"
    clear = "opensco_time_to_clear_seconds"
    reasons = _series(f, "opensco_interventions_per_100_transactions_by_reason", "reason")
    return [
        f"sales:        {_num(_value(f, 'opensco_transactions_total'))} started, "
        f"{_num(_value(f, 'opensco_transactions_completed_total'))} completed "
        f"(median {_num(_value(f, duration, quantile='0.5'), ' s')}, "
        f"p90 {_num(_value(f, duration, quantile='0.9'), ' s')}), "
        f"{_num(_value(f, 'opensco_transactions_cancelled_total'))} cancelled",
        f"interventions: {_num(_value(f, 'opensco_interventions_per_100_transactions'))} per 100 "
        "sales"
        + "".join(f", {r} {_num(v)}" for r, v in sorted(reasons.items()))
        + f"; time to clear median {_num(_value(f, clear, quantile='0.5'), ' s')}, "
        f"p90 {_num(_value(f, clear, quantile='0.9'), ' s')}",
        f"nudges:       {_num(_value(f, 'opensco_nudges_total'))}, self-corrected "
        f"{_num(_value(f, 'opensco_nudges_self_corrected_total'))} "
        f"(ratio {_num(_value(f, 'opensco_nudge_self_correction_ratio'), '', 2)})",
        f"survey:       {_num(_value(f, 'opensco_survey_answers_total'))} answers, mean "
        f"{_num(_value(f, 'opensco_survey_score_mean'), '', 2)}",
    ]
