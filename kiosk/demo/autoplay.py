"""A scripted purchase played in the real window: touches on the real screens, the shopper's
hands in the rendered scene, the attendant's approval as the command the tablet sends.

Every step waits on what the window shows (the painted ``ShopperState``) or on the lane's
events, never on a sleep, and each new screen is written as a PNG. The basket: a bag, a
can scanned, a pack carried past the scanner (the lane nudges; the shopper takes it back
out), a beer (age check, approved by the attendant), bananas weighed and
picked on the produce screen, then card payment, receipt, rating.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.core.events import EventType
from kiosk.core.inputs import AttendantCommand
from kiosk.ui.viewmodel import ShopperState

if TYPE_CHECKING:
    from kiosk.demo.cli import DemoRig
    from kiosk.demo.panel import DemoApp
    from kiosk.demo.world import ScanEvent

logger = logging.getLogger(__name__)

FIRST = "DRK-003"  # Coca-Cola can
SKIPPED = "SNK-005"  # carried past the scanner, then taken back out
AGE = "DRK-009"  # Tsingtao beer, 18+
PRODUCE_PLU = "4011"  # bananas
STEP_TIMEOUT_S = 40.0
ATTENDANT = "att-demo"


class AutoplayError(Exception):
    pass


@dataclass
class AutoplayResult:
    completed: bool = False
    error: str = ""
    screenshots: list[Path] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


class Autoplay:
    def __init__(
        self, app: DemoApp, rig: DemoRig, shots: Path | None, *, timeout_s: float = 120.0
    ) -> None:
        self.app = app
        self.rig = rig
        self.shots = shots
        self.deadline = 0.0
        self.timeout_s = timeout_s
        self.result = AutoplayResult()
        self._marks: dict[str, float] = {}
        self._scan_at: float | None = None
        self._items_at_scan = 0
        self._attended: set[str] = set()

    # --- running ----------------------------------------------------------------------

    def run(self) -> AutoplayResult:
        started = time.monotonic()
        self.deadline = started + self.timeout_s
        self.app.start_embedded()
        self.app.frame_listeners.append(self._on_frame)
        self.rig.vm.subscribe(self._on_state)
        self.rig.world.on_scan.append(self._on_scan)
        try:
            self._play()
            self.result.completed = bool(self.rig.log.of(EventType.TRANSACTION_COMPLETED))
            if not self.result.completed:
                self.result.error = "the sale did not complete"
        except AutoplayError as err:
            self.result.error = str(err)
            logger.error("autoplay: %s (lane: %s)", err, self.rig.vm.snapshot())
        finally:
            self._figures(time.monotonic() - started)
            try:
                self.app.stop()
            except Exception:
                logger.exception("autoplay: closing the window failed")
        return self.result

    def _play(self) -> None:
        world, vm = self.rig.world, self.rig.vm
        self.on("attract")
        self.shot("attract")
        self.tap("attract", None, vm.touch_start)
        self.on("welcome")
        self.shot("welcome")
        self.tap("welcome", "start", vm.start)
        self.on("bags")
        self.shot("bags")
        # The lane's own bag is already out (the scene's seed puts one there): no bag
        # declared, nothing to weigh in. The panel's "Place a bag" shows the other path.
        self.tap("bags", "no", vm.no_bags)
        self.on("scanning")

        self.press("scan", FIRST, f"scan({FIRST})")
        self.wait(lambda: self.state.item_count >= 1, "the first item on screen")
        self.shot("scanning")
        self.wait(lambda: world.idle, "the can is bagged")

        # Carried past the scanner: the bagging scale gains an item nobody scanned.
        self._marks["skip_queued"] = time.perf_counter()
        self.press("skip", SKIPPED, f"skip_scan({SKIPPED})")
        self.wait(lambda: self.state.nudge is not None or self.state.intervention is not None,
                  "a nudge for the unscanned item")  # fmt: skip
        if self.state.nudge is None:
            raise AutoplayError(f"an intervention instead of a nudge: {self.state.intervention}")
        self.shot("nudge")
        self.shot("nudge_with_panel", window=True)
        self.wait(lambda: world.idle, "the hand is gone")
        self.press(
            "remove", SKIPPED, f"remove({SKIPPED})"
        )  # the shopper takes it back out (and keeps it)
        self.wait(lambda: self._resolved(), "the nudge self-corrected")
        self.wait(lambda: self.state.nudge is None, "the nudge banner gone")
        # The shopper puts it away before reaching for the next item: the camera's
        # tracker would otherwise take the hand coming back for the one leaving.
        self.act("idle")
        self.act("idle")
        self.wait(lambda: world.idle, "the item is out")

        count = self.state.item_count
        self.press("scan", AGE, f"scan({AGE})")
        self.wait(lambda: self.state.age_pending and self.state.item_count > count,
                  "the age check banner")  # fmt: skip
        self.shot("age_check")
        self.wait(lambda: world.idle, "the beer is bagged")
        lane = self.rig.lane
        self.press(
            "approve_age",
            None,
            "",
            lambda: lane.put(AttendantCommand(lane.clock(), "approve_age", ATTENDANT)),
        )
        self.wait(lambda: not self.state.age_pending, "the age approved")

        self.tap("scanning", "produce_btn", vm.open_produce)
        self.on("produce")
        self.press("weigh", PRODUCE_PLU, f"place_produce({PRODUCE_PLU})")
        self.wait(lambda: world.holding_produce, "the bananas on the scale")
        sku = self._produce_sku()
        self.wait(lambda: sku in self.app.screen("produce").tiles, "the bananas' tile")
        # The camera's produce suggestions, when the recogniser has any (not required).
        self.app.pump(lambda: self.state.produce_suggestions, timeout_s=6.0)
        self.app.pump(frames=2)
        self.shot("produce")
        self.tap("produce", None, lambda: vm.pick_produce(sku),
                 widget=self.app.screen("produce").tiles.get(sku))  # fmt: skip
        sold = lambda: any(x.sku == sku for x in self.state.lines)  # noqa: E731
        if not self.app.pump(sold, timeout_s=3.0):  # the tiles were rebuilt under the finger
            logger.warning("autoplay: the tile touch sold nothing; picking without a touch")
            vm.pick_produce(sku)
        self.wait(sold, "the bananas sold")
        self.on("scanning")
        self.wait(lambda: world.idle, "the bananas bagged")
        self.shot("cart")

        # Going to pay escalates an open nudge at once: the shopper sees to them first.
        self.wait(lambda: self.state.nudge is None and self.state.intervention is None,
                  "no open nudge before paying")  # fmt: skip
        # The first card is declined (the terminal simulator says so), the retry approved.
        self.rig.payment.decline()
        for attempt in range(3):
            self.on("scanning")
            self.tap("scanning", "pay_btn", lambda: None)
            self.tap("scanning", "pay_card", lambda: vm.pay("card"))
            if self.app.pump(lambda: self.app.sm.current == "payment", timeout_s=5.0):
                break
            logger.warning("autoplay: pay attempt %d refused (%s)", attempt + 1, self.state)
        self.on("payment")
        self.wait(lambda: self.state.payment.status == "declined", "the card declined")
        self.shot("payment_declined")
        self.rig.payment.approve()
        self.tap("payment", "retry", lambda: vm.pay(self.state.payment.method))
        self.on("receipt")
        self.shot("receipt")
        self.tap("receipt", "done", vm.receipt_done)
        self.on("rating")
        self.shot("rating")
        self.tap("rating", "rate_5", lambda: vm.rate(5))
        self.on("thank_you")
        self.shot("thank_you")

    # --- steps --------------------------------------------------------------------------

    @property
    def state(self) -> ShopperState:
        """What the window shows now (the last painted state)."""
        return self.app.shown_state or self.rig.vm.snapshot()

    def press(self, key: str, code: str | None, action: str,
              fallback: Callable[[], object] | None = None) -> None:  # fmt: skip
        """Press the simulator panel's button (after choosing the item), as a person
        demonstrating the lane would; without the panel, do what the button does."""
        panel = self.app.panel
        button = panel.buttons.get(key) if panel is not None else None
        if button is not None and (code is None or panel.choose(code)):  # type: ignore[union-attr]
            logger.info("autoplay: panel %r %s", button.text, code or "")
            self.tap("", None, fallback or (lambda: self.rig.world.do(action)), widget=button)
        elif fallback is not None:
            fallback()
        else:
            self.act(action)

    def act(self, action: str) -> None:
        self.rig.world.do(action)
        logger.info("autoplay %.1f s: %s", time.monotonic() - self.deadline + self.timeout_s,
                    action)  # fmt: skip

    def wait(self, predicate: Callable[[], object], what: str, timeout_s: float = 0) -> None:
        left = self.deadline - time.monotonic()
        limit = min(timeout_s or STEP_TIMEOUT_S, left)

        def done() -> object:
            self._attend()
            return predicate()

        if limit <= 0 or not self.app.pump(done, timeout_s=limit):
            raise AutoplayError(f"never happened: {what}")
        self.app.pump(frames=2)  # the layout settles before the next touch or screenshot

    def on(self, screen: str) -> None:
        self.wait(lambda: self.app.sm.current == screen, f"the {screen} screen")

    def tap(self, screen: str, wid: str | None, fallback: Callable[[], object],
            widget: Any = None) -> None:  # fmt: skip
        """Touch a widget through the window's input queue, as a finger would; when the
        screen has no such widget showing, do what it would have done."""
        from kiosk.ui.widgets.base import tap

        target = widget
        if target is None:
            s = self.app.screen(screen)
            target = s if wid is None else s.ids.get(wid)
        usable = (
            target is not None
            and target.opacity > 0
            and not getattr(target, "disabled", False)
            and not getattr(target, "hidden", False)
            and target.height > 0
        )
        if usable:
            tap(target)
        else:
            logger.warning("autoplay: %s.%s not showing; acting without a touch", screen, wid)
            fallback()
        self.app.pump(frames=3)

    def shot(self, name: str, *, window: bool = False) -> None:
        logger.info("autoplay %.1f s: screen %s", time.monotonic() - self.deadline + self.timeout_s,
                    name)  # fmt: skip
        if self.shots is None:
            return
        self.app.pump(frames=2)
        path = self.shots / f"{len(self.result.screenshots) + 1:02d}-{name}.png"
        if window:  # the whole window: the shopper's screen and the simulator panel
            path.parent.mkdir(parents=True, exist_ok=True)
            self.app.root.export_to_png(str(path))
            self.result.screenshots.append(path)
            return
        self.result.screenshots.append(self.app.screenshot(path))

    def _attend(self) -> None:
        """The attendant answers an intervention the script did not ask for (the camera
        may see what was not there), as staff would; it is counted in the figures."""
        view = self.rig.vm.snapshot().intervention
        if view is None or view.alert_id in self._attended:
            return
        self._attended.add(view.alert_id)
        actions: list[str] = []
        for e in self.rig.log.of(EventType.ALERT_RAISED):
            if e.data.get("alert_id") == view.alert_id:
                actions = list(e.data.get("actions", []))
        command = "approve" if "approve" in actions or not actions else "clear"
        logger.warning("autoplay: the attendant %ss an unplanned %s alert", command, view.reason)
        self.result.figures.setdefault("attendant_answered", []).append(view.reason)
        lane = self.rig.lane
        lane.put(AttendantCommand(lane.clock(), command, ATTENDANT, {"alert_id": view.alert_id}))

    def _resolved(self) -> bool:
        return any(e.data.get("resolution") == "self_corrected"
                   for e in self.rig.log.of(EventType.MISMATCH_RESOLVED))  # fmt: skip

    def _produce_sku(self) -> str:
        product = self.rig.catalog.by_plu(PRODUCE_PLU)
        if product is None:
            raise AutoplayError(f"PLU {PRODUCE_PLU} is not in the catalog")
        return product.sku

    # --- timing ---------------------------------------------------------------------------

    def _on_scan(self, event: ScanEvent) -> None:  # world thread
        if self._scan_at is None:
            self._scan_at = time.perf_counter()
            self._items_at_scan = self.rig.vm.snapshot().item_count

    def _on_state(self, state: ShopperState) -> None:  # engine thread
        nudged = state.nudge is not None and "skip_queued" in self._marks
        if nudged and "nudge_state" not in self._marks:
            self._marks["nudge_state"] = time.perf_counter()

    def _on_frame(self, now: float, state: ShopperState | None) -> None:  # UI thread
        if state is None:
            return
        nudged = state.nudge is not None and "skip_queued" in self._marks
        if nudged and "nudge_frame" not in self._marks:
            self._marks["nudge_frame"] = now
        scanned = self._scan_at is not None and state.item_count > self._items_at_scan
        if scanned and "scan_frame" not in self._marks:
            self._marks["scan_frame"] = now

    def _figures(self, elapsed: float) -> None:
        m, f = self._marks, self.result.figures
        f["autoplay_s"] = round(elapsed, 1)
        f["screens"] = len(self.result.screenshots)
        w = self.rig.world.describe()
        f["camera_fps"], f["render_fps"] = w["fps"], w["render_fps"]
        if "skip_queued" in m and "nudge_frame" in m:
            f["panel_action_to_nudge_frame_s"] = round(m["nudge_frame"] - m["skip_queued"], 2)
        if "nudge_state" in m and "nudge_frame" in m:
            f["nudge_state_to_frame_ms"] = round((m["nudge_frame"] - m["nudge_state"]) * 1000)
        if self._scan_at is not None and "scan_frame" in m:
            f["scanner_read_to_frame_ms"] = round((m["scan_frame"] - self._scan_at) * 1000)
        vision = (self.rig.lane.health() if self.rig.lane else {}).get("vision")
        if vision:
            f["vision_frames"] = vision.get("frames_processed")
            f["vision_fps"] = vision.get("fps")
