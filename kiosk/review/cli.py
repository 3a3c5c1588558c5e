"""``sco review``: the loss-prevention review store from a terminal, or its window.

    sco review --db URL                       the review app (window)
    sco review list --db URL [--json] [filters]
    sco review show FLAG_ID --db URL [--json]
    sco review label FLAG_ID confirmed_loss|false_alarm --note TEXT --reviewer ID --db URL
    sco review precision --db URL [--json] [--bucket day|week|month]
    sco review export --db URL --csv FILE | --html FILE
    sco review purge --db URL
    sco review log --db URL                   the access log

Every list, detail, snapshot and export is written to the access log with ``--viewer``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from kiosk.errors import KioskError

DB_HELP = "the review store: a SQLite file (or sqlite:///PATH) or postgresql://USER@HOST/DB"


def _ts(text: str) -> float:
    """A date (2026-01-03), a date and time (2026-01-03T10:00, UTC unless it says) or Unix s."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (YYYY-MM-DD[THH:MM]) or Unix seconds"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _viewer(args: argparse.Namespace) -> str:
    if args.viewer:
        return str(args.viewer)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}"


def _filter(args: argparse.Namespace) -> Any:
    from backend_client.review_store import FlagFilter

    try:
        return FlagFilter(
            store_id=args.store, kiosk_id=args.lane, since_ts=args.since, until_ts=args.until,
            reason=args.reason, severity=args.severity, label=args.label, limit=args.limit,
        )  # fmt: skip
    except ValueError as err:
        raise KioskError(str(err)) from err


def _open(args: argparse.Namespace) -> Any:
    from backend_client.review_store import RetentionPolicy, ReviewStore

    if not getattr(args, "db", None):
        raise KioskError("--db URL is required (a SQLite file or postgresql://...)")
    retention = None
    if getattr(args, "short_days", None) is not None:
        retention = RetentionPolicy(args.short_days * 86400, args.case_days * 86400)
    return ReviewStore.open(args.db, retention)


def cmd_gui(args: argparse.Namespace) -> int:
    try:
        from kiosk.review.app import run_review_app
    except ImportError as err:
        print(
            f"sco review: the review window is not available ({err}); the subcommands "
            "list, show, label, precision, export, purge and log work without it",
            file=sys.stderr,
        )
        return 2
    store = _open(args)
    try:
        extra: dict[str, Any] = {}
        if args.screenshots:
            extra["screenshots"] = Path(args.screenshots)
        if args.autoplay:
            extra["autoplay"] = True
        return int(run_review_app(store, viewer=_viewer(args), **extra))
    finally:
        store.close()


