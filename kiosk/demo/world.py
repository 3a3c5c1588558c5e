"""The demo's world: a shopper rendered live, and the devices that see and weigh it.

The scene renderer's :class:`~models.scenes.video.Player` plays actions as they are queued
(by the shopper-simulator panel or the autoplay script) instead of a fixed script. Each
frame goes to a :class:`~vision.live_source.LiveFeed` that the lane's camera reads
(``live:demo``), and the frame's world drives the hardware edges:

- the bagging scale (SICS on a pty) weighs what rests in the bagging zone, plus a leaning
  hand's extra weight;
- the scanner-scale under the scanner (Magellan on a pty: weight *and* barcodes on one
  cable, as in many stores) weighs what rests on the produce scale, and sends an ``S08``
  barcode frame when a scan action holds the pack's code up over the scanner window: the
  lane is a scanner lane (``camera_scans = false``); the camera's reads are evidence only.

Weights come from :mod:`kiosk.scenarios.rendered` (catalog weights, bags, produce), so the
demo weighs things as the rendered scenarios do. Loose produce put on the scale stays
there until the shopper has picked it on the screen (``release_produce``), as people do.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.scale.base import get_protocol
from hardware.scale.simulator import ScaleSimulator
from kiosk.core.catalog import Catalog
from kiosk.core.inputs import Platform
from kiosk.errors import KioskError
from kiosk.scenarios.rendered import _loads, _Weights
from models.scenes.catalog import product_by_code
from models.scenes.hands import HandStyle
from models.scenes.script import ACTIONS, Action, parse_script
from models.scenes.video import FrameTruth, Plan, Player
from vision.live_source import LiveFeed, publish_feed, withdraw_feed
from vision.types import BGRImage

logger = logging.getLogger(__name__)

FEED_NAME = "demo"
LEAN = "lean"  # the demo's own action: a hand pressing on the bagging area
DEFAULT_FPS = 12.0
LEAN_G = 2_500
LEAN_S = 2.0
PRODUCE_HOLD_S = 90.0  # produce nobody picks on screen is taken off after this
SCAN_PROTOCOL = "magellan"
BAGGING_PROTOCOL = "sics"
SCALE_SETTLE_MS = 300
SCALE_NOISE_G = 1
SCALE_DIVISION_G = 5
READ_AFTER_S = 0.5  # over the window this long before the beep
GLASS_PX = 10  # the scanner reads a code whose pack is over its window (give or take)


@dataclass(frozen=True)
class ScanEvent:
    frame: int
    data: str
    symbology: str
    sku: str  # the product the code belongs to (not what is in the hand, for a switch)


@dataclass
class WorldStats:
    frames: int = 0
    render_s: float = 0.0  # time spent rendering
    started: float = 0.0

    @property
    def render_fps(self) -> float:
        """Frames per second the renderer could make (its own time only)."""
        return self.frames / self.render_s if self.render_s > 0 else 0.0

    @property
    def fps(self) -> float:
        """Frames per second actually delivered (paced)."""
        elapsed = time.monotonic() - self.started if self.started else 0.0
        return self.frames / elapsed if elapsed > 0 else 0.0


ActionListener = Callable[[str, bool], None]  # (action text, started? else finished)
ScanListener = Callable[[ScanEvent], None]


def parse_action(text: str | Action) -> Action | str:
    """One panel or script action: a scene action, or ``lean``."""
    if isinstance(text, Action):
        return text
    if text.strip() == LEAN:
        return LEAN
    actions = parse_script(text)
    if len(actions) != 1:
        raise KioskError(f"one action at a time, got {len(actions)} in {text!r}")
    return actions[0]


class DemoWorld:
    """Plays queued actions frame by frame; ``start`` runs it paced on its own thread
    (with the simulated scales), ``step`` renders one frame synchronously (tests)."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        seed: int = 3,
        fps: float = DEFAULT_FPS,
        with_photos: bool = True,
        scales: bool = True,
        lean_g: int = LEAN_G,
        lean_s: float = LEAN_S,
        produce_hold_s: float = PRODUCE_HOLD_S,
        read_after_s: float = READ_AFTER_S,
        feed_name: str = FEED_NAME,
    ) -> None:
        if fps <= 0:
            raise KioskError("the demo world needs fps > 0")
        self.catalog = catalog
        self.seed = seed
        self.fps = fps
        self.lean_g = lean_g
        self.lean_s = lean_s
        self.produce_hold_s = produce_hold_s
        self.read_after_s = read_after_s
        self.player = Player([], seed, fps=max(1, round(fps)), with_photos=with_photos,
                             check_decode=False)  # fmt: skip
        self.weights = _Weights(catalog, seed)
        self.feed = LiveFeed(feed_name)
        self.stats = WorldStats()
        self.loads: dict[Platform, int] = {Platform.BAGGING: 0, Platform.SCAN: 0}
        self.scans: list[ScanEvent] = []
        self.truth: FrameTruth | None = None
        self.image: BGRImage | None = None
        self.on_action: list[ActionListener] = []
        self.on_scan: list[ScanListener] = []
        self.sims: dict[Platform, ScaleSimulator] = {}
        self._use_scales = scales
        self._queue: queue.SimpleQueue[Action | str] = queue.SimpleQueue()
        self._pending = 0  # queued or playing
        self._lock = threading.Lock()
        self._index = 0
        self._action_no = -1
        self._count = -1
        self._action: Action | str | None = None
        self._plans: Iterator[Plan] | None = None
        self._style: HandStyle | None = None
        self._entry_x: float | None = None
        self._last_plan = Plan()
        self._scanned = False
        self._on_glass = 0
        self._extra_g = 0
        self._hold_since: float | None = None
        self._released = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._update_loads()  # what already lies there (the scene may start with a bag)

    # --- life cycle ---------------------------------------------------------------------

    def start_scales(self) -> None:
        """The simulated scanner-scale and bagging scale, on ptys, at the scene's loads."""
        if not self._use_scales or self.sims:
            return
        for i, (platform, name) in enumerate(
            ((Platform.SCAN, SCAN_PROTOCOL), (Platform.BAGGING, BAGGING_PROTOCOL))
        ):
            sim = ScaleSimulator(get_protocol(name), settle_ms=SCALE_SETTLE_MS,
                                 noise_g=SCALE_NOISE_G, division_g=SCALE_DIVISION_G,
                                 seed=self.seed * 10 + i).start()  # fmt: skip
            self.sims[platform] = sim
        self._update_loads()

    def start(self) -> DemoWorld:
        self.start_scales()
        publish_feed(self.feed)
        self.step()  # a first frame before any camera opens the feed
        self._thread = threading.Thread(target=self._run, name="demo-world", daemon=True)
        self.stats.started = time.monotonic()
        self.stats.frames = 0
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.feed.close()
        withdraw_feed(self.feed)
        for sim in self.sims.values():
            sim.stop()
        self.sims.clear()

    def port(self, platform: Platform) -> str:
        return self.sims[platform].port_path

    def _run(self) -> None:
        period = 1.0 / self.fps
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # a bad frame must not end the demo
                logger.exception("demo world: frame %d failed", self._index)
            next_at += period
            now = time.monotonic()
            if next_at < now - period:  # fell behind: no burst to catch up
                next_at = now
            self._stop.wait(max(0.0, next_at - now))

    # --- what people do (any thread) ------------------------------------------------------

    def do(self, action: str | Action) -> None:
        """Queue one action: ``scan(DRK-001)``, ``skip_scan(..)``, ``switch(shown, code)``,
        ``place_produce(4011)``, ``bag_down``, ``hand_only``, ``remove(..)``, ``idle`` or
        ``lean``; they play one after the other."""
        item = parse_action(action)
        with self._lock:
            self._pending += 1
        self._queue.put(item)

    def lean(self) -> None:
        self.do(LEAN)

    def release_produce(self) -> None:
        """The item on the produce scale was sold: the shopper takes it off to the bag."""
        self._released = True

    @property
    def idle(self) -> bool:
        """Nothing queued or playing."""
        with self._lock:
            return self._pending == 0

    @property
    def holding_produce(self) -> bool:
        return self._hold_since is not None

    def wait_idle(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self.idle:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    # --- one frame ----------------------------------------------------------------------

    def step(self) -> tuple[BGRImage, FrameTruth]:
        """Render the next frame, weigh the world, fire the scanner, push to the feed."""
        t0 = time.perf_counter()
        plan = self._next_plan()
        p = self.player
        scene = p.render(plan, [self.seed, 3, self._action_no], self._style, self._entry_x)
        rng = np.random.default_rng([self.seed, 4, self._index])
        image = p.lighting.apply(scene.image, rng)
        truth = p.truth(scene, image, self._index, self._action_no)
        self._index += 1
        self._last_plan = plan
        self.image, self.truth = image, truth
        self._update_loads()
        self._maybe_scan(truth)
        self.stats.frames += 1
        self.stats.render_s += time.perf_counter() - t0
        self.feed.push(image)
        return image, truth

    def _next_plan(self) -> Plan:
        if self._holding():
            return Plan()
        if self._plans is None and not self._begin():
            return Plan()
        assert self._plans is not None
        plan = next(self._plans, None)
        if plan is None:
            self._finish()
            return Plan()
        if plan.grip is not None and self._entry_x is None:
            offset = (self._action_no % 3 - 1) * 40
            self._entry_x = float(np.clip(plan.grip[0] + offset, 0, self.player.W))
        return plan

    def _begin(self) -> bool:
        try:
            action = self._queue.get_nowait()
        except queue.Empty:
            self._action_no = -1
            return False
        self._count += 1
        self._action_no = self._count  # seeds this action's hand and motion
        self._action = action
        self._scanned = False
        self._on_glass = 0
        self._released = False
        self._entry_x = None
        rng = np.random.default_rng([self.seed, 2, self._action_no])
        self._style = HandStyle.random(rng)
        self.player._current = None
        if action == LEAN:
            self._plans = self._lean_plans()
        else:
            assert isinstance(action, Action)
            self._plans = iter(self.player.actions(self._action_no, action))
        for listener in self.on_action:
            listener(str(action), True)
        return True

    def _finish(self) -> None:
        action, self._action, self._plans = self._action, None, None
        self._extra_g = 0
        with self._lock:
            self._pending -= 1
        for listener in self.on_action:
            listener(str(action), False)

    def _holding(self) -> bool:
        """Weighed produce lies on the scale (no hand over it) until it is sold."""
        action = self._action
        on_scale = self.loads[Platform.SCAN] > 0
        wait = (
            isinstance(action, Action)
            and action.kind == "place_produce"
            and self._last_plan.grip is None
            and on_scale
            and not self._released
        )
        if not wait:
            self._hold_since = None
            return False
        if self._hold_since is None:
            self._hold_since = time.monotonic()
        if time.monotonic() - self._hold_since > self.produce_hold_s:
            logger.info("demo world: nobody picked the produce; taking it off the scale")
            self._released = True
            self._hold_since = None
            return False
        return True

    def _lean_plans(self) -> Iterator[Plan]:
        rng = np.random.default_rng([self.seed, 5, self._action_no])
        x1, y1, x2, y2 = self.player.kit.layout.rect("bagging")
        target = ((x1 + x2) / 2 + rng.normal(0, 15), y1 + (y2 - y1) * 0.45)
        yield from self.player._reach(rng, target)
        self._extra_g = self.lean_g
        for _ in range(max(1, round(self.lean_s * self.fps))):
            yield Plan((target[0] + rng.normal(0, 2), target[1] + rng.normal(0, 2)))
        self._extra_g = 0
        yield from self.player._leave(rng, target)

    # --- the devices ----------------------------------------------------------------------

    def _update_loads(self) -> None:
        loads = _loads(self.player, self.weights)
        now = {
            Platform.BAGGING: loads[Platform.BAGGING][0] + self._extra_g,
            Platform.SCAN: loads[Platform.SCAN][0],
        }
        for platform, grams in now.items():
            sim = self.sims.get(platform)
            if sim is not None and (grams != self.loads[platform] or not self.stats.frames):
                sim.place(grams)
        self.loads = now

    def _maybe_scan(self, truth: FrameTruth) -> None:
        """The scanner reads the code once per scan action, after the pack has been over
        its window for ``read_after_s`` with the code showing (or as it leaves the window):
        a shopper turns a pack until it beeps, and a read at first sight would reach the
        lane before the camera has the item in its scan zone."""
        action = self._action
        if self._scanned or not isinstance(action, Action) or action.kind not in ("scan", "switch"):
            return
        current = getattr(self.player, "_current", None)
        gx, gy = self.player.scanner
        held = next((o for o in truth.objects if o.track_id == current and o.cls == "item"), None)
        showing = False
        if held is not None and held.code and held.barcode_visible:
            x1, y1, x2, y2 = held.box
            g = GLASS_PX
            showing = x1 - g <= gx <= x2 + g and y1 - g <= gy <= y2 + g
        if showing:
            self._on_glass += 1
        leaving = not showing and self._on_glass > 0
        if self._on_glass < max(1, round(self.read_after_s * self.fps)) and not leaving:
            return
        sku = action.barcode_sku or action.sku
        assert sku is not None
        product = product_by_code(sku)
        printed = product.barcode()
        data, symbology = printed if printed else (held.code if held else "", "EAN13")
        event = ScanEvent(truth.index, data, symbology, product.sku)
        self._scanned = True
        self.scans.append(event)
        sim = self.sims.get(Platform.SCAN)
        if sim is not None:
            sim.barcode(data, symbology)
        for listener in self.on_scan:
            listener(event)

    # --- for the panel and the preview --------------------------------------------------

    def zones(self) -> dict[str, list[tuple[float, float]]]:
        """Zone polygons, normalised (as in zones.json), for the preview overlay."""
        lay = self.player.kit.layout
        return {
            name: [(float(x) / lay.width, float(y) / lay.height) for x, y in pts]
            for name, pts in lay.zones.items()
        }

    def describe(self) -> dict[str, Any]:
        return {
            "frames": self.stats.frames,
            "fps": round(self.stats.fps, 1),
            "render_fps": round(self.stats.render_fps, 1),
            "bagging_g": self.loads[Platform.BAGGING],
            "scale_g": self.loads[Platform.SCAN],
            "action": str(self._action) if self._action is not None else "",
            "holding_produce": self.holding_produce,
        }


__all__ = ["ACTIONS", "LEAN", "DemoWorld", "ScanEvent", "parse_action"]
