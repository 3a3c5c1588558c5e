"""One snapshot of a running lane's health and KPIs, for the tele topic and ``/metrics``.

Every figure is read from the component that owns it (the camera's counters, the vision
pipeline's stage times, each scale's and the printer's ``health()``, the journal's outbox,
the host's ``/proc`` and ``/sys``); nothing is estimated. The snapshot is a plain JSON-able
dict so the same figures reach the backend (:func:`tele_fields`), Prometheus
(:mod:`kiosk.ops.metrics_http`) and ``sco status``. Shopper data never appears here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiosk.core.inputs import BarcodeRead, Input
from kiosk.core.kpis import KpiTracker

THERMAL_ROOT = Path("/sys/class/thermal")
PAPER_POLL_S = 30.0  # a roll runs low over minutes; the sensor query costs a round trip
_SALE_ENDS = {
    "transaction_completed": "completed",
    "transaction_cancelled": "cancelled",
    "transaction_suspended": "suspended",
}


def _quantile(values: list[float], q: float) -> float | None:
    """The nearest-rank quantile (the same rule KpiTracker uses for time to clear)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def duration_stats(seconds: list[float]) -> dict[str, Any]:
    """count, sum, mean, median and p90 of a list of durations in seconds."""
    total = round(sum(seconds), 3)
    return {
        "count": len(seconds),
        "sum": total,
        "mean": round(total / len(seconds), 3) if seconds else None,
        "median": _quantile(seconds, 0.5),
        "p90": _quantile(seconds, 0.9),
    }


class SaleTimer:
    """Transactions by outcome and how long the completed ones took, from the event stream.

    A sale lasts from ``session_started`` to its end event; a sale that was already open when
    the process started (recovered from the journal) has no start here and is not timed.
    """

    def __init__(self) -> None:
        self.started_at: float | None = None
        self.ended: dict[str, int] = dict.fromkeys(_SALE_ENDS.values(), 0)
        self.durations_s: list[float] = []

    def observe(self, event: Mapping[str, Any]) -> None:
        kind = str(event.get("type"))
        ts = float(event.get("ts", 0))
        if kind == "session_started":
            self.started_at = ts
        elif kind in _SALE_ENDS:
            self.ended[_SALE_ENDS[kind]] += 1
            if kind == "transaction_completed" and self.started_at is not None:
                self.durations_s.append(round(max(0.0, ts - self.started_at), 3))
            self.started_at = None
        elif kind == "session_reset":
            self.started_at = None


def kpi_figures(kpis: KpiTracker, sales: SaleTimer) -> dict[str, Any]:
    """The KPIs the issue names: transactions and their duration, interventions per 100 by
    reason (and their raw counts), time to clear, nudge self-correction, survey score."""
    summary = kpis.summary()
    clear_s = [ms / 1000 for ms in kpis.clear_ms]
    return {
        "transactions": summary["transactions"],
        "completed": sales.ended["completed"],
        "cancelled": sales.ended["cancelled"],
        "suspended": sales.ended["suspended"],
        "transaction_duration_s": duration_stats(sales.durations_s),
        "interventions": dict(sorted(kpis.interventions.items())),
        "interventions_per_100": summary["interventions_per_100"],
        "interventions_per_100_by_reason": summary["interventions_per_100_by_reason"],
        "time_to_clear_s": duration_stats(clear_s),
        "nudges": summary["nudges"],
        "nudges_self_corrected": sum(kpis.self_corrected.values()),
        "nudge_self_correction": summary["nudge_self_correction"],
        "survey_answers": summary["survey"]["answers"],
        "survey_score_mean": summary["survey"]["mean"],
        # How many shoppers gave each score and how many wrote a comment: counts only,
        # the words themselves go to the backend in the survey_answered event.
        "survey_answers_by_score": {str(k): v for k, v in summary["survey"]["by_score"].items()},
        "survey_comments": summary["survey"]["comments"],
    }


# --- the host ---------------------------------------------------------------------------


def read_temperature_c(root: Path = THERMAL_ROOT) -> float | None:
    """The hottest thermal zone in °C, or None where the machine exposes none (VMs)."""
    readings: list[float] = []
    try:
        zones = sorted(root.glob("thermal_zone*"))
    except OSError:
        return None
    for zone in zones:
        try:
            raw = (zone / "temp").read_text(encoding="ascii").strip()
            readings.append(int(raw) / 1000)  # millidegrees
        except (OSError, ValueError):
            continue  # a zone whose sensor is asleep or absent answers EIO or nothing
    return round(max(readings), 1) if readings else None


