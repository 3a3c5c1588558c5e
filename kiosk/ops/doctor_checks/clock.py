"""Clock: NTP sync state when the system can tell, and a clock set before the software was
installed (receipts, journal times and certificate checks all depend on it)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import kiosk
from kiosk.ops.doctor_checks.common import CheckResult, DoctorContext, Level, result

TITLE = "Clock"


def build_time() -> datetime:
    """When this copy of the software was installed or built: its package file's time."""
    return datetime.fromtimestamp(Path(kiosk.__file__).stat().st_mtime, UTC)


def ntp_synchronized() -> bool | None:
    """``timedatectl``'s answer; None when there is none (no systemd, a container)."""
    binary = shutil.which("timedatectl")
    if binary is None:
        return None
    try:
        done = subprocess.run([binary, "show", "-p", "NTPSynchronized", "--value"],
                              capture_output=True, text=True, timeout=5, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    answer = done.stdout.strip().lower()
    if done.returncode != 0 or answer not in ("yes", "no"):
        return None
    return answer == "yes"


def check_clock(ctx: DoctorContext, *, built: datetime | None = None) -> list[CheckResult]:
    built = built or build_time()
    sync = ntp_synchronized()
    now = ctx.now
    sync_words = {True: "synchronized by NTP", False: "NOT synchronized by NTP",
                  None: "NTP sync state unknown (timedatectl cannot tell here)"}[sync]  # fmt: skip
    data = {"now": now.isoformat(), "software_time": built.isoformat(), "ntp_synchronized": sync}
    fact = f"{now:%Y-%m-%d %H:%M:%S} UTC, {sync_words}"
    if now < built:
        return [result("clock", TITLE, Level.FAIL,
                       f"{fact}; that is before this software was installed "
                       f"({built:%Y-%m-%d %H:%M} UTC): the clock is wrong",
                       "Set the date and time (timedatectl set-time, or the BIOS clock if it "
                       "resets at every start: replace its battery) and turn on NTP "
                       "(timedatectl set-ntp true). Certificates and receipts need the right "
                       "time.", **data)]  # fmt: skip
    if sync is False:
        return [result("clock", TITLE, Level.WARN, fact,
                       "Turn on time sync (timedatectl set-ntp true) and let the lane reach the "
                       "store's NTP server; a drifting clock misdates receipts and events.",
                       **data)]  # fmt: skip
    return [result("clock", TITLE, Level.OK, fact, **data)]
