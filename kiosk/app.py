"""The composition root: config → adapters → engine thread.

``Lane`` owns one running checkout lane: the engine thread (core + journal), the scales,
the payment terminal, the receipt printer, the light tower and (when configured) the MQTT
link. Device threads only ``put`` inputs; the engine thread only queues device actions,
so a slow printer or a hung terminal never stalls a scan.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig
from kiosk.core.catalog import Catalog
from kiosk.core.events import Event, EventType
from kiosk.core.inputs import BarcodeRead, Input, PaymentResult, Platform, Tick
from kiosk.core.kpis import KpiTracker
from kiosk.core.session import State
from kiosk.engine import Engine, EngineThread
from kiosk.ops.telemetry import LaneTelemetry, tele_fields
from kiosk.replay import load_catalog_file

logger = logging.getLogger(__name__)

TICK_S = 1.0


def wall_ms() -> int:
    return int(time.time() * 1000)


class DeviceWorker(threading.Thread):
    """Runs device actions (print, pay, lamp) off the engine thread, one at a time."""

    def __init__(self) -> None:
        super().__init__(name="lane-devices", daemon=True)
        self._queue: queue.Queue[Callable[[], object] | None] = queue.Queue()

    def submit(self, action: Callable[[], object]) -> None:
        self._queue.put(action)

    def stop(self) -> None:
        self._queue.put(None)
        self.join(timeout=5)

    def run(self) -> None:
        while (action := self._queue.get()) is not None:
            try:
                action()
            except Exception:  # a device failure is shown in its health, never fatal
                logger.exception("device action failed")


class Lane:
    def __init__(
        self,
        config: KioskConfig,
        *,
        catalog: Catalog | None = None,
        on_events: Callable[[list[Event]], None] | None = None,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.config = config
        self.clock = clock
        self._catalog = catalog
        self._on_events = on_events
        self.devices = DeviceWorker()
        self.engine_thread = EngineThread(self._make_engine, self._dispatch)
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick_loop, name="lane-ticker", daemon=True)
        self._light_state: str | None = None
        self.scales: list[Any] = []
        self.payment: Any = None
        self.printer: Any = None
        self.light: Any = None
        self.link: Any = None
        self.relay: Any = None
        self.snapshots: Any = None
        self.vision: Any = None
        self.lane_state: Any = None  # backend_client.lane_state summary, with the MQTT link
        self.screen: Any = None  # backend_client.screen_state publisher, with the MQTT link
        self._screen_vm: Any = None  # the shopper window's view model (attach_view_model)
        self.backups: Any = None  # kiosk.ops.backup_schedule, when [ops] backup_dir is set
        self._lane_state_lock = threading.Lock()
        self._out_of_service: str | None = None
        # Loss-prevention KPIs of this process's sessions, for telemetry and `health()`.
        self.kpis = KpiTracker()
        self._kpi_lock = threading.Lock()
        # Health and KPIs for the tele topic and the loopback /metrics endpoint ([ops]).
        self.telemetry = LaneTelemetry(self)
        self.metrics: Any = None
        self._build_devices()

    # --- construction -------------------------------------------------------------------

    def _make_engine(self) -> Engine:
        settings = self.config.core_settings()
        catalog = self._catalog or load_catalog_file(
            self.config.catalog_path, settings.currency_exponent
        )
        return Engine(catalog, settings, Path(self.config.data_dir))

    def _build_devices(self) -> None:
        from hardware.scale.config import scale_from_config

        sections = self.config.sections
        for name, platform in (("scan_scale", Platform.SCAN), ("bagging_scale", Platform.BAGGING)):
            scale = scale_from_config(sections[name], platform, self.put, self._scanner_scale_code)
            if scale is not None:
                self.scales.append(scale)
        payment = sections["payment"]
        self.payment_sim: Any = None
        if sections["kiosk"]["training"]:
            # Training: no real money moves, whatever [payment] says (docs/training.md).
            from hardware.payment import PaymentTerminalSimulator, SerialPaymentTerminal

            self.payment_sim = PaymentTerminalSimulator()
            self.payment = SerialPaymentTerminal(
                self.payment_sim.start(),
                lambda outcome: self.put(outcome.to_input(self.clock())),
                timeout_s=payment["timeout_s"],
            )
            logger.warning("TRAINING mode: payments go to the simulated terminal only")
        elif payment["enabled"]:
            from hardware.payment import SerialPaymentTerminal

            self.payment = SerialPaymentTerminal(
                payment["port"],
                lambda outcome: self.put(outcome.to_input(self.clock())),
                timeout_s=payment["timeout_s"],
            )
        printer = sections["printer"]
        if printer["enabled"]:
            from hardware.printer import ReceiptPrinter

            self.printer = ReceiptPrinter.from_url(
                printer["url"], encoding=printer["encoding"], width_chars=printer["width_chars"]
            )
        tower = sections["light_tower"]
        if tower["enabled"]:
            from hardware.light_tower import LightTower

            self.light = LightTower(tower["port"])
        if sections["camera"]["enabled"]:
            self._build_vision()

    def _build_vision(self) -> None:
        from vision.camera import Camera
        from vision.worker import VisionWorker, build_pipeline

        sections = self.config.sections
        camera = Camera(sections["camera"]["url"], reconnect_s=sections["camera"]["reconnect_s"])

        def make_pipeline(size: tuple[int, int]) -> Any:
            # Built on the vision thread at the first frame, after the backend link (when
            # there is one) is up: its spool sends the evidence JPEGs that alerts cite.
            link = self.link
            return build_pipeline(
                sections,
                self.config.data_dir,
                size,
                sku_for_code=self._sku_for_code,
                config=self.config,
                products=self._catalog_now,
                spool=self.snapshots,
                kiosk_id=self.config.kiosk_id,
                boot_id=link.boot_id if link is not None else "",
            )

        def put_counted(item: Input) -> None:
            self.telemetry.vision_input(item)
            self.put(item)

        self.vision = VisionWorker(camera, make_pipeline, put_counted)

    def _sku_for_code(self, gtin: str) -> str | None:
        """The SKU a camera read claims (for the identity check); None when unknown."""
        engine = self.engine_thread.engine
        if engine is None:
            return None
        product = engine.checkout.catalog.by_gtin(gtin)  # the catalog is swapped, not mutated
        return product.sku if product is not None else None

    def _catalog_now(self) -> Catalog | None:
        """The catalog the sale uses now (the produce recogniser names its SKUs)."""
        engine = self.engine_thread.engine
        return engine.checkout.catalog if engine is not None else None

    def _scanner_scale_code(self, data: str, symbology: str) -> None:
        self.put(BarcodeRead(self.clock(), data, symbology, "scanner_scale"))

    # --- running ------------------------------------------------------------------------

    def start(self) -> None:
        self.devices.start()
        self.engine_thread.start()
        if not self.engine_thread.ready.wait(30):
            raise RuntimeError("the engine did not start within 30 s")
        if self.engine_thread.start_error is not None:
            self.devices.stop()
            raise self.engine_thread.start_error
        self._resume_payment()
        for scale in self.scales:
            scale.start()
        if self.config.sections["mqtt"]["enabled"]:
            self._start_backend_link()
        if self.vision is not None:  # after the link: its evidence goes out on the spool
            self.vision.start()
        self._ticker.start()
        self._start_metrics()
        if self.config.sections["ops"]["backup_dir"]:
            from kiosk.ops.backup_schedule import BackupScheduler

            self.backups = BackupScheduler.for_lane(self.config)
            self.backups.start()

    def _start_metrics(self) -> None:
        """Prometheus text on 127.0.0.1 only; a taken port is logged, the lane still sells."""
        from kiosk.ops.metrics_http import MetricsServer, render_metrics

        port = self.config.sections["ops"]["metrics_port"]
        if not port:
            return
        try:
            self.metrics = MetricsServer(lambda: render_metrics(self.telemetry.snapshot()), port)
        except OSError as err:
            logger.error("metrics endpoint off: cannot listen on 127.0.0.1:%d (%s)", port, err)
            return
        self.metrics.start()
        logger.info("metrics on %s", self.metrics.url)

    def _resume_payment(self) -> None:
        """A sale recovered while the terminal had its request: whatever happened to that
        request died with the old process, so ask again for what is still due."""
        engine = self.engine_thread.engine
        if self.payment is None or engine is None:
            return
        checkout = engine.checkout  # safe: no input has been queued yet
        if checkout.state is not State.PAYMENT or not checkout.awaiting_payment:
            return
        amount, ref = checkout.amount_due(), f"R{checkout.seq}"
        currency = self.config.sections["payment"]["currency"] or checkout.settings.currency
        logger.warning("resuming payment of %d after a restart (ref %s)", amount, ref)
        self.devices.submit(lambda: self._start_payment(amount, currency, ref))

    def stop(self) -> None:
        """Producers first (their last inputs still reach the journal), then the engine,
        then the devices (queued prints and lamps finish)."""
        self._stop.set()
        if self.metrics is not None:
            self.metrics.stop()
        if self.backups is not None:
            self.backups.stop()
        if self._ticker.is_alive():
            self._ticker.join(timeout=5)
        if self.link is not None:
            self.link.stop()
        for scale in self.scales:
            scale.stop()
        if self.vision is not None:
            self.vision.stop()
        if self.payment is not None:
            self.payment.close()
        if self.payment_sim is not None:
            self.payment_sim.stop()
        self.engine_thread.stop()
        self.engine_thread.join(timeout=10)
        if self.light is not None:
            self.devices.submit(self.light.close)
        self.devices.stop()

    # --- backend link -------------------------------------------------------------------

    def _start_backend_link(self) -> None:
        """MQTT 5: the outbox relay publishes the journal's events; signed commands come
        back as inputs (attendant actions) or effects (catalog, settings, replays)."""
        from backend_client.client import KioskLink
        from backend_client.contract import TopicTree
        from backend_client.relay import OutboxRelay

        values = self.config.sections["mqtt"]
        engine = self.engine_thread.engine
        assert engine is not None
        broker = values["broker"]
        tls = [values[k] for k in ("tls_ca_file", "tls_cert_file", "tls_key_file")]
        if all(tls):
            broker += f"?ca={tls[0]}&cert={tls[1]}&key={tls[2]}"
        intake = None
        if values["trust_dir"]:
            from backend_client.commands import CommandIntake, TrustStore

            intake = CommandIntake(
                TrustStore.load(values["trust_dir"]),
                self.config.kiosk_id,
                Path(self.config.data_dir) / "commands.sqlite3",
                # Pending versions count: a push must be newer than anything installed.
                current_catalog_version=lambda: (
                    engine.catalogs.newest_version() if engine.catalogs else engine.catalog_version
                ),
            )
        self.link = KioskLink(
            broker,
            TopicTree(self.config.store_id, self.config.kiosk_id, values["prefix"]),
            keepalive_s=values["keepalive_s"],
            catalog_version=engine.catalog_version,
            intake=intake,
            on_input=self.put,
            on_effect=self._on_effect,
        )
        self.relay = OutboxRelay(
            self.link,
            Path(self.config.data_dir) / "journal.sqlite3",
            retention_days=values["retention_days"],
            budget_mb=values["budget_mb"],
            alarm_fraction=values["alarm_fraction"],
            tele_interval_s=self.config.sections["ops"]["tele_interval_s"],
        )
        self.relay.tele_extra = lambda: tele_fields(self.telemetry.snapshot())
        from backend_client.snapshots import SnapshotPublisher, SnapshotSpool

        # Vision adds evidence here; alerts cite it by snap id.
        self.snapshots = SnapshotSpool(Path(self.config.data_dir) / "snapshots")
        SnapshotPublisher(self.link, self.snapshots)
        from backend_client.lane_state import LaneStateSummary

        self.lane_state = LaneStateSummary(
            self.config.kiosk_id, self.config.store_id, self.config.core_settings().currency
        )
        self.lane_state.set_out_of_service(self._out_of_service)
        # Retained: a tablet that (re)joins sees the lane at once; again after every CONNACK
        # because a broker restarted without persistence has forgotten it.
        self.link.add_connect_hook(self._republish_lane_state)
        self.engine_thread.call(lambda e: self._publish_lane_state(e, [], force=True))
        self._start_screen_publisher(engine)
        self.link.start()

    def attach_view_model(self, vm: Any) -> None:
        """The shopper window's view model (before ``start``): its screen is the one
        published for remote assistance; without one the lane keeps a headless copy."""
        self._screen_vm = vm

    def _start_screen_publisher(self, engine: Engine) -> None:
        from backend_client.screen_state import ScreenPublisher
        from kiosk.ui.viewmodel import ShopperViewModel

        settings = self.config.core_settings()
        vm = self._screen_vm
        if vm is None:
            vm = ShopperViewModel(
                engine.checkout.catalog, put=self.put, clock=self.clock,
                currency_exponent=settings.currency_exponent,
                language=self.config.default_language,
            )  # fmt: skip
            vm.set_out_of_service(self._out_of_service)
        self.screen = ScreenPublisher(
            vm, self.link.publish_threadsafe, self.link.topics.screen,
            kiosk_id=self.config.kiosk_id, store_id=self.config.store_id,
            currency=settings.currency, currency_exponent=settings.currency_exponent,
            owns_vm=self._screen_vm is None,
        )  # fmt: skip
        self.link.add_pump(self.screen.pump)
        self.link.add_connect_hook(self.screen.republish)

    def set_out_of_service(self, reason: str | None) -> None:
        """The kiosk mode took the lane out of (or back into) service: tablets see it."""
        self._out_of_service = reason
        if self.screen is not None:
            self.screen.set_out_of_service(reason)
        if self.lane_state is not None:
            self.engine_thread.call(lambda e: self._publish_lane_state(e, [], oos=reason))

    def _publish_lane_state(
        self, engine: Engine, events: list[Event], *, force: bool = False, oos: Any = False
    ) -> None:
        """On the engine thread: summarise the lane and hand it to the link if it changed."""
        from backend_client.lane_state import encode

        with self._lane_state_lock:
            if oos is not False:
                self.lane_state.set_out_of_service(oos)
            body = self.lane_state.update(engine.checkout, events)
            if body is None and (force or oos is not False):
                body = self.lane_state.current()
        if body is not None:
            self.link.publish_threadsafe(self.link.topics.state, encode(body), 1, True)

    def _republish_lane_state(self) -> None:
        from backend_client.lane_state import encode

        with self._lane_state_lock:
            body = self.lane_state.current()
        if body is not None:
            self.link.publish_threadsafe(self.link.topics.state, encode(body), 1, True)

    def _on_effect(self, effect: str, args: dict[str, Any]) -> None:
        """Effects of accepted backend commands; engine changes run on the engine thread."""
        if effect == "replay_request":
            self.relay.handle_effect(effect, args)
        elif effect == "catalog_update":
            version, csv, digest = args["version"], args["csv"], args["sha256"]
            self.engine_thread.call(
                lambda e: logger.info(
                    "catalog v%s: %s", version, e.offer_catalog(version, csv, digest)
                )
            )
        elif effect == "config_change" and args.get("section") == "checkout":
            key, value = args["key"], args["value"]
            self.engine_thread.call(
                lambda e: logger.info("checkout.%s: %s", key, e.offer_setting(key, value))
            )
        else:
            logger.warning("effect %s %s is not applied while running", effect, args)

    def put(self, item: Input) -> None:
        self.engine_thread.put(item)

    def _tick_loop(self) -> None:
        while not self._stop.wait(TICK_S):
            self.put(Tick(self.clock()))

    # --- events → devices (runs on the engine thread: queue, never block) ---------------

    def _dispatch(self, events: list[Event]) -> None:
        engine = self.engine_thread.engine
        with self._kpi_lock:
            for event in events:
                record = event.to_dict()
                self.kpis.observe(record)
                self.telemetry.observe(record)
        for event in events:
            self._route(event)
        if self.light is not None and engine is not None:
            self._update_light(engine)
        if self.lane_state is not None and engine is not None and events:
            self._publish_lane_state(engine, events)
        if self.screen is not None and engine is not None and events:
            alerts = [a.to_dict() for a in engine.checkout.alerts.open_alerts()]
            self.screen.on_events(events, alerts)
        if self._on_events is not None:
            self._on_events(events)

    def _route(self, event: Event) -> None:
        data = event.data
        if event.type is EventType.PAYMENT_REQUESTED and self.payment is not None:
            amount, ref = int(data["amount_minor"]), f"S{event.seq}"
            currency = (
                self.config.sections["payment"]["currency"] or self.config.core_settings().currency
            )
            self.devices.submit(lambda: self._start_payment(amount, currency, ref))
        elif event.type is EventType.PAYMENT_CANCELLED and self.payment is not None:
            self.devices.submit(self.payment.cancel)
        elif event.type is EventType.ITEM_ADDED and self.vision is not None:
            line = data["line"]
            if line.get("weight_g"):  # weighed produce: a labelled crop for the closed loop
                self.vision.produce_picked(str(line["sku"]))
            if line.get("entry") == "scan" and data.get("source", "scanner") != "camera":
                # A scanner read names the item in the scan zone: vision scores its identity
                # (a camera read of the same SKU was already scored, and is not re-sent).
                self.vision.item_claimed(str(line["sku"]))
        elif event.type is EventType.TRANSACTION_COMPLETED and self.printer is not None:
            receipt = dict(data["receipt"])
            self.devices.submit(lambda: self.printer.print_receipt(receipt, receipt["language"]))

    def _start_payment(self, amount: int, currency: str, ref: str) -> None:
        try:
            self.payment.start(amount, currency, ref)
        except Exception as err:  # the shopper must see a decline, not a frozen screen
            logger.exception("payment terminal refused the request")
            reason = f"terminal unavailable: {type(err).__name__}"
            self.put(PaymentResult(self.clock(), False, amount, "card", "", reason))

    def _update_light(self, engine: Engine) -> None:
        from hardware.light_tower import light_state_for

        checkout = engine.checkout
        alerts = [a.to_dict() for a in checkout.alerts.open_alerts()]
        state = light_state_for(checkout.state.value, alerts, locked=checkout.locked)
        if state != self._light_state:
            self._light_state = state
            self.devices.submit(lambda: self.light.set_state(state))

    def health(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scales": [s.health().to_dict() for s in self.scales]}
        with self._kpi_lock:
            out["kpis"] = self.kpis.summary()
        if self.link is not None:
            out["mqtt"] = {"link": vars(self.link.health), "relay": vars(self.relay.health)}
        if self.vision is not None:
            out["vision"] = self.vision.health()
        for name in ("payment", "printer", "light"):
            device = getattr(self, name)
            if device is not None:
                out[name] = device.health().to_dict()
        return out