def cmd_list(args: argparse.Namespace) -> int:
    with _open(args) as store:
        rows = store.flags(_filter(args), viewer=_viewer(args))
    for row in rows:
        if args.json:
            print(json.dumps(row.to_json(), sort_keys=True, ensure_ascii=False), flush=True)
        else:
            label = row.label or "-"
            print(
                f"{row.flag_id}  {row.to_json()['time']}  {row.store_id}/{row.kiosk_id}  "
                f"{row.reason:<18} {row.severity:<6} {row.outcome:<5} {label:<14} "
                f"snaps={len(row.snap_ids)}"
            )
    if not args.json:
        print(f"{len(rows)} flag(s)", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with _open(args) as store:
        try:
            detail = store.detail(args.flag_id, viewer=_viewer(args))
        except KeyError:
            raise KioskError(f"no flag {args.flag_id!r}") from None
    body = detail.to_json()
    if args.json:
        print(json.dumps(body, sort_keys=True, ensure_ascii=False))
        return 0
    flag = body["flag"]
    print(f"flag {flag['flag_id']}: {flag['reason']} ({flag['severity']}, {flag['outcome']})")
    print(f"  {flag['time']}  {flag['store_id']}/{flag['kiosk_id']}  session {flag['session_id']}")
    print(f"  label: {flag['label'] or 'unlabelled'} {flag['note']!r}")
    for snap in body["snapshots"]:
        state = "present" if snap["present"] else "purged or missing"
        print(f"  snapshot {snap['snap_id']}: {snap['size']} bytes, {state}")
    for w in body["weights"]:
        grams = ", ".join(f"{k}={v}" for k, v in w.items() if k.endswith("_g"))
        print(f"  weight seq {w['seq']} {w['type']}: {grams}")
    for event in body["timeline"]:
        print(f"  seq {event.get('seq')} {event.get('type')}")
    if body["receipt"]:
        print(f"  receipt total_minor {body['receipt'].get('total_minor')}")
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    with _open(args) as store:
        try:
            row = store.label(args.flag_id, args.label, args.note, reviewer=args.reviewer)
        except KeyError:
            raise KioskError(f"no flag {args.flag_id!r}") from None
        except ValueError as err:
            raise KioskError(str(err)) from err
    print(f"{row.flag_id}: {row.label} by {row.labelled_by}")
    return 0


def cmd_precision(args: argparse.Namespace) -> int:
    with _open(args) as store:
        points = store.precision(_filter(args), bucket=args.bucket)
    for p in points:
        if args.json:
            print(json.dumps(p.to_json(), sort_keys=True))
        else:
            shown = f"{p.precision:.2f}" if p.precision is not None else "-"
            print(
                f"{p.to_json()['bucket']}  {p.reason:<18} precision {shown:>4}  "
                f"confirmed {p.confirmed}  false alarms {p.false_alarms}  "
                f"unlabelled {p.unlabelled}"
            )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with _open(args) as store:
        f = _filter(args)
        if args.csv:
            with open(args.csv, "w", encoding="utf-8", newline="") as out:
                n = store.export_csv(f, out, viewer=_viewer(args))
            print(f"wrote {n} flag(s) to {args.csv}", file=sys.stderr)
        else:
            Path(args.html).write_text(store.report_html(f, viewer=_viewer(args)), "utf-8")
            print(f"wrote the report to {args.html}", file=sys.stderr)
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    with _open(args) as store:
        n = store.purge_expired()
    print(f"purged {n} snapshot image(s) past retention")
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    with _open(args) as store:
        entries = store.access_log(args.limit)
    for entry in entries:
        print(json.dumps(entry, sort_keys=True))
    return 0


def _db(p: argparse.ArgumentParser, default: Any = argparse.SUPPRESS) -> None:
    # SUPPRESS on the subcommands: `sco review --db X list` and `sco review list --db X`.
    p.add_argument("--db", default=default, help=DB_HELP)
    p.add_argument("--viewer", default=default, help="who is looking (the access log; "
                   "default: the login name)")  # fmt: skip


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="one store id")
    p.add_argument("--lane", help="one kiosk id")
    p.add_argument("--since", type=_ts, help="from this date/time (UTC) or Unix seconds")
    p.add_argument("--until", type=_ts, help="before this date/time (UTC) or Unix seconds")
    p.add_argument("--reason", help="e.g. non_scan, ticket_switch, weight_mismatch")
    p.add_argument("--severity", choices=("low", "medium", "high"))
    p.add_argument("--label", choices=("confirmed_loss", "false_alarm", "unlabelled"))
    p.add_argument("--limit", type=int, default=500, help="at most this many (default 500)")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``review`` to ``sco``."""
    p = subparsers.add_parser("review", help="loss-prevention review of flagged events")
    _db(p, default=None)
    p.add_argument("--screenshots", help="the window writes PNGs of its screens here")
    p.add_argument("--autoplay", action="store_true", help="walk every screen, then close")
    p.set_defaults(func=cmd_gui)
    sub = p.add_subparsers(dest="review_command", metavar="ACTION")

    c = sub.add_parser("list", help="flagged events, newest first")
    _db(c)
    _filters(c)
    c.add_argument("--json", action="store_true", help="one JSON object per line")
    c.set_defaults(func=cmd_list)

    c = sub.add_parser("show", help="one flag: timeline, weights, snapshots, receipt")
    c.add_argument("flag_id")
    _db(c)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_show)

    c = sub.add_parser("label", help="label a flag confirmed_loss or false_alarm")
    c.add_argument("flag_id")
    c.add_argument("label", choices=("confirmed_loss", "false_alarm"))
    c.add_argument("--note", default="", help="why (kept with the label)")
    c.add_argument("--reviewer", required=True, help="who decided")
    _db(c)
    c.set_defaults(func=cmd_label)

    c = sub.add_parser("precision", help="confirmed / (confirmed + false alarms) by reason")
    _db(c)
    _filters(c)
    c.add_argument("--bucket", choices=("day", "week", "month"), default="week")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_precision)

    c = sub.add_parser("export", help="flags as CSV, or an HTML report with the chart")
    _db(c)
    _filters(c)
    out = c.add_mutually_exclusive_group(required=True)
    out.add_argument("--csv", help="write CSV here")
    out.add_argument("--html", help="write a self-contained HTML report here")
    c.set_defaults(func=cmd_export)

    from backend_client.cli import retention_args

    c = sub.add_parser("purge", help="delete snapshot images past retention")
    _db(c)
    retention_args(c)
    c.set_defaults(func=cmd_purge)

    c = sub.add_parser("log", help="the access log, newest first (JSON lines)")
    _db(c)
    c.add_argument("--limit", type=int, default=100)
    c.set_defaults(func=cmd_log)
