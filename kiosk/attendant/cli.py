"""``sco attendant``: the attendant's tablet app.

sco attendant --broker URL --store ID [--keyring DIR] [--tablet-id ID] [--attendant ID]
sco attendant enroll --attendant ID --key-id ID [--keyring DIR]   asks for the PIN twice
sco attendant --demo [--lanes N]           simulated kiosks on a private broker, demo PIN
sco attendant --training [--demo]         the tablet marked TRAINING (the demo lanes too)
sco attendant --demo --autoplay --screenshots DIR
                                           a scripted shift: sign in, approve an age check,
                                           clear a non-scan; exit 0 only if both lanes
                                           accepted and finished their sales
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from kiosk.errors import KioskError

DEFAULT_KEYRING = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / (
    "opensco/attendant-keyring"
)
AUTOPLAY_FAILED = 1


def register(sub: Any) -> None:
    p = sub.add_parser("attendant", help="the attendant's tablet app (lane map, alerts, actions)")
    p.add_argument("--broker", default=None,
                   help="store broker URL (mqtt:// or mqtts://...); default "
                        "mqtt://localhost:1883, or a private one with --demo")  # fmt: skip
    p.add_argument("--store", default=None, help="store id (default store-01; demo-store)")
    p.add_argument("--keyring", default=None,
                   help=f"the attendants' encrypted keys (default {DEFAULT_KEYRING})")  # fmt: skip
    p.add_argument("--tablet-id", default="tablet-01", help="this tablet's id (claims, logs)")
    p.add_argument("--attendant", default="", help="prefill the attendant id on sign-in")
    p.add_argument(
        "--demo",
        action="store_true",
        help="simulated kiosks with scripted shoppers (an age check, a non-scan)",
    )
    p.add_argument("--lanes", type=int, default=2, help="how many demo kiosks (default 2)")
    p.add_argument(
        "--autoplay",
        action="store_true",
        help="with --demo: play a scripted shift and exit (0 = both sales went on)",
    )
    p.add_argument("--screenshots", default=None, help="write a PNG of each screen passed here")
    p.add_argument("--timeout", type=float, default=180.0, help="autoplay time limit in s")
    p.add_argument("--no-sound", action="store_true", help="no chime on new alerts")
    p.add_argument("--training", action="store_true",
                   help="a trainee's tablet: TRAINING across every screen; with --demo the "
                   "demo lanes run in training mode (docs/training.md)")  # fmt: skip
    p.set_defaults(func=cmd_attendant)
    sub_p = p.add_subparsers(dest="attendant_command", metavar="enroll", required=False)
    e = sub_p.add_parser("enroll", help="make an attendant's signing key, sealed with a PIN")
    e.add_argument("--attendant", required=True, help="the attendant id it signs for (att-07)")
    e.add_argument("--key-id", required=True, help="the key's id in the kiosks' trust.toml")
    e.add_argument("--keyring", default=None, help=f"default {DEFAULT_KEYRING}")
    e.set_defaults(func=cmd_enroll)


def cmd_enroll(args: argparse.Namespace) -> int:
    """The PIN is asked twice on the terminal, never taken from the command line."""
    from kiosk.attendant.keyring import enroll_cli

    return enroll_cli(str(args.keyring or DEFAULT_KEYRING), args.attendant, args.key_id)


def cmd_attendant(args: argparse.Namespace) -> int:
    if args.autoplay and not args.demo:
        raise KioskError("--autoplay plays the demo shift: add --demo")
    if args.lanes < (2 if args.autoplay else 1):
        raise KioskError("--lanes must be at least 1 (2 for --autoplay)")
    need_display()
    if args.demo:
        return run_demo(args)
    from kiosk.attendant.app import AttendantApp

    store = args.store or "store-01"
    broker = args.broker or "mqtt://localhost:1883"
    app = AttendantApp(
        keyring_dir=Path(args.keyring) if args.keyring else DEFAULT_KEYRING,
        connect=client_factory(broker, store, args.tablet_id),
        store=store,
        tablet_id=args.tablet_id,
        attendant_id=args.attendant,
        chime=not args.no_sound,
        training=args.training,
    )
    app.run()
    return 0


def client_factory(broker: str, store: str, tablet_id: str) -> Any:
    """(signer, on_new_alert) -> a TabletClient for ``broker`` (connects on start)."""

    def connect(signer: Any, on_new_alert: Any) -> Any:
        from kiosk.attendant.client import TabletClient

        return TabletClient(broker, store, signer, tablet_id=tablet_id, on_new_alert=on_new_alert)

    return connect


def run_demo(args: argparse.Namespace) -> int:
    from kiosk.attendant.app import AttendantApp
    from kiosk.attendant.demo import DemoFloor

    floor = DemoFloor(broker=args.broker, lanes=args.lanes, store=args.store or "demo-store",
                      training=args.training)  # fmt: skip
    try:
        floor.start()
        print(f"sco attendant: {args.lanes} demo lanes on {floor.broker_url}, store "
              f"{floor.store}; sign in as {floor.attendant_id} with PIN {floor.pin}",
              file=sys.stderr, flush=True)  # fmt: skip
        app = AttendantApp(
            keyring_dir=floor.keyring_dir,
            connect=client_factory(str(floor.broker_url), floor.store, args.tablet_id),
            store=floor.store,
            tablet_id=args.tablet_id,
            attendant_id=args.attendant or floor.attendant_id,
            chime=not args.no_sound,
            training=args.training,
        )
        if args.autoplay:
            return autoplay(app, floor, args)
        # By hand: the scripted shoppers raise their alerts once the window is up.
        lanes = list(floor.lanes.values())
        floor.run_in_background(lanes[0].play_age_check, "age-check")
        if len(lanes) > 1:
            floor.run_in_background(lanes[1].play_non_scan, "non-scan")
        app.run()
        return 0
    finally:
        floor.stop()


def autoplay(app: Any, floor: Any, args: argparse.Namespace) -> int:
    from kiosk.attendant.autoplay import AttendantAutoplay

    shots = Path(args.screenshots) if args.screenshots else None
    result = AttendantAutoplay(app, floor, shots, timeout_s=args.timeout).run()
    print(json.dumps(result.figures), flush=True)
    for path in result.screenshots:
        print(f"screenshot: {path}", flush=True)
    if not result.completed:
        print(f"sco attendant: autoplay did not complete: {result.error}", file=sys.stderr)
        return AUTOPLAY_FAILED
    return 0


def need_display() -> None:
    """Kivy reads these at import; without a display there is no window to open."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")
    headless = not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")
    if sys.platform.startswith("linux") and headless:
        raise KioskError(
            "sco attendant needs a display (DISPLAY is not set); run it on the tablet or a "
            "desktop, or under Xvfb (e.g. xvfb-run -s '-screen 0 1280x800x24' sco attendant ...)"
        )
