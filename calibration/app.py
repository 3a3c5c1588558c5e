"""The guided calibration app (Kivy, 1280x800, touch): the technician walks the lane's scales
and camera one step at a time, sees each check's measured figure against its limit with a
PASS / WARN / FAIL colour, edits the camera zones by dragging their corners, and ends on a
summary that saves the calibration record and writes the HTML report.

Threads: checks that wait on the hardware run on a worker (``screens.flow.StepRunner``);
its results and prompts reach the screens through Kivy's Clock. The camera runs on its own
capture thread (``vision.camera.Camera``); a Clock tick paints its newest frame.
Embedding (tests, autoplay) reuses the shopper app's ``start_embedded``, ``pump`` and
``screenshot``: one window per process, shared by the apps that run in it.
"""

from __future__ import annotations

import os

from kiosk.ui.themed_app import ThemedApp

os.environ.setdefault("KIVY_NO_ARGS", "1")

import logging
import sys
import time
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.config import Config
from kivy.properties import (
    BooleanProperty,
    StringProperty,
)

from calibration.results import CheckResult, Verdict, overall
from calibration.screens import SCREENS, load_kv, make_screen
from calibration.screens.flow import DEVICE_WORDS, Step, StepRunner, camera_steps, scale_steps
from calibration.screens.lane import LaneDevices, LaneSetup
from kiosk.ui import theme
from kiosk.ui.app import ShopperApp

logger = logging.getLogger(__name__)

TICK_S = 0.1  # live weight and live view refresh


