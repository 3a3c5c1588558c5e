"""``sco demo``: the real lane, the real shopper app, a simulated shopper and devices.

What runs: :class:`kiosk.app.Lane` built from a demo config (a scanner lane: the Magellan
scanner-scale and the SICS bagging scale are simulators on ptys, the payment terminal
simulator on a pty, the camera reads the live-rendered scene through ``live:demo``, the
receipt printer writes to a file, MQTT only when a broker answers on localhost:1883), the
Kivy :class:`~kiosk.ui.app.ShopperApp` with the shopper-simulator panel beside it, and the
:class:`~kiosk.demo.world.DemoWorld` rendering the shopper's hands live.

``--autoplay`` plays a scripted purchase (``kiosk.demo.autoplay``) and exits 0 once the sale
completed; ``--replay [LOG]`` prints a replayed input log (the old text demo, no window).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.core.catalog import Catalog
from kiosk.core.events import Event, EventType
from kiosk.errors import KioskError
from kiosk.replay import DEFAULT_CATALOG, EXAMPLES_DIR, load_catalog_file

logger = logging.getLogger(__name__)

DEMO_SESSION = EXAMPLES_DIR / "sessions" / "plain-basket.jsonl"
DEFAULT_DATA_DIR = Path("var/demo/lane")
BROKER_HOST, BROKER_PORT = "127.0.0.1", 1883
PANEL_WIDTH = 320
SHOPPER_SIZE = (1280, 800)


def register_arguments(p: argparse.ArgumentParser) -> None:
    """The ``sco demo`` options (kiosk/cli.py calls this for its ``demo`` parser)."""
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="welcome screen language")
    p.add_argument(
        "--autoplay",
        action="store_true",
        help="play a scripted purchase, then exit (0 when the sale completed)",
    )
    p.add_argument("--screenshots", metavar="DIR", help="write a PNG of each screen passed here")
    p.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR),
                   help=f"the lane's journal and outbox (default {DEFAULT_DATA_DIR}; "
                   "emptied first unless --keep)")  # fmt: skip
    p.add_argument("--keep", action="store_true", help="keep the data dir of the last run")
    p.add_argument("--broker", default="auto",
                   help='MQTT broker: "auto" (localhost:1883 when it answers), "off", or '
                   "mqtt://HOST:PORT")  # fmt: skip
    p.add_argument("--fps", type=float, default=12.0, help="camera frames per second (12)")
    p.add_argument("--seed", type=int, default=3, help="scene seed (hands, light, bags)")
    p.add_argument("--no-photos", action="store_true", help="procedural packs only")
    p.add_argument(
        "--no-camera",
        action="store_true",
        help="no vision pipeline (the scene still drives the scales and scanner)",
    )
    p.add_argument("--no-panel", action="store_true", help="the shopper screen alone")
    p.add_argument("--training", action="store_true",
                   help="the lane in training mode: TRAINING on every screen and event, "
                   "nothing counted as a sale (docs/training.md)")  # fmt: skip
    p.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="autoplay gives up after this many seconds (exit 1)",
    )
    p.add_argument("--replay", nargs="?", const=str(DEMO_SESSION), metavar="LOG",
                   help="no window: replay an input log and print its sale (default: the "
                   "example basket)")  # fmt: skip
    p.add_argument("--session", help=argparse.SUPPRESS)  # the old name of --replay LOG


@dataclass
class EventLog:
    """Every core event, for the autoplay's waits and the panel's log (any thread)."""

    events: list[Event] = field(default_factory=list)
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=8))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, events: list[Event]) -> None:
        with self.lock:
            for e in events:
                self.events.append(e)
                if e.type.value in SHOWN_EVENTS:
                    self.recent.append(describe_event(e))

    def of(self, kind: EventType) -> list[Event]:
        with self.lock:
            return [e for e in self.events if e.type is kind]


SHOWN_EVENTS = {
    "item_added", "nudge_shown", "alert_raised", "alert_cleared", "mismatch_resolved",
    "age_approved", "payment_approved", "payment_declined", "transaction_completed",
    "lp_flagged",
}  # fmt: skip


def describe_event(e: Event) -> str:
    d = e.data
    detail = (
        d.get("line", {}).get("name_en")
        or d.get("nudge")
        or d.get("kind")
        or d.get("resolution")
        or d.get("reason")
        or ""
    )
    return f"{time.strftime('%H:%M:%S')} {e.type.value} {detail}".strip()


def broker_url(choice: str) -> str | None:
    """The broker to use: None for outbox only."""
    if choice == "off":
        return None
    if choice != "auto":
        return choice
    try:
        socket.create_connection((BROKER_HOST, BROKER_PORT), timeout=0.3).close()
    except OSError:
        return None
    return f"mqtt://{BROKER_HOST}:{BROKER_PORT}"


def demo_config_text(
    *, data_dir: Path, lang: str, scan_port: str, bagging_port: str, payment_port: str,
    camera: bool, broker: str | None, training: bool = False,
) -> str:  # fmt: skip
    """The lane's TOML: the real sections, pointed at the simulators."""
    mqtt = f'enabled = true\nbroker = "{broker}"' if broker else "enabled = false"
    return f"""
[kiosk]
id = "demo-01"
store = "demo-store"
default_language = "{lang}"
data_dir = "{data_dir}"
training = {"true" if training else "false"}

[checkout]
currency = "CNY"
camera_scans = false

[catalog]
path = "{DEFAULT_CATALOG}"

[scan_scale]
enabled = true
port = "{scan_port}"
protocol = "magellan"
poll_hz = 10
division_g = 5

[bagging_scale]
enabled = true
port = "{bagging_port}"
protocol = "sics"
poll_hz = 10
division_g = 5

[payment]
enabled = true
port = "{payment_port}"
timeout_s = 30

[printer]
enabled = true
url = "file:{data_dir / "receipts.bin"}"

[camera]
enabled = {"true" if camera else "false"}
url = "live:demo?timeout_s=10"

[mqtt]
{mqtt}
"""


