"""``sco outbox flush|status`` and ``sco backend listen``."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import threading
import time
from pathlib import Path
from typing import Any

from backend_client import config as _config  # registers [mqtt] before any config loads
from backend_client.client import KioskLink
from backend_client.contract import TopicTree
from backend_client.receiver import BackendListener, Gap, IngestResult, ReplaySigner
from backend_client.relay import OutboxRelay, disk_alarm
from kiosk.core.settings import CoreSettings
from kiosk.engine import JOURNAL_FILE
from kiosk.errors import BackendError
from kiosk.journal import Journal

EXIT_PENDING = 3
_MQTT_DEFAULTS = _config.MQTT_SECTION.defaults()


def flush_outbox(
    data_dir: str | Path,
    broker: str,
    *,
    kiosk_id: str,
    store: str,
    prefix: str = "opensco",
    timeout_s: float = 30.0,
    window: int = 100,
) -> tuple[int, str]:
    """Publish every pending outbox row; returns (rows still pending, last link error)."""
    path = journal_path(data_dir)
    link = KioskLink(broker, TopicTree(store, kiosk_id, prefix), backoff_s=(0.2, 2.0))
    relay = OutboxRelay(link, path, window=window)
    link.start()
    try:
        relay.idle.wait(timeout_s)
    finally:
        link.stop()
    with _open(path) as journal:
        return journal.outbox_count(pending_only=True), link.health.last_error


def journal_path(data_dir: str | Path) -> Path:
    path = Path(data_dir) / JOURNAL_FILE
    if not path.exists():
        raise BackendError(f"no journal in {data_dir} (expected {path})")
    return path


class _open:
    """A journal connection for the calling thread, closed on exit."""

    def __init__(self, path: Path) -> None:
        self.journal = Journal(path)

    def __enter__(self) -> Journal:
        return self.journal

    def __exit__(self, *_exc: object) -> None:
        self.journal.close()


def _identity(args: argparse.Namespace) -> tuple[str, str, dict[str, Any]]:
    """Kiosk id, store and [mqtt] values: command line over --config over defaults."""
    mqtt_values = dict(_MQTT_DEFAULTS)
    kiosk, store = CoreSettings.kiosk_id, CoreSettings.store_id
    if getattr(args, "config", None):
        from kiosk.config import load_config

        cfg = load_config(args.config)
        kiosk, store = cfg.kiosk_id, cfg.store_id
        mqtt_values.update(cfg.sections["mqtt"])
    return args.kiosk or kiosk, args.store or store, mqtt_values


def cmd_flush(args: argparse.Namespace) -> int:
    kiosk, store, values = _identity(args)
    broker = args.broker or values["broker"]
    pending, error = flush_outbox(
        args.data_dir, broker, kiosk_id=kiosk, store=store, prefix=values["prefix"],
        timeout_s=args.timeout, window=args.window,
    )  # fmt: skip
    if pending:
        why = f" ({error})" if error else ""
        print(f"outbox: {pending} event(s) still pending after {args.timeout:g} s{why}")
        return EXIT_PENDING
    print("outbox: drained, nothing pending")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    _kiosk, _store, values = _identity(args)
    budget = int((args.budget_mb or values["budget_mb"]) * 1_000_000)
    with _open(journal_path(args.data_dir)) as journal:
        pending = journal.outbox_count(pending_only=True)
        kept = journal.outbox_count() - pending
        oldest = journal.outbox_oldest_pending_ts()
        last_seq = journal.outbox_last_seq()
        disk = journal.disk_bytes()
    print(f"outbox {args.data_dir}")
    line = f"  pending: {pending} event(s)"
    if oldest is not None:
        when = dt.datetime.fromtimestamp(oldest / 1000, dt.UTC).isoformat(timespec="seconds")
        line += f", oldest from {when} ({max(0, time.time() - oldest / 1000):.0f} s ago)"
    print(line)
    print(f"  sent, kept for replay requests: {kept} event(s); last seq {last_seq}")
    share = 100 * disk / budget
    print(f"  disk: {disk / 1e6:.1f} MB of a {budget / 1e6:.0f} MB budget ({share:.0f}%)")
    alarm = disk_alarm(disk, budget, values["alarm_fraction"])
    if alarm:
        print(f"  ALARM: {alarm}")
        print(f"sco outbox status: ALARM: {alarm}", file=sys.stderr)
    return 0


def cmd_listen(args: argparse.Namespace) -> int:
    from backend_client.review_store import RetentionPolicy, ReviewStore

    retention = RetentionPolicy(short_s=args.short_days * 86400, case_s=args.case_days * 86400)
    store = ReviewStore.open(args.db, retention)
    receiver = store.receiver
    done = threading.Event()
    new = 0

    def report(kind: str, item: IngestResult | Gap) -> None:
        nonlocal new
        if isinstance(item, Gap):
            print(f"gap {item.kiosk_id} seq {item.from_seq}..{item.to_seq}", flush=True)
            return
        if kind == "snapshot":
            if not args.quiet or item.status == "invalid":
                why = f" ({item.problem})" if item.problem else ""
                print(f"snapshot {item.status} {item.kiosk_id} {item.event_id}{why}", flush=True)
            return
        if kind == "new":
            new += 1
        if not args.quiet or kind == "invalid":
            detail = item.problem or f"{item.kiosk_id} seq {item.seq} {item.type} {item.event_id}"
            print(f"{kind} {detail}", flush=True)
        if args.count and new >= args.count:
            done.set()

    signer = None
    if args.replay_key:
        if not args.key_id:
            store.close()
            raise BackendError("--replay-key needs --key-id (the name kiosks trust it under)")
        signer = ReplaySigner(args.replay_key, args.key_id)
    listener = BackendListener(
        args.broker, receiver, prefix=args.prefix, store=args.store, share=args.share,
        client_id=args.client_id, signer=signer, report=report,
        snapshots=store.ingest_snapshot,
    )  # fmt: skip
    purger = threading.Thread(
        target=_purge_loop, args=(store, args.purge_every, done), name="listen-purge", daemon=True
    )
    purger.start()
    listener.start()
    try:
        done.wait(args.timeout if args.timeout > 0 else None)
    finally:
        done.set()
        listener.stop()
        purger.join(timeout=30)
    total = receiver.count()
    where = store.db.url.redacted()
    store.close()
    print(f"listen: {new} new event(s) this run, {total} stored in {where}", file=sys.stderr)
    return 0 if not args.count or new >= args.count else EXIT_PENDING


def _purge_loop(store: Any, every_s: float, stop: threading.Event) -> None:
    """Snapshot retention holds while the listener runs: purge now, then every ``every_s``."""
    while True:
        try:
            purged = store.purge_expired()
            if purged:
                print(f"purged {purged} snapshot image(s) past retention", flush=True)
        except Exception as err:  # a database hiccup must not stop the listener
            print(f"listen: purge failed: {err}", file=sys.stderr, flush=True)
        if stop.wait(max(1.0, every_s)):
            return


def _identity_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="kiosk TOML config (kiosk id, store, [mqtt])")
    p.add_argument("--kiosk", help="kiosk id (default: the config's, else lane-01)")
    p.add_argument("--store", help="store id (default: the config's, else store-01)")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``outbox`` and ``backend`` to ``sco``."""
    p = subparsers.add_parser("outbox", help="the backend outbox: what waits, publish it")
    osub = p.add_subparsers(dest="outbox_command", metavar="ACTION", required=True)
    c = osub.add_parser("flush", help="publish every pending event; exit 0 only when drained")
    c.add_argument("--data-dir", required=True, help="the lane's data directory")
    c.add_argument("--broker", help="mqtt://HOST:PORT or mqtts://HOST:PORT?ca=..&cert=..&key=..")
    c.add_argument("--timeout", type=float, default=30.0, help="seconds to try (default 30)")
    c.add_argument("--window", type=int, default=100, help="unacknowledged publishes at most")
    _identity_args(c)
    c.set_defaults(func=cmd_flush)
    c = osub.add_parser("status", help="pending events, retained events, disk budget")
    c.add_argument("--data-dir", required=True, help="the lane's data directory")
    c.add_argument("--budget-mb", type=float, help="disk budget (default: [mqtt] budget_mb)")
    _identity_args(c)
    c.set_defaults(func=cmd_status)

    p = subparsers.add_parser("backend", help="reference backend tools")
    bsub = p.add_subparsers(dest="backend_command", metavar="ACTION", required=True)
    c = bsub.add_parser("listen", help="receive, dedup and store kiosk events; ask for replays")
    c.add_argument("--broker", required=True, help="mqtt://HOST:PORT or mqtts://…")
    c.add_argument(
        "--db", required=True,
        help="the review store: a SQLite file (or sqlite:///PATH) or postgresql://USER@HOST/DB",
    )  # fmt: skip
    c.add_argument("--prefix", default="opensco")
    c.add_argument("--store", default="+", help="one store, or + for all (default)")
    c.add_argument("--share", default="", help="shared-subscription group ($share/GROUP/…)")
    c.add_argument("--client-id", default="", help="named listeners keep their session")
    c.add_argument("--replay-key", help="Ed25519 private key (PEM) to sign replay requests")
    c.add_argument("--key-id", help="the key's name in the kiosks' trust_dir")
    c.add_argument("--count", type=int, default=0, help="exit after N new events")
    c.add_argument("--timeout", type=float, default=0, help="exit after S seconds (0: never)")
    c.add_argument("--quiet", action="store_true", help="print only gaps and invalid events")
    c.add_argument("--purge-every", type=float, default=600, help="seconds between snapshot "
                   "retention purges (default 600)")  # fmt: skip
    retention_args(c)
    c.set_defaults(func=cmd_listen)


def retention_args(p: argparse.ArgumentParser) -> None:
    """Snapshot retention (docs/review.md): how long image bytes are kept."""
    p.add_argument(
        "--short-days",
        type=float,
        default=7.0,
        help="keep images that are not flag evidence this long (default 7)",
    )
    p.add_argument("--case-days", type=float, default=30.0,
                   help="keep flag evidence, retention_class=case (default 30)")  # fmt: skip
