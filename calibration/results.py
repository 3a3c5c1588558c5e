"""What every calibration check returns: a measured figure against its limit, and a verdict.

Scale checks (``calibration.scale_*``), camera checks (``calibration.camera_*``) and the
expected-weights review all return :class:`CheckResult`; the calibration record, the
report and the guided app only ever read these, so a new check needs no change there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    PASS = "pass"
    WARN = "warn"  # within the legal/operational limit but close to it, or could not be sure
    FAIL = "fail"  # out of tolerance: the lane must not sell on this device as it is
    SKIPPED = "skipped"  # not run (no device, technician skipped it); says why in ``advice``


@dataclass(frozen=True)
class CheckResult:
    """One check on one device.

    ``figures`` are the measured values (integers in grams for weights, floats otherwise),
    ``limits`` the thresholds they were judged against, with the same keys where they
    apply; ``advice`` says in a technician's words what to do when the verdict is not PASS.
    ``series`` carries plot data (e.g. linearity: applied vs indicated), lists of numbers.
    """

    check: str  # e.g. "scale.span", "camera.sharpness"
    device: str  # e.g. "scan_scale", "bagging_scale", "camera"
    verdict: Verdict
    figures: Mapping[str, Any] = field(default_factory=dict)
    limits: Mapping[str, Any] = field(default_factory=dict)
    unit: str = ""
    advice: str = ""
    series: Mapping[str, list[float]] = field(default_factory=dict)
    ts: float = 0.0  # unix seconds when measured

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "device": self.device,
            "verdict": self.verdict.value,
            "figures": dict(self.figures),
            "limits": dict(self.limits),
            "unit": self.unit,
            "advice": self.advice,
            "series": {k: list(v) for k, v in self.series.items()},
            "ts": self.ts,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> CheckResult:
        return cls(
            check=str(obj["check"]),
            device=str(obj["device"]),
            verdict=Verdict(obj["verdict"]),
            figures=dict(obj.get("figures") or {}),
            limits=dict(obj.get("limits") or {}),
            unit=str(obj.get("unit") or ""),
            advice=str(obj.get("advice") or ""),
            series={k: [float(x) for x in v] for k, v in (obj.get("series") or {}).items()},
            ts=float(obj.get("ts") or 0.0),
        )


def overall(results: list[CheckResult]) -> Verdict:
    """FAIL if any failed, else WARN if any warned, else PASS (skipped checks do not count)."""
    verdicts = {r.verdict for r in results}
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    if Verdict.WARN in verdicts:
        return Verdict.WARN
    return Verdict.PASS
