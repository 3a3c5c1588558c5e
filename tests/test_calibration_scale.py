"""Scale calibration against the pty simulator with injected faults, through the real adapter.

The "technician" is the simulator's control socket: each prompt places or removes the
weight it asks for. Settle times are short so a whole check takes a second or two.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from calibration.results import Verdict
from calibration.scale_checks import (
    NoiseFigures,
    Tolerance,
    eccentricity_check,
    linearity_check,
    recommend_stability,
    span_check,
    zero_check,
)
from calibration.scale_session import CORNERS, Instruction, ScaleCalibration
from hardware.scale.base import get_protocol
from hardware.scale.config import PROTOCOL_NAMES
from hardware.scale.simulator import ScaleSimulator, send_control

LOADS = [500, 1000, 2000, 5000]


def technician(sim: ScaleSimulator):  # type: ignore[no-untyped-def]
    """A prompt that does what it says, over the simulator's control socket."""

    def prompt(instruction: str) -> None:
        assert isinstance(instruction, Instruction)
        if instruction.action in ("place", "watch"):
            line = f"place {instruction.load_g} {instruction.position}"
        else:
            line = "remove"
        assert send_control(sim.control_path, line) == "ok"

    return prompt


@pytest.fixture
def sim() -> Iterator[ScaleSimulator]:
    with ScaleSimulator(get_protocol("toledo8217"), settle_ms=120, noise_g=0, seed=3) as s:
        yield s


def session(sim: ScaleSimulator, platform: str = "scan_scale", **kw: object) -> ScaleCalibration:
    return ScaleCalibration(
        sim.port_path,
        platform,
        sim.protocol.name,
        prompt=technician(sim),
        **kw,  # type: ignore[arg-type]
    )


def fault(sim: ScaleSimulator, line: str) -> None:
    assert send_control(sim.control_path, line) == "ok", line


# --- the tolerance table ------------------------------------------------------------------


def test_class_iii_mpe_bands_and_in_service() -> None:
    tol = Tolerance(division_g=5, capacity_g=15_000)
    assert tol.mpe_g(0) == 2.5 and tol.mpe_g(2500) == 2.5  # up to 500 e: 0.5 e
    assert tol.mpe_g(2505) == 5 and tol.mpe_g(10_000) == 5  # up to 2000 e: 1 e
    assert tol.mpe_g(10_005) == 7.5 and tol.mpe_g(15_000) == 7.5  # above: 1.5 e
    assert Tolerance(5, 15_000, in_service=True).mpe_g(15_000) == 15
    assert tol.judge(2, 2.5) is Verdict.PASS
    assert tol.judge(-2.25, 2.5) is Verdict.WARN  # close: more than 80 % of the MPE
    assert tol.judge(3, 2.5) is Verdict.FAIL
    with pytest.raises(ValueError):
        Tolerance(0, 15_000)


def test_pure_checks_judge_the_figures() -> None:
    tol = Tolerance(5, 15_000)
    assert zero_check("scan_scale", [0, 0, 1], tol).verdict is Verdict.PASS
    assert zero_check("scan_scale", [3, 3, 3], tol).verdict is Verdict.FAIL
    span = span_check("scan_scale", 5000, 5005, tol)
    assert span.verdict is Verdict.WARN and span.figures["error_g"] == 5  # at the 5 g MPE
    with pytest.raises(ValueError):
        span_check("scan_scale", 20_000, 20_000, tol)  # over capacity
    gain = linearity_check("scan_scale", [(1000, 1002), (5000, 5010)], tol)
    assert gain.figures["nonlinearity_g"] == 0  # a pure gain error is a straight line
    ecc = eccentricity_check("scan_scale", 5000, {"front-left": 5000, "back-right": 4990}, tol)
    assert ecc.figures["failed_positions"] == ["back-right"]
    assert json.loads(json.dumps(ecc.to_json()))["figures"]["errors_g"]["back-right"] == -10


# --- the real adapter over the simulator --------------------------------------------------


@pytest.mark.parametrize("name", PROTOCOL_NAMES)
def test_detect_finds_each_protocol(name: str) -> None:
    with (
        ScaleSimulator(get_protocol(name), settle_ms=50, noise_g=0) as sim,
        ScaleCalibration(sim.port_path, probe_timeout_s=0.5) as cal,
    ):
        result = cal.detect_check()
    assert result.verdict is Verdict.PASS
    assert result.figures["protocol"] == name
    assert result.figures["tried"][-1] == name