def _mem_used_pct() -> float | None:
    try:
        text = Path("/proc/meminfo").read_text(encoding="ascii")
    except OSError:
        return None
    fields = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0])
    total, available = fields.get("MemTotal"), fields.get("MemAvailable")
    if not total or available is None:
        return None
    return round(100 * (total - available) / total, 1)


class CpuMeter:
    """Busy share of all CPUs between two calls, from ``/proc/stat`` (since boot at first)."""

    def __init__(self) -> None:
        self._last: tuple[int, int] | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _read() -> tuple[int, int] | None:
        try:
            with open("/proc/stat", encoding="ascii") as handle:
                parts = handle.readline().split()
        except OSError:
            return None
        if not parts or parts[0] != "cpu":
            return None
        ticks = [int(p) for p in parts[1:]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        return sum(ticks), idle

    def percent(self) -> float | None:
        now = self._read()
        if now is None:
            return None
        with self._lock:
            before, self._last = self._last, now
        total, idle = now if before is None else (now[0] - before[0], now[1] - before[1])
        if total <= 0:
            return None
        return round(100 * (total - idle) / total, 1)


def host_figures(data_dir: str | Path, cpu: CpuMeter | None = None) -> dict[str, Any]:
    """Load average, CPU, memory, the data disk and the temperature of this machine."""
    load = os.getloadavg()
    out: dict[str, Any] = {
        "load_1m": round(load[0], 2),
        "load_5m": round(load[1], 2),
        "load_15m": round(load[2], 2),
        "cpu_count": os.cpu_count() or 1,
        "cpu_pct": cpu.percent() if cpu is not None else None,
        "mem_pct": _mem_used_pct(),
        "temp_c": read_temperature_c(),
    }
    path = Path(data_dir)
    while not path.exists() and path != path.parent:
        path = path.parent  # a lane before its first sale has no data dir yet
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        out.update(disk_free_mb=None, disk_total_mb=None, disk_used_pct=None)
    else:
        out["disk_free_mb"] = round(usage.free / 1e6, 1)
        out["disk_total_mb"] = round(usage.total / 1e6, 1)
        out["disk_used_pct"] = round(100 * usage.used / usage.total, 1) if usage.total else None
    return out


# --- the journal's outbox ---------------------------------------------------------------


def outbox_figures(journal_path: str | Path, now_ms: int | None = None) -> dict[str, Any]:
    """Depth and age of the outbox, read on a private read-only connection (any thread)."""
    path = Path(journal_path)
    out: dict[str, Any] = {"pending": 0, "oldest_age_s": None, "last_seq": 0, "disk_bytes": 0}
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):  # no WAL between checkpoints is normal
            out["disk_bytes"] += os.stat(f"{path}{suffix}").st_size
    if not path.exists():
        return out
    now = int(time.time() * 1000) if now_ms is None else now_ms
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
    except sqlite3.Error as err:
        out["error"] = str(err)
        return out
    try:
        pending, oldest = db.execute(
            "SELECT COUNT(*), MIN(ts_ms) FROM outbox WHERE sent_at_ms IS NULL"
        ).fetchone()
        (last,) = db.execute("SELECT MAX(seq) FROM outbox").fetchone()
    except sqlite3.Error as err:  # a journal before its first start has no outbox table
        out["error"] = str(err)
        return out
    finally:
        db.close()
    out["pending"] = int(pending)
    out["last_seq"] = int(last or 0)
    out["oldest_age_s"] = None if oldest is None else round(max(0, now - oldest) / 1000, 3)
    return out


# --- the running lane -------------------------------------------------------------------


