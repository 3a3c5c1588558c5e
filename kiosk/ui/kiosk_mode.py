"""``sco run`` on real hardware: probes, then the lane and its shopper screen in kiosk mode.

Order matters: the probes open each device before the lane does (two readers on one serial
port would steal each other's bytes), then the lane starts whatever happened, so its
journal recovers an interrupted sale and its devices keep reconnecting on their own. When
a required device is missing or failed, or the lane cannot start, the screen shows out of
service with the reason in small print for the technician. Every ``recheck_s`` the lane
checks its required devices again: it comes back into service once all are well, and goes
out of service, between sales, when one stops working. Nothing here waits on I/O on the UI
thread: probes and re-checks run on their own threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig
from kiosk.core.catalog import Catalog
from kiosk.core.inputs import Input
from kiosk.ui.pin import PinGuard
from kiosk.ui.probes import ProbeReport, ProbeResult, Status, enabled, live_check, run_probes

logger = logging.getLogger(__name__)

LANE_FAILED = "lane"  # the device name of "the lane itself did not start" in a reason
NO_SALE = ("idle", "completed", "cancelled", "suspended")  # lane states with no sale open


class KioskMode:
    """One lane with its shopper screen: ``prepare()``, ``make_app()``, then run the app."""

    def __init__(
        self,
        config: KioskConfig,
        *,
        fullscreen: bool | None = None,
        on_exit: Callable[[], None] | None = None,
        window_size: tuple[int, int] = (1280, 800),
    ) -> None:
        self.config = config
        self.ui = config.sections["kiosk_ui"]
        self.fullscreen = self.ui["fullscreen"] if fullscreen is None else fullscreen
        self.window_size = window_size
        self._on_exit = on_exit
        self.guard = PinGuard(
            self.ui["attendant_pin_hash"],
            max_tries=self.ui["pin_max_tries"],
            lockout_s=float(self.ui["pin_lockout_s"]),
        )
        self.report = ProbeReport()
        self.problems: dict[str, ProbeResult] = {}  # what keeps the lane out of service now
        self.lane: Any = None
        self.vm: Any = None
        self.app: Any = None
        self.exit: Any = None
        self.exited = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._recheck: threading.Thread | None = None

    # --- before the window ------------------------------------------------------------

    def prepare(self, report: ProbeReport | None = None) -> ProbeReport:
        """Probe (unless ``report`` is given), build and start the lane, set the screen."""
        from kiosk.ui.viewmodel import ShopperViewModel

        self.report = run_probes(self.config) if report is None else report
        for result in self.report.results:
            log = logger.info if result.status is Status.OK else logger.warning
            log("start-up check %s%s", result.line(), " (required)" if result.required else "")
        self.problems = {r.device: r for r in self.report.problems}
        catalog = self._catalog()
        self._build_lane(catalog)
        lane = self.lane
        self.vm = ShopperViewModel(
            catalog,
            put=lane.put if lane is not None else _dropped,
            clock=lane.clock if lane is not None else _wall_ms,
            currency_exponent=self.config.core_settings().currency_exponent,
            language=self.config.default_language,
            training=self.config.sections["kiosk"]["training"],
        )
        if lane is not None:  # remote assistance mirrors this window's screen
            lane.attach_view_model(self.vm)
        self._show_problems()
        if lane is not None:
            try:
                lane.start()
            except Exception as err:  # a damaged journal, a catalog that will not load ...
                logger.exception("the lane did not start")
                self.lane = None
                self._fail(f"the lane did not start: {err}")
        if self.lane is not None and self.ui["recheck_s"] > 0:
            self._recheck = threading.Thread(target=self._watch_loop, name="kiosk-watch",
                                             daemon=True)  # fmt: skip
            self._recheck.start()
        return self.report

    def _catalog(self) -> Catalog:
        from kiosk.replay import load_catalog_file

        try:
            exponent = self.config.core_settings().currency_exponent
            return load_catalog_file(self.config.catalog_path, exponent)
        except Exception as err:
            self._fail(f"catalog {self.config.catalog_path}: {err}")
            return Catalog(())

    def _build_lane(self, catalog: Catalog) -> None:
        from kiosk.app import Lane

        if LANE_FAILED in self.problems:
            return  # no catalog: nothing to sell
        try:
            self.lane = Lane(self.config, catalog=catalog, on_events=self._on_events)
        except Exception as err:  # e.g. a USB printer without pyusb
            logger.exception("the lane could not be built")
            self._fail(f"the lane could not be built: {err}")

    def _on_events(self, events: list[Any]) -> None:
        if self.vm is not None:
            self.vm.on_events(events)

    def _fail(self, reason: str) -> None:
        with self._lock:
            self.problems[LANE_FAILED] = ProbeResult(LANE_FAILED, Status.FAILED, reason, True)
        self._show_problems()

    def reason(self) -> str | None:
        with self._lock:
            problems = list(self.problems.values())
        return "; ".join(p.line() for p in problems) or None

    def _show_problems(self) -> None:
        if self.vm is not None:
            self.vm.set_out_of_service(self.reason())
        if self.lane is not None:  # the attendants' tablets show it too (lane state)
            self.lane.set_out_of_service(self.reason())

    def _watch_loop(self) -> None:
        """Every ``recheck_s``: failed devices again (back in service once all are well),
        and the required ones that work (out of service after two bad checks in a row,
        only between sales: a sale in progress is the attendant's to finish)."""
        timeout = float(self.ui["probe_timeout_s"])
        watched = [d for d in self.ui["required"] if enabled(self.config, d)]
        strikes: dict[str, int] = {}
        while not self._stop.wait(self.ui["recheck_s"]):
            with self._lock:
                if LANE_FAILED in self.problems or self.lane is None:
                    return
                out = set(self.problems)
            for device in watched:
                try:
                    now = live_check(self.lane, self.config, device, timeout,
                                     out_of_service=bool(out))  # fmt: skip
                except Exception as err:
                    now = ProbeResult(device, Status.FAILED, f"check failed: {err!r}", True)
                with self._lock:
                    if now.status is Status.OK:
                        strikes.pop(device, None)
                        if self.problems.pop(device, None) is not None:
                            logger.warning("kiosk: %s is back (%s)", now.label, now.reason)
                    elif device in self.problems:
                        self.problems[device] = now  # still out: the newest words
                    else:
                        strikes[device] = strikes.get(device, 0) + 1
                        if strikes[device] >= 2 and self._no_sale():
                            logger.warning("kiosk: out of service: %s", now.line())
                            self.problems[device] = now
            self._show_problems()

    def _no_sale(self) -> bool:
        return self.vm is None or self.vm.snapshot().lane_state in NO_SALE

    # --- the window -------------------------------------------------------------------

    def make_app(self) -> Any:
        """The shopper app in kiosk mode; the PIN guard is installed when it starts."""
        from kiosk.ui.app import ShopperApp
        from kiosk.ui.kiosk_exit import KioskExit

        self.app = ShopperApp(
            self.vm,
            fullscreen=self.fullscreen,
            large_text=self.ui["large_text"],
            high_contrast=self.ui["high_contrast"],
            preview=self.preview_source(),
            print_receipt=None,  # the lane prints each completed sale itself
            window_size=self.window_size,
        )
        self.exit = KioskExit(self.guard, self._leave, Path(self.config.data_dir) / "audit.jsonl")
        self.app.bind(on_start=lambda *_a: self.exit.install())
        return self.app

    def _leave(self) -> None:
        logger.warning("kiosk mode: left with the attendant PIN")
        self.exited.set()
        if self._on_exit is not None:
            self._on_exit()
        elif self.app is not None:
            self.app.stop()

    def preview_source(self) -> Any:
        """The newest camera frame for the preview, with the lane's zones drawn.

        The vision worker takes each frame from the camera exactly once, so the preview
        keeps a copy of what the worker took rather than taking frames itself."""
        if not self.ui["preview"] or self.lane is None or self.lane.vision is None:
            return None
        from kiosk.ui.widgets.overlay import PreviewFrame, PreviewTrack

        worker = self.lane.vision
        zones = self._zones()

        def latest() -> PreviewFrame | None:
            view = worker.latest_view  # swapped whole by the vision thread: no lock needed
            if view is None:
                return None
            frame, tracks = view
            marks = [PreviewTrack(box, track_id, label) for box, track_id, label in tracks]
            return PreviewFrame(frame.image, zones, marks)

        return latest

    def _zones(self) -> dict[str, Any]:
        from vision.zones import ZoneMap

        path = self.config.sections["vision"]["zones_file"] or "examples/zones.json"
        try:
            return {z.name: z.polygon for z in ZoneMap.load(Path(path)).zones}
        except Exception:
            logger.warning("preview: zones file %s unreadable; showing frames only", path)
            return {}

    # --- running and stopping ---------------------------------------------------------

    def run(self) -> int:
        """Probe, start, show the window until the attendant leaves (or SIGTERM)."""
        self.prepare()
        app = self.make_app()
        try:
            app.run()
        finally:
            self.close()
        return 0

    def close(self) -> None:
        self._stop.set()
        if self.exit is not None:
            try:
                self.exit.uninstall()
            except Exception:
                logger.debug("kiosk exit guard was not installed", exc_info=True)
        if self._recheck is not None:
            self._recheck.join(timeout=float(self.ui["probe_timeout_s"]) + 5)
        if self.lane is not None:
            self.lane.stop()
            self.lane = None


def _dropped(_item: Input) -> None:
    logger.warning("the lane is not running: a touch was dropped")


def _wall_ms() -> int:
    from kiosk.app import wall_ms

    return wall_ms()