class DemoRig:
    """World, simulators, lane and view-model, started and stopped together."""

    def __init__(self, args: argparse.Namespace, catalog: Catalog) -> None:
        from hardware.payment import PaymentTerminalSimulator
        from kiosk.demo.world import DemoWorld

        self.args = args
        self.catalog = catalog
        self.data_dir = Path(args.data_dir)
        self.log = EventLog()
        self.world = DemoWorld(catalog, seed=args.seed, fps=args.fps,
                               with_photos=not args.no_photos)  # fmt: skip
        self.payment = PaymentTerminalSimulator()
        self._own_payment = self.payment  # stopped by us; a training lane stops its own
        self.broker = broker_url(args.broker)
        self.lane: Any = None
        self.vm: Any = None

    def start(self) -> None:
        from kiosk.app import Lane
        from kiosk.config import parse_config_text
        from kiosk.core.inputs import Platform
        from kiosk.ui.viewmodel import ShopperViewModel

        if not self.args.keep and self.data_dir.exists():
            _empty_lane_dir(self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.world.start()
        self.payment.start()
        text = demo_config_text(
            data_dir=self.data_dir, lang=self.args.lang,
            scan_port=self.world.port(Platform.SCAN),
            bagging_port=self.world.port(Platform.BAGGING), payment_port=self.payment.port,
            camera=not self.args.no_camera, broker=self.broker,
            training=bool(getattr(self.args, "training", False)),
        )  # fmt: skip
        (self.data_dir / "demo.toml").write_text(text, encoding="utf-8")
        config = parse_config_text(text, "demo.toml")
        self.lane = Lane(config, catalog=self.catalog, on_events=self._on_events)
        training = config.sections["kiosk"]["training"]
        if training and self.lane.payment_sim is not None:
            self.payment = self.lane.payment_sim  # the terminal a training lane really pays on
        self.vm = ShopperViewModel(self.catalog, put=self.lane.put, clock=self.lane.clock,
                                   language=self.args.lang, training=training)  # fmt: skip
        self.lane.start()

    def _on_events(self, events: list[Event]) -> None:
        """Engine thread: the screen, the log, and the shopper taking sold produce off."""
        if self.vm is not None:
            self.vm.on_events(events)
        self.log.add(events)
        for e in events:
            if e.type is EventType.ITEM_ADDED and e.data.get("line", {}).get("weight_g"):
                self.world.release_produce()

    def preview(self) -> Any:
        """The camera preview: the frame vision processed last with the items it tracks
        there (the newest rendered frame when vision is off); returns at once."""
        from kiosk.ui.widgets.overlay import PreviewFrame, PreviewTrack

        view = getattr(getattr(self.lane, "vision", None), "latest_view", None)
        if view is not None:
            frame, tracks = view
            shown = [PreviewTrack(box, track_id, label) for box, track_id, label in tracks]
            return PreviewFrame(frame.image, self.world.zones(), shown)
        image = self.world.feed.latest()
        return None if image is None else PreviewFrame(image, self.world.zones())

    def stop(self) -> None:
        for step in (
            lambda: self.lane.stop() if self.lane is not None else None,
            self.world.stop,
            self._own_payment.stop,
        ):
            try:
                step()
            except Exception:  # shutting down: say it and go on
                logger.exception("demo: stopping failed")


# What a demo lane leaves in its data dir: anything else there is not ours to delete.
LANE_FILES = ("journal.sqlite3", "commands.sqlite3", "demo.toml", "receipts.bin", "kiosk.log")
LANE_DIRS = ("evidence", "snapshots")


def _empty_lane_dir(path: Path) -> None:
    """A fresh lane per run, without ever deleting a folder the demo did not make."""
    entries = list(path.iterdir())
    foreign = [
        e.name for e in entries
        if not (e.name.split("-")[0] in LANE_FILES or (e.is_dir() and e.name in LANE_DIRS))
    ]  # fmt: skip
    if foreign:
        raise KioskError(
            f"{path} holds files that are not a demo lane's ({', '.join(sorted(foreign)[:5])}); "
            "give another --data-dir, or --keep to use it as it is"
        )
    shutil.rmtree(path)


def cmd_demo(args: argparse.Namespace) -> int:
    replay = args.replay or args.session
    if replay:
        return replay_session(Path(replay), args.lang)
    _kivy_env()
    catalog = load_catalog_file(DEFAULT_CATALOG)
    rig = DemoRig(args, catalog)
    started = time.monotonic()
    try:
        rig.start()
    except Exception:
        rig.stop()
        raise
    print(f"sco demo: lane data in {rig.data_dir}; MQTT "
          f"{rig.broker or 'off (events stay in the outbox)'}", file=sys.stderr)  # fmt: skip
    from kiosk.demo.panel import DemoApp

    app = DemoApp(rig, panel=not args.no_panel, shopper_size=SHOPPER_SIZE,
                  panel_width=PANEL_WIDTH)  # fmt: skip
    try:
        if args.autoplay:
            from kiosk.demo.autoplay import Autoplay

            shots = Path(args.screenshots) if args.screenshots else None
            result = Autoplay(app, rig, shots, timeout_s=args.timeout).run()
            result.figures["wall_s"] = round(time.monotonic() - started, 1)
            print(json.dumps(result.figures), flush=True)
            for path in result.screenshots:
                print(f"screenshot: {path}", flush=True)
            if not result.completed:
                print(f"sco demo: autoplay did not complete: {result.error}", file=sys.stderr)
                return 1
            return 0
        if args.screenshots:
            app.screenshot_dir = Path(args.screenshots)
        app.run()
        return 0
    finally:
        rig.stop()


def _kivy_env() -> None:
    """Kivy reads these at import: no command-line parsing, quiet console, a clipboard
    that starts no helper process."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")
    headless = not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")
    if sys.platform.startswith("linux") and headless:
        raise KioskError(
            "sco demo needs a display (DISPLAY is not set); run it from a desktop, or "
            "./run.sh demo, which starts Xvfb and plays the purchase with --autoplay"
        )


def replay_session(session: Path, lang: str) -> int:
    """The text demo: replay an input log through the core and print its sale."""
    from kiosk.core.receipt import format_receipt
    from kiosk.core.settings import CoreSettings
    from kiosk.replay import replay_lines

    catalog = load_catalog_file(DEFAULT_CATALOG)
    try:
        with session.open(encoding="utf-8") as fh:
            result = replay_lines(fh, catalog, CoreSettings())
    except OSError as err:
        raise KioskError(f"cannot read {session}: {err.strerror or err}") from err
    print(f"Replaying {session.name}: {result.inputs_applied} inputs, {len(result.events)} events")
    for record in result.events:
        if record["type"] in ("item_added", "alert_raised", "nudge_shown", "input_rejected"):
            detail = (
                record.get("line", {}).get("name_en")
                if record["type"] == "item_added"
                else (record.get("kind") or record.get("nudge") or record.get("reason"))
            )
            print(f"  {record['ts']:>14}  {record['type']:<16} {detail}")
    for receipt in result.receipts:
        print()
        print(format_receipt(receipt, lang))
    return 0
