"""The shopper view-model driven by the real core, no window: what each screen would show."""

from __future__ import annotations

from kiosk.core.inputs import (
    AttendantCommand,
    BarcodeRead,
    Input,
    ItemTrack,
    PaymentResult,
    Platform,
    Tick,
    WeightReading,
)
from kiosk.core.session import Checkout
from kiosk.core.settings import CoreSettings
from kiosk.ui.search import ProductSearch
from kiosk.ui.strings import STRINGS, money, text
from kiosk.ui.viewmodel import ShopperViewModel
from tests.security_lane import GTIN, catalog

T0 = 1_764_061_200_000


class Harness:
    """The core on the "engine" side, the view-model on the "UI" side, one clock."""

    def __init__(self) -> None:
        self.now = T0
        self.co = Checkout(catalog(), CoreSettings(camera_scans=False))
        self.vm = ShopperViewModel(catalog(), put=self.put, clock=lambda: self.now)
        self.seen: list[str] = []
        self.vm.subscribe(lambda s: self.seen.append(s.screen))

    def put(self, item: Input) -> None:
        self.vm.on_events(self.co.apply(item))

    def at(self, ms: int = 300) -> int:
        self.now += ms
        return self.now

    def scan(self, name: str) -> None:
        self.put(BarcodeRead(self.at(1_000), GTIN[name], "EAN13"))

    def weigh(self, platform: Platform, grams: int) -> None:
        self.put(WeightReading(self.at(), platform, grams, True))


def test_a_whole_purchase_walks_the_screens() -> None:
    h = Harness()
    assert h.vm.snapshot().screen == "attract"
    h.vm.touch_start()
    assert h.vm.snapshot().screen == "welcome"
    h.vm.set_language("zh")
    h.vm.start()
    s = h.vm.snapshot()
    assert s.screen == "bags" and s.language == "zh" and s.lane_state == "shopping"
    h.vm.own_bag()
    assert h.vm.snapshot().screen == "scanning"
    h.scan("water")
    h.scan("water")  # multi-buy 2 for 3.50
    s = h.vm.snapshot()
    assert [x.name("zh") for x in s.lines] == ["农夫山泉饮用天然水 550ml"] * 2
    assert s.item_count == 2 and s.total_minor == 350 and s.savings_minor == 50
    assert s.last_item is not None and s.last_item.line_id == 2
    h.vm.pay("card")
    s = h.vm.snapshot()
    assert s.screen == "payment" and s.payment.status == "waiting" and s.payment.amount_minor == 350
    h.put(PaymentResult(h.at(), False, 350, "card", reason="declined by issuer"))
    assert h.vm.snapshot().payment.status == "declined"
    h.vm.pay("card")
    h.put(PaymentResult(h.at(), True, 350, "card", "T1"))
    s = h.vm.snapshot()
    assert s.screen == "receipt" and s.receipt is not None and s.receipt["total_minor"] == 350
    assert s.receipt_qr is not None and s.receipt_qr.endswith("/1")
    h.vm.receipt_done()
    h.vm.rate(5)
    assert h.vm.snapshot().screen == "thank_you"
    assert h.co.apply(Tick(h.at())) == []  # the rating went in as an input, nothing pending
    h.now += 7_000
    h.vm.tick()
    assert h.vm.snapshot().screen == "attract" and h.vm.snapshot().language == "en"
    walked = [x for i, x in enumerate(h.seen) if i == 0 or h.seen[i - 1] != x]
    assert walked == ["welcome", "bags", "scanning", "payment", "receipt", "rating", "thank_you",
                      "attract"]  # fmt: skip


def test_first_scan_on_the_attract_screen_goes_straight_to_scanning() -> None:
    h = Harness()
    h.scan("cola")
    assert h.vm.snapshot().screen == "scanning" and h.vm.snapshot().item_count == 1


def test_nudge_banner_and_intervention_follow_the_core() -> None:
    h = Harness()
    h.weigh(Platform.BAGGING, 0)
    h.scan("water")
    h.weigh(Platform.BAGGING, 572)
    h.weigh(Platform.BAGGING, 572 + 348)  # unscanned can
    nudge = h.vm.snapshot().nudge
    assert nudge is not None and nudge.key == "unexpected_item_in_bagging_area" and nudge.security
    h.vm.tick()  # a security nudge stays until resolved
    assert h.vm.snapshot().nudge is not None
    for _ in range(20):
        h.put(Tick(h.at(500)))
    s = h.vm.snapshot()
    assert s.intervention is not None and s.intervention.reason == "unexpected_item"
    assert s.nudge is None
    h.put(AttendantCommand(h.at(), "clear", "att-1", {"alert_id": s.intervention.alert_id}))
    assert h.vm.snapshot().intervention is None


