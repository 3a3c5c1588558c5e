"""Disk: free space and write access where the lane keeps its journal."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from kiosk.ops.doctor_checks.common import CheckResult, DoctorContext, Level, result

WARN_FACTOR = 2  # warn while there is still twice the minimum: time to clean up calmly


def check_disk(ctx: DoctorContext) -> list[CheckResult]:
    assert ctx.config is not None
    path = Path(ctx.config.data_dir).resolve()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # the lane creates the folder; its disk is what counts
    minimum = int(ctx.config.sections["kiosk_ui"]["min_free_disk_mb"])
    usage = shutil.disk_usage(existing)
    free_mb = usage.free // 1_000_000
    data = {"path": str(existing), "free_mb": free_mb, "total_mb": usage.total // 1_000_000,
            "min_free_mb": minimum}  # fmt: skip
    fact = f"{free_mb} MB free of {usage.total // 1_000_000} MB under {existing}"
    cleanup = (
        "Free space on that disk: old logs (journalctl --vacuum-size=100M), old backups, "
        "closed-loop crops; never delete the journal. Or give the lane a bigger disk."
    )
    if not os.access(existing, os.W_OK):
        return [result("disk", "Data disk", Level.FAIL, f"{existing} is not writable by this user",
                       "The lane must write its journal there: fix the folder's owner or "
                       "permissions, or check the disk is not mounted read-only (a failing "
                       "disk is remounted read-only).", **data)]  # fmt: skip
    if free_mb < minimum:
        return [result("disk", "Data disk", Level.FAIL, f"{fact}; the lane needs {minimum} MB",
                       cleanup, **data)]  # fmt: skip
    if free_mb < WARN_FACTOR * minimum:
        return [result("disk", "Data disk", Level.WARN,
                       f"{fact}; below {WARN_FACTOR * minimum} MB, the lane stops at {minimum}",
                       cleanup, **data)]  # fmt: skip
    return [result("disk", "Data disk", Level.OK, fact, **data)]
