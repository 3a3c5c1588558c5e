"""``sco scenarios gen|eval``: write the labelled suite, score the core against one.

``eval`` prints a readable table; with ``--json`` its LAST line is exactly one JSON
object of the KPIs (the form CI and the issue's closing note read).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_SWEEP = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``sco scenarios`` to the command line."""
    from kiosk.scenarios.generator import DEFAULT_COUNT, DEFAULT_SEED

    p = sub.add_parser("scenarios", help="labelled honest/fraud scenarios and detection KPIs")
    ssub = p.add_subparsers(dest="scenarios_command", metavar="WHAT", required=True)

    g = ssub.add_parser("gen", help="write a labelled suite (NAME.jsonl + NAME.truth.json)")
    g.add_argument("dir", type=Path, help="output folder")
    g.add_argument("--count", type=int, default=DEFAULT_COUNT, help=f"({DEFAULT_COUNT})")
    g.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"({DEFAULT_SEED})")
    g.add_argument("--catalog", type=Path, help="catalog CSV (examples/catalog.csv)")
    g.set_defaults(func=cmd_gen)

    e = ssub.add_parser("eval", help="replay a suite through the core and print the KPIs")
    e.add_argument(
        "dir", type=Path, nargs="?", help="suite folder (default: the built-in suite, in memory)"
    )
    e.add_argument("--json", action="store_true", help="last line: one JSON object of KPIs")
    e.add_argument("--config", type=Path, help="kiosk TOML whose [checkout] rules to use")
    e.add_argument("--catalog", type=Path, help="catalog CSV (the config's, else the example)")
    e.add_argument("--plot", type=Path, help="write the tolerance trade-off SVG here")
    e.add_argument(
        "--sweep",
        help="weight_tolerance_k values, e.g. 1,1.5,2,3,4,5 (default with --plot: that list)",
    )
    e.add_argument(
        "--attendant",
        choices=("none", "clear"),
        default="none",
        help="none: inputs as recorded, like sco replay (default); clear: an attendant "
        "clears each security alert at once",
    )
    e.add_argument("--count", type=int, default=DEFAULT_COUNT, help="built-in suite size")
    e.add_argument("--seed", type=int, default=DEFAULT_SEED, help="built-in suite seed")
    e.add_argument("--list", type=int, default=25, help="misses/false alerts listed (25)")
    e.set_defaults(func=cmd_eval)

    r = ssub.add_parser(
        "render",
        help="render scenarios as camera frames and scale bytes through the real adapters",
    )
    r.add_argument("out_dir", help="where NAME.jsonl, NAME.truth.json, NAME.render.json go")
    r.add_argument("names", nargs="*", help="scenarios to render (default: all)")
    r.add_argument("--no-photos", action="store_true", help="procedural scenes only")
    r.add_argument("--identity", action="store_true", help="score reads against references")
    r.set_defaults(func=cmd_render)


def cmd_render(args: argparse.Namespace) -> int:
    from kiosk.scenarios.rendered import main

    flags = ["--no-photos"] * args.no_photos + ["--identity"] * args.identity
    return main([args.out_dir, *args.names, *flags])


def _catalog(path: Path | None, config_catalog: str | None = None) -> Any:
    from kiosk.replay import DEFAULT_CATALOG, load_catalog_file

    return load_catalog_file(path or config_catalog or DEFAULT_CATALOG)


def parse_sweep(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sweep takes numbers separated by commas, e.g. 1,2,3; got {text!r}"
        ) from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError("--sweep values must be positive numbers")
    return values


def cmd_gen(args: argparse.Namespace) -> int:
    from kiosk.errors import KioskError
    from kiosk.scenarios.generator import write_suite

    if args.count < 1:
        print("sco scenarios gen: --count must be at least 1", file=sys.stderr)
        return 2
    try:
        n = write_suite(args.dir, args.count, args.seed, _catalog(args.catalog))
    except KioskError as err:
        print(f"sco scenarios gen: {err}", file=sys.stderr)
        return 2
    print(f"wrote {n} scenarios to {args.dir} (seed {args.seed})")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from kiosk.core.settings import CoreSettings
    from kiosk.errors import KioskError
    from kiosk.scenarios.evaluate import evaluate, format_table, sweep
    from kiosk.scenarios.generator import generate_suite
    from kiosk.scenarios.plot import write_svg
    from kiosk.scenarios.truth import load_suite

    try:
        ks = parse_sweep(args.sweep) if args.sweep else None
    except argparse.ArgumentTypeError as err:
        print(f"sco scenarios eval: {err}", file=sys.stderr)
        return 2
    if ks is None and args.plot:
        ks = list(DEFAULT_SWEEP)
    try:
        base = CoreSettings()
        config_catalog = None
        if args.config:
            from kiosk.config import load_config

            config = load_config(args.config)
            base, config_catalog = config.core_settings(), config.catalog_path
        catalog = _catalog(args.catalog, config_catalog)
        if args.dir is not None:
            suite = load_suite(args.dir)
            source = str(args.dir)
        else:
            suite = generate_suite(args.count, args.seed, catalog)
            source = f"built-in suite ({args.count} scenarios, seed {args.seed})"
    except KioskError as err:
        print(f"sco scenarios eval: {err}", file=sys.stderr)
        return 2
    report = evaluate(suite, catalog, base, attendant=args.attendant)
    print(f"{source}; attendant: {args.attendant}")
    print(format_table(report, max_list=args.list))
    result: dict[str, Any] = report.to_json()
    if ks:
        points = sweep(suite, catalog, ks, base, attendant=args.attendant)
        print("\nweight_tolerance_k sweep:")
        print(f"{'k':>6}{'weight-classes recall':>24}{'all-fraud recall':>18}{'FI/100':>9}")
        for p in points:
            print(
                f"{p['k']:>6g}{_num(p['weight_classes_recall']):>24}"
                f"{_num(p['fraud_recall']):>18}{_num(p['false_interventions_per_100_honest']):>9}"
            )
        result["sweep"] = points
        if args.plot:
            write_svg(args.plot, points, f"Tolerance trade-off: {source}")
            print(f"plot written to {args.plot}")
    if args.json:
        print(json.dumps(result, ensure_ascii=False, separators=(",", ":")))
    return 0


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"
