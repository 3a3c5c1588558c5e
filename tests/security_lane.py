"""A scripted lane for the mismatch-rule tests: the pure core fed the inputs a real lane's
scanner, bagging scale and camera would send, with the clock advanced by ticks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kiosk.core.catalog import Catalog
from kiosk.core.events import Event
from kiosk.core.inputs import (
    AttendantCommand,
    BarcodeRead,
    Input,
    ItemTrack,
    Platform,
    ShopperAction,
    Tick,
    WeightReading,
)
from kiosk.core.session import Checkout
from kiosk.core.settings import CoreSettings
from kiosk.replay import DEFAULT_CATALOG, load_catalog_file

T0 = 1_764_061_200_000
GTIN = {
    "water": "6902974302088",  # DRK-001 572 g ± 15
    "cola": "6902949100183",  # DRK-003 348 g ± 10
    "chips": "6924475001505",  # SNK-004 82 g ± 5
    "gum": "02212308",  # SNK-009 16 g
    "rice": "6948011770014",  # PAN-003 5030 g
    "baijiu": "6902069901554",  # DRK-010 910 g, age 18
}
SKU = {"water": "DRK-001", "cola": "DRK-003", "chips": "SNK-004", "gum": "SNK-009"}

_CATALOG: Catalog | None = None


def catalog() -> Catalog:
    global _CATALOG
    if _CATALOG is None:
        _CATALOG = load_catalog_file(DEFAULT_CATALOG)
    return _CATALOG


class Lane:
    def __init__(self, settings: CoreSettings | None = None, bagging_start_g: int = 0) -> None:
        self.co = Checkout(catalog(), settings or CoreSettings(camera_scans=False))
        self.now = T0
        self.events: list[Event] = []
        self.bagging = bagging_start_g
        self.next_track = 1
        self.feed(WeightReading(self.now, Platform.BAGGING, bagging_start_g, True))

    # --- plumbing -----------------------------------------------------------------------

    def feed(self, *items: Input) -> list[Event]:
        out: list[Event] = []
        for item in items:
            out += self.co.apply(item)
        self.events += out
        return out

    def wait(self, ms: int, step: int = 500) -> list[Event]:
        out: list[Event] = []
        end = self.now + ms
        while self.now < end:
            self.now = min(self.now + step, end)
            out += self.feed(Tick(self.now))
        return out

    def at(self, ms: int = 0) -> int:
        self.now += ms
        return self.now

    # --- devices ------------------------------------------------------------------------

    def start(self) -> list[Event]:
        return self.feed(ShopperAction(self.at(100), "start", {"language": "en"}))

    def scan(self, name: str, source: str = "scanner", track_id: int | None = None) -> list[Event]:
        code = GTIN[name]
        symbology = "EAN8" if len(code) == 8 else "EAN13"
        return self.feed(BarcodeRead(self.at(300), code, symbology, source, track_id))

    def bag(self, delta_g: int, settle_ms: int = 600) -> list[Event]:
        """Something put on (or taken off) the bagging scale: moving, then settled."""
        out = self.feed(
            WeightReading(self.at(200), Platform.BAGGING, self.bagging + delta_g // 2, False)
        )
        self.bagging += delta_g
        out += self.feed(WeightReading(self.at(settle_ms), Platform.BAGGING, self.bagging, True))
        return out

    def track(self, track_id: int, zone: str, label: str = "item", **kw: Any) -> list[Event]:
        return self.feed(ItemTrack(self.at(100), track_id, label, zone, 0.9, **kw))

    def new_track(self) -> int:
        self.next_track += 1
        return self.next_track

    def shopper(self, action: str, **args: Any) -> list[Event]:
        return self.feed(ShopperAction(self.at(200), action, args))

    def attendant(self, command: str, **args: Any) -> list[Event]:
        return self.feed(AttendantCommand(self.at(200), command, "att-01", args))

    # --- looking at what happened -----------------------------------------------------

    def of(self, kind: str, events: Iterable[Event] | None = None) -> list[dict[str, Any]]:
        return [dict(e.data) for e in (self.events if events is None else events)
                if e.type.value == kind]  # fmt: skip

    def alerts(self) -> list[str]:
        return [a["kind"] for a in self.of("alert_raised")]

    def findings(self) -> list[tuple[str, str]]:
        return [(f["reason"], f["action"]) for f in self.of("mismatch_detected")]

    def resolutions(self) -> list[str]:
        return [r["resolution"] for r in self.of("mismatch_resolved")]
