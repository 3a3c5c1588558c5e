"""Simulated kiosks for the attendant tablet: real ``kiosk.app.Lane`` objects (headless,
MQTT on) on a broker, driven by the inputs a shopper's scanner, bagging scale and camera
would send.

``DemoFloor`` starts a private mosquitto on a free loopback port when no broker is given,
enrols a demo attendant key (PIN ``DEMO_PIN``) into a keyring and writes the kiosks'
trust_dir with its public key, so the tablet's signed commands are the only ones the
lanes accept. ``SimLane`` holds the scripted sales: an 18+ item that raises an age check,
and an item carried from the scanner to the bag without a read, which raises a non-scan
whose evidence cites a rendered camera snapshot (``DemoCamera``), sent like a camera lane's.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.attendant.demo_camera import DemoCamera
from kiosk.core.events import Event
from kiosk.core.inputs import (
    BarcodeRead,
    Input,
    ItemTrack,
    PaymentResult,
    Platform,
    ShopperAction,
    WeightReading,
)
from kiosk.errors import KioskError
from kiosk.replay import DEFAULT_CATALOG

logger = logging.getLogger(__name__)

DEMO_STORE = "demo-store"
DEMO_ATTENDANT = "att-demo"
DEMO_PIN = "2468"
DEMO_KEY_ID = "tablet-demo"
# Items of the scripted sales: (GTIN, symbology, catalog weight in g).
WATER = ("6902974302088", "EAN13", 572)
COLA = ("6902949100183", "EAN13", 348)
BEER = ("6901035603102", "EAN13", 525)  # Tsingtao, 18+


def find_mosquitto() -> str:
    """The broker binary: $OPENSCO_MOSQUITTO, then PATH, then Debian's /usr/sbin."""
    binary = os.environ.get("OPENSCO_MOSQUITTO") or shutil.which("mosquitto")
    if not binary and Path("/usr/sbin/mosquitto").exists():
        binary = "/usr/sbin/mosquitto"
    if not binary:
        raise KioskError(
            "the attendant demo needs mosquitto to start its own broker, and none was found "
            "(set OPENSCO_MOSQUITTO, install the Debian package 'mosquitto', or give --broker URL)"
        )
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateBroker:
    """A mosquitto on a free loopback port, anonymous, no persistence; for the demo only."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> str:
        binary = find_mosquitto()
        self.port = _free_port()
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n",
            encoding="utf-8",
        )
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self.url
            except OSError:
                if self.proc.poll() is not None:
                    err = (
                        self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                    )
                    raise KioskError(
                        f"mosquitto ({binary}) exited at start: {err.strip()}"
                    ) from None
                time.sleep(0.05)
        self.stop()
        raise KioskError(
            f"mosquitto ({binary}) did not listen on port {self.port} in {timeout_s} s"
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


def lane_config_text(
    kiosk_id: str, store: str, data_dir: Path, broker: str, trust_dir: Path,
    training: bool = False,
) -> str:  # fmt: skip
    """A headless lane with its MQTT link: no scales or terminal (the script is them; a
    training lane pays on its own simulated terminal)."""
    return f"""
[kiosk]
id = "{kiosk_id}"
store = "{store}"
data_dir = "{data_dir}"
training = {"true" if training else "false"}

[checkout]
camera_scans = false

[catalog]
path = "{DEFAULT_CATALOG}"

