"""Backups of one lane, taken while it runs, and their verification.

A backup is one zip file (``<kiosk>-<UTC time>.sco-backup.zip``)::

    MANIFEST.json                 sha256 and size of every member, software version, kiosk id,
                                  the journal's counts and the cart it recovers to
    config/<name>                 the configuration file
    catalog/<name>                the configured catalog CSV
    data/journal.sqlite3          journal, outbox, checkpoint (learned expected weights)
    data/commands.sqlite3         and every other SQLite file of the data dir
    data/catalogs/...             catalogs pushed by the backend
    data/checkout-overrides.json  [checkout] rules changed remotely
    data/calibration/...          calibration records, and data/calibration.toml

SQLite files are copied with SQLite's online backup API: a consistent snapshot taken inside
one read transaction, which in WAL mode never blocks the lane's writes. Shopper images
(snapshot spool, evidence) are never included (privacy), nor private keys, logs or
receipts: the data dir is read by an allow-list, and anything holding a PEM private key is
left out even inside it. The manifest counts what was left out and why.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kiosk import __version__
from kiosk.config import KioskConfig
from kiosk.config_schema import SecretRef, toml_literal
from kiosk.errors import KioskError

FORMAT = "opensco.backup/1"
MANIFEST = "MANIFEST.json"
SUFFIX = ".sco-backup.zip"
JOURNAL = "journal.sqlite3"
SQLITE_MAGIC = b"SQLite format 3\x00"
# Lane state that is not SQLite: everything else in the data dir stays out of a backup.
STATE_DIRS = ("catalogs", "calibration")
STATE_FILES = ("checkout-overrides.json", "calibration.toml")
IMAGE_DIRS = ("snapshots", "evidence")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
SIDE_FILES = ("-wal", "-shm", "-journal", ".tmp")  # the online backup already holds them
PRIVATE_KEY_MARK = b"PRIVATE KEY-----"
_CHUNK = 1 << 20


class BackupError(KioskError):
    """A backup that cannot be made, or a backup file that must not be restored."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: dict[str, Any]


# --- making a backup ------------------------------------------------------------------------


