"""``sco``: the one command-line entry point. Each package adds its own subcommands."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from kiosk import __version__
from kiosk.core.barcodes import parse_code, parse_embedded_rules
from kiosk.core.catalog import Catalog
from kiosk.core.events import event_json
from kiosk.core.inputs import input_from_dict
from kiosk.core.receipt import format_receipt
from kiosk.core.settings import CoreSettings
from kiosk.engine import Engine
from kiosk.errors import BarcodeError, InputFormatError, KioskError
from kiosk.replay import DEFAULT_CATALOG, EXAMPLES_DIR, load_catalog_file, replay_lines

logger = logging.getLogger("kiosk.cli")

DEMO_SESSION = EXAMPLES_DIR / "sessions" / "plain-basket.jsonl"
CLI_PLUGINS = (
    "kiosk.config_cli",
    "kiosk.run_cli",
    "hardware.cli",
    "hardware.peripherals_cli",
    "backend_client.cli",
    "backend_client.commands_cli",
    "vision.camera_cli",
    "vision.decode_cli",
    "vision.vision_cli",
    "models.render_cli",
    "models.train_cli",
    "kiosk.scenarios.cli",
    "kiosk.attendant.cli",
    "kiosk.review.cli",
    "calibration.cli",
    "kiosk.ops.backup_cli",
    "kiosk.ops.doctor_cli",
    "kiosk.ops.status_cli",
    "kiosk.ops.audit_cli",
    "kiosk.training.cli",
)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _settings(
    args: argparse.Namespace, journal_id: str = "replay"
) -> tuple[CoreSettings, str | Path]:
    """Checkout rules and catalog path: from --config when given, else the defaults."""
    catalog_path: str | Path = DEFAULT_CATALOG
    settings = CoreSettings(journal_id=journal_id)
    if getattr(args, "config", None):
        from kiosk.config import load_config

        config = load_config(args.config)
        configure_logging(config.log_level, config.log_file, verbose=args.verbose)
        settings = config.core_settings(journal_id=journal_id)
        catalog_path = config.catalog_path
    if getattr(args, "catalog", None):
        catalog_path = args.catalog
    return settings, catalog_path


def _load(args: argparse.Namespace) -> tuple[CoreSettings, Catalog]:
    settings, catalog_path = _settings(args)
    return settings, load_catalog_file(catalog_path, settings.currency_exponent)


def configure_logging(level: str, log_file: str = "", *, verbose: bool = False) -> None:
    """Apply the config's [logging] section; a file log rotates so a lane never fills its disk."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else level)
    if log_file:
        from logging.handlers import RotatingFileHandler

        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(log_file, maxBytes=5_000_000, backupCount=5)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)


