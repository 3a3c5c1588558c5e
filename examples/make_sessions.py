"""Regenerate the example input logs in examples/sessions/ (run: python examples/make_sessions.py).

Payment amounts are computed by running the core, so the logs stay right when prices change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kiosk.core.barcodes import gtin_check_digit
from kiosk.core.inputs import input_from_dict
from kiosk.core.session import Checkout
from kiosk.replay import DEFAULT_CATALOG, load_catalog_file

OUT = Path(__file__).parent / "sessions"
T0 = 1764061200.0  # 2025-11-25 09:00:00 UTC


def label(prefix: str, item: str, value: str) -> str:
    body = prefix + item + value
    return body + str(gtin_check_digit(body))


class Log:
    def __init__(self) -> None:
        self.t = T0
        self.lines: list[dict[str, Any]] = []

    def add(self, dt: float, **fields: Any) -> None:
        self.t = round(self.t + dt, 3)
        self.lines.append({"t": self.t, **fields})

    def pay(self, dt: float, method: str = "card", tip: int = 0) -> None:
        """Pay exactly what the core says is due (plus ``tip`` for cash overpayment)."""
        checkout = Checkout(load_catalog_file(DEFAULT_CATALOG))
        for line in self.lines:
            checkout.apply(input_from_dict(line))
        due = checkout.amount_due()
        self.add(
            dt,
            type="payment",
            approved=True,
            amount_minor=due + tip,
            method=method,
            reference=f"T{len(self.lines):04d}",
        )

    def write(self, name: str) -> None:
        OUT.mkdir(exist_ok=True)
        text = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in self.lines)
        (OUT / name).write_text(text, encoding="utf-8")


def plain_basket() -> None:
    log = Log()
    log.add(0, type="shopper", action="start", args={"language": "en"})
    log.add(3.1, type="barcode", data="6902974302088", symbology="EAN13")
    log.add(2.4, type="barcode", data="6902974302088", symbology="EAN13")
    log.add(0.3, type="barcode", data="6902974302088", symbology="EAN13", source="camera")
    log.add(2.9, type="barcode", data="6900840100110", symbology="EAN13")
    log.add(3.3, type="barcode", data="049000028911", symbology="UPCA")
    log.add(2.2, type="barcode", data="6901000021375", symbology="EAN13")
    log.add(4.0, type="shopper", action="pay", args={"method": "card"})
    log.pay(9.5)
    log.write("plain-basket.jsonl")


def produce_by_weight() -> None:
    log = Log()
    log.add(0, type="shopper", action="start", args={"language": "zh"})
    log.add(4.0, type="weight", platform="scan", weight_g=1180, stable=False)
    log.add(0.6, type="weight", platform="scan", weight_g=1184, stable=True)
    log.add(2.5, type="shopper", action="add_item", args={"plu": "4011"})
    log.add(3.0, type="weight", platform="scan", weight_g=0, stable=True)
    log.add(2.0, type="shopper", action="add_item", args={"plu": "4131"})
    log.add(2.2, type="weight", platform="scan", weight_g=905, stable=False)
    log.add(0.5, type="weight", platform="scan", weight_g=912, stable=True)
    log.add(3.0, type="weight", platform="scan", weight_g=0, stable=True)
    log.add(2.0, type="barcode", data="6902031100114", symbology="EAN13")
    log.add(4.0, type="shopper", action="pay", args={"method": "qr"})
    log.pay(12.0, method="qr")
    log.write("produce-by-weight.jsonl")


def embedded_price() -> None:
    log = Log()
    log.add(0, type="barcode", data=label("21", "10001", "01234"), symbology="EAN13")
    log.add(3.0, type="barcode", data=label("23", "10002", "02590"), symbology="EAN13")
    log.add(
        3.0,
        type="barcode",
        data="(01)06971201001025(3103)000652(17)261231",
        symbology="DATABAR_EXP",
    )
    log.add(4.0, type="shopper", action="pay", args={"method": "cash"})
    log.pay(20.0, method="cash", tip=1500)
    log.write("embedded-price.jsonl")


def age_restricted() -> None:
    log = Log()
    log.add(0, type="shopper", action="start", args={"language": "en"})
    log.add(2.0, type="barcode", data="6901035603102", symbology="EAN13")
    log.add(2.5, type="barcode", data="6924475001505", symbology="EAN13")
    log.add(3.0, type="shopper", action="pay", args={"method": "card"})
    log.add(20.0, type="attendant", command="approve_age", attendant_id="att-07", args={})
    log.add(3.0, type="shopper", action="pay", args={"method": "card"})
    log.add(
        8.0,
        type="payment",
        approved=False,
        amount_minor=1300,
        method="card",
        reason="insufficient funds",
    )
    log.pay(10.0)
    log.write("age-restricted.jsonl")


def cancelled() -> None:
    log = Log()
    log.add(0, type="shopper", action="start", args={"language": "en"})
    log.add(2.0, type="barcode", data="6902279010107", symbology="EAN13")
    log.add(2.0, type="barcode", data="6902511203311", symbology="EAN13")
    log.add(5.0, type="shopper", action="cancel", args={})
    log.add(
        30.0, type="attendant", command="approve", attendant_id="att-07", args={"alert_id": "A1-1"}
    )
    log.write("cancelled.jsonl")


def bad_input() -> None:
    """Garbage of every kind in the middle of a sale that still completes."""
    log = Log()
    log.add(0, type="shopper", action="start", args={"language": "en"})
    log.add(2.0, type="barcode", data="6902974302089", symbology="EAN13")  # bad check digit
    log.add(2.0, type="barcode", data=label("692000", "000000", ""), symbology="EAN13")  # unknown
    log.add(1.0, type="weight", platform="scan", weight_g=-40, stable=True)  # negative, status ok
    log.add(1.0, type="attendant", command="open_drawer", attendant_id="att-07", args={})
    log.add(1.0, type="shopper", action="dance", args={})
    log.add(2.0, type="barcode", data="6900840100110", symbology="EAN13")
    log.add(4.0, type="shopper", action="pay", args={"method": "card"})
    log.pay(9.0)
    log.write("bad-input.jsonl")
    path = OUT / "bad-input.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(3, "{this is not json\n")
    lines.insert(5, '{"t": 1764061210.0, "type": "teleport"}\n')
    path.write_text("".join(lines), encoding="utf-8")


def security_lane() -> None:
    """A shopper with an own bag, a camera-suggested item, a forgotten scan fixed after the
    nudge, organic bananas typed as ordinary ones (flagged), and a sack of rice kept in
    the cart: every mismatch-detection event (docs/mismatch.md) on a lane with a scanner."""
    log = Log()

    def settle(dt: float, grams: int) -> None:
        log.add(dt, type="weight", platform="bagging", weight_g=grams - grams // 3, stable=False)
        log.add(0.6, type="weight", platform="bagging", weight_g=grams, stable=True)

    def ticks(seconds: float) -> None:
        for _ in range(int(seconds / 0.5)):
            log.add(0.5, type="tick")

    log.add(0, type="weight", platform="bagging", weight_g=0, stable=True)
    log.add(1.0, type="shopper", action="start", args={"language": "en"})
    log.add(1.0, type="shopper", action="own_bag", args={})
    settle(1.5, 38)  # bag_accepted
    log.add(2.0, type="track", track_id=1, label="item", zone="scan", confidence=0.9)
    log.add(0.4, type="barcode", data="6902974302088", symbology="EAN13", source="scanner")
    log.add(0.8, type="track", track_id=1, label="item", zone="bagging", confidence=0.9)
    settle(0.3, 38 + 575)
    # The scanner cannot read this can; the camera knows it: one-tap confirmation.
    log.add(2.0, type="track", track_id=2, label="item", zone="scan", confidence=0.92,
            sku="DRK-003", identity_score=0.91)  # fmt: skip
    ticks(3.0)  # item_suggested
    log.add(1.0, type="shopper", action="confirm_item", args={"sku": "DRK-003", "track_id": 2})
    log.add(0.8, type="track", track_id=2, label="item", zone="bagging", confidence=0.9)
    settle(0.3, 38 + 575 + 349)
    # Chips straight into the bag: nudged, then scanned with the handheld: self-corrected.
    log.add(2.0, type="track", track_id=3, label="item", zone="scan", confidence=0.88)
    log.add(0.6, type="track", track_id=3, label="item", zone="bagging", confidence=0.88)
    settle(0.3, 38 + 575 + 349 + 83)
    ticks(1.5)
    log.add(1.5, type="barcode", data="6924475001505", symbology="EAN13", source="scanner")
    # Organic bananas on the produce scale, typed as ordinary 4011: questioned, then flagged.
    log.add(2.0, type="track", track_id=4, label="item", zone="produce_scale", confidence=0.9,
            sku="PRD-013", candidates=[{"sku": "PRD-013", "score": 0.86},
                                       {"sku": "PRD-001", "score": 0.09}])  # fmt: skip
    log.add(0.2, type="weight", platform="scan", weight_g=900, stable=False)
    log.add(0.6, type="weight", platform="scan", weight_g=1204, stable=True)
    log.add(2.0, type="shopper", action="add_item", args={"plu": "4011"})
    ticks(7.0)  # lp_flagged
    log.add(0.5, type="weight", platform="scan", weight_g=0, stable=True)
    log.add(0.5, type="track", track_id=4, label="item", zone="bagging", confidence=0.9)
    settle(0.3, 38 + 575 + 349 + 83 + 1207)
    # A 5 kg sack of rice stays in the cart.
    log.add(3.0, type="barcode", data="6948011770014", symbology="EAN13", source="scanner")
    log.add(1.0, type="shopper", action="skip_bagging", args={})
    log.add(2.0, type="shopper", action="pay", args={"method": "card"})
    log.pay(6.0)
    log.add(3.0, type="shopper", action="rate", args={"score": 5, "txn_no": 1})
    log.write("security-lane.jsonl")


if __name__ == "__main__":
    for make in (
        plain_basket,
        produce_by_weight,
        embedded_price,
        age_restricted,
        cancelled,
        bad_input,
        security_lane,
    ):
        make()
        print("wrote", make.__name__)