class LaneTelemetry:
    """Collects a snapshot from a running ``kiosk.app.Lane`` (any thread may call it)."""

    def __init__(self, lane: Any) -> None:
        self.lane = lane
        self.sales = SaleTimer()
        self.camera_reads = 0
        self.cpu = CpuMeter()
        self.started_mono = time.monotonic()
        self._paper_asked = -PAPER_POLL_S
        self._lock = threading.Lock()

    # Producers -------------------------------------------------------------------------

    def observe(self, event: Mapping[str, Any]) -> None:
        """On the engine thread, with every event (the lane's KpiTracker sees them too)."""
        if event.get("training") is True:  # training sales are not sales (docs/training.md)
            return
        with self._lock:
            self.sales.observe(event)

    def vision_input(self, item: Input) -> None:
        """On the vision thread: count the barcodes the camera decoded."""
        if isinstance(item, BarcodeRead):
            self.camera_reads += 1

    # The snapshot ----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        lane = self.lane
        config = lane.config
        out: dict[str, Any] = {
            "kiosk_id": config.kiosk_id,
            "store_id": config.store_id,
            "ts": round(time.time(), 3),
            "uptime_s": round(time.monotonic() - self.started_mono, 1),
            # A training lane's figures below leave its practice sales out (docs/training.md).
            "training": bool(config.sections["kiosk"]["training"]),
        }
        engine = lane.engine_thread.engine
        if engine is not None:  # attribute reads: atomic, a moment's staleness is fine
            out["state"] = engine.checkout.state.value
            out["locked"] = bool(engine.checkout.locked)
        devices: dict[str, str] = {}
        out["scales"] = {}
        for scale in lane.scales:
            health = scale.health()
            name = scale.platform.value
            out["scales"][name] = {
                "connected": health.connected,
                "state": health.state.value,
                "frames_ok": health.frames_ok,
                "frames_bad": health.frames_bad,
                "reconnects": health.reconnects,
            }
            devices[f"scale.{name}"] = health.state.value if health.connected else "offline"
        if lane.vision is not None:
            out["vision"] = self._vision(lane.vision)
            devices["camera"] = "ok" if out["vision"]["connected"] else "offline"
        if lane.printer is not None:
            self._ask_paper(lane)
            printer = lane.printer.health()
            out["printer"] = {"connected": printer.connected, "paper": printer.detail["paper"]}
            never_used = printer.last_seen_ts_ms is None and printer.last_error is None
            devices["printer"] = "idle" if never_used else printer.state
        for name in ("payment", "light"):
            device = getattr(lane, name)
            if device is not None:
                health = device.health()
                devices[health.name] = health.state if health.connected else "offline"
        out["outbox"] = outbox_figures(Path(config.data_dir) / "journal.sqlite3")
        if lane.relay is not None:
            relay = lane.relay.health
            out["outbox"].update(sent=relay.sent, alarm=relay.alarm, budget=relay.budget_bytes)
            out["outbox"]["connected"] = bool(lane.link.connected)
            devices["mqtt"] = "ok" if lane.link.connected else "offline"
        out["devices"] = devices
        out["host"] = host_figures(config.data_dir, self.cpu)
        with lane._kpi_lock, self._lock:
            out["kpis"] = kpi_figures(lane.kpis, self.sales)
        return out

    def _ask_paper(self, lane: Any) -> None:
        """Queue a paper-sensor query on the device thread (never beside a receipt being
        printed); the snapshot reports the last answer, at most PAPER_POLL_S old."""
        mono = time.monotonic()
        if mono - self._paper_asked >= PAPER_POLL_S:
            self._paper_asked = mono
            lane.devices.submit(lane.printer.paper_status)

    def _vision(self, worker: Any) -> dict[str, Any]:
        health = worker.health()
        stats = worker.camera.stats
        out: dict[str, Any] = {
            "connected": bool(health["connected"]),
            "fps": health["fps"],
            "frames": stats.frames,
            "dropped": health["dropped"],
            "reconnects": health["reconnects"],
            "frames_processed": health["frames_processed"],
            "reads": self.camera_reads,
            "decode_runs": 0,
            "decode_rate": None,
            "model_latency_ms": {},
            "stage_ms": health.get("ms_per_frame", {}),
            "error": health["error"] or "",
        }
        pipeline = worker.pipeline
        if pipeline is not None:
            times = pipeline.times
            out["decode_runs"] = times.decode_runs
            if times.decode_runs:
                out["decode_rate"] = round(self.camera_reads / times.decode_runs, 4)
            if times.detector_runs:  # per detector run, not averaged over motionless frames
                out["model_latency_ms"]["detector"] = round(
                    times.ms["detect"] / times.detector_runs, 2
                )
        return out


# --- the tele message -------------------------------------------------------------------


# Snapshot figures the tele message carries unchanged.
TELE_AS_IS = ("uptime_s", "state", "locked", "training", "devices", "host", "scales", "vision")


def tele_fields(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The snapshot as opensco.tele/1 fields (backend_client/schemas/tele.json): the KPIs
    flattened to numbers (``interventions_per_100.<reason>``), figures not known left out."""
    out: dict[str, Any] = {key: snapshot[key] for key in TELE_AS_IS if key in snapshot}
    if "printer" in snapshot:
        out["printer"] = snapshot["printer"]
    outbox = snapshot.get("outbox", {})
    out["outbox"] = {k: v for k, v in outbox.items() if k != "error"}
    kpis: dict[str, float] = {}
    for key, value in snapshot.get("kpis", {}).items():
        if isinstance(value, dict):
            for sub, number in value.items():
                if isinstance(number, int | float) and not isinstance(number, bool):
                    kpis[f"{key}.{sub}"] = number
        elif isinstance(value, int | float) and not isinstance(value, bool):
            kpis[key] = value
    out["kpis"] = kpis
    return out
