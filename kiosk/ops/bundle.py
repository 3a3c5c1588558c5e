"""``sco doctor --bundle FILE``: one archive a technician sends to support.

It holds the doctor report, the lane's log files, its config with secrets masked, the last
journal inputs and events with payment data and free text masked, and the versions of
everything that runs. ``MANIFEST.txt`` lists every file and every kind of thing taken out.
Private key files, PIN secrets and camera images are never read into it.
"""

from __future__ import annotations

import io
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from kiosk import __version__
from kiosk.ops.bundle_redact import (
    mask_known,
    mask_url_passwords,
    payment_references,
    redact_config_text,
    redact_log_text,
    redact_record,
)
from kiosk.ops.doctor import DoctorReport

JOURNAL_ROWS = 200  # recent inputs and events: one or two sales, enough to see a fault
LOG_TAIL_BYTES = 2_000_000  # per log file: the newest part is the useful one
KEY_PACKAGES = ("opensco", "numpy", "onnxruntime", "opencv-python-headless", "opencv-python",
                "zxing-cpp", "kivy", "paho-mqtt", "pyserial", "python-escpos",
                "cryptography")  # fmt: skip
NEVER = ("private key files ([mqtt] tls_key_file, signing keys): not read",
         "PIN secrets and PIN hashes: masked in the config",
         "camera images and evidence snapshots: not included",
         "payment references, terminal messages and card fields: masked")  # fmt: skip


@dataclass(frozen=True)
class BundleSummary:
    path: Path
    files: tuple[str, ...]
    redacted: dict[str, int]


def make_bundle(report: DoctorReport, out: str | os.PathLike[str],
                *, journal_rows: int = JOURNAL_ROWS) -> BundleSummary:  # fmt: skip
    """Write the bundle (``.zip`` by its name, else ``.tar.gz``) atomically."""
    counts: Counter[str] = Counter()
    files: dict[str, bytes] = {}
    secrets: set[str] = set()
    settings = _raw_settings(report.config_path)
    raw = _read(Path(report.config_path))
    if raw is not None:
        name = Path(report.config_path).name or "kiosk.toml"
        text = raw.decode("utf-8-sig", errors="replace")
        files[f"config/{name}"] = redact_config_text(text, counts, secrets).encode()
    refs: set[str] = set()
    data_dir = settings.get("kiosk", {}).get("data_dir") or "var/opensco"
    files.update(_journal(Path(data_dir), journal_rows, counts, refs))
    log_file = str(settings.get("logging", {}).get("file") or "")
    if log_file:
        files.update(_logs(Path(log_file), refs | secrets, counts))
    # The validator quotes bad values, a malformed PIN hash among them.
    for name, body in (
        ("doctor.txt", report.text() + "\n"),
        ("doctor.json", _json(report.to_dict()).decode()),
    ):
        body = mask_url_passwords(body, counts, "doctor report: password in a URL")
        files[name] = mask_known(body, secrets | refs, counts, "doctor report: secret").encode()
    files["versions.json"] = _json(versions(report))
    files["MANIFEST.txt"] = _manifest(files, counts, log_file).encode()
    path = Path(out)
    _write_archive(path, files)
    return BundleSummary(path, tuple(files), dict(counts))


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _raw_settings(config_path: str) -> dict[str, Any]:
    """Where the data and logs are, even from a config the validator rejects."""
    raw = _read(Path(config_path))
    try:
        data = tomllib.loads((raw or b"").decode("utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def _journal(data_dir: Path, rows: int, counts: Counter[str], refs: set[str]) -> dict[str, bytes]:
    from kiosk.engine import JOURNAL_FILE
    from kiosk.ops.doctor_checks.journal import open_read_only

    path = data_dir / JOURNAL_FILE
    if not path.exists():
        return {}
    try:
        with closing(open_read_only(path)) as db:
            inputs = db.execute("SELECT id, ts_ms, body FROM inputs ORDER BY id DESC LIMIT ?",
                                (rows,)).fetchall()  # fmt: skip
            events = db.execute("SELECT seq, sent_at_ms, payload FROM outbox "
                                "ORDER BY seq DESC LIMIT ?", (rows,)).fetchall()  # fmt: skip
    except sqlite3.DatabaseError as err:
        return {"journal/ERROR.txt": f"{path} could not be read: {err}\n".encode()}
    out_inputs, out_events = [], []
    for row_id, ts_ms, body in reversed(inputs):
        record = _loads(body)
        refs |= payment_references(record)
        out_inputs.append(
            {"id": row_id, "ts_ms": ts_ms, "input": redact_record(record, counts, "journal inputs")}
        )
    for seq, sent_at_ms, payload in reversed(events):
        record = _loads(payload)
        refs |= payment_references(record)
        out_events.append(
            {
                "seq": seq,
                "sent_at_ms": sent_at_ms,
                "event": redact_record(record, counts, "journal events"),
            }
        )
    return {"journal/inputs.jsonl": _lines(out_inputs), "journal/events.jsonl": _lines(out_events)}


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return {"unreadable": "[redacted]"}  # never copy a row we cannot filter


def _lines(records: list[dict[str, Any]]) -> bytes:
    return "".join(
        json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records
    ).encode()


def _logs(log_file: Path, refs: set[str], counts: Counter[str]) -> dict[str, bytes]:
    """The log and its rotations (``file``, ``file.1``...), newest part of each."""
    out = {}
    for path in sorted(log_file.parent.glob(log_file.name + "*")):
        if not path.is_file():
            continue
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
            text = fh.read().decode("utf-8", errors="replace")
        out[f"logs/{path.name}"] = redact_log_text(text, refs, counts).encode()
    return out


def versions(report: DoctorReport) -> dict[str, Any]:
    packages = {}
    for name in KEY_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    models = {r.check.removeprefix("model."): {k: r.data.get(k) for k in
                                               ("version", "file_sha256", "card_sha256", "path")}
              for r in report.results if r.check.startswith("model.")}  # fmt: skip
    return {"opensco": __version__, "git_commit": _git_commit(), "python": sys.version,
            "os": _os_name(), "platform": platform.platform(), "packages": packages,
            "models": models}  # fmt: skip


def _git_commit() -> str:
    repo = Path(__file__).resolve().parents[2]
    if not (repo / ".git").exists():
        return ""
    try:
        done = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.partition("=")[2].strip('"')
    except OSError:
        pass
    return platform.system()


def _manifest(files: dict[str, bytes], counts: Counter[str], log_file: str) -> str:
    lines = [f"OpenSCO {__version__} support bundle", "", "Files:"]
    lines += [f"  {name}  ({len(body)} bytes)" for name, body in files.items()]
    lines += ["  MANIFEST.txt", "", "Redacted (what was masked, how many times):"]
    lines += [f"  {what}: {n}" for what, n in sorted(counts.items())] or ["  nothing found"]
    lines += ["", "Never included:"] + [f"  {n}" for n in NEVER]
    if not log_file:
        lines += ["", "Logs: none ([logging] file is empty: the lane logs to the journal of "
                  "its service, see `journalctl -u opensco`)"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _write_archive(path: Path, files: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    root = "opensco-bundle"
    try:
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, body in files.items():
                    archive.writestr(f"{root}/{name}", body)
        else:
            with tarfile.open(tmp, "w:gz") as archive:
                for name, body in files.items():
                    info = tarfile.TarInfo(f"{root}/{name}")
                    info.size, info.mtime, info.mode = len(body), int(time.time()), 0o600
                    archive.addfile(info, io.BytesIO(body))
        os.chmod(tmp, 0o600)  # it still describes a lane: not for every user on the machine
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