[mqtt]
enabled = true
broker = "{broker}"
trust_dir = "{trust_dir}"
"""


class SimLane:
    """One real lane and a shopper at it: inputs stamped with the lane's clock."""

    def __init__(self, lane: Any, kiosk_id: str, camera: DemoCamera | None = None) -> None:
        self.lane = lane
        self.kiosk_id = kiosk_id
        self.camera = camera  # evidence like a camera lane's; None: a lane without one
        self.snap_ids: list[str] = []  # evidence snapshots this lane's camera kept
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self.bagging_g = 0
        self._track = 0
        self.raised_at: dict[str, float] = {}  # alert kind -> monotonic time the lane raised it

    def on_events(self, events: list[Event]) -> None:  # the engine thread
        now = time.monotonic()
        with self._lock:
            self.events.extend(events)
            for e in events:
                if e.type.value == "alert_raised":
                    self.raised_at.setdefault(str(e.data.get("kind")), now)

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e.data) for e in self.events if e.type.value == kind]

    def types(self) -> list[str]:
        with self._lock:
            return [e.type.value for e in self.events]

    def put(self, item: Input) -> None:
        self.lane.put(item)

    def now(self) -> int:
        return int(self.lane.clock())

    # --- the shopper's hands ------------------------------------------------------------

    def start_sale(self) -> None:
        self.put(WeightReading(self.now(), Platform.BAGGING, self.bagging_g, True))
        self.put(ShopperAction(self.now(), "start", {"language": "en"}))

    def scan(self, item: tuple[str, str, int]) -> None:
        self.put(BarcodeRead(self.now(), item[0], item[1]))

    def bag(self, delta_g: int, settle_s: float = 0.6) -> None:
        """Something put in the bag: the scale moves, then settles."""
        self.put(WeightReading(self.now(), Platform.BAGGING, self.bagging_g + delta_g // 2, False))
        time.sleep(settle_s)
        self.bagging_g += delta_g
        self.put(WeightReading(self.now(), Platform.BAGGING, self.bagging_g, True))

    def scan_and_bag(self, item: tuple[str, str, int]) -> None:
        self.scan(item)
        time.sleep(0.3)
        self.bag(item[2])

    def carry_unscanned(self, item: tuple[str, str, int] = COLA) -> None:
        """The camera follows an item from the scan zone into the bag; no read comes. As a
        camera lane's vision does, the frame of it entering the bag is kept as evidence
        (its box outlined) and its snap id rides on the track, for the alert to cite."""
        self._track += 1
        self.put(ItemTrack(self.now(), self._track, "item", "scan", 0.9))
        snap_id = self.camera.keep_carry(item[0], self.now()) if self.camera else None
        if snap_id is not None:
            with self._lock:
                self.snap_ids.append(snap_id)
        else:
            time.sleep(0.1)  # the carry takes a moment either way
        self.put(ItemTrack(self.now(), self._track, "item", "bagging", 0.9,
                           snapshot_id=snap_id))  # fmt: skip
        time.sleep(0.2)
        self.bag(item[2])

    def pay(self) -> None:
        self.put(ShopperAction(self.now(), "pay", {"method": "card"}))

    def card_approved(self) -> None:
        """The terminal's answer for what the lane asked (no card data, a reference)."""
        if getattr(self.lane, "payment_sim", None) is not None:
            return  # a training lane's simulated terminal answers by itself
        asked = self.of("payment_requested")
        amount = int(asked[-1]["amount_minor"]) if asked else 0
        self.put(PaymentResult(self.now(), True, amount, "card", f"DEMO-{len(asked)}"))

    # --- the scripted sales -----------------------------------------------------------

    def play_age_check(self) -> None:
        """Water, then a beer: the lane asks the attendant for an ID check."""
        self.start_sale()
        time.sleep(0.3)
        self.scan_and_bag(WATER)
        time.sleep(0.3)
        self.scan_and_bag(BEER)

    def play_non_scan(self) -> None:
        """A can carried past the scanner into the bag: a non-scan after the nudge."""
        self.start_sale()
        time.sleep(0.3)
        self.carry_unscanned(COLA)

    def finish_sale(self) -> None:
        """After the attendant: the shopper pays by card."""
        self.pay()


class DemoFloor:
    """N demo lanes on one broker, the demo attendant's keyring and the lanes' trust."""

    def __init__(
        self,
        *,
        broker: str | None = None,
        lanes: int = 2,
        store: str = DEMO_STORE,
        workdir: Path | None = None,
        pin: str = DEMO_PIN,
        attendant_id: str = DEMO_ATTENDANT,
        key_id: str = DEMO_KEY_ID,
        training: bool = False,
    ) -> None:
        if lanes < 1:
            raise KioskError("the demo needs at least one lane")
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="opensco-attendant-demo-"))
        self.broker_url = broker
        self.store = store
        self.lane_count = lanes
        self.pin = pin
        self.attendant_id = attendant_id
        self.key_id = key_id
        self.training = training  # every lane in training mode (docs/training.md)
        self.keyring_dir = self.workdir / "keyring"
        self.trust_dir = self.workdir / "trust"
        self.broker: PrivateBroker | None = None
        self.lanes: dict[str, SimLane] = {}

    def kiosk_ids(self) -> list[str]:
        return [f"lane-{n:02d}" for n in range(1, self.lane_count + 1)]

    def start(self) -> None:
        from kiosk.app import Lane
        from kiosk.attendant.keyring import enroll
        from kiosk.config import parse_config_text

        if self.broker_url is None:
            self.broker = PrivateBroker(self.workdir)
            self.broker_url = self.broker.start()
        public = Path(enroll(self.keyring_dir, self.attendant_id, self.pin, key_id=self.key_id))
        self.trust_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(public, self.trust_dir / f"{self.key_id}.pub")
        (self.trust_dir / "trust.toml").write_text(
            f'[keys.{self.key_id}]\nrole = "attendant"\nissuer = "{self.attendant_id}"\n',
            encoding="utf-8",
        )
        for kiosk_id in self.kiosk_ids():
            data_dir = self.workdir / kiosk_id
            data_dir.mkdir(parents=True, exist_ok=True)
            text = lane_config_text(kiosk_id, self.store, data_dir, self.broker_url,
                                    self.trust_dir, self.training)  # fmt: skip
            config = parse_config_text(text, f"{kiosk_id}.toml")
            sim = SimLane(None, kiosk_id)  # its events arrive from the lane's first batch on
            sim.lane = Lane(config, on_events=sim.on_events)
            sim.camera = DemoCamera(sim.lane, kiosk_id, data_dir)
            sim.lane.start()
            self.lanes[kiosk_id] = sim

    def lane(self, kiosk_id: str) -> SimLane:
        return self.lanes[kiosk_id]

    def wait_linked(self, timeout_s: float = 20.0) -> bool:
        """True once every lane's MQTT link is up."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(s.lane.link is not None and s.lane.link.connected for s in self.lanes.values()):
                return True
            time.sleep(0.05)
        return False

    def run_in_background(self, script: Callable[[], None], name: str) -> threading.Thread:
        """A shopper's script on its own thread (it sleeps between hands)."""

        def guarded() -> None:
            try:
                script()
            except Exception:
                logger.exception("demo script %s failed", name)

        thread = threading.Thread(target=guarded, name=f"demo-{name}", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        for sim in self.lanes.values():
            try:
                sim.lane.stop()
            except Exception:  # shutting down: say it and go on
                logger.exception("demo: stopping %s failed", sim.kiosk_id)
        self.lanes.clear()
        if self.broker is not None:
            self.broker.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)