def cmd_replay(args: argparse.Namespace) -> int:
    if args.publish and not args.data_dir:
        raise KioskError("--publish needs --data-dir: events are published from its outbox")
    settings, catalog = _load(args)
    try:
        with open(args.inputs, encoding="utf-8") as fh:
            result = replay_lines(fh, catalog, settings, args.data_dir)
    except OSError as err:
        raise KioskError(f"cannot read {args.inputs}: {err.strerror or err}") from err
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    try:
        for record in result.events:
            out.write(event_json(record) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    for problem in result.problems:
        print(f"{args.inputs}: {problem}", file=sys.stderr)
    if args.receipt:
        for receipt in result.receipts:
            print(format_receipt(receipt, args.lang), file=sys.stderr)
    if args.kpis:
        from kiosk.core.kpis import KpiTracker

        kpis = KpiTracker()
        for record in result.events:
            kpis.observe(record)
        print(json.dumps(kpis.summary(), ensure_ascii=False), file=sys.stderr)
    print(
        f"{args.inputs}: {result.inputs_applied} inputs, {len(result.events)} events, "
        f"{len(result.receipts)} completed, {len(result.problems)} problem(s)",
        file=sys.stderr,
    )
    if args.publish:
        from backend_client.cli import EXIT_PENDING, flush_outbox

        pending, error = flush_outbox(
            args.data_dir, args.publish, kiosk_id=settings.kiosk_id, store=settings.store_id,
            timeout_s=args.publish_timeout,
        )  # fmt: skip
        if pending:
            print(
                f"{args.inputs}: {pending} event(s) not yet acknowledged by {args.publish}"
                f"{f' ({error})' if error else ''}; they stay in the outbox of {args.data_dir} "
                "(sco outbox flush)",
                file=sys.stderr,
            )
            return EXIT_PENDING
    return 1 if args.strict and result.problems else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from kiosk.demo.cli import cmd_demo as run_demo

    code = run_demo(args)
    if getattr(args, "replay", None) is None:
        # The lane has stopped and its journal is on disk. Skip the interpreter's teardown:
        # zxing-cpp's bindings print a page of "leaked" notices there that mean nothing
        # to a person watching the demo.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def cmd_engine(args: argparse.Namespace) -> int:
    """Headless lane: JSON-lines inputs on stdin, events on stdout, journaled in data dir."""
    settings, catalog = _load(args)
    engine = Engine(catalog, settings, args.data_dir)
    print(
        event_json(
            {
                "type": "engine_ready",
                "recovered_inputs": engine.recovered_inputs,
                "state": engine.checkout.state.value,
                "session_id": engine.checkout.session_id,
            }
        ),
        flush=True,
    )
    try:
        for lineno, raw in enumerate(sys.stdin, 1):
            if not raw.strip():
                continue
            try:
                item = input_from_dict(json.loads(raw))
            except (json.JSONDecodeError, InputFormatError) as err:
                print(f"stdin line {lineno}: {err}", file=sys.stderr, flush=True)
                continue
            for event in engine.submit(item):
                sys.stdout.write(event.to_json() + "\n")
            if args.ack:
                # Written after the input is committed: a driver knows it is durable.
                sys.stdout.write(event_json({"type": "ack", "line": lineno}) + "\n")
            sys.stdout.flush()
    finally:
        engine.close()
    return 0


def cmd_barcode(args: argparse.Namespace) -> int:
    settings, _ = _settings(args)
    rules = parse_embedded_rules(settings.embedded_rules, verifier=settings.embedded_price_verifier)
    status = 0
    for code in args.codes:
        try:
            parsed = parse_code(code, symbology=args.symbology, rules=rules)
        except BarcodeError as err:
            print(f"{code}: INVALID: {err}")
            status = 2
            continue
        fields = {k: v for k, v in vars(parsed).items() if v not in (None, False, "")}
        print(f"{code}: " + ", ".join(f"{k}={v}" for k, v in fields.items()))
    return status


def cmd_catalog_check(args: argparse.Namespace) -> int:
    catalog = load_catalog_file(args.csv)
    by_weight = sum(1 for p in catalog.products if p.sold_by.value == "weight")
    restricted = sum(1 for p in catalog.products if p.min_age)
    print(
        f"{args.csv}: OK: {len(catalog)} products ({by_weight} by weight, "
        f"{restricted} age-restricted)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sco", description="OpenSCO self-checkout kiosk")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="run the kiosk demo (simulated devices, no hardware)")
    from kiosk.demo.cli import register_arguments

    register_arguments(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("replay", help="re-run an input log through the core, write its events")
    p.add_argument("inputs", help="JSON-lines input log (docs/replay-format.md)")
    p.add_argument("--catalog", help="catalog CSV (default: examples/catalog.csv)")
    p.add_argument("--config", help="kiosk TOML config for the checkout rules")
    p.add_argument("--out", default="-", help="events file, one JSON event per line (- = stdout)")
    p.add_argument("--data-dir", help="also journal the replay (and fill the outbox) here")
    p.add_argument("--receipt", action="store_true", help="print receipts to stderr")
    p.add_argument("--lang", choices=("en", "zh"), default="en")
    p.add_argument("--strict", action="store_true", help="exit 1 if any line was rejected")
    p.add_argument(
        "--kpis", action="store_true", help="print loss-prevention KPIs (JSON) to stderr"
    )
    p.add_argument("--publish", metavar="URL", help="then publish the outbox to this broker")
    p.add_argument(
        "--publish-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds to wait for the broker (default 30; exit 3 if not drained)",
    )
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("engine", help="headless lane: inputs on stdin, events on stdout")
    p.add_argument("--data-dir", required=True, help="journal directory (survives restarts)")
    p.add_argument("--catalog", help="catalog CSV (default: examples/catalog.csv)")
    p.add_argument("--config", help="kiosk TOML config")
    p.add_argument("--ack", action="store_true", help="print an ack line after each input")
    p.set_defaults(func=cmd_engine)

    p = sub.add_parser("barcode", help="decode barcodes as the lane would (GS1 rules)")
    p.add_argument("codes", nargs="+")
    p.add_argument("--symbology", default="")
    p.add_argument("--config", help="kiosk TOML config (embedded-price rules)")
    p.set_defaults(func=cmd_barcode)

    p = sub.add_parser("catalog", help="catalog tools")
    csub = p.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)
    c = csub.add_parser("check", help="validate a catalog CSV (docs/catalog.md)")
    c.add_argument("csv")
    c.set_defaults(func=cmd_catalog_check)

    # Each package adds its own subcommands through a register(subparsers) function.
    for module in CLI_PLUGINS:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format=LOG_FORMAT,
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except KioskError as err:
        print(f"sco {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
