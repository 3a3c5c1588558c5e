"""``sco doctor``: check everything a lane depends on and say, in plain words, what to do.

The configuration is read first; every other check needs it, so a configuration that cannot
be read is the one failure reported (the rest are skipped with that reason). The device
checks open real devices, each within its own time limit, and run side by side so the whole
report takes about one timeout however many devices fail.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kiosk import __version__
from kiosk.help.kb import kb_reference
from kiosk.ops.doctor_checks import CHECKS, Check
from kiosk.ops.doctor_checks.common import (
    SEVERITY,
    CheckResult,
    DoctorContext,
    Level,
    result,
)
from kiosk.ops.doctor_checks.configuration import load

EXIT = {Level.OK: 0, Level.WARN: 1, Level.FAIL: 2}
DEFAULT_TIMEOUT_S = 5.0
_SLACK_S = 10.0  # a check past its own limit plus this is reported as hung


@dataclass(frozen=True)
class DoctorReport:
    config_path: str
    checked_at: datetime
    results: tuple[CheckResult, ...]

    @property
    def level(self) -> Level:
        worst = max((SEVERITY[r.level] for r in self.results), default=0)
        return {0: Level.OK, 1: Level.WARN, 2: Level.FAIL}[worst]

    @property
    def exit_code(self) -> int:
        return EXIT[self.level]

    def get(self, check: str) -> CheckResult | None:
        return next((r for r in self.results if r.check == check), None)

    def counts(self) -> dict[str, int]:
        return {lv.value: sum(1 for r in self.results if r.level is lv) for lv in Level}

    def to_dict(self) -> dict[str, Any]:
        return {"type": "doctor", "version": __version__, "config": self.config_path,
                "checked_at": self.checked_at.isoformat(), "level": self.level.value,
                "exit_code": self.exit_code, "counts": self.counts(),
                "results": [r.to_dict() for r in self.results]}  # fmt: skip

    def text(self) -> str:
        """The report a technician reads: one line per check, advice under what is wrong."""
        lines = [f"OpenSCO {__version__} doctor: {self.config_path} "
                 f"at {self.checked_at:%Y-%m-%d %H:%M:%S} UTC"]  # fmt: skip
        width = max((len(r.title) for r in self.results), default=10)
        for r in self.results:
            lines.append(f"[{r.level.value.upper():4}] {r.title:<{width}}  {r.fact}")
            if r.advice:
                lines.append(f"{'':7}{'':<{width}}  -> {r.advice}")
            if r.level in (Level.WARN, Level.FAIL) and (ref := kb_reference(r.check)):
                lines.append(f"{'':7}{'':<{width}}  -> help: {ref}")
        c = self.counts()
        verdict = {Level.OK: "healthy", Level.WARN: "working, with warnings",
                   Level.FAIL: "NOT healthy"}[self.level]  # fmt: skip
        lines.append(f"{c['ok']} ok, {c['warn']} warnings, {c['fail']} failures, "
                     f"{c['skip']} skipped: the lane is {verdict}")  # fmt: skip
        return "\n".join(lines)


def run_doctor(
    config_path: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    now: datetime | None = None,
    checks: tuple[tuple[str, Check], ...] = CHECKS,
) -> DoctorReport:
    now = now or datetime.now(UTC)
    config, config_result = load(config_path)
    if config is None:
        skipped = tuple(result(name, name.capitalize(), Level.SKIP,
                               "not checked: the configuration cannot be read")
                        for name, _ in checks)  # fmt: skip
        return DoctorReport(config_path, now, (config_result, *skipped))
    ctx = DoctorContext(config_path, config, timeout_s, now)
    found: dict[str, list[CheckResult]] = {}
    lock = threading.Lock()

    def one(name: str, check: Check) -> None:
        try:
            got = check(ctx)
        except Exception as err:  # a bug in one check must not hide the others
            got = [
                result(
                    name,
                    name.capitalize(),
                    Level.FAIL,
                    f"the check itself failed: {err!r}",
                    "Report this to support with the bundle (sco doctor --bundle).",
                )
            ]
        with lock:
            found[name] = got

    threads = [threading.Thread(target=one, args=c, name=f"doctor-{c[0]}", daemon=True)
               for c in checks]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s * 3 + _SLACK_S)
    results: list[CheckResult] = [config_result]
    with lock:
        for name, _ in checks:
            results.extend(found.get(name) or [result(
                name, name.capitalize(), Level.FAIL, "the check did not finish in time",
                "Run `sco doctor` again; if it hangs again, a device driver is stuck: "
                "restart the lane's computer.")])  # fmt: skip
    return DoctorReport(config_path, now, tuple(results))