def test_plain_nudge_fades_and_age_check_is_a_banner_not_a_stop() -> None:
    h = Harness()
    h.put(BarcodeRead(h.at(), "6902974302089", "EAN13"))  # bad check digit
    assert h.vm.snapshot().nudge is not None
    h.now += 7_000
    h.vm.tick()
    assert h.vm.snapshot().nudge is None
    h.scan("baijiu")
    s = h.vm.snapshot()
    assert s.age_pending and s.intervention is None and s.screen == "scanning"
    h.put(AttendantCommand(h.at(), "approve_age", "att-1"))
    assert not h.vm.snapshot().age_pending


def test_produce_by_suggestion_and_by_typed_plu() -> None:
    h = Harness()
    h.scan("cola")
    h.put(ItemTrack(h.at(), 4, "item", "produce_scale", 0.9, "PRD-001",
                    candidates=(("PRD-001", 0.8), ("PRD-013", 0.15))))  # fmt: skip
    h.vm.open_produce()
    choices = h.vm.produce_choices()
    assert [c.plu for c in choices[:2]] == ["4011", "94011"]
    h.weigh(Platform.SCAN, 1_180)
    h.vm.pick_produce(choices[0].sku)
    s = h.vm.snapshot()
    assert s.screen == "scanning" and s.last_item is not None and s.last_item.weight_g == 1_180
    h.weigh(Platform.SCAN, 0)
    h.vm.open_produce()
    h.vm.type_plu("4131")  # apples: typed before they are on the scale
    assert h.vm.snapshot().weighing_sku == "PRD-002"
    h.weigh(Platform.SCAN, 640)
    assert h.vm.snapshot().last_item is not None and h.vm.snapshot().last_item.sku == "PRD-002"


def test_one_tap_confirmation_of_an_item_the_camera_recognised() -> None:
    h = Harness()
    h.scan("water")
    h.put(ItemTrack(h.at(), 3, "item", "scan", 0.9, "DRK-003", identity_score=0.93))
    for _ in range(8):
        h.put(Tick(h.at(500)))
    suggestion = h.vm.snapshot().suggestion
    assert suggestion is not None and suggestion.sku == "DRK-003"
    h.vm.confirm_suggestion()
    s = h.vm.snapshot()
    assert s.suggestion is None and s.last_item is not None and s.last_item.sku == "DRK-003"


def test_idle_welcome_returns_to_attract_but_a_cart_is_never_dropped() -> None:
    h = Harness()
    h.vm.touch_start()
    h.now += 61_000
    h.vm.tick()
    assert h.vm.snapshot().screen == "attract"
    h.scan("water")
    h.vm.open_produce()
    h.now += 3_600_000
    h.vm.tick()
    s = h.vm.snapshot()
    assert s.screen == "scanning" and s.item_count == 1  # back from produce, cart kept


def test_search_by_name_pinyin_initials_chinese_and_plu() -> None:
    search = ProductSearch(catalog())
    assert search.find("banana")[0].sku in ("PRD-001", "PRD-013")
    assert search.find("xj")[0].name_zh.startswith("香蕉") or search.find("xj")[0].sku == "PRD-001"
    assert "PRD-002" in [p.sku for p in search.find("fspg")]  # 富士苹果
    assert "PRD-002" in [p.sku for p in search.find("苹果")]
    assert [p.sku for p in search.find("4011")][:2] == ["PRD-001", "PRD-013"]  # organic beside
    assert search.find("zzzz-nothing") == []


def test_every_nudge_the_core_can_send_has_both_languages() -> None:
    from kiosk.core.security.findings import NUDGES

    core_nudges = {"rescan_item", "item_not_found", "wait_for_attendant", "finish_payment",
                   "age_check_needed", "call_attendant"}  # fmt: skip
    keys = set(NUDGES.values()) | core_nudges
    for key in keys:
        assert key in STRINGS, key
        assert text(key, "zh") != text(key, "en")
    assert money(350) == "¥3.50" and money(-5) == "-¥0.05"
