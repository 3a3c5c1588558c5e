"""`sco calibrate scale ACTION`: the scale checks on the command line.

Prompts ("Place 2000 g in the centre of the platter.") go to stderr and wait for Enter on
stdin; results go to stdout (one line each, or a JSON list with ``--json``) and, with
``--results FILE``, are appended as JSON lines for ``sco calibrate record``.

Exit codes: 0 every check passed or warned, 1 a check failed, 2 bad arguments,
3 no scale answered.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from calibration.results import CheckResult, Verdict
from calibration.scale_session import CORNERS, PLATFORMS, Instruction, ScaleCalibration
from hardware.scale.config import PROTOCOL_NAMES
from kiosk.errors import ConfigError

ACTIONS = ("detect", "zero", "span", "linearity", "repeatability", "eccentricity", "settle", "all")
FAILED, BAD_ARGS, NO_SCALE = 1, 2, 3


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``scale`` (with its actions) to the ``sco calibrate`` subcommands."""
    p = subparsers.add_parser("scale", help="check a scale: zero, span, linearity, ...")
    p.add_argument("action", choices=ACTIONS, help="which check (all: every one, in order)")
    p.add_argument("--port", required=True, help="serial port or URL, as in [*_scale] port")
    p.add_argument(
        "--platform",
        choices=PLATFORMS,
        default="bagging_scale",
        help="which scale (its config section; default bagging_scale)",
    )
    p.add_argument(
        "--protocol", choices=PROTOCOL_NAMES, help="what the scale speaks (default: detect it)"
    )
    p.add_argument(
        "--division-g",
        type=float,
        help="verification division e in grams (default 5 scan, 10 bagging)",
    )
    p.add_argument(
        "--capacity-g", type=int, help="capacity Max in grams (default 15000 scan, 30000 bagging)"
    )
    p.add_argument(
        "--in-service",
        action="store_true",
        help="judge against in-service MPEs (twice the verification MPEs)",
    )
    p.add_argument(
        "--test-weight",
        type=int,
        default=2000,
        help="span, repeatability and settle load in grams (2000)",
    )
    p.add_argument(
        "--loads",
        default="500,1000,2000,5000",
        help="linearity loads in grams, comma-separated (3-5 usual)",
    )
    p.add_argument("--repeat", type=int, default=3, help="repeatability placements (3)")
    p.add_argument(
        "--eccentric-weight", type=int, help="corner load in grams (default a third of capacity)"
    )
    p.add_argument(
        "--noise-seconds",
        type=float,
        default=2.0,
        help="how long to sample the settled load for noise (2)",
    )
    p.add_argument("--json", action="store_true", help="print the results as a JSON list")
    p.add_argument("--results", metavar="FILE", help="also append the results to FILE (JSON lines)")
    p.set_defaults(func=cmd_scale)


def parse_loads(text: str) -> list[int]:
    try:
        loads = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(
            f"--loads must be grams separated by commas, e.g. 500,1000,2000; not {text!r}"
        ) from None
    if len(loads) < 2:
        raise ValueError("--loads needs at least 2 loads (3-5 is usual)")
    return loads


def console_prompt(instruction: str) -> None:
    """Show the instruction on stderr and wait for Enter (end of input: go on)."""
    print(f">> {instruction}", file=sys.stderr, flush=True)
    if not (isinstance(instruction, Instruction) and instruction.action == "watch"):
        print("   press Enter when done", file=sys.stderr, flush=True)
    sys.stdin.readline()


def describe(result: CheckResult) -> str:
    """``PASS scale.span bagging_scale: error_g=+4 (mpe_g=5)`` and the advice below it."""
    f, lim = result.figures, result.limits
    main = {
        "scale.detect": ("protocol",),
        "scale.zero": ("zero_g",),
        "scale.span": ("indicated_g", "error_g"),
        "scale.linearity": ("max_error_g", "max_error_at_g", "nonlinearity_g"),
        "scale.repeatability": ("spread_g", "sd_g"),
        "scale.eccentricity": ("errors_g",),
        "scale.settle": ("settle_ms", "noise_p2p_g", "recommended"),
    }.get(result.check, tuple(f))
    shown = ", ".join(f"{k}={f[k]}" for k in main if k in f)
    limit = ", ".join(f"{k}={v}" for k, v in lim.items() if k.startswith(("mpe", "max_")))
    line = f"{result.verdict.value.upper():4} {result.check} {result.device}: {shown}"
    line += f" (limit {limit})" if limit else ""
    return line + (f"\n     {result.advice}" if result.advice else "")


def run_action(session: ScaleCalibration, args: argparse.Namespace) -> list[CheckResult]:
    loads = parse_loads(args.loads)
    steps: dict[str, Callable[[], list[CheckResult]]] = {
        "detect": lambda: [session.detect_check()],
        "zero": lambda: [session.zero_check()],
        "span": lambda: [session.span_check(args.test_weight)],
        "linearity": lambda: [session.linearity_check(loads)],
        "repeatability": lambda: [session.repeatability_check(args.test_weight, args.repeat)],
        "eccentricity": lambda: [session.eccentricity_check(args.eccentric_weight, CORNERS)],
        "settle": lambda: [session.settle_check(args.test_weight, noise_s=args.noise_seconds)],
        "all": lambda: session.run_all(
            args.test_weight, loads, repeat_n=args.repeat, eccentric_g=args.eccentric_weight,
            noise_s=args.noise_seconds,
        ),
    }  # fmt: skip
    if args.action in ("detect", "all"):
        return steps[args.action]()
    found = session.detect_check()  # the record shows which protocol was read
    if found.verdict is Verdict.FAIL:
        return [found]
    return [found, *steps[args.action]()]


def cmd_scale(args: argparse.Namespace) -> int:
    try:
        session = ScaleCalibration(
            args.port,
            args.platform,
            args.protocol,
            division_g=args.division_g,
            capacity_g=args.capacity_g,
            in_service=args.in_service,
            prompt=console_prompt,
        )
        with session:
            results = run_action(session, args)
    except (ValueError, ConfigError) as err:
        print(f"sco calibrate scale: {err}", file=sys.stderr)
        return BAD_ARGS
    if args.results:
        from calibration.record import append_results

        append_results(args.results, results)
    if args.json:
        print(json.dumps([r.to_json() for r in results], sort_keys=True))
    else:
        for result in results:
            print(describe(result))
    if any(r.check == "scale.detect" and r.verdict is Verdict.FAIL for r in results):
        return NO_SCALE
    return FAILED if any(r.verdict is Verdict.FAIL for r in results) else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m calibration.scale_cli scale ACTION ...`` without the umbrella."""
    parser = argparse.ArgumentParser(prog="sco calibrate")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
