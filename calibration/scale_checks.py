"""Scale checks as pure functions: measured weights in, a judged ``CheckResult`` out.

Errors are judged against the maximum permissible error (MPE) of a class III scale as OIML
R 76-1 sets it for initial verification, in multiples of the verification division ``e``:
±0.5 e up to 500 e, ±1 e up to 2000 e, ±1.5 e above (doubled in service). A figure past
its MPE fails; one past ``warn_fraction`` of it warns. Repeatability (the spread of
repeated weighings of one load) and eccentricity (a load on each corner) are judged against
the MPE for that load, as R 76 does. The tool verifies and records: adjusting a trade scale
belongs to the scale and its certified service, never to this software.

Settle time and noise are not legal figures; they give recommended settings for the lane's
software stability filter (``hardware.scale.stability``, keys of ``[scan_scale]`` /
``[bagging_scale]``), returned in the result's ``figures["recommended"]``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from calibration.results import CheckResult, Verdict

# Class III, initial verification: (upper bound of the load band in e, MPE in e).
CLASS_III_BANDS: tuple[tuple[int, float], ...] = ((500, 0.5), (2000, 1.0), (10_000, 1.5))

# Typical devices when the technician does not say (docs/calibration.md): the trade scale
# under the scanner 15 kg x 5 g, the bagging (security) scale 30 kg x 10 g.
PLATFORM_DEFAULTS: dict[str, tuple[int, int]] = {
    "scan_scale": (5, 15_000),
    "bagging_scale": (10, 30_000),
}

MAX_SETTLE_MS = 3_000  # slower than this and a customer waits visibly at every item
WARN_SETTLE_MS = 1_500


@dataclass(frozen=True)
class Tolerance:
    """How a scale is judged: its verification division, capacity and MPE bands."""

    division_g: float  # verification division e
    capacity_g: int
    bands: tuple[tuple[int, float], ...] = CLASS_III_BANDS
    in_service: bool = False  # in-service MPE is twice the verification MPE
    warn_fraction: float = 0.8

    def __post_init__(self) -> None:
        if self.division_g <= 0 or self.capacity_g <= 0:
            raise ValueError("division_g and capacity_g must be positive")
        if not 0 < self.warn_fraction <= 1:
            raise ValueError("warn_fraction must lie in (0, 1]")
        if not self.bands or any(b[1] <= 0 for b in self.bands):
            raise ValueError("bands must be (upper load in e, MPE in e) with positive MPEs")

    @classmethod
    def for_platform(
        cls, platform: str, division_g: float | None = None, capacity_g: int | None = None
    ) -> Tolerance:
        e, cap = PLATFORM_DEFAULTS.get(platform, PLATFORM_DEFAULTS["bagging_scale"])
        return cls(division_g or e, capacity_g or cap)

    def mpe_g(self, load_g: float) -> float:
        """The maximum permissible error (grams, unsigned) at ``load_g``."""
        in_e = abs(load_g) / self.division_g
        mpe_e = next((m for upper, m in self.bands if in_e <= upper), self.bands[-1][1])
        return mpe_e * self.division_g * (2 if self.in_service else 1)

    def judge(self, error_g: float, limit_g: float) -> Verdict:
        if abs(error_g) > limit_g:
            return Verdict.FAIL
        if abs(error_g) > self.warn_fraction * limit_g:
            return Verdict.WARN
        return Verdict.PASS

    def limits(self) -> dict[str, float | int | bool]:
        return {
            "division_g": self.division_g,
            "capacity_g": self.capacity_g,
            "in_service": self.in_service,
            "warn_fraction": self.warn_fraction,
        }


def _worst(verdicts: Sequence[Verdict]) -> Verdict:
    for v in (Verdict.FAIL, Verdict.WARN):
        if v in verdicts:
            return v
    return Verdict.PASS


def _in_e(grams: float, tol: Tolerance) -> float:
    return round(grams / tol.division_g, 2)


def _need(values: Sequence[object], n: int, what: str) -> None:
    if len(values) < n:
        raise ValueError(f"{what}: need at least {n} reading(s), got {len(values)}")


def zero_check(
    device: str, readings_g: Sequence[int], tol: Tolerance, ts: float = 0.0
) -> CheckResult:
    """The empty pan must read zero within the MPE at zero load (0.5 e)."""
    _need(readings_g, 1, "zero")
    zero = statistics.median(readings_g)
    limit = tol.mpe_g(0)
    verdict = tol.judge(zero, limit)
    advice = ""
    if verdict is not Verdict.PASS:
        advice = (
            f"The empty pan reads {zero:g} g. Check nothing touches the platter, then zero "
            "the scale with its own zero key; if it drifts back, have the scale serviced."
        )
    return CheckResult(
        "scale.zero",
        device,
        verdict,
        figures={
            "zero_g": zero,
            "error_e": _in_e(zero, tol),
            "spread_g": max(readings_g) - min(readings_g),
            "n": len(readings_g),
        },
        limits={"mpe_g": limit, **tol.limits()},
        unit="g",
        advice=advice,
        ts=ts,
    )


def span_check(
    device: str, applied_g: int, indicated_g: int, tol: Tolerance, ts: float = 0.0
) -> CheckResult:
    """A known test weight must read within the MPE for its load."""
    if not 0 < applied_g <= tol.capacity_g:
        raise ValueError(f"span: test weight must lie in 1..{tol.capacity_g} g, got {applied_g}")
    error = indicated_g - applied_g
    limit = tol.mpe_g(applied_g)
    verdict = tol.judge(error, limit)
    advice = ""
    if verdict is not Verdict.PASS:
        advice = (
            f"{applied_g} g reads {indicated_g} g ({error:+d} g, MPE ±{limit:g} g): the span "
            "(gain) is off. Use a certified test weight; the scale's service must adjust it."
        )
    return CheckResult(
        "scale.span",
        device,
        verdict,
        figures={
            "applied_g": applied_g,
            "indicated_g": indicated_g,
            "error_g": error,
            "error_e": _in_e(error, tol),
            "error_ppm": round(1e6 * error / applied_g),
        },
        limits={"mpe_g": limit, **tol.limits()},
        unit="g",
        advice=advice,
        ts=ts,
    )


def linearity_check(
    device: str, points: Sequence[tuple[int, int]], tol: Tolerance, ts: float = 0.0
) -> CheckResult:
    """Errors over 3-5 loads, each against its MPE; ``series`` holds the error curve.

    ``nonlinearity_g`` is the largest deviation from the straight line through zero and the
    heaviest point: a gain error leaves it near zero, a bent load cell does not."""
    _need(points, 2, "linearity")
    points = sorted(points)
    if points[0][0] <= 0 or points[-1][0] > tol.capacity_g:
        raise ValueError(f"linearity: loads must lie in 1..{tol.capacity_g} g")
    errors = [ind - app for app, ind in points]
    limits = [tol.mpe_g(app) for app, _ in points]
    verdicts = [tol.judge(err, lim) for err, lim in zip(errors, limits, strict=True)]
    top_applied, top_indicated = points[-1]
    slope = top_indicated / top_applied
    deviation: list[float] = [ind - slope * app for app, ind in points]
    bow: float = max(deviation, key=lambda d: abs(d))
    worst = max(range(len(points)), key=lambda i: abs(errors[i]) / limits[i])
    verdict = _worst(verdicts)
    failed = [points[i][0] for i, v in enumerate(verdicts) if v is Verdict.FAIL]
    advice = ""
    if verdict is not Verdict.PASS:
        bent = max(abs(d) for d in deviation) > limits[worst] / 2
        what = "non-linear (the error changes with the load)" if bent else "off in span"
        advice = (
            f"Worst error {errors[worst]:+d} g at {points[worst][0]} g (MPE ±{limits[worst]:g} g)"
            f"; the scale reads {what}. Have the scale's service linearise or adjust it."
        )
    return CheckResult(
        "scale.linearity",
        device,
        verdict,
        figures={
            "max_error_g": errors[worst],
            "max_error_at_g": points[worst][0],
            "nonlinearity_g": round(bow, 1),
            "failed_loads_g": failed,
            "n": len(points),
        },
        limits={"mpe_g_at_max_error": limits[worst], **tol.limits()},
        unit="g",
        advice=advice,
        series={
            "applied_g": [float(a) for a, _ in points],
            "indicated_g": [float(i) for _, i in points],
            "error_g": [float(e) for e in errors],
            "mpe_g": limits,
        },
        ts=ts,
    )


def repeatability_check(
    device: str, load_g: int, readings_g: Sequence[int], tol: Tolerance, ts: float = 0.0
) -> CheckResult:
    """Repeated weighings of one load may differ by no more than the MPE for that load."""
    _need(readings_g, 2, "repeatability")
    spread = max(readings_g) - min(readings_g)
    limit = tol.mpe_g(load_g)
    verdict = tol.judge(spread, limit)
    advice = ""
    if verdict is not Verdict.PASS:
        advice = (
            f"{len(readings_g)} placements of {load_g} g spread over {spread} g (limit {limit:g}"
            " g). Look for draughts, vibration, a platter touching its frame or a loose cable; "
            "if it stays, the load cell needs service."
        )
    return CheckResult(
        "scale.repeatability",
        device,
        verdict,
        figures={
            "load_g": load_g,
            "spread_g": spread,
            "mean_g": round(statistics.fmean(readings_g), 1),
            "sd_g": round(statistics.stdev(readings_g), 2),
            "n": len(readings_g),
        },
        limits={"max_spread_g": limit, **tol.limits()},
        unit="g",
        advice=advice,
        series={"reading_g": [float(r) for r in readings_g]},
        ts=ts,
    )


def eccentricity_check(
    device: str, load_g: int, readings_g: Mapping[str, int], tol: Tolerance, ts: float = 0.0
) -> CheckResult:
    """The same load on each corner (R 76: about a third of capacity) within its MPE."""
    _need(list(readings_g), 1, "eccentricity")
    positions = list(readings_g)
    errors = {p: readings_g[p] - load_g for p in positions}
    limit = tol.mpe_g(load_g)
    verdicts = {p: tol.judge(errors[p], limit) for p in positions}
    failed = [p for p in positions if verdicts[p] is Verdict.FAIL]
    verdict = _worst(list(verdicts.values()))
    worst = max(positions, key=lambda p: abs(errors[p]))
    spread = max(errors.values()) - min(errors.values())
    advice = ""
    if verdict is not Verdict.PASS and len(positions) > 1 and spread <= limit / 2:
        advice = (
            f"Every position reads about {errors[worst]:+d} g off (MPE ±{limit:g} g) and the "
            "corners agree: that is a span error (see scale.span), not the corners."
        )
    elif verdict is not Verdict.PASS:
        where = ", ".join(failed) or worst
        advice = (
            f"Off-centre loads read wrong at {where} ({errors[worst]:+d} g at {worst}, MPE "
            f"±{limit:g} g). Check the platter sits level and free; the corner needs service."
        )
    return CheckResult(
        "scale.eccentricity",
        device,
        verdict,
        figures={
            "load_g": load_g,
            "errors_g": errors,
            "verdicts": {p: v.value for p, v in verdicts.items()},
            "failed_positions": failed,
            "max_error_g": errors[worst],
            "max_error_at": worst,
            "spread_g": spread,
        },
        limits={"mpe_g": limit, **tol.limits()},
        unit="g",
        advice=advice,
        series={"error_g": [float(errors[p]) for p in positions]},
        ts=ts,
    )


@dataclass(frozen=True)
class NoiseFigures:
    """Readings of a settled load: how much they move around."""

    samples: int
    mean_g: float
    sd_g: float
    peak_to_peak_g: int

    @classmethod
    def from_readings(cls, readings_g: Sequence[int]) -> NoiseFigures:
        _need(readings_g, 2, "noise")
        return cls(
            len(readings_g),
            round(statistics.fmean(readings_g), 2),
            round(statistics.pstdev(readings_g), 2),
            max(readings_g) - min(readings_g),
        )


def recommend_stability(
    settle_ms: float, noise: NoiseFigures, division_g: int, poll_hz: float
) -> dict[str, int]:
    """Stability filter settings (config keys) for a scale that settles and wobbles so.

    A heuristic, tuned on the simulator: the filter's band (``division_g``) must hold the
    noise or nothing ever counts as stable; a noisier scale needs more readings in a row
    (``stability_window_n``) before a weight is believed, and a slower one a longer quiet
    time (``settle_ms``: half its settle time, at least 150 ms, in 50 ms steps)."""
    band = min(100, max(division_g, noise.peak_to_peak_g))
    quiet_ms = min(5_000, max(150, 50 * math.ceil(settle_ms / 2 / 50)))
    by_time = math.ceil(quiet_ms * poll_hz / 1000) + 1
    by_noise = 3 + math.ceil(4 * noise.sd_g / division_g)
    window = min(50, max(3, by_time, by_noise))
    return {"division_g": band, "stability_window_n": window, "settle_ms": quiet_ms}


def settle_check(
    device: str,
    load_g: int,
    settle_ms: float | None,
    noise: NoiseFigures,
    tol: Tolerance,
    poll_hz: float,
    ts: float = 0.0,
) -> CheckResult:
    """Settle time and noise of a load; recommends the stability filter's settings.

    ``settle_ms`` None means the load never settled within the time allowed (FAIL)."""
    division = max(1, round(tol.division_g))
    figures: dict[str, object] = {
        "load_g": load_g,
        "settle_ms": None if settle_ms is None else round(settle_ms),
        "noise_sd_g": noise.sd_g,
        "noise_p2p_g": noise.peak_to_peak_g,
        "noise_samples": noise.samples,
        "config_section": device,
    }
    if settle_ms is None:
        verdict = Verdict.FAIL
        advice = "The weight never settled: check for vibration, draughts or a rubbing platter."
    else:
        figures["recommended"] = recommend_stability(settle_ms, noise, division, poll_hz)
        slow = settle_ms > MAX_SETTLE_MS
        verdict = Verdict.FAIL if slow else Verdict.PASS
        if settle_ms > WARN_SETTLE_MS or noise.peak_to_peak_g > tol.division_g:
            verdict = _worst([verdict, Verdict.WARN])
        advice = ""
        if verdict is not Verdict.PASS:
            advice = (
                f"Settles in {settle_ms:.0f} ms with ±{noise.peak_to_peak_g / 2:g} g of noise: "
                "apply the recommended stability settings, and look for vibration or draughts."
            )
    return CheckResult(
        "scale.settle",
        device,
        verdict,
        figures=figures,
        limits={"max_settle_ms": MAX_SETTLE_MS, "warn_settle_ms": WARN_SETTLE_MS,
                "noise_p2p_g": tol.division_g},
        unit="ms",
        advice=advice,
        ts=ts,
    )  # fmt: skip


def detect_result(
    device: str, protocol: str | None, tried: Sequence[str], ts: float = 0.0
) -> CheckResult:
    """Which protocol answered (auto-detection); FAIL when none did."""
    if protocol is None:
        return CheckResult(
            "scale.detect",
            device,
            Verdict.FAIL,
            figures={"protocol": None, "tried": list(tried)},
            advice="No protocol answered: check the cable, the port and that the scale is on.",
            ts=ts,
        )
    return CheckResult(
        "scale.detect",
        device,
        Verdict.PASS,
        figures={"protocol": protocol, "tried": list(tried)},
        ts=ts,
    )
