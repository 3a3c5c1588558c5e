"""``sco run``: a lane wired from its config; ``sco ui pin-hash``: the attendant PIN's hash.

sco run --config FILE                 the shopper screen in kiosk mode (real hardware)
sco run --config FILE --headless      no screen: events as JSON lines on stdout
sco run --config FILE --stdin         headless, plus JSON-lines inputs from stdin
sco run --config FILE --probe-only    run the start-up checks, print them, exit 0/1
sco run --config FILE --training      as [kiosk] training = true (docs/training.md)
sco ui pin-hash                       type a PIN twice; prints [kiosk_ui] attendant_pin_hash
"""

from __future__ import annotations

import argparse
import getpass
import json
import signal
import sys
import threading

from kiosk.config import KioskConfig
from kiosk.core.events import Event
from kiosk.core.inputs import input_from_dict
from kiosk.errors import ConfigError, InputFormatError

PROBES_FAILED = 1


def cmd_run(args: argparse.Namespace) -> int:
    if args.headless or args.stdin:
        return run_headless(args)
    from kiosk.cli import configure_logging

    config = _load(args)
    configure_logging(config.log_level, config.log_file, verbose=args.verbose)
    if args.probe_only:
        from kiosk.ui.probes import run_probes

        report = run_probes(config)
        print(json.dumps(report.to_dict()))
        for line in (r.line() for r in report.results):
            print(line, file=sys.stderr)
        return 0 if report.ok else PROBES_FAILED
    return run_kiosk(config, windowed=args.windowed)


def run_kiosk(config: KioskConfig, *, windowed: bool = False) -> int:
    """The shopper screen until the attendant leaves with the PIN, or SIGTERM."""
    from kiosk.ui.kiosk_mode import KioskMode

    kiosk = KioskMode(config, fullscreen=False if windowed else None)
    report = kiosk.prepare()
    print(json.dumps({**report.to_dict(), "out_of_service": kiosk.reason()}), file=sys.stderr,
          flush=True)  # fmt: skip
    app = kiosk.make_app()

    def stop(*_args: object) -> None:
        from kivy.clock import Clock

        Clock.schedule_once(lambda _dt: app.stop(), 0)  # the UI thread ends the loop

    signal.signal(signal.SIGTERM, stop)
    try:
        app.run()
    finally:
        health = kiosk.lane.health() if kiosk.lane is not None else {}
        kiosk.close()
    left = "pin" if kiosk.exited.is_set() else "signal"
    print(json.dumps({"type": "lane_stopped", "left_by": left, "health": health}),
          file=sys.stderr)  # fmt: skip
    return 0


def _load(args: argparse.Namespace) -> KioskConfig:
    from kiosk.config import load_config
    from kiosk.training.mode import with_training

    return with_training(load_config(args.config), bool(getattr(args, "training", False)))


def run_headless(args: argparse.Namespace) -> int:
    from kiosk.app import Lane

    config = _load(args)
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


def cmd_pin_hash(args: argparse.Namespace) -> int:
    from kiosk.ui.pin import make_pin_hash

    if args.pin_stdin:
        pin = sys.stdin.readline().strip()
    else:
        pin = getpass.getpass("attendant PIN (4-12 digits): ")
        if getpass.getpass("again: ") != pin:
            raise ConfigError("the two PINs differ; nothing was printed")
    print(make_pin_hash(pin))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "run", help="run the lane from its config: shopper screen in kiosk mode, or --headless"
    )
    p.add_argument("--config", required=True, help="kiosk TOML config")
    p.add_argument("--headless", action="store_true", help="no screen: events on stdout")
    p.add_argument(
        "--stdin", action="store_true", help="headless, and read JSON-lines inputs from stdin"
    )
    p.add_argument(
        "--probe-only",
        action="store_true",
        help="check the devices as at start-up, print the results, exit 1 if a required one fails",
    )
    p.add_argument(
        "--windowed", action="store_true", help="a window instead of full screen (set-up, tests)"
    )
    p.add_argument(
        "--training",
        action="store_true",
        help="training mode, as [kiosk] training = true: simulated payment only, every event "
        "and screen marked TRAINING, nothing counted as a sale (docs/training.md)",
    )
    p.set_defaults(func=cmd_run)

    u = subparsers.add_parser("ui", help="shopper screen tools: the attendant PIN's hash")
    usub = u.add_subparsers(dest="ui_command", metavar="ACTION", required=True)
    h = usub.add_parser("pin-hash", help="print the [kiosk_ui] attendant_pin_hash for a PIN")
    h.add_argument("--pin-stdin", action="store_true", help="read the PIN from stdin (scripts)")
    h.set_defaults(func=cmd_pin_hash)
