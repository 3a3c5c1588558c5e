"""``sco audit export``: a lane's audit trail (commands, overrides, PIN exits, sign-ins)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from kiosk.config import load_config
from kiosk.errors import KioskError
from kiosk.ops.audit import collect, to_csv, to_json


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="export a lane's audit trail",
        description="Export every signed command, attendant override, kiosk PIN exit and "
        "tablet sign-in recorded for a lane, oldest first.",
    )
    verbs = parser.add_subparsers(dest="audit_verb", required=True)
    export = verbs.add_parser("export", help="print the audit trail as JSON or CSV")
    export.add_argument("--config", required=True, help="the lane's TOML configuration file")
    export.add_argument("--since", help="only events at or after this ISO time (UTC if no zone)")
    export.add_argument(
        "--tablet-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a tablet's keyring folder (its audit.jsonl); may be repeated",
    )
    fmt = export.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON array (the default)")
    fmt.add_argument("--csv", action="store_true", help="CSV with a header row")
    export.set_defaults(func=run_export)


def parse_since(text: str | None) -> int:
    """Milliseconds since the epoch for an ISO 8601 time; ValueError with the reason."""
    if not text:
        return 0
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since {text!r} is not an ISO time like 2026-01-31T08:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def run_export(args: argparse.Namespace) -> int:
    try:
        since_ms = parse_since(args.since)
        config = load_config(args.config)
        events = collect(config.data_dir, args.tablet_dir, since_ms)
    except (ValueError, KioskError) as err:
        print(f"sco audit export: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(to_csv(events) if args.csv else to_json(events))
    return 0
