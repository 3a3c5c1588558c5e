"""A real lane in training mode on a demo floor, and the shopper's hands for each scenario.

``TrainingFloor`` is the attendant demo's floor (``kiosk.attendant.demo.DemoFloor``: a broker,
the demo attendant's keyring, the lanes' trust) with ``[kiosk] training = true`` on every
lane, so the lane marks every event, pays only through the simulated terminal and its
alerts never become sales or review items. ``TrainingLane`` adds the scripts: each plays
the shopper up to the alert (``play``) and, once the trainee has acted, what a shopper does
next (``follow_up``): scan the item, pay.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from kiosk.attendant.demo import BEER, COLA, WATER, DemoFloor, SimLane, lane_config_text
from kiosk.attendant.demo_camera import DemoCamera
from kiosk.core.inputs import ItemTrack, ShopperAction
from kiosk.errors import KioskError

# A nudge the shopper ignores reaches the tablet after this (the lane default is 8 s).
TRAINING_NUDGE_GRACE_MS = 3_000


def training_config_text(
    kiosk_id: str, store: str, data_dir: Path, broker: str, trust_dir: Path,
    nudge_grace_ms: int = TRAINING_NUDGE_GRACE_MS,
) -> str:  # fmt: skip
    """The demo lane's config, in training mode."""
    text = lane_config_text(kiosk_id, store, data_dir, broker, trust_dir, training=True)
    return text + f"\n[security]\nnudge_grace_ms = {nudge_grace_ms}\n"


class TrainingLane(SimLane):
    """The shopper of each scenario. ``play_*`` ends once the lane has the situation;
    ``follow_*`` is what the shopper does after the attendant."""

    def _sku_of(self, gtin: str) -> str:
        engine = self.lane.engine_thread.engine
        product = engine.checkout.catalog.by_gtin(gtin) if engine is not None else None
        if product is None:
            raise KioskError(f"training catalog has no item {gtin}")
        return str(product.sku)

    def pay_and_finish(self) -> None:
        """Card payment: the lane's simulated terminal approves it (training pays nothing)."""
        time.sleep(0.3)
        self.pay()

    # age check: water and a beer; the adult shows ID; then pays.
    def play_age_check(self) -> None:
        super().play_age_check()

    def follow_age_check(self) -> None:
        self.pay_and_finish()

    # non-scan: a can carried past the scanner; after the attendant, it is scanned.
    def play_non_scan(self) -> None:
        super().play_non_scan()

    def follow_non_scan(self) -> None:
        self.scan(COLA)
        self.pay_and_finish()

    def play_ticket_switch(self) -> None:
        """The simplest real switch: the cola's barcode is read, the camera sees an item
        that does not look like a cola (identity 0.1), and the bag gains a water's weight."""
        self.start_sale()
        time.sleep(0.3)
        self.scan(COLA)
        time.sleep(0.2)
        sku = self._sku_of(COLA[0])
        self._track += 1
        self.put(ItemTrack(self.now(), self._track, "item", "scan", 0.9, sku=sku,
                           identity_score=0.1))  # fmt: skip
        time.sleep(0.2)
        self.put(ItemTrack(self.now(), self._track, "item", "bagging", 0.9, sku=sku,
                           identity_score=0.1))  # fmt: skip
        self.bag(WATER[2])

    def follow_ticket_switch(self) -> None:
        """The real item (a water) is scanned; it is already in the bag."""
        self.scan(WATER)
        self.pay_and_finish()

    def play_weight_mismatch(self) -> None:
        """A water scanned; a water and an unscanned can go in the bag together."""
        self.start_sale()
        time.sleep(0.3)
        self.scan(WATER)
        time.sleep(0.3)
        self.bag(WATER[2] + COLA[2])

    def follow_weight_mismatch(self) -> None:
        self.scan(COLA)
        self.pay_and_finish()

    def play_cancelled_sale(self) -> None:
        """Two items, then the shopper presses cancel: the lane asks an attendant."""
        self.start_sale()
        time.sleep(0.3)
        self.scan_and_bag(WATER)
        time.sleep(0.3)
        self.scan_and_bag(COLA)
        time.sleep(0.3)
        self.put(ShopperAction(self.now(), "cancel", {}))

    def follow_cancelled_sale(self) -> None:
        """Nothing to do: the sale is over once approved."""


__all__ = ["BEER", "TrainingFloor", "TrainingLane"]


class TrainingFloor(DemoFloor):
    """The demo floor with its lanes in training mode."""

    def __init__(self, *, nudge_grace_ms: int = TRAINING_NUDGE_GRACE_MS, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.nudge_grace_ms = nudge_grace_ms

    def lane(self, kiosk_id: str) -> TrainingLane:
        sim = self.lanes[kiosk_id]
        assert isinstance(sim, TrainingLane)
        return sim

    def start(self) -> None:
        # As DemoFloor.start, with the training config and TrainingLane.
        from kiosk.app import Lane
        from kiosk.attendant.demo import PrivateBroker
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
            text = training_config_text(kiosk_id, self.store, data_dir, self.broker_url,
                                        self.trust_dir, self.nudge_grace_ms)  # fmt: skip
            config = parse_config_text(text, f"{kiosk_id}.toml")
            sim = TrainingLane(None, kiosk_id)
            sim.lane = Lane(config, on_events=sim.on_events)
            sim.camera = DemoCamera(sim.lane, kiosk_id, data_dir)
            sim.lane.start()
            self.lanes[kiosk_id] = sim