def test_detect_on_a_missing_port_fails_and_skips_the_rest(tmp_path: Path) -> None:
    with ScaleCalibration(str(tmp_path / "none"), probe_timeout_s=0.2) as cal:
        results = cal.run_all(2000, LOADS)
    assert results[0].check == "scale.detect" and results[0].verdict is Verdict.FAIL
    assert len(results[0].figures["tried"]) == len(PROTOCOL_NAMES)
    assert {r.verdict for r in results[1:]} == {Verdict.SKIPPED}


def test_a_good_scale_passes_everything(sim: ScaleSimulator) -> None:
    with session(sim) as cal:
        results = cal.run_all(2000, LOADS, repeat_n=3, noise_s=0.5)
    verdicts = {r.check: r.verdict for r in results}
    assert set(verdicts.values()) == {Verdict.PASS}, [r.to_json() for r in results]
    by = {r.check: r for r in results}
    assert by["scale.zero"].figures["zero_g"] == 0
    assert by["scale.span"].figures["error_g"] == 0
    assert by["scale.linearity"].series["error_g"] == [0, 0, 0, 0]
    assert by["scale.repeatability"].figures["spread_g"] == 0
    assert by["scale.eccentricity"].figures["load_g"] == 5000  # a third of 15 kg
    settle = by["scale.settle"]
    assert settle.figures["config_section"] == "scan_scale"
    assert settle.figures["settle_ms"] is not None and settle.figures["noise_p2p_g"] == 0
    assert settle.figures["recommended"]["division_g"] == 5


def test_offset_fails_zero_with_the_offset_measured(sim: ScaleSimulator) -> None:
    fault(sim, "fault offset 12")
    with session(sim) as cal:
        zero = cal.zero_check()
    assert zero.verdict is Verdict.FAIL
    assert zero.figures["zero_g"] == 12 and zero.figures["error_e"] == 2.4
    assert zero.limits["mpe_g"] == 2.5 and "12 g" in zero.advice


def test_gain_error_fails_span_at_the_heavier_load_only(sim: ScaleSimulator) -> None:
    fault(sim, "fault gain 0.002")  # reads 0.2 % high
    with session(sim) as cal:
        light = cal.span_check(500)
        heavy = cal.span_check(2000)
    assert light.verdict is Verdict.PASS and light.figures["error_g"] == 1
    assert heavy.verdict is Verdict.FAIL
    assert heavy.figures["indicated_g"] == 2004 and heavy.figures["error_g"] == 4
    assert heavy.figures["error_ppm"] == 2000 and heavy.limits["mpe_g"] == 2.5


def test_non_linearity_shows_in_the_error_curve_and_fails(sim: ScaleSimulator) -> None:
    fault(sim, "fault nonlinearity 12")  # a bow peaking at +12 g at half capacity
    with session(sim) as cal:
        result = cal.linearity_check(LOADS)
    assert result.verdict is Verdict.FAIL
    assert result.series["applied_g"] == LOADS
    assert result.series["error_g"] == [2, 3, 6, 11]  # 4x(1-x) * 12 g, x = load / 15 kg
    assert result.series["mpe_g"] == [2.5, 2.5, 2.5, 5]
    assert result.figures["failed_loads_g"] == [1000, 2000, 5000]
    assert abs(result.figures["nonlinearity_g"]) > 1  # not a straight line: bent
    assert "non-linear" in result.advice


def test_noise_fails_repeatability_and_raises_the_stability_window() -> None:
    recommended = {}
    for noise in (0, 25):
        with (
            ScaleSimulator(get_protocol("sics"), settle_ms=120, noise_g=noise, seed=5) as sim,
            session(sim, "bagging_scale") as cal,
        ):
            repeat = cal.repeatability_check(1000, n=6)
            settle = cal.settle_check(1000, noise_s=0.6)
        limit = repeat.limits["max_spread_g"]
        assert limit == 5  # 1000 g is 100 e of 10 g: MPE 0.5 e
        if noise:
            assert repeat.verdict is Verdict.FAIL and repeat.figures["spread_g"] > limit
            assert len(repeat.series["reading_g"]) == 6
            assert settle.figures["noise_p2p_g"] > 10 and settle.verdict is Verdict.WARN
        else:
            assert repeat.verdict is Verdict.PASS and repeat.figures["spread_g"] == 0
            assert settle.verdict is Verdict.PASS
        recommended[noise] = settle.figures["recommended"]
    quiet, noisy = recommended[0], recommended[25]
    assert noisy["stability_window_n"] > quiet["stability_window_n"]
    assert noisy["division_g"] > quiet["division_g"] == 10  # the band holds the noise


