"""Prometheus text exposition (format 0.0.4) of a lane snapshot, served on loopback only.

``render_metrics`` turns a :mod:`kiosk.ops.telemetry` snapshot into ``opensco_*`` families,
each with its HELP and TYPE lines, labelled ``kiosk`` and ``store`` (plus ``device``,
``reason``, ``stage`` or ``quantile`` where a family has several series). A figure the lane
does not know (no temperature sensor, no camera) is left out rather than sent as 0.
``MetricsServer`` serves it with the standard library on 127.0.0.1: a lane's metrics are
for a local scraper (node agent, ssh tunnel), never for the store network.
``parse_exposition`` is the strict reader ``sco status`` uses.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LOOPBACK = "127.0.0.1"
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Device words (from telemetry's ``devices``) that mean the device cannot do its job.
DEVICE_FAULTS = frozenset(
    {"offline", "disconnected", "unavailable", "connecting", "loaded_at_start", "out", "error",
     "disk_full"}
)  # fmt: skip
_TYPES = ("counter", "gauge", "summary", "histogram", "untyped")
_SUFFIXES = {"summary": ("", "_sum", "_count"), "histogram": ("_bucket", "_sum", "_count")}

Labels = tuple[tuple[str, str], ...]


@dataclass
class Family:
    name: str
    type: str
    help: str
    samples: list[tuple[str, Labels, float]] = field(default_factory=list)


class Exposition:
    """Families in the order first added; samples carry the lane's kiosk/store labels."""

    def __init__(self, base: Mapping[str, str]) -> None:
        self.base: Labels = tuple(base.items())
        self.families: dict[str, Family] = {}

    def add(
        self,
        name: str,
        kind: str,
        text: str,
        value: float | int | bool | None,
        suffix: str = "",
        **labels: str,
    ) -> None:
        if value is None:
            return  # unknown: absent, never a made-up 0
        family = self.families.setdefault(name, Family(name, kind, text))
        family.samples.append((name + suffix, self.base + tuple(labels.items()), float(value)))

    def render(self) -> str:
        lines: list[str] = []
        for family in self.families.values():
            lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
            lines.append(f"# TYPE {family.name} {family.type}")
            for name, labels, value in family.samples:
                inner = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
                lines.append(f"{name}{{{inner}}} {_number(value)}")
        return "\n".join(lines) + "\n"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _summary(out: Exposition, name: str, text: str, stats: Mapping[str, Any]) -> None:
    """A Prometheus summary (median, p90, sum, count) from telemetry's duration_stats."""
    for quantile, key in (("0.5", "median"), ("0.9", "p90")):
        out.add(name, "summary", text, stats.get(key), quantile=quantile)
    out.add(name, "summary", text, stats.get("sum", 0), "_sum")
    out.add(name, "summary", text, stats.get("count", 0), "_count")


# (metric, type, help, key in its part of the snapshot): one row per plain figure.
Row = tuple[str, str, str, str]
SCALE_ROWS: tuple[Row, ...] = (
    ("opensco_scale_connected", "gauge", "1 while the scale answers", "connected"),
    ("opensco_scale_frames_ok_total", "counter", "valid frames read from the scale",
     "frames_ok"),
    ("opensco_scale_frames_bad_total", "counter", "garbled or refused frames from the scale",
     "frames_bad"),
    ("opensco_scale_reconnects_total", "counter", "times the scale link was reopened",
     "reconnects"),
)  # fmt: skip
CAMERA_ROWS: tuple[Row, ...] = (
    ("opensco_camera_connected", "gauge", "1 while the camera delivers frames", "connected"),
    ("opensco_camera_fps", "gauge", "frames per second from the camera, recent window", "fps"),
    ("opensco_camera_frames_total", "counter", "frames the camera delivered", "frames"),
    ("opensco_camera_frames_dropped_total", "counter",
     "frames replaced by a newer one before vision took them", "dropped"),
    ("opensco_camera_reconnects_total", "counter", "times the camera was reopened",
     "reconnects"),
    ("opensco_vision_frames_processed_total", "counter", "frames the vision pipeline processed",
     "frames_processed"),
    ("opensco_vision_decode_runs_total", "counter", "barcode decode attempts on image regions",
     "decode_runs"),
    ("opensco_vision_barcode_reads_total", "counter",
     "barcodes the camera decoded and handed to the checkout", "reads"),
    ("opensco_vision_decode_rate", "gauge", "barcode reads per decode attempt since start",
     "decode_rate"),
)  # fmt: skip
OUTBOX_ROWS: tuple[Row, ...] = (
    ("opensco_outbox_pending", "gauge", "events written but not yet acknowledged", "pending"),
    ("opensco_outbox_oldest_age_seconds", "gauge", "age of the oldest unacknowledged event",
     "oldest_age_s"),
    ("opensco_outbox_last_seq", "gauge", "sequence number of the newest event", "last_seq"),
    ("opensco_outbox_disk_bytes", "gauge", "size of the journal and outbox on disk",
     "disk_bytes"),
    ("opensco_outbox_sent_total", "counter", "events the broker acknowledged", "sent"),
    ("opensco_mqtt_connected", "gauge", "1 while the backend link is up", "connected"),
)  # fmt: skip
HOST_ROWS: tuple[Row, ...] = (
    ("opensco_load1", "gauge", "1-minute load average of the host", "load_1m"),
    ("opensco_load5", "gauge", "5-minute load average of the host", "load_5m"),
    ("opensco_load15", "gauge", "15-minute load average of the host", "load_15m"),
    ("opensco_cpu_count", "gauge", "CPUs of the host", "cpu_count"),
    ("opensco_temperature_celsius", "gauge", "hottest thermal zone of the host", "temp_c"),
)
KPI_ROWS: tuple[Row, ...] = (
    ("opensco_transactions_total", "counter", "sales started since the lane started",
     "transactions"),
    ("opensco_transactions_completed_total", "counter", "sales paid for", "completed"),
    ("opensco_transactions_cancelled_total", "counter", "sales cancelled", "cancelled"),
    ("opensco_transactions_suspended_total", "counter", "sales suspended", "suspended"),
    ("opensco_interventions_per_100_transactions", "gauge",
     "attendant interventions per 100 sales, all reasons", "interventions_per_100"),
    ("opensco_nudges_total", "counter", "private nudges shown to shoppers", "nudges"),
    ("opensco_nudges_self_corrected_total", "counter",
     "nudges the shopper fixed without an attendant", "nudges_self_corrected"),
    ("opensco_nudge_self_correction_ratio", "gauge", "share of nudges the shopper fixed alone",
     "nudge_self_correction"),
    ("opensco_survey_answers_total", "counter", "exit-survey answers", "survey_answers"),
    ("opensco_survey_score_mean", "gauge", "mean exit-survey score", "survey_score_mean"),
    ("opensco_survey_comments_total", "counter", "exit-survey answers with a comment",
     "survey_comments"),
)  # fmt: skip


