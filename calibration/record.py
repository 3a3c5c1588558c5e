"""The calibration record: who checked what on which lane, when, with which software, and
the figures before and after any adjustment. The store shows it to an inspector.

A session::

    record = CalibrationRecord.start(config, technician="Li Wei")
    record.add(result)          # every CheckResult, in the order run; a re-run of the same
    ...                         # (check, device) keeps the first run as ``before``
    record.finish()
    path = save_record(record, config.data_dir)   # <data_dir>/calibration/<record_id>.json
    write_summary(record, config.data_dir)        # <data_dir>/calibration.toml

then ``calibration.publish.queue_record`` puts it in the lane's outbox and
``calibration.report.render_html`` renders it.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calibration.results import CheckResult, Verdict, overall
from kiosk.config_schema import toml_literal
from kiosk.errors import KioskError
from kiosk.files import write_atomically

RECORD_SCHEMA = "opensco.calibration-record/1"
RECORDS_DIR = "calibration"
SUMMARY_FILE = "calibration.toml"
RECORD_ID = re.compile(r"^cal-[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
MAX_TECHNICIAN = 64
SCALE_DEVICES = ("bagging_scale", "scan_scale")
RECOMMENDED_PREFIX = "recommended_"


class RecordError(KioskError):
    """A record that cannot be made, read or written (bad technician, damaged file, ...)."""


@dataclass
class RecordedCheck:
    """One check of a session: its latest run, and its first when it was run again."""

    after: CheckResult
    before: CheckResult | None = None
    runs: int = 1

    def to_json(self) -> dict[str, Any]:
        body = self.after.to_json()
        body["before"] = self.before.to_json() if self.before else None
        body["runs"] = self.runs
        return body

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> RecordedCheck:
        before = obj.get("before")
        return cls(
            CheckResult.from_json(obj),
            CheckResult.from_json(before) if before else None,
            int(obj.get("runs") or 1),
        )


@dataclass
class CalibrationRecord:
    record_id: str
    kiosk_id: str
    store_id: str
    technician: str
    started_ts: float
    software_version: str
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: list[RecordedCheck] = field(default_factory=list)
    finished_ts: float | None = None
    applied_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    event_seq: int | None = None  # the lane outbox seq it was queued as, once queued

    @classmethod
    def start(
        cls,
        config: Any = None,
        technician: str = "",
        *,
        now: float | None = None,
        models: dict[str, dict[str, Any]] | None = None,
    ) -> CalibrationRecord:
        """A new record for the lane of ``config`` (a KioskConfig; None = defaults)."""
        from kiosk import __version__

        if config is None:
            from kiosk.config import load_config

            config = load_config(None)
        started = time.time() if now is None else now
        return cls(
            record_id=new_record_id(started),
            kiosk_id=config.kiosk_id,
            store_id=config.store_id,
            technician=check_technician(technician),
            started_ts=started,
            software_version=__version__,
            models=model_versions(config) if models is None else models,
        )

    def add(self, result: CheckResult) -> RecordedCheck:
        """Keep a result; the same (check, device) run again becomes the ``after``."""
        for entry in self.checks:
            if (entry.after.check, entry.after.device) == (result.check, result.device):
                if entry.before is None:
                    entry.before = entry.after
                entry.after = result
                entry.runs += 1
                return entry
        entry = RecordedCheck(result)
        self.checks.append(entry)
        return entry

    def extend(self, results: Iterable[CheckResult]) -> None:
        for result in results:
            self.add(result)

    @property
    def results(self) -> list[CheckResult]:
        """The latest run of every check, in the order first run."""
        return [entry.after for entry in self.checks]

    @property
    def verdict(self) -> Verdict:
        return overall(self.results) if self.checks else Verdict.SKIPPED

    def devices(self) -> list[str]:
        return sorted({entry.after.device for entry in self.checks})

    def finish(self, now: float | None = None) -> None:
        self.finished_ts = time.time() if now is None else now

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": RECORD_SCHEMA,
            "record_id": self.record_id,
            "kiosk_id": self.kiosk_id,
            "store_id": self.store_id,
            "technician": self.technician,
            "started_ts": self.started_ts,
            "finished_ts": self.finished_ts,
            "software_version": self.software_version,
            "models": self.models,
            "verdict": self.verdict.value,
            "results": [entry.to_json() for entry in self.checks],
            "applied_settings": self.applied_settings,
            "event_seq": self.event_seq,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> CalibrationRecord:
        from calibration.schema import record_problems

        problems = record_problems(obj)
        if problems:
            raise RecordError("not a calibration record: " + "; ".join(problems[:5]))
        return cls(
            record_id=obj["record_id"],
            kiosk_id=obj["kiosk_id"],
            store_id=obj["store_id"],
            technician=obj["technician"],
            started_ts=float(obj["started_ts"]),
            finished_ts=None if obj.get("finished_ts") is None else float(obj["finished_ts"]),
            software_version=obj["software_version"],
            models=dict(obj.get("models") or {}),
            checks=[RecordedCheck.from_json(r) for r in obj["results"]],
            applied_settings=dict(obj.get("applied_settings") or {}),
            event_seq=obj.get("event_seq"),
        )


def new_record_id(ts: float) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(ts))
    return f"cal-{stamp}-{secrets.token_hex(3)}"


def check_technician(name: str) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise RecordError("a calibration record needs the technician's name (--technician)")
    if len(name) > MAX_TECHNICIAN or any(not c.isprintable() for c in name):
        raise RecordError(f"technician name must be 1 to {MAX_TECHNICIAN} printable characters")
    return name


def model_versions(config: Any) -> dict[str, dict[str, Any]]:
    """Version and sha256 of each model the lane runs (the file's hash is checked now)."""
    from models.cards import ModelCardError, file_sha256, load_card
    from models.registry import _CONFIG_KEYS, NAMES, ModelRegistry, models_dir_from

    out: dict[str, dict[str, Any]] = {}
    registry = ModelRegistry(models_dir_from(config))
    for name in NAMES:
        pinned = str(config.sections.get("models", {}).get(_CONFIG_KEYS[name], "") or "")
        try:
            path = registry.resolve(name, pinned=pinned)
            card = load_card(path)
            out[name] = {
                "version": pinned or registry.active_version(name),
                "card_version": card.version,
                "sha256": file_sha256(path),
                "file": path.name,
            }
        except (KioskError, ModelCardError, OSError) as err:
            out[name] = {"error": str(err)[:300]}
    return out


# --- files --------------------------------------------------------------------------------


def records_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / RECORDS_DIR


def save_record(record: CalibrationRecord, data_dir: str | Path) -> Path:
    """Write ``<data_dir>/calibration/<record_id>.json`` atomically; returns the path."""
    folder = records_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record.record_id}.json"
    body = json.dumps(record.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    write_atomically(path, body)
    return path


def list_records(data_dir: str | Path) -> list[Path]:
    """Record files, oldest first: by the UTC second their ids start with, then (two records
    in one second, e.g. a save and a save --apply) by when the file was written."""
    folder = records_dir(data_dir)
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("cal-*.json") if RECORD_ID.match(p.stem)]
    return sorted(found, key=lambda p: (p.stem[:19], p.stat().st_mtime_ns, p.stem))