def test_an_eccentric_corner_fails_at_that_corner_only(sim: ScaleSimulator) -> None:
    fault(sim, "fault corner back-right 0.003")
    with session(sim) as cal:
        result = cal.eccentricity_check(5000, CORNERS)
    assert result.verdict is Verdict.FAIL
    assert result.figures["failed_positions"] == ["back-right"]
    assert result.figures["errors_g"] == {
        "front-left": 0, "front-right": 0, "back-left": 0, "back-right": 15,
    }  # fmt: skip
    assert result.figures["verdicts"]["front-left"] == "pass"


def test_a_silent_scale_gives_a_failed_check_not_an_exception(sim: ScaleSimulator) -> None:
    with session(sim, settle_timeout_s=1.0) as cal:
        assert cal.detect() == "toledo8217"
        fault(sim, "sleep")
        result = cal.zero_check()
    assert result.verdict is Verdict.FAIL and "no stable weight" in result.advice
    with session(sim) as cal, pytest.raises(ValueError, match="capacity"):
        cal.span_check(20_000)


def test_recommendations_follow_settle_time() -> None:
    quiet = NoiseFigures(20, 1000.0, 0.0, 0)
    slow = recommend_stability(1200, quiet, 10, 20)
    fast = recommend_stability(100, quiet, 10, 20)
    assert slow["settle_ms"] == 600 and fast["settle_ms"] == 150
    assert slow["stability_window_n"] > fast["stability_window_n"]


def test_cli_prompts_on_stderr_and_reports(sim: ScaleSimulator, tmp_path: Path) -> None:
    """`sco calibrate scale span` as a technician runs it: Enter after each placement."""
    fault(sim, "fault gain 0.002")
    results = tmp_path / "results.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "calibration.scale_cli", "scale", "span", "--port",
         sim.port_path, "--platform", "scan_scale", "--test-weight", "2000", "--json",
         "--results", str(results)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stderr is not None and proc.stdout is not None
    prompts = []
    for line in proc.stderr:
        if line.startswith(">> "):
            prompts.append(line[3:].strip())
            place = re.match(r"Place (\d+) g", prompts[-1])
            fault(sim, f"place {place.group(1)}" if place else "remove")
            proc.stdin.write("\n")
            proc.stdin.flush()
    assert proc.wait(timeout=60) == 1  # a check failed
    assert prompts == ["Place 2000 g in the centre of the platter.", "Empty the platter."]
    out = json.loads(proc.stdout.read())
    assert [r["check"] for r in out] == ["scale.detect", "scale.span"]
    assert out[1]["verdict"] == "fail" and out[1]["figures"]["error_g"] == 4
    assert out[0]["figures"]["protocol"] == "toledo8217"  # detected
    assert len(results.read_text().splitlines()) == 2


def test_cli_bad_loads_exit_2(sim: ScaleSimulator) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "calibration.scale_cli", "scale", "linearity", "--port",
         sim.port_path, "--protocol", "toledo8217", "--loads", "500,lots"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 2 and "--loads" in done.stderr


def test_fault_lines_with_bad_arguments_get_a_clear_error(sim: ScaleSimulator) -> None:
    for line in ("fault gain lots", "fault corner nowhere 0.1", "fault gain 0.9", "fault"):
        assert send_control(sim.control_path, line).startswith("error:"), line
    assert send_control(sim.control_path, "place 100 middle").startswith("error: unknown position")
    fault(sim, "fault offset 7")
    fault(sim, "settle 80")
    status = json.loads(send_control(sim.control_path, "status"))
    assert status["faults"]["offset_g"] == 7 and status["settle_ms"] == 80
    fault(sim, "fault clear")
    assert json.loads(send_control(sim.control_path, "status"))["faults"]["offset_g"] == 0
