"""``restore_backup``: put a verified backup back as a lane's data dir, atomically.

1. Verify the manifest and the sha256 of every member before anything is written.
2. Refuse a data dir whose journal a process has open (a running lane, ``sco outbox``)
   unless ``force``.
3. Extract into a temporary folder beside the data dir, check every SQLite file with
   ``PRAGMA integrity_check`` and recover the cart from the journal; it must equal the
   manifest's (same lines, totals, next seq, outbox counts) or nothing changes.
4. Move the old data dir aside (``<data_dir>.before-restore-<time>``: never deleted) and
   rename the new one into place.

Files outside the data dir: the configuration and the catalog CSV are written where the
target configuration names them when missing; an existing different one is kept and the
backup's copy written beside it as ``<file>.from-backup``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig, load_config, parse_config_text
from kiosk.files import write_atomically
from kiosk.ops.backup import (
    JOURNAL,
    SQLITE_MAGIC,
    BackupError,
    fsync_dir,
    integrity_problem,
    iter_member,
    lane_summary,
    open_backup,
    remove_tree,
    verify_backup,
)


class LaneRunningError(BackupError):
    """The target data dir's journal is open in a process: restoring would lose its writes."""


@dataclass
class RestoreReport:
    data_dir: Path
    moved_aside: Path | None
    manifest: dict[str, Any]
    written: list[Path] = field(default_factory=list)
    kept: list[tuple[Path, Path]] = field(default_factory=list)  # (kept file, backup's copy)


def restore_backup(
    source: str | Path, config_path: str | Path, *, force: bool = False
) -> RestoreReport:
    """Restore ``source`` into the data dir that ``config_path`` names (the backup's own
    configuration is written there first when the file does not exist yet)."""
    source, config_path = Path(source), Path(config_path)
    manifest = verify_backup(source)
    with open_backup(source) as archive:
        blobs = {
            name: b"".join(iter_member(archive, name, source))
            for name in (manifest["config"]["member"], manifest["catalog"]["member"])
        }
        config_bytes = blobs[manifest["config"]["member"]]
        catalog_bytes = blobs[manifest["catalog"]["member"]]
        config = _target_config(config_path, config_bytes)
        data_dir = Path(config.data_dir)
        holders = journal_holders(data_dir / JOURNAL)
        if holders and not force:
            raise LaneRunningError(
                f"process(es) {', '.join(map(str, holders))} have {data_dir / JOURNAL} open: "
                "stop the lane (and any `sco outbox flush`) first, or give --force to restore "
                "anyway (the old data dir is kept aside; the process keeps writing to it)"
            )
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = data_dir.with_name(f".{data_dir.name}.restoring-{uuid.uuid4().hex[:8]}")
        try:
            _extract_data(archive, manifest, staging, source)
            catalog_path = Path(config.catalog_path)
            catalog_text = (
                catalog_path.read_text(encoding="utf-8")
                if catalog_path.is_file()
                else catalog_bytes.decode("utf-8")
            )
            _verify_staging(staging, config, catalog_text, manifest, catalog_path)
            moved = _swap_in(staging, data_dir)
        except BaseException:
            remove_tree(staging)
            raise
    report = RestoreReport(data_dir, moved, manifest)
    _place_file(config_path, config_bytes, report)
    _place_file(Path(config.catalog_path), catalog_bytes, report)
    with closing(sqlite3.connect(data_dir / JOURNAL)) as db:  # in place, once more
        if problem := integrity_problem(db):
            raise BackupError(f"{data_dir / JOURNAL} after restore: {problem}")
    return report


def _target_config(config_path: Path, backup_config: bytes) -> KioskConfig:
    if config_path.exists():
        return load_config(config_path)
    # A bare machine: the lane's own configuration decides where its data goes.
    return parse_config_text(backup_config.decode("utf-8-sig"), str(config_path))


def _extract_data(archive: Any, manifest: dict[str, Any], staging: Path, source: Path) -> None:
    staging.mkdir()
    for name, expected in manifest["members"].items():
        if not name.startswith("data/"):
            continue
        target = staging / name.removeprefix("data/")
        target.parent.mkdir(parents=True, exist_ok=True)
        sha = hashlib.sha256()
        with open(target, "wb") as out:
            for chunk in iter_member(archive, name, source):
                sha.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if sha.hexdigest() != expected["sha256"]:  # read twice: a disk can fail in between
            raise BackupError(f"{source}: member {name} changed while it was restored")


def _verify_staging(
    staging: Path,
    config: KioskConfig,
    catalog_text: str,
    manifest: dict[str, Any],
    catalog_path: Path,
) -> None:
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        with open(path, "rb") as fh:
            if fh.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
                continue
        try:
            with closing(sqlite3.connect(path)) as db:
                problem = integrity_problem(db)
        except sqlite3.Error as err:
            problem = str(err)
        if problem:
            raise BackupError(f"restored {path.name} fails its integrity check: {problem}")
    try:
        journal, cart = lane_summary(staging, config, catalog_text=catalog_text)
    except Exception as err:  # a catalog or journal the lane could not start with
        raise BackupError(f"the restored journal does not recover: {err}") from err
    if journal != manifest["journal"]:
        raise BackupError(
            f"the restored journal differs from the backup's: {journal} != {manifest['journal']}"
        )
    if cart != manifest["cart"]:
        raise BackupError(
            "the restored journal recovers a different cart than the backup recorded "
            f"(session {cart['session_id']}, seq {cart['seq']}, {len(cart['lines'])} lines vs "
            f"session {manifest['cart']['session_id']}, seq {manifest['cart']['seq']}, "
            f"{len(manifest['cart']['lines'])} lines); the catalog or [checkout] rules of "
            f"this lane differ from the backup's: compare {catalog_path} with the backup's "
            "catalog member, then run the restore again. Nothing was changed"
        )


def _swap_in(staging: Path, data_dir: Path) -> Path | None:
    """Old data dir aside, new one in place: two renames on one filesystem, so at every
    moment each folder is complete."""
    moved: Path | None = None
    if data_dir.exists():
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        moved = data_dir.with_name(f"{data_dir.name}.before-restore-{stamp}")
        suffix = 1
        while moved.exists():
            moved = data_dir.with_name(f"{data_dir.name}.before-restore-{stamp}-{suffix}")
            suffix += 1
        os.rename(data_dir, moved)
    os.rename(staging, data_dir)
    fsync_dir(data_dir.parent)
    return moved


def _place_file(path: Path, content: bytes, report: RestoreReport) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, content)
        report.written.append(path)
    elif path.read_bytes() != content:
        beside = path.with_name(path.name + ".from-backup")
        write_atomically(beside, content)
        report.kept.append((path, beside))


def journal_holders(path: Path) -> list[int]:
    """Processes, this one included, with ``path`` (or its WAL) open (Linux /proc)."""
    target = os.path.realpath(path)
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in (target, target + "-wal"):
                    found.append(int(entry.name))
                    break
        except OSError:
            continue  # gone, or another user's process we may not inspect
    return sorted(found)