def find_record(data_dir: str | Path, which: str = "latest") -> Path:
    """A record file by id, by path, or ``latest``."""
    if which not in ("", "latest"):
        candidate = Path(which)
        if candidate.suffix == ".json" and candidate.is_file():
            return candidate
        path = records_dir(data_dir) / f"{which}.json"
        if RECORD_ID.match(which) and path.is_file():
            return path
        raise RecordError(f"no calibration record {which!r} in {records_dir(data_dir)}")
    records = list_records(data_dir)
    if not records:
        raise RecordError(f"no calibration records in {records_dir(data_dir)} yet")
    return records[-1]


def load_record(path: str | Path) -> CalibrationRecord:
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"{path}: no such record") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise RecordError(f"{path}: unreadable record ({err})") from err
    try:
        return CalibrationRecord.from_json(obj)
    except RecordError as err:
        raise RecordError(f"{path}: {err}") from None


def read_results(path: str | Path) -> list[CheckResult]:
    """CheckResults from JSON lines, a JSON list, or ``{"results": [...]}`` (``--json``)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as err:
        raise RecordError(f"cannot read results {path}: {err.strerror or err}") from err
    stripped = text.strip()
    try:
        if stripped.startswith("["):
            objs = json.loads(stripped)
        elif stripped.startswith("{") and "\n{" not in stripped:
            whole = json.loads(stripped)  # one object: a result, or {"results": [...]}
            objs = whole.get("results", [whole])
        else:
            objs = [json.loads(line) for line in stripped.splitlines() if line.strip()]
        return [CheckResult.from_json(o) for o in objs]
    except (ValueError, KeyError, TypeError) as err:
        raise RecordError(f"{path}: not CheckResult JSON ({err!r})") from err


def append_results(path: str | Path, results: Iterable[CheckResult]) -> None:
    """Append results as JSON lines (what ``--results FILE`` of the check CLIs does)."""
    with open(path, "a", encoding="utf-8") as fh:
        for result in results:
            fh.write(json.dumps(result.to_json(), sort_keys=True, ensure_ascii=False) + "\n")


# --- the summary the lane's configuration points at ---------------------------------------

SUMMARY_HEADER = """\
# Written by `sco calibrate`: the lane's latest calibration, per device.
# Do not edit; the full records are in calibration/<record_id>.json beside this file.
"""


def read_summary(data_dir: str | Path) -> dict[str, Any]:
    path = Path(data_dir) / SUMMARY_FILE
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise RecordError(f"{path} is damaged ({err}); move it aside, it is rebuilt") from err


def write_summary(record: CalibrationRecord, data_dir: str | Path) -> Path:
    """``<data_dir>/calibration.toml``: the last record and, per device, its last verdict.

    A session that checked only the camera keeps the scales' earlier entries.
    """
    path = Path(data_dir) / SUMMARY_FILE
    devices: dict[str, dict[str, Any]] = dict(read_summary(data_dir).get("devices", {}))
    finished = iso(record.finished_ts or record.started_ts)
    for device in record.devices():
        results = [r for r in record.results if r.device == device]
        devices[device] = {"verdict": overall(results).value, "record_id": record.record_id,
                           "finished": finished, "technician": record.technician}  # fmt: skip
    last = {
        "record_id": record.record_id,
        "verdict": record.verdict.value,
        "finished": finished,
        "technician": record.technician,
        "software_version": record.software_version,
        "record_file": f"{RECORDS_DIR}/{record.record_id}.json",
    }
    lines = [SUMMARY_HEADER, "[last]"]
    lines += [f"{k} = {toml_literal(v)}" for k, v in last.items()]
    for device in sorted(devices):
        lines += ["", f"[devices.{device}]"]
        lines += [f"{k} = {toml_literal(str(v))}" for k, v in sorted(devices[device].items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, "\n".join(lines) + "\n")
    return path


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# --- stability values recommended by the scale checks -------------------------------------


def recommended_scale_settings(results: Iterable[CheckResult]) -> dict[str, dict[str, int]]:
    """``{"bagging_scale": {"settle_ms": 300, ...}}`` from the scale results' recommendations:
    a ``recommended`` mapping of config keys (``calibration.scale_checks.settle_check``) or
    ``recommended_<key>`` figures. A failing result's figures are not trusted; later results
    win over earlier ones."""
    from kiosk.config import register_all_sections
    from kiosk.config_schema import SECTIONS

    register_all_sections()
    out: dict[str, dict[str, int]] = {}
    for result in results:
        section = str(result.figures.get("config_section") or result.device)
        if section not in SCALE_DEVICES or result.verdict is Verdict.FAIL:
            continue
        keys = {f.name for f in SECTIONS[section].fields if f.type is int}
        nested = result.figures.get("recommended")
        pairs = list(nested.items()) if isinstance(nested, Mapping) else []
        pairs += [(k.removeprefix(RECOMMENDED_PREFIX), v) for k, v in result.figures.items()
                  if k.startswith(RECOMMENDED_PREFIX)]  # fmt: skip
        for key, value in pairs:
            if key in keys and isinstance(value, int | float) and not isinstance(value, bool):
                out.setdefault(section, {})[key] = round(value)
    return out
