"""Ingest rate of the review store: events/s into SQLite vs PostgreSQL (no assertions).

    .venv/bin/python bench/review_store.py [--events N] [--postgres URL]

Events are a replayed lane session (examples/sessions/security-lane.jsonl) re-numbered into
N distinct events of one kiosk, so every ingest is a real insert with the seq bookkeeping and
flag extraction the listener does; one ``ingest_event`` per event, as messages arrive. Without
``--postgres`` (or ``OPENSCO_TEST_POSTGRES``) a private server is started (tests/pg_util.py:
fsync and synchronous_commit off, as in the tests; SQLite runs WAL with synchronous=NORMAL).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend_client.review_store import ReviewStore
from tests.review_util import lane_events


def payloads(count: int) -> list[bytes]:
    base = lane_events("lane-01")
    out = []
    for i in range(count):
        event = dict(base[i % len(base)])
        event.update(
            event_id=str(uuid.uuid4()), seq=i + 1, kiosk_id="lane-01", store_id="store-01",
            boot_id="bench", schema="opensco.event/1",
        )  # fmt: skip
        if "finding_id" in event:  # each copy of a flagged event is its own finding
            event["finding_id"] = f"F{i}"
        out.append(json.dumps(event, sort_keys=True, separators=(",", ":")).encode())
    return out


def rate(url: str, events: list[bytes]) -> tuple[float, int]:
    store = ReviewStore.open(url)
    try:
        t0 = time.perf_counter()
        for payload in events:
            store.ingest_event(payload)
        took = time.perf_counter() - t0
        flags = len(store.flags(viewer="bench"))
    finally:
        store.close()
    return len(events) / took, flags


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--postgres", default=os.environ.get("OPENSCO_TEST_POSTGRES"))
    args = ap.parse_args()
    events = payloads(args.events)
    server = None
    pg_base = args.postgres
    if not pg_base:
        from tests.pg_util import start_server

        server = start_server()
        if server is None:
            print("PostgreSQL is not installed; SQLite only")
        else:
            pg_base = server.url
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite_rate, flags = rate(str(Path(tmp) / "bench.sqlite3"), events)
        print(f"sqlite:     {sqlite_rate:8.0f} events/s  ({len(events)} events, {flags} flags)")
        if pg_base:
            import psycopg

            name = f"bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(pg_base, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                pg_rate, flags = rate(pg_base.rpartition("/")[0] + "/" + name, events)
            finally:
                with psycopg.connect(pg_base, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            print(f"postgresql: {pg_rate:8.0f} events/s  ({len(events)} events, {flags} flags)")
            print(f"ratio sqlite/postgresql: {sqlite_rate / pg_rate:.2f}")
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