def _rows(out: Exposition, rows: tuple[Row, ...], part: Mapping[str, Any], **labels: str) -> None:
    for name, kind, text, key in rows:
        out.add(name, kind, text, part.get(key), **labels)


def render_metrics(snap: Mapping[str, Any]) -> str:
    """The whole ``/metrics`` page for one snapshot."""
    out = Exposition({"kiosk": str(snap["kiosk_id"]), "store": str(snap["store_id"])})
    out.add("opensco_up", "gauge", "1 while the lane process answers", 1)
    out.add("opensco_uptime_seconds", "gauge", "seconds since start", snap.get("uptime_s"))
    out.add("opensco_lane_locked", "gauge", "1 while the lane is locked", snap.get("locked"))
    text = "1 while the lane runs in training mode (practice: nothing sold or counted)"
    out.add("opensco_training_mode", "gauge", text, snap.get("training"))
    up_help = "1 when the device answers and reports no fault, else 0"
    for device, state in sorted(snap.get("devices", {}).items()):
        out.add("opensco_device_up", "gauge", up_help, state not in DEVICE_FAULTS, device=device)
    for name, scale in sorted(snap.get("scales", {}).items()):
        _rows(out, SCALE_ROWS, scale, device=f"scale.{name}")
    vision = snap.get("vision")
    if vision is not None:
        _rows(out, CAMERA_ROWS, vision, device="camera")
        for model, ms in sorted(vision["model_latency_ms"].items()):
            text = "mean time of one model run since start"
            out.add("opensco_vision_model_latency_seconds", "gauge", text, ms / 1000, device=model)
        for stage, ms in sorted(vision["stage_ms"].items()):
            text = "mean time per frame of one pipeline stage since start"
            out.add("opensco_vision_stage_seconds", "gauge", text, ms / 1000, stage=stage)
    printer = snap.get("printer")
    if printer is not None:
        text = "1 for the printer's current paper state (ok, near_end, out, unknown)"
        for paper in ("ok", "near_end", "out", "unknown"):
            is_now = printer["paper"] == paper
            out.add("opensco_printer_paper", "gauge", text, is_now, device="printer", reason=paper)
    _rows(out, OUTBOX_ROWS, snap.get("outbox", {}))
    _host(out, snap.get("host", {}))
    _kpis(out, snap.get("kpis", {}))
    return out.render()


def _ratio(pct: float | None) -> float | None:
    return None if pct is None else round(pct / 100, 4)


def _host(out: Exposition, host: Mapping[str, Any]) -> None:
    _rows(out, HOST_ROWS, host)
    text = "share of CPU time busy since the previous reading"
    out.add("opensco_cpu_busy_ratio", "gauge", text, _ratio(host.get("cpu_pct")))
    text = "share of memory in use"
    out.add("opensco_memory_used_ratio", "gauge", text, _ratio(host.get("mem_pct")))
    for key, name, text in (
        ("disk_free_mb", "opensco_disk_free_bytes", "free space on the data disk"),
        ("disk_total_mb", "opensco_disk_size_bytes", "size of the data disk"),
    ):
        value = host.get(key)
        out.add(name, "gauge", text, None if value is None else round(value * 1e6), device="data")


