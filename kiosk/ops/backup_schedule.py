"""Scheduled local backups with rotation, on a thread the Lane starts when ``[ops]
backup_dir`` is set.

A backup is due ``backup_every_h`` hours after the newest one in the folder (so a lane
that restarts often still backs up on time, and a new lane backs up at once). Only files
named ``<kiosk_id>-<UTC time>.sco-backup.zip`` are counted or deleted; anything else in the
folder is left alone. A failed backup is logged and retried, never fatal to the lane.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig
from kiosk.ops.backup import SUFFIX, BackupResult, make_backup

logger = logging.getLogger(__name__)

RETRY_S = 600.0  # after a failure (full disk, unreadable file): try again this much later
HOUR_S = 3600.0


def backup_name(kiosk_id: str, now_s: float) -> str:
    """``lane-01-20250101T120000123Z.sco-backup.zip``: sorts by time as text."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now_s))
    return f"{kiosk_id}-{stamp}{int(now_s * 1000) % 1000:03d}Z{SUFFIX}"


def list_backups(backup_dir: str | Path, kiosk_id: str) -> list[Path]:
    """This lane's backups in ``backup_dir``, oldest first."""
    folder = Path(backup_dir)
    if not folder.is_dir():
        return []
    prefix = f"{kiosk_id}-"
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.name.startswith(prefix) and p.name.endswith(SUFFIX)
        and p.name[len(prefix):len(prefix) + 8].isdigit()  # not lane-01-x's backups
    )  # fmt: skip


def prune_backups(backup_dir: str | Path, kiosk_id: str, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups of this lane; returns the deleted."""
    if keep < 1:
        raise ValueError("keep must be at least 1: pruning never deletes the newest backup")
    doomed = list_backups(backup_dir, kiosk_id)[:-keep]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


class BackupScheduler(threading.Thread):
    def __init__(
        self,
        config: KioskConfig,
        backup_dir: str | Path,
        *,
        every_s: float,
        keep: int,
        config_path: str | Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name="lane-backups", daemon=True)
        self.config = config
        self.backup_dir = Path(backup_dir)
        self.every_s = every_s
        self.keep = keep
        self.config_path = config_path
        self.clock = clock
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self.made = 0
        self.failures = 0
        self.last_backup: str | None = None
        self.last_error: str | None = None

    @classmethod
    def for_lane(cls, config: KioskConfig) -> BackupScheduler:
        ops = config.sections["ops"]
        return cls(
            config, ops["backup_dir"], every_s=ops["backup_every_h"] * HOUR_S,
            keep=ops["backup_keep"],
        )  # fmt: skip

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=30)  # a backup in progress finishes: never a .partial left

    def seconds_until_due(self) -> float:
        backups = list_backups(self.backup_dir, self.config.kiosk_id)
        if not backups:
            return 0.0
        newest = backups[-1].stat().st_mtime
        return max(0.0, newest + self.every_s - self.clock())

    def run(self) -> None:
        wait = self._wait_s()
        while not self._halt.wait(wait):
            self.run_once()
            wait = self._wait_s()

    def _wait_s(self) -> float:
        if self.last_error is not None:
            return min(RETRY_S, self.every_s)
        try:
            return self.seconds_until_due()
        except OSError as err:
            logger.warning("cannot list backups in %s: %s", self.backup_dir, err)
            return min(RETRY_S, self.every_s)

    def run_once(self) -> BackupResult | None:
        """Make one backup now and rotate; logs instead of raising."""
        dest = self.backup_dir / backup_name(self.config.kiosk_id, self.clock())
        try:
            result = make_backup(dest, self.config, self.config_path)
            pruned = prune_backups(self.backup_dir, self.config.kiosk_id, self.keep)
        except Exception as err:  # a full disk must not stop the lane selling
            logger.exception("scheduled backup to %s failed", dest)
            with self._lock:
                self.failures += 1
                self.last_error = f"{type(err).__name__}: {err}"
            return None
        logger.info("backup %s written (%d older deleted)", dest, len(pruned))
        with self._lock:
            self.made += 1
            self.last_backup = str(dest)
            self.last_error = None
        return result

    def health(self) -> dict[str, Any]:
        with self._lock:
            return {
                "made": self.made,
                "failures": self.failures,
                "last_backup": self.last_backup,
                "last_error": self.last_error,
            }
