"""The tablet's scripted shift, played in the real window against the demo lanes: sign in on
the PIN pad, take the age check (claim, ID prompt, approve), watch the lane take the
approval and the sale go on to payment, then open a non-scan (its camera snapshot on the
detail screen), clear it with a reason and watch that sale finish too. Every step waits on
what the screen shows or on the lanes' events (never on a sleep), and each screen it passes
is written as a PNG.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.attendant.demo import WATER, DemoFloor, SimLane
from kiosk.attendant.screens import words
from kiosk.demo.autoplay import AutoplayError, AutoplayResult

if TYPE_CHECKING:
    from kiosk.attendant.app import AttendantApp

logger = logging.getLogger(__name__)

AGE_LANE, NON_SCAN_LANE = "lane-01", "lane-02"


class AttendantAutoplay:
    def __init__(
        self, app: AttendantApp, floor: DemoFloor, shots: Path | None, *, timeout_s: float = 180.0
    ) -> None:
        self.app = app
        self.floor = floor
        self.shots = shots
        self.timeout_s = timeout_s
        self.deadline = 0.0
        self.result = AutoplayResult()
        self._n = 0

    def run(self) -> AutoplayResult:
        started = time.monotonic()
        self.deadline = started + self.timeout_s
        self.app.start_embedded()
        try:
            self._play()
            self.result.completed = True
        except AutoplayError as err:
            self.result.error = str(err)
        finally:
            self.result.figures["autoplay_s"] = round(time.monotonic() - started, 1)
            self.app.close_embedded()
        return self.result

    # --- the shift --------------------------------------------------------------------

    def _play(self) -> None:
        app = self.app
        if not self.floor.wait_linked():
            raise AutoplayError("the demo lanes did not connect to the broker")
        self._wait(lambda: app.sm.current == "signin", "the sign-in screen")
        self.shot("signin")
        self._sign_in()
        age, non_scan = self.floor.lane(AGE_LANE), self.floor.lane(NON_SCAN_LANE)
        self.floor.run_in_background(age.play_age_check, "age-check")
        self.floor.run_in_background(non_scan.play_non_scan, "non-scan")

        self.tap(app.shell.ids.nav_lanes)
        self._wait(lambda: len(app.screen("lanes").tiles) >= 2, "both lanes on the lane map")
        self._wait(lambda: _lane_state(app, AGE_LANE) == "age_check", "lane-01 in age check")
        self.shot("lanes")

        self._handle_age_check(age)
        self._handle_non_scan(non_scan)

        self.tap(app.shell.ids.nav_lanes)
        self._wait(
            lambda: all(_lane_state(app, k) == "idle" for k in (AGE_LANE, NON_SCAN_LANE)),
            "both lanes idle after their sales",
        )
        self.shot("lanes-after")

    def _sign_in(self) -> None:
        app = self.app
        screen = app.screen("signin")
        screen.ids.attendant.text = self.floor.attendant_id
        pad = screen.ids.pin
        for digit in self.floor.pin:
            self.tap(pad.buttons[digit])
        self._wait(lambda: pad.value == self.floor.pin, "the PIN on the pad")
        self.tap(pad.buttons["OK"])
        self._wait(lambda: bool(app.signed_in), f"signed in ({screen.ids.message.text})")
        self._wait(lambda: app.connected, "the tablet connected to the broker")

    def _handle_age_check(self, lane: SimLane) -> None:
        app = self.app
        key = self._open_from_queue(lane, "age_check", "queue-age-check")
        detail = app.screen("detail")
        self._claim(detail, key)
        self.tap(detail.buttons["approve"])
        self._wait(lambda: not detail.ids.prompt.hidden, "the ID-check prompt")
        if not detail.ids.prompt_text.text.startswith("Check the shopper's ID: born on or before"):
            raise AutoplayError(f"unexpected ID prompt: {detail.ids.prompt_text.text!r}")
        self.shot("id-check")
        self.tap(detail.choice("ID checked"))
        self._answer("approve_age", AGE_LANE)
        self._wait(lambda: lane.of("age_approved"), "the lane's age_approved event")
        self.shot("age-approved")
        self.floor.run_in_background(lane.finish_sale, "age-lane-pays")
        self._wait(lambda: lane.of("payment_requested"), "payment on lane-01 after the approval")
        lane.card_approved()
        self._wait(lambda: lane.of("transaction_completed"), "lane-01's sale completed")

    def _handle_non_scan(self, lane: SimLane) -> None:
        app = self.app
        self.tap(app.shell.ids.nav_queue)
        key = self._open_from_queue(lane, "non_scan", "queue-non-scan")
        detail = app.screen("detail")
        self._wait_snapshot(detail, key)
        self._claim(detail, key)
        self.tap(detail.buttons["clear"])
        self._wait(lambda: not detail.ids.prompt.hidden, "the clear-reason list")
        self.shot("clear-reason")
        self.tap(detail.choice(words.CLEAR_REASONS[0]))
        self._answer("clear_alert", NON_SCAN_LANE)
        self._wait(lambda: lane.of("alert_cleared"), "the lane's alert_cleared event")
        self._wait(lambda: app.floor is not None and app.floor.alert(key) is None,
                   "the non-scan gone from the tablet")  # fmt: skip
        self.shot("non-scan-cleared")

        def carry_on() -> None:
            lane.scan_and_bag(WATER)
            lane.finish_sale()

        self.floor.run_in_background(carry_on, "non-scan-lane-pays")
        self._wait(lambda: lane.of("item_added"), "lane-02 selling again after the clearance")
        self._wait(lambda: lane.of("payment_requested"), "payment on lane-02")
        lane.card_approved()
        self._wait(lambda: lane.of("transaction_completed"), "lane-02's sale completed")

    # --- steps ------------------------------------------------------------------------

    def _open_from_queue(self, lane: SimLane, kind: str, shot: str) -> str:
        """Wait for the alert's row on the queue (its reason in words), note how long it took
        from the lane's event to the painted row, and open it."""
        app = self.app
        if app.sm.current != "queue":
            self.tap(app.shell.ids.nav_queue)
        queue = app.screen("queue")
        reason = words.REASONS[kind]

        def row() -> Any:
            return next(
                (r for r in queue.rows if r.alert.kiosk_id == lane.kiosk_id
                 and r.alert.kind == kind and r.reason.text == reason), None,
            )  # fmt: skip

        self._wait(lambda: row() is not None, f"the {kind} alert of {lane.kiosk_id} on the queue")
        found = row()
        painted, raised = app.first_painted.get(found.key), lane.raised_at.get(kind)
        if painted is not None and raised is not None:  # the lane's event → the tablet's frame
            self.result.figures[f"{kind}_event_to_tablet_ms"] = round((painted - raised) * 1000)
        self.shot(shot)
        self.tap(found.open)
        self._wait(lambda: app.sm.current == "detail", "the alert detail")
        return str(found.key)

    def _wait_snapshot(self, detail: Any, key: str) -> None:
        """The lane's camera evidence, cited by the alert, shown on the detail screen."""
        alert = self.app.floor.alert(key) if self.app.floor is not None else None
        if alert is None or not alert.snap_ids:
            raise AutoplayError(f"the alert {key} cites no snapshot")
        snap = alert.snap_ids[0]
        self._wait(lambda: self.app.image(snap) is not None, f"snapshot {snap} on the tablet")
        self._wait(lambda: detail.ids.snapshot.texture is not None, "the snapshot on the screen")
        self.result.figures["non_scan_snapshot_bytes"] = len(self.app.image(snap) or b"")

    def _claim(self, detail: Any, key: str) -> None:
        app = self.app
        self.tap(detail.buttons["claim"])

        def claimed() -> bool:
            alert = app.floor.alert(key) if app.floor is not None else None
            return alert is not None and alert.claimed_by == app.attendant_id

        self._wait(claimed, f"the claim on {key} seen by the tablet")
        self._wait(lambda: "claimed by " + app.attendant_id in detail.ids.info.text, "claimed")
        self.shot(f"detail-{key.split('/')[0]}")

    def _answer(self, action: str, kiosk_id: str) -> None:
        """The kiosk's answer to the newest such command: accepted, or stop with its code."""
        app = self.app

        def answer() -> Any:
            cmds = app.floor.commands if app.floor is not None else ()
            return next((c for c in cmds if c.action == action and c.kiosk_id == kiosk_id), None)

        self._wait(lambda: answer() is not None and answer().status != "sent",
                   f"{kiosk_id}'s answer to {action}")  # fmt: skip
        cmd = answer()
        if cmd.status != "accepted":
            raise AutoplayError(f"{action} on {kiosk_id}: {words.command_text(cmd)}")

    # --- plumbing ---------------------------------------------------------------------

    def tap(self, widget: Any) -> None:
        from kiosk.ui.widgets.base import tap

        self.app.pump(frames=2)  # the layout settles before the finger lands
        if widget.disabled or widget.opacity == 0 or widget.height <= 0:
            raise AutoplayError(f"cannot tap {getattr(widget, 'text', widget)!r}: not shown")
        tap(widget)
        self.app.pump(frames=2)

    def _wait(self, predicate: Callable[[], object], what: str) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0 or not self.app.pump(predicate, timeout_s=min(left, 60.0)):
            raise AutoplayError(f"never happened: {what}")

    def shot(self, name: str) -> None:
        if self.shots is None:
            return
        self.app.pump(frames=3)
        self._n += 1
        path = self.app.screenshot(self.shots / f"{self._n:02d}-{name}.png")
        self.result.screenshots.append(path)


def _lane_state(app: AttendantApp, kiosk_id: str) -> str:
    lane = app.floor.lane(kiosk_id) if app.floor is not None else None
    return lane.display_state if lane is not None else ""
