"""Time from a scanner input to the first frame on screen that shows the item.

Run (needs a display; Xvfb is fine):
    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python bench/ui_latency.py --scans 30

The real path: a BarcodeRead is put on the EngineThread's queue (as the scanner adapter
does) → core → view-model (engine thread) → Clock.schedule_once → the scanning screen is
updated → the frame is drawn and flipped (``Window.on_flip``, counted by the app). Printed
against two baselines measured in the same run and window:
  * hop: a background thread schedules a one-label change (the Kivy thread hop + a frame,
    with no core, view-model or screen work) → its flip;
  * frame: the interval between consecutive empty frames (a redraw asked, nothing new).
Software GL under Xvfb is slower than a kiosk's GPU; compare the ratios, not the ms.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WATER = "6902974302088"


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(name: str, ms: Sequence[float]) -> str:
    return (
        f"{name:<28} n={len(ms):<4} median {statistics.median(ms):7.2f} ms   "
        f"p95 {pct(ms, 0.95):7.2f} ms   max {max(ms):7.2f} ms"
    )


class Flips:
    """Waits for the first flip at which ``ready()`` holds; returns its perf_counter time."""

    def __init__(self, app: object) -> None:
        self.app = app
        self.ready: Callable[[], bool] = lambda: False
        self.at: float | None = None
        app.frame_listeners.append(self._on_flip)  # type: ignore[attr-defined]

    def _on_flip(self, now: float, _state: object) -> None:
        if self.at is None and self.ready():
            self.at = now

    def arm(self, ready: Callable[[], bool]) -> None:
        self.at, self.ready = None, ready

    def wait(self, timeout_s: float = 10.0) -> float:
        ok = self.app.pump(lambda: self.at is not None, timeout_s=timeout_s)  # type: ignore[attr-defined]
        if not ok or self.at is None:
            raise SystemExit("no frame showed the change within the time-out")
        return self.at


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scans", type=int, default=30, help="scans to time (default 30)")
    args = ap.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        print("needs a display: run under xvfb-run", file=sys.stderr)
        return 2
    os.environ.setdefault("KIVY_HOME", "/tmp/opensco-bench-kivy")

    from kivy.clock import Clock

    from kiosk.core.inputs import BarcodeRead
    from kiosk.core.settings import CoreSettings
    from kiosk.engine import Engine, EngineThread
    from kiosk.replay import load_catalog_file
    from kiosk.ui.app import ShopperApp
    from kiosk.ui.viewmodel import ShopperViewModel

    catalog = load_catalog_file(REPO / "examples" / "catalog.csv")
    base = CoreSettings(camera_scans=False)
    settings = replace(base, security=replace(base.security, enabled=False))
    offset = [0]

    def clock() -> int:
        return int(time.time() * 1000) + offset[0]

    vm_box: list[ShopperViewModel] = []
    engine = EngineThread(lambda: Engine(catalog, settings), lambda ev: vm_box[0].on_events(ev))
    vm = ShopperViewModel(catalog, put=engine.put, clock=clock)
    vm_box.append(vm)
    engine.start()
    engine.ready.wait(10)
    app = ShopperApp(vm)
    app.start_embedded()
    vm.start("en")
    app.pump(lambda: app.sm.current == "bags")
    vm.no_bags()
    app.pump(lambda: app.sm.current == "scanning", timeout_s=10)
    app.pump(frames=10)
    flips = Flips(app)
    screen = app.screen("scanning")

    # Baseline 1: the interval between empty frames (a redraw asked, nothing changed).
    stamps: list[float] = []
    app.frame_listeners.append(lambda now, _s: stamps.append(now))
    flag = screen.ids.prompt

    def nudge_frame(_dt: float) -> None:  # an invisible change, so each frame is redrawn
        flag.opacity = 0.999 if flag.opacity == 1 else 1

    ticker = Clock.schedule_interval(nudge_frame, 0)
    app.pump(frames=max(60, args.scans * 2))
    ticker.cancel()
    app.frame_listeners.pop()
    frame_ms = [(b - a) * 1000 for a, b in itertools.pairwise(stamps[1:])]  # skip the first
    app.pump(frames=5)

    # Baseline 2: the thread hop alone, to a one-label change.
    hop_ms: list[float] = []
    label = screen.ids.prompt
    for i in range(args.scans):
        want = f"hop {i}"

        def shown(w: str = want) -> bool:
            return bool(label.text == w)

        def change(_dt: float, w: str = want) -> None:
            label.text = w

        flips.arm(shown)
        t0 = time.perf_counter()
        threading.Thread(target=Clock.schedule_once, args=(change, 0)).start()
        hop_ms.append((flips.wait() - t0) * 1000)
        app.pump(frames=3)

    # The real path: scanner input → core → view-model → screen → frame.
    scan_ms: list[float] = []
    for i in range(args.scans):
        offset[0] += 1_000  # a new scan, not a camera re-read of the last one

        def has_item(n: int = i + 1) -> bool:
            return app.shown_state is not None and app.shown_state.item_count >= n

        flips.arm(has_item)
        t0 = time.perf_counter()
        engine.put(BarcodeRead(clock(), WATER, "EAN13"))
        scan_ms.append((flips.wait() - t0) * 1000)
        app.pump(frames=3)
    assert screen.ids.count.text == f"Items: {args.scans}", screen.ids.count.text

    engine.stop()
    print(f"shopper UI latency, {args.scans} scans, window {app.window_size}, Kivy on Xvfb")
    print(summary("empty frame interval (base)", frame_ms))
    print(summary("thread hop → flip (baseline)", hop_ms))
    print(summary("scan → frame showing item", scan_ms))
    tail = scan_ms[-min(10, len(scan_ms)) :]
    print(summary("  last 10 (longest cart)", tail))
    print(
        f"ratio scan/hop (medians): {statistics.median(scan_ms) / statistics.median(hop_ms):.2f}"
        f"   scan/frame: {statistics.median(scan_ms) / statistics.median(frame_ms):.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
