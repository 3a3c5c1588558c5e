"""Alert latency from a kiosk's event to the attendant tablet's screen, with N lanes.

Run (needs a display; Xvfb is fine):
    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python bench/attendant_latency.py --lanes 20

The real path: N headless lanes (real cores, journals, outbox relays and MQTT links) on a
private mosquitto; a shopper presses "help" on a lane → the core raises the alert → the
engine thread's listener sees the event (t0) → journal outbox → relay → broker → the
tablet's TabletClient folds it (t1) → Clock hop → the queue screen shows it → the frame is
flipped (t2). Printed: t1 - t0 (network and fold) and t2 - t0 (on screen), for
  * one lane at a time (the baseline: nothing else is happening on the floor), and
  * all N lanes calling at the same moment (a burst),
with the burst/baseline ratio. Software GL under Xvfb on a shared 2-core machine: compare
ratios, not the milliseconds, with a tablet.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(name: str, ms: Sequence[float]) -> str:
    return (
        f"{name:<34} n={len(ms):<4} median {statistics.median(ms):7.1f} ms   "
        f"p90 {pct(ms, 0.9):7.1f} ms   max {max(ms):7.1f} ms"
    )


class Stamps:
    """When each alert was raised on its lane (t0), folded by the tablet (t1), flipped (t2)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.raised: dict[str, float] = {}
        self.folded: dict[str, float] = {}
        self.flipped: dict[str, float] = {}

    def lane_listener(self, kiosk_id: str, inner: Any) -> Any:
        def on_events(events: list[Any]) -> None:  # the lane's engine thread
            now = time.monotonic()
            with self.lock:
                for e in events:
                    if e.type.value == "alert_raised":
                        self.raised.setdefault(f"{kiosk_id}/{e.data['alert_id']}", now)
            inner(events)

        return on_events

    def on_floor(self, floor: Any) -> None:  # the tablet's MQTT thread
        now = time.monotonic()
        with self.lock:
            for alert in floor.alerts:
                self.folded.setdefault(alert.key, now)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lanes", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2, help="bursts (and baseline passes)")
    args = ap.parse_args()
    if not os.environ.get("DISPLAY"):
        print("needs a display: run under xvfb-run", file=sys.stderr)
        return 2

    from kivy.core.window import Window

    from kiosk.app import Lane
    from kiosk.attendant import demo
    from kiosk.attendant.app import AttendantApp
    from kiosk.attendant.cli import client_factory
    from kiosk.core.inputs import AttendantCommand, ShopperAction

    stamps = Stamps()
    # Each demo lane's engine listener also stamps its alerts (the lanes are built in start()).
    original_lane = Lane

    def stamped_lane(config: Any, *, on_events: Any, **kw: Any) -> Any:
        return original_lane(config, on_events=stamps.lane_listener(config.kiosk_id, on_events),
                             **kw)  # fmt: skip

    demo_module: Any = sys.modules["kiosk.app"]
    demo_module.Lane = stamped_lane
    floor = demo.DemoFloor(lanes=args.lanes)
    t_start = time.monotonic()
    floor.start()
    demo_module.Lane = original_lane
    assert floor.wait_linked(60), "the lanes did not connect"
    print(f"{args.lanes} lanes linked in {time.monotonic() - t_start:.1f} s")

    app = AttendantApp(
        keyring_dir=floor.keyring_dir,
        connect=client_factory(str(floor.broker_url), floor.store, "tablet-bench"),
        store=floor.store, chime=False,
    )  # fmt: skip
    app.start_embedded()
    original_flip = Window.flip

    def flip_and_stamp() -> None:
        original_flip()
        now = time.monotonic()
        with stamps.lock:
            for key in app.first_painted:
                stamps.flipped.setdefault(key, now)

    Window.flip = flip_and_stamp
    try:
        assert app.sign_in(floor.attendant_id, floor.pin), "sign-in failed"
        assert app.client is not None
        app.client.subscribe(stamps.on_floor)
        app.pump(lambda: len(app.floor.lanes if app.floor else ()) == args.lanes, 30)
        app.show_screen("queue")
        lanes = list(floor.lanes.values())

        def call_help(sim: Any) -> None:
            sim.put(ShopperAction(sim.now(), "request_help", {"reason": "bench"}))

        def clear_all() -> None:
            app.pump(lambda: not stamps.raised.keys() - stamps.flipped.keys(), 60)
            for sim in lanes:
                for alert in sim.of("alert_raised"):
                    sim.put(AttendantCommand(sim.now(), "clear", "bench",
                                             {"alert_id": alert["alert_id"]}))  # fmt: skip
            app.pump(lambda: app.floor is not None and not app.floor.alerts, 60)

        def latencies(keys: set[str]) -> tuple[list[float], list[float]]:
            with stamps.lock:
                fold = [1000 * (stamps.folded[k] - stamps.raised[k]) for k in keys]
                shown = [1000 * (stamps.flipped[k] - stamps.raised[k]) for k in keys]
            return fold, shown

        base_keys: set[str] = set()
        burst_keys: set[str] = set()
        for _round in range(args.rounds):
            for sim in lanes:  # baseline: one lane calls, the tablet shows it, next lane
                before = set(stamps.raised)
                call_help(sim)
                app.pump(lambda b=before: set(stamps.flipped) - b, 20)
                app.pump(frames=3)
                base_keys |= set(stamps.flipped) - before
            clear_all()
            before = set(stamps.raised)
            for sim in lanes:  # burst: every lane calls at once
                call_help(sim)
            app.pump(lambda b=before: len(set(stamps.flipped) - b) >= len(lanes), 60)
            burst_keys |= set(stamps.flipped) - before
            clear_all()

        base_fold, base_shown = latencies(base_keys)
        burst_fold, burst_shown = latencies(burst_keys)
        print(summary("baseline: event -> tablet fold", base_fold))
        print(summary("baseline: event -> on screen", base_shown))
        print(summary(f"burst x{args.lanes}: event -> tablet fold", burst_fold))
        print(summary(f"burst x{args.lanes}: event -> on screen", burst_shown))
        ratio = statistics.median(burst_shown) / statistics.median(base_shown)
        print(f"on-screen median, burst / baseline: {ratio:.2f}x")
    finally:
        Window.flip = original_flip
        app.close_embedded()
        floor.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
