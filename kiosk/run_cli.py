"""`sco run`: a headless lane wired from its config (devices, journal, backend link)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from kiosk.core.events import Event
from kiosk.core.inputs import input_from_dict
from kiosk.errors import InputFormatError


def cmd_run(args: argparse.Namespace) -> int:
    from kiosk.app import Lane
    from kiosk.config import load_config

    config = load_config(args.config)
    lock = threading.Lock()

    def print_events(events: list[Event]) -> None:
        with lock:
            for event in events:
                sys.stdout.write(event.to_json() + "\n")
            sys.stdout.flush()

    lane = Lane(config, on_events=print_events)
    lane.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        if args.stdin:
            # Integrators and tests drive the lane with the replay format on stdin.
            for lineno, raw in enumerate(sys.stdin, 1):
                if not raw.strip():
                    continue
                try:
                    lane.put(input_from_dict(json.loads(raw)))
                except (json.JSONDecodeError, InputFormatError) as err:
                    print(f"stdin line {lineno}: {err}", file=sys.stderr, flush=True)
        else:
            done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        lane.stop()
        health = lane.health()
    print(json.dumps({"type": "lane_stopped", "health": health}), file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("run", help="run a headless lane from its config (devices + journal)")
    p.add_argument("--config", required=True, help="kiosk TOML config")
    p.add_argument("--stdin", action="store_true", help="also read JSON-lines inputs from stdin")
    p.set_defaults(func=cmd_run)