class CalibrationApp(ThemedApp):
    """Start → scale steps → zones → camera checks → summary."""

    technician = StringProperty("")
    lane_id = StringProperty("")
    step_text = StringProperty("")  # "Step 3 of 14 · bagging scale · Span"
    current = StringProperty("start")
    busy = BooleanProperty(False)  # a check is running
    # Theme (kiosk.ui.theme.apply fills these; the shared widgets' kv rules bind to them).

    start_embedded = ShopperApp.start_embedded
    pump = ShopperApp.pump
    screenshot = ShopperApp.screenshot

    def __init__(
        self,
        setup: LaneSetup,
        *,
        technician: str = "",
        window_size: tuple[int, int] = (1280, 800),
        font_path: str | Path | None = None,
        open_reports: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.title = "OpenSCO calibration"
        self.setup = setup
        self.technician = technician
        self.lane_id = setup.kiosk_id
        self.window_size = window_size
        self.font_path = Path(font_path) if font_path is not None else None
        self.open_reports = open_reports
        self.devices = LaneDevices(setup)
        self.steps: list[Step] = []
        self.index = -1  # -1: start screen; len(steps): summary
        self.results: dict[str, list[CheckResult]] = {}  # step key -> its latest results
        self.record_path: Path | None = None
        self.report_path: Path | None = None
        self.sm: Any = None
        self.shell: Any = None
        self.runner = StepRunner(self._on_prompt, self._on_done, self._schedule)
        self._events: list[Any] = []
        self.started_at = time.time()
        theme.apply(self, large_text=False, high_contrast=False)
        if "kivy.core.window" not in sys.modules:  # tests reuse an existing window
            Config.set("graphics", "width", str(window_size[0]))
            Config.set("graphics", "height", str(window_size[1]))
            Config.set("graphics", "fullscreen", "0")
            Config.set("input", "mouse", "mouse,disable_multitouch")

    # --- set-up -----------------------------------------------------------------------

    def build(self) -> Any:
        from kivy.core.window import Window
        from kivy.factory import Factory
        from kivy.uix.screenmanager import NoTransition

        from calibration.screens import base, widgets, zone_editor
        from kiosk.ui.widgets.base import load_rules

        theme.register_font(self.font_path)
        load_rules()
        del base, widgets, zone_editor  # imported to register their classes
        load_kv("common")
        load_kv("shell")
        if tuple(Window.size) != self.window_size:
            Window.size = self.window_size
        self.shell = Factory.CalibrationShell()
        self.sm = self.shell.ids.sm
        self.sm.transition = NoTransition()
        for name in SCREENS:
            self.sm.add_widget(make_screen(name))
        self._events.append(Clock.schedule_interval(self._tick, TICK_S))
        self.devices.start()  # detection on a worker; the start screen shows its progress
        self.go(-1)
        return self.shell

    def on_stop(self) -> None:
        for event in self._events:
            event.cancel()
        self._events = []
        self.runner.cancel(join_s=2.0)
        self.devices.close()

    def close_embedded(self) -> None:
        """Detach from the window but leave it open for a later app in this process."""
        from kivy.core.window import Window

        self.dispatch("on_stop")  # dispatched: kv's ``app`` proxy lets go only on the event
        if self.root is not None and self.root.parent is Window:
            Window.remove_widget(self.root)

    # --- navigation (UI thread) -------------------------------------------------------

    def screen(self, name: str | None = None) -> Any:
        return self.sm.get_screen(name or self.sm.current)

    @property
    def step(self) -> Step | None:
        return self.steps[self.index] if 0 <= self.index < len(self.steps) else None

    def begin(self, technician: str) -> bool:
        """From the start screen: build the steps for the devices found and go to the
        first. False (the start screen says why) without a technician id."""
        technician = technician.strip()
        if not technician:
            self.screen("start").say("Enter your technician id first.")
            return False
        try:
            self.devices.start_record(technician)
        except Exception as err:  # RecordError: an id the record cannot take
            self.screen("start").say(str(err))
            return False
        self.technician = technician
        self.steps = []
        for device, session in self.devices.scales.items():
            self.steps += scale_steps(device, session, self.setup.weights)
        if self.devices.camera is not None:
            self.steps += camera_steps(self._camera_checks)
        self.results = {}
        for result in self.devices.missing():
            self.results[f"{result.device}.missing"] = [result]
            self.devices.remember([result])
        self.started_at = time.time()
        self.go(0)
        return True

    def go(self, index: int) -> None:
        if self.runner.busy:
            self.runner.cancel()  # its result arrives later and is dropped (step changed)
        self.index = max(-1, min(index, len(self.steps)))
        step = self.step
        if self.index < 0:
            name, self.step_text = "start", "Start"
        elif step is None:
            name, self.step_text = "summary", "Summary"
        else:
            name = step.screen
            device = DEVICE_WORDS.get(step.device, step.device)
            self.step_text = f"Step {self.index + 1} of {len(self.steps)} · {device} · {step.title}"
        screen = self.sm.get_screen(name)
        try:
            screen.enter(step, self)
        except Exception:  # a drawing bug must not strand the technician on the old step
            logger.exception("screen %s could not show step %s", name, step)
        self.sm.current = name
        self.current = name

    def next(self) -> None:
        self.go(self.index + 1)

    def back(self) -> None:
        self.go(self.index - 1)

    # --- checks -----------------------------------------------------------------------

    def run_step(self) -> bool:
        step = self.step
        if step is None or not self.runner.start(step):
            return False
        self.busy = True
        return True

    def confirm_prompt(self) -> None:
        self.runner.confirm()

    def skip_step(self, why: str = "skipped by the technician") -> None:
        step = self.step
        if step is None:
            return
        self.runner.cancel()
        self.busy = False
        kind = "scale" if step.screen == "scale" else "camera"
        check = f"{kind}.{step.key.split('.', 1)[1]}"
        skipped = CheckResult(check, step.device, Verdict.SKIPPED, advice=why, ts=time.time())
        self.add_results(step, [skipped])
        self.next()

    def add_results(self, step: Step, results: list[CheckResult]) -> None:
        self.results[step.key] = results
        self.devices.remember(results)

    def all_results(self) -> list[CheckResult]:
        out: list[CheckResult] = []
        for results in self.results.values():
            out += results
        return out

    def overall(self) -> Verdict:
        return overall(self.all_results())

    def _camera_checks(self, _prompt: Any) -> list[CheckResult]:
        return self.devices.camera_checks(self.screen("zones").zone_map(self.setup.zones_path))

    def _schedule(self, fn: Any) -> None:
        Clock.schedule_once(lambda _dt: fn(), 0)

    def _on_prompt(self, text: str) -> None:
        step = self.step
        if step is not None and self.runner.waiting:
            self.screen(step.screen).show_prompt(text)

    def _on_done(self, step: Step, results: list[CheckResult], error: str) -> None:
        self.busy = False
        if error == "cancelled":
            return
        if results:
            self.add_results(step, results)
        if step is self.step:
            self.screen(step.screen).show_results(results, error)

    def _tick(self, _dt: float) -> None:
        self.devices.poll()
        if self.sm is not None:
            try:
                self.screen().tick(self)
            except Exception:
                logger.exception("screen %s tick failed", self.sm.current)

    # --- the record -------------------------------------------------------------------

    def save_record(self) -> Path | None:
        """Save the session's record (R's ``calibration.record``); the summary says where
        or why not."""
        self.record_path = self.devices.save_record()
        return self.record_path

    def write_report(self) -> Path | None:
        if self.record_path is None:
            self.save_record()
        self.report_path = self.devices.write_report()
        if self.report_path is not None and self.open_reports:
            try:
                import webbrowser

                webbrowser.open(self.report_path.as_uri())
            except Exception:  # a kiosk often has no browser: the path is on screen
                logger.info("no browser to open %s", self.report_path)
        return self.report_path


def run_calibration_app(
    config_path: Path | None,
    *,
    technician: str,
    scale_ports: dict[str, str] | None = None,
    camera_url: str | None = None,
    zones_path: Path | None = None,
    autoplay: bool = False,
    screenshots: Path | None = None,
) -> int:
    """``sco calibrate`` with no subcommand. Devices come from the lane's configuration
    unless given; ``autoplay`` plays a simulated lane (pty scale simulator, synthetic
    camera) through every step, writing a PNG per screen into ``screenshots``. Returns 0
    when the session completed (autoplay: every step ran and a record was saved)."""
    if autoplay:
        from calibration.autoplay import run_autoplay

        return run_autoplay(config_path, technician=technician, scale_ports=scale_ports,
                            camera_url=camera_url, zones_path=zones_path,
                            screenshots=screenshots)  # fmt: skip
    setup = LaneSetup.from_config(config_path, scale_ports=scale_ports, camera_url=camera_url,
                                  zones_path=zones_path)  # fmt: skip
    app = CalibrationApp(setup, technician=technician)
    app.run()
    return 0 if app.record_path is not None else 1