def _kpis(out: Exposition, kpis: Mapping[str, Any]) -> None:
    if not kpis:
        return
    _rows(out, KPI_ROWS, kpis)
    text = "time from the first touch to the completed sale"
    _summary(out, "opensco_transaction_duration_seconds", text, kpis["transaction_duration_s"])
    for reason, count in sorted(kpis["interventions"].items()):
        text = "attendant interventions by reason"
        out.add("opensco_interventions_total", "counter", text, count, reason=reason)
    for reason, rate in sorted(kpis["interventions_per_100_by_reason"].items()):
        name, text = "opensco_interventions_per_100_transactions_by_reason", "by reason"
        out.add(name, "gauge", f"attendant interventions per 100 sales {text}", rate,
                reason=reason)  # fmt: skip
    text = "time from an intervention alert to the attendant clearing it"
    _summary(out, "opensco_time_to_clear_seconds", text, kpis["time_to_clear_s"])
    for score, count in sorted(kpis.get("survey_answers_by_score", {}).items()):
        text = "exit-survey answers by score (1-5)"
        out.add("opensco_survey_answers_by_score_total", "counter", text, count, score=score)


# --- a strict reader ---------------------------------------------------------------------


class ExpositionError(ValueError):
    """Text that is not valid Prometheus 0.0.4 exposition; the message names the line."""


_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?")
_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def _labels(text: str, line_no: int) -> Labels:
    pairs: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _PAIR.match(text, pos)
        if match is None:
            raise ExpositionError(f"line {line_no}: bad label set {{{text}}}")
        value = re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], match[2])
        pairs.append((match[1], value))
        pos = match.end()
    names = [k for k, _ in pairs]
    if len(set(names)) != len(names):
        raise ExpositionError(f"line {line_no}: a label is repeated")
    return tuple(pairs)


def parse_exposition(text: str) -> dict[str, Family]:
    """Families by name; raises ExpositionError on anything 0.0.4 does not allow: samples
    before their TYPE, a TYPE after samples or twice, bad names, values or label sets, a
    repeated series, a sample whose name does not belong to its family."""
    families: dict[str, Family] = {}
    seen: set[tuple[str, Labels]] = set()
    current: Family | None = None
    for line_no, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not _NAME.fullmatch(name):
                    raise ExpositionError(f"line {line_no}: bad metric name {name!r}")
                family = families.setdefault(name, Family(name, "", ""))
                rest = parts[3] if len(parts) > 3 else ""
                if parts[1] == "TYPE":
                    if family.type or family.samples:
                        raise ExpositionError(f"line {line_no}: TYPE of {name} too late or twice")
                    if rest not in _TYPES:
                        raise ExpositionError(f"line {line_no}: unknown type {rest!r}")
                    family.type = rest
                else:
                    family.help = rest.replace("\\n", "\n").replace("\\\\", "\\")
                current = family
            continue
        match = _SAMPLE.fullmatch(line.strip())
        if match is None:
            raise ExpositionError(f"line {line_no}: not a sample: {line!r}")
        name, raw_labels, raw_value = match[1], match[2] or "", match[3]
        labels = _labels(raw_labels, line_no)
        try:
            value = float(raw_value)
        except ValueError:
            raise ExpositionError(f"line {line_no}: bad value {raw_value!r}") from None
        if current is None or name not in _names(current):
            raise ExpositionError(f"line {line_no}: sample {name} outside its family")
        if (name, labels) in seen:
            raise ExpositionError(f"line {line_no}: series {name}{labels} repeated")
        seen.add((name, labels))
        current.samples.append((name, labels, value))
    return families


def _names(family: Family) -> Iterator[str]:
    for suffix in _SUFFIXES.get(family.type, ("",)):
        yield family.name + suffix


# --- the server --------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _MetricsHTTPServer

    def do_GET(self) -> None:  # http.server's naming
        if self.path.split("?", 1)[0] != "/metrics":
            self.send_error(404, "only /metrics is served here")
            return
        try:
            body = self.server.render().encode("utf-8")
        except Exception:  # a broken figure must not take the endpoint down
            logger.exception("metrics: rendering failed")
            self.send_error(500, "rendering the metrics failed; see the lane's log")
            return
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("metrics: " + format, *args)


class _MetricsHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    render: Callable[[], str]


class MetricsServer:
    """``GET /metrics`` on 127.0.0.1:``port`` (0 picks a free port), in a daemon thread."""

    def __init__(self, render: Callable[[], str], port: int) -> None:
        self._httpd = _MetricsHTTPServer((LOOPBACK, port), _Handler)  # OSError if taken
        self._httpd.render = render
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="lane-metrics", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}/metrics"

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