def make_backup(
    dest: str | Path, config: KioskConfig, config_path: str | Path | None = None
) -> BackupResult:
    """Write a verified backup of the lane ``config`` describes to ``dest`` (atomically:
    a half-written file is never left under that name). ``config_path`` is the lane's
    configuration file; without it (the Lane's own scheduled backups) the validated
    configuration is written out as TOML, secrets still as their _env/_file references."""
    dest = Path(dest)
    data_dir = Path(config.data_dir)
    if not (data_dir / JOURNAL).is_file():
        raise BackupError(f"no journal in {data_dir} (expected {data_dir / JOURNAL}): "
                          "is this the lane's configuration, and has the lane run?")  # fmt: skip
    if config_path is not None:
        config_name, config_bytes = Path(config_path).name, _read(Path(config_path))
    else:
        config_name, config_bytes = "lane.toml", render_config(config).encode("utf-8")
    catalog_path = Path(config.catalog_path)
    catalog_bytes = _read(catalog_path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".sco-backup-", dir=dest.parent) as tmp:
        staging = Path(tmp) / "data"
        staging.mkdir()
        excluded = _stage_data_dir(data_dir, staging)
        members: dict[str, Path] = {}
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            members["data/" + path.relative_to(staging).as_posix()] = path
        blobs = {
            f"config/{config_name}": config_bytes,
            f"catalog/{catalog_path.name}": catalog_bytes,
        }
        for name, raw in blobs.items():
            path = Path(tmp) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(raw)
            members[name] = path
        journal, cart = lane_summary(staging, config, catalog_text=catalog_bytes.decode("utf-8"))
        manifest = {
            "format": FORMAT,
            "created_ms": int(time.time() * 1000),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "software_version": __version__,
            "kiosk_id": config.kiosk_id,
            "store_id": config.store_id,
            "config": {"member": f"config/{config_name}", "rendered": config_path is None},
            "catalog": {"member": f"catalog/{catalog_path.name}"},
            "members": {name: _digest(path) for name, path in members.items()},
            "excluded": excluded,
            "journal": journal,
            "cart": cart,
        }
        partial = dest.with_name(dest.name + ".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
            for name, path in members.items():
                archive.write(path, name)
        _fsync_replace(partial, dest)
    return BackupResult(dest, manifest)


def _stage_data_dir(data_dir: Path, staging: Path) -> dict[str, Any]:
    """Copy the data dir's lane state into ``staging``; returns what was left out."""
    excluded: dict[str, Any] = {"images": 0, "private_keys": [], "other": []}
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(data_dir)
        kind = _classify(path, rel)
        if kind == "side":
            continue
        if kind == "image":
            excluded["images"] += 1
            continue
        if kind == "other":
            excluded["other"].append(rel.as_posix())
            continue
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "sqlite":
            sqlite_copy(path, target)
            continue
        raw = _read(path)  # read once: the lane may rewrite it (atomically) meanwhile
        if PRIVATE_KEY_MARK in raw:
            excluded["private_keys"].append(rel.as_posix())
            continue
        target.write_bytes(raw)
    return excluded


def _classify(path: Path, rel: Path) -> str:
    if rel.parts[0] in IMAGE_DIRS or path.suffix.lower() in IMAGE_SUFFIXES:
        return "image"
    if path.name.endswith(SIDE_FILES):
        return "side"
    try:
        with open(path, "rb") as fh:
            if fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC:
                return "sqlite"
    except OSError as err:
        raise BackupError(f"cannot read {path}: {err.strerror or err}") from err
    if rel.parts[0] in STATE_DIRS or rel.as_posix() in STATE_FILES:
        return "state"
    return "other"


def sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (online backup API), self-contained
    (no -wal beside it) and checked with ``PRAGMA integrity_check``."""
    try:
        with (
            closing(sqlite3.connect(source, timeout=30)) as src,
            closing(sqlite3.connect(target)) as dst,
        ):
            src.backup(dst)  # one step: one read transaction, so one moment in time
            dst.execute("PRAGMA journal_mode=DELETE")
            problem = integrity_problem(dst)
    except sqlite3.Error as err:
        raise BackupError(f"cannot back up {source}: {err}") from err
    if problem:
        raise BackupError(f"{source} is damaged ({problem}); a backup of it would not restore")


def integrity_problem(db: sqlite3.Connection) -> str:
    """'' when ``PRAGMA integrity_check`` says ok, else its first complaint."""
    rows = db.execute("PRAGMA integrity_check").fetchall()
    first = str(rows[0][0]) if rows else "no answer"
    return "" if first == "ok" else first


def render_config(config: KioskConfig) -> str:
    """The validated configuration as TOML: every value, secrets as their references."""
    lines = [f"# Written by an OpenSCO scheduled backup of lane {config.kiosk_id}."]
    for section, values in config.sections.items():
        lines.append(f"\n[{section}]")
        for key, value in values.items():
            if isinstance(value, SecretRef):
                kind, ref = ("env", value.env) if value.env is not None else ("file", value.file)
                lines.append(f"{key}_{kind} = {toml_literal(ref)}")
            elif value is not None:
                lines.append(f"{key} = {toml_literal(value)}")
    return "\n".join(lines) + "\n"


# --- what the journal recovers to ------------------------------------------------------------


def lane_summary(
    data_dir: Path, config: KioskConfig, *, catalog_text: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The journal's counts and the cart the engine recovers from ``data_dir``, the way
    ``kiosk.engine.Engine`` recovers it (pushed catalog first, settings overrides, last
    checkpoint + inputs after it) but without its side effects (activating a pending
    catalog): a backup and a restore compare these two dicts."""
    from kiosk.catalog_store import CatalogStore
    from kiosk.core.catalog import load_catalog_csv
    from kiosk.core.session import Checkout
    from kiosk.journal import Journal
    from kiosk.settings_overrides import SettingsOverrides

    settings = config.core_settings()
    exponent = settings.currency_exponent
    active = CatalogStore(data_dir, exponent).active()
    catalog = active[1] if active else load_catalog_csv(catalog_text, currency_exponent=exponent)
    journal = Journal(data_dir / JOURNAL)
    try:
        settings = replace(settings, journal_id=journal.journal_id)
        settings = replace(settings, **SettingsOverrides(data_dir).active())
        after_id, snapshot = journal.last_checkpoint()
        checkout = Checkout(catalog, settings, snapshot)
        for item in journal.inputs_after(after_id):
            checkout.apply(item)
        counts = {
            "journal_id": journal.journal_id,
            "checkpoint_after_input_id": after_id,
            "outbox_rows": journal.outbox_count(),
            "outbox_pending": journal.outbox_count(pending_only=True),
            "outbox_last_seq": journal.outbox_last_seq(),
            "learned_weight_skus": len((snapshot or {}).get("learned_weights", {}) or {}),
        }
    finally:
        journal.close()
    cart = {
        "session_id": checkout.session_id,
        "state": checkout.state.value,
        "seq": checkout.seq,
        "txn_no": checkout.txn_no,
        "lines": [line.to_dict() for line in checkout.lines],
        "totals": checkout.totals().summary(),
    }
    return counts, cart


# --- reading a backup back -------------------------------------------------------------------


def read_manifest(archive: zipfile.ZipFile, source: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(archive.read(MANIFEST))
    except KeyError as err:
        raise BackupError(f"{source}: no {MANIFEST}: not an OpenSCO backup") from err
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise BackupError(f"{source}: member {MANIFEST} is damaged: {err}") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{source}: {MANIFEST} is not in format {FORMAT}")
    if not isinstance(manifest.get("members"), dict):
        raise BackupError(f"{source}: {MANIFEST} lists no members")
    return manifest


def open_backup(source: str | Path) -> zipfile.ZipFile:
    source = Path(source)
    try:
        return zipfile.ZipFile(source)
    except FileNotFoundError as err:
        raise BackupError(f"backup {source} not found") from err
    except (zipfile.BadZipFile, OSError) as err:
        raise BackupError(f"{source} is not a readable backup (damaged zip: {err})") from err


def verify_backup(source: str | Path) -> dict[str, Any]:
    """Check the manifest and the sha256 and size of every member; returns the manifest.
    Raises BackupError naming the first damaged, missing, unexpected or unsafe member."""
    source = Path(source)
    with open_backup(source) as archive:
        manifest = read_manifest(archive, source)
        listed = manifest["members"]
        present = [info.filename for info in archive.infolist()]
        for name in present:
            if name != MANIFEST and name not in listed:
                raise BackupError(f"{source}: member {name} is not in the manifest")
        for name, expected in listed.items():
            check_member_name(name, source)
            if name not in present:
                raise BackupError(f"{source}: member {name} is missing")
            digest, size = _member_digest(archive, name, source)
            if digest != expected.get("sha256") or size != expected.get("size"):
                raise BackupError(
                    f"{source}: member {name} is damaged: sha256 {digest[:16]}… ({size} bytes), "
                    f"manifest says {str(expected.get('sha256'))[:16]}… "
                    f"({expected.get('size')} bytes); nothing was restored"
                )
    return manifest


def check_member_name(name: str, source: Path) -> None:
    """Members land under the data dir: no absolute paths, no '..', known top folders."""
    parts = name.split("/")
    if (
        not isinstance(name, str)
        or name.startswith("/")
        or "\\" in name
        or any(p in ("", ".", "..") for p in parts)
        or parts[0] not in ("data", "config", "catalog")
        or len(parts) < 2
    ):
        raise BackupError(f"{source}: member {name!r} has an unsafe name; refusing the backup")


def iter_member(archive: zipfile.ZipFile, name: str, source: Path) -> Iterator[bytes]:
    try:
        with archive.open(name) as fh:
            while chunk := fh.read(_CHUNK):
                yield chunk
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as err:
        # zlib.error is what a flipped byte in deflated data usually gives; a bad CRC
        # is BadZipFile. Either way the member is named, and nothing is written.
        raise BackupError(f"{source}: member {name} is damaged: {err}") from err


def _member_digest(archive: zipfile.ZipFile, name: str, source: Path) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    for chunk in iter_member(archive, name, source):
        sha.update(chunk)
        size += len(chunk)
    return sha.hexdigest(), size


# --- small file helpers ----------------------------------------------------------------------


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise BackupError(f"cannot read {path}: {err.strerror or err}") from err


def _digest(path: Path) -> dict[str, Any]:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
    return {"sha256": sha.hexdigest(), "size": path.stat().st_size}


def _fsync_replace(partial: Path, dest: Path) -> None:
    with open(partial, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(partial, dest)
    fsync_dir(dest.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
