"""The checkout state machine, driven by inputs only (no clock, no I/O)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.core.alerts import AlertKind
from kiosk.core.catalog import Catalog, load_catalog_csv
from kiosk.core.events import Event, EventType
from kiosk.core.inputs import (
    AttendantCommand,
    BarcodeRead,
    Input,
    ItemTrack,
    PaymentResult,
    Platform,
    ShopperAction,
    Tick,
    WeightReading,
    WeightStatus,
)
from kiosk.core.session import Checkout, State
from kiosk.core.settings import CoreSettings

CATALOG_CSV = """\
sku,name_en,name_zh,price,sold_by,tax_rate,gtin,plu,store_code,min_age,promotion
WATER,Water,水,2.00,each,13,6902974302088,,,,
COLA,Cola,可乐,3.00,each,13,6902949100183,,,,multibuy:3:8.00
BEER,Beer,啤酒,5.50,each,13,6901035603102,,,18,
BAIJIU,Baijiu,白酒,22.00,each,13,6902069901554,,,18,
CHIPS,Chips,薯片,7.50,each,13,6924475001505,,,,percent:10
EGGS,Eggs,鸡蛋,13.90,each,9,6971201001025,,,,
CHEESE,Cheese,奶酪,100.00,weight,13,6900000000014,,,,
BANANA,Bananas,香蕉,6.98,weight,9,,4011,,,
APPLE,Apples,苹果,9.98,weight,9,,4131,,,
DUCK,Roast duck,烤鸭,68.00,weight,13,,,10001,,
PORK,Char siu,叉烧,78.00,weight,13,,,10002,,
"""
CATALOG: Catalog = load_catalog_csv(CATALOG_CSV)

WATER, COLA, BEER, BAIJIU = "6902974302088", "6902949100183", "6901035603102", "6902069901554"
CHIPS, EGGS = "6924475001505", "6971201001025"
BAD_CHECK = "6902974302089"  # WATER with the last digit wrong
NOT_LISTED = "6920000000005"  # a valid GTIN the shop does not sell
DUCK_1234G = "2110001012341"  # 21 + item 10001 + 01.234 kg + check digit
PORK_2590 = "2310002025900"  # 23 + item 10002 + 025.90 + check digit
T0 = 1_764_061_200_000  # 2025-11-25 09:00:00 UTC, in ms


class Lane:
    """A Checkout plus a clock that moves forward by ``dt`` ms before each input."""

    def __init__(self, settings: CoreSettings | None = None, **overrides: Any) -> None:
        self.settings = replace(settings or CoreSettings(), **overrides)
        self.co = Checkout(CATALOG, self.settings)
        self.t = T0
        self.events: list[Event] = []

    def at(self, dt: int) -> int:
        self.t += dt
        return self.t

    def apply(self, item: Input) -> list[Event]:
        out = self.co.apply(item)
        self.events += out
        return out

    def scan(self, data: str, dt: int = 2000, **kw: Any) -> list[Event]:
        return self.apply(BarcodeRead(self.at(dt), data, **kw))

    def weigh(
        self,
        grams: int,
        stable: bool = True,
        status: WeightStatus = WeightStatus.OK,
        platform: Platform = Platform.SCAN,
        dt: int = 1000,
    ) -> list[Event]:
        return self.apply(WeightReading(self.at(dt), platform, grams, stable, status))

    def shop(self, action: str, dt: int = 1000, **args: Any) -> list[Event]:
        return self.apply(ShopperAction(self.at(dt), action, args))

    def att(self, command: str, dt: int = 1000, **args: Any) -> list[Event]:
        return self.apply(AttendantCommand(self.at(dt), command, "att-7", args))

    def pay(
        self, amount: int, approved: bool = True, method: str = "card", dt: int = 1000
    ) -> list[Event]:
        return self.apply(PaymentResult(self.at(dt), approved, amount, method, f"R{self.t}"))

    def tick(self, dt: int) -> list[Event]:
        return self.apply(Tick(self.at(dt)))

    def alert(self, kind: AlertKind) -> str:
        found = self.co.alerts.find(kind)
        assert found is not None, f"no open {kind} alert"
        return found.alert_id


def types(events: Iterable[Event]) -> list[str]:
    return [e.type.value for e in events]


def of(events: Iterable[Event], kind: EventType) -> list[Event]:
    return [e for e in events if e.type is kind]


def one(events: Iterable[Event], kind: EventType) -> Event:
    found = of(events, kind)
    assert len(found) == 1, f"expected one {kind.value}, got {types(events)}"
    return found[0]


def alerts_raised(events: Iterable[Event]) -> list[str]:
    return [e.data["kind"] for e in of(events, EventType.ALERT_RAISED)]


def active_skus(lane: Lane) -> list[str]:
    return [x.sku for x in lane.co.lines if not x.voided]


# --------------------------------------------------------------------------------------------
# Starting a session


def test_first_scan_starts_a_session() -> None:
    lane = Lane()
    out = lane.scan(WATER)
    assert types(out) == ["session_started", "state_changed", "item_added"]
    assert out[1].data == {"from_state": "idle", "to_state": "shopping"}
    assert out[2].data["line"]["sku"] == "WATER"
    assert out[2].data["totals"]["total_minor"] == 200
    assert out[0].session_id is not None
    assert {e.session_id for e in out} == {out[0].session_id}
    assert lane.co.state is State.SHOPPING


def test_start_action_starts_a_session_once() -> None:
    lane = Lane()
    out = lane.shop("start", language="zh")
    assert types(out) == ["session_started", "state_changed"]
    assert out[0].data["language"] == "zh"
    assert lane.shop("start") == []  # already open: nothing happens
    assert lane.co.txn_no == 1


def test_events_between_sessions_have_no_session_id() -> None:
    lane = Lane()
    out = lane.shop("pay")
    assert types(out) == ["input_rejected"]
    assert out[0].session_id is None


def test_language_chosen_on_the_welcome_screen_carries_into_the_session() -> None:
    lane = Lane()
    assert types(lane.shop("set_language", language="zh")) == ["language_changed"]
    started = one(lane.scan(WATER), EventType.SESSION_STARTED)
    assert started.data["language"] == "zh"
    assert lane.co.language == "zh"


@pytest.mark.parametrize("language", ["fr", "", 7, None])
def test_unsupported_language_is_rejected(language: object) -> None:
    lane = Lane()
    lane.shop("start")
    out = lane.shop("set_language", language=language)
    assert types(out) == ["input_rejected"]
    assert lane.co.language == "en"


# --------------------------------------------------------------------------------------------
# Scanning


@pytest.mark.parametrize(
    ("dt_ms", "source", "counted"),
    [
        (300, "camera", False),  # the camera sees the scan the scanner just made
        (799, "camera", False),
        (800, "camera", True),  # the window is over: a second can
        (2400, "scanner", True),
        (100, "scanner", False),
    ],
)
def test_same_code_debounce(dt_ms: int, source: str, counted: bool) -> None:
    lane = Lane()
    lane.scan(WATER)
    out = lane.scan(WATER, dt=dt_ms, source=source)
    assert types(out) == (["item_added"] if counted else [])
    assert len(lane.co.lines) == (2 if counted else 1)


def test_a_different_code_inside_the_window_counts() -> None:
    lane = Lane()
    lane.scan(WATER)
    assert types(lane.scan(COLA, dt=100)) == ["item_added"]


@pytest.mark.parametrize(
    ("code", "nudge"),
    [
        (BAD_CHECK, "rescan_item"),
        (NOT_LISTED, "item_not_found"),
        ("hello", "rescan_item"),
        ("123456", "rescan_item"),  # no product code has 6 digits
        ("9999", "item_not_found"),  # a PLU the shop does not sell
    ],
)
def test_unknown_code_is_rejected_with_a_nudge(code: str, nudge: str) -> None:
    lane = Lane()
    lane.shop("start")
    out = lane.scan(code)
    assert types(out) == ["input_rejected", "nudge_shown"]
    assert out[0].data["code"] == code
    assert out[1].data["nudge"] == nudge
    assert lane.co.lines == [] and lane.co.state is State.SHOPPING


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_unknown_codes_in_a_row_call_the_attendant(n: int) -> None:
    lane = Lane(unknown_scans_before_help=n)
    lane.shop("start")
    codes = [BAD_CHECK, NOT_LISTED, "garbage", "6920000000012", "6920000000029"]
    for i in range(n - 1):
        assert alerts_raised(lane.scan(codes[i % len(codes)])) == []
    out = lane.scan(codes[(n - 1) % len(codes)])
    assert alerts_raised(out) == ["unknown_items"]
    assert one(out, EventType.ALERT_RAISED).data["blocking"] is False
    # The alert is raised once, not on every further unknown code.
    assert alerts_raised(lane.scan("more garbage")) == []


def test_a_good_scan_resets_the_unknown_count() -> None:
    lane = Lane(unknown_scans_before_help=3)
    lane.scan(BAD_CHECK)
    lane.scan(NOT_LISTED)
    lane.scan(WATER)
    lane.scan(BAD_CHECK)
    lane.scan(NOT_LISTED)
    assert AlertKind.UNKNOWN_ITEMS.value not in alerts_raised(lane.events)
    assert alerts_raised(lane.scan("x")) == ["unknown_items"]


# --------------------------------------------------------------------------------------------
# Produce by weight


def test_produce_weight_first_then_plu() -> None:
    lane = Lane()
    lane.shop("start")
    lane.weigh(1180, stable=False)
    lane.weigh(1184)
    out = lane.shop("add_item", plu="4011")
    line = one(out, EventType.ITEM_ADDED).data["line"]
    assert (line["sku"], line["weight_g"], line["entry"]) == ("BANANA", 1184, "plu")
    assert line["amount_minor"] == 826  # 6.98/kg x 1.184 kg = 8.26432


def test_produce_plu_first_then_stable_weight() -> None:
    lane = Lane()
    lane.shop("start")
    lane.weigh(0)
    out = lane.shop("add_item", plu="4131")
    assert types(out) == ["weight_requested"]
    assert of(lane.weigh(905, stable=False), EventType.ITEM_ADDED) == []
    line = one(lane.weigh(912), EventType.ITEM_ADDED).data["line"]
    assert (line["sku"], line["weight_g"], line["amount_minor"]) == ("APPLE", 912, 910)
    # The request is used up: another weight adds nothing.
    assert of(lane.weigh(1500), EventType.ITEM_ADDED) == []


def test_a_scanned_plu_asks_for_a_weight_too() -> None:
    lane = Lane()
    out = lane.scan("4011")
    assert types(out)[-1] == "weight_requested"
    assert one(lane.weigh(500), EventType.ITEM_ADDED).data["line"]["entry"] == "scan"


@pytest.mark.parametrize(
    ("grams", "added"),
    [(4, False), (5, True), (15_000, True), (15_001, False), (0, False)],
)
def test_produce_weight_out_of_range_is_ignored(grams: int, added: bool) -> None:
    lane = Lane(min_produce_weight_g=5, max_produce_weight_g=15_000)
    lane.shop("start")
    lane.shop("add_item", plu="4011")
    out = lane.weigh(grams)
    assert bool(of(out, EventType.ITEM_ADDED)) is added
    assert (lane.co.pending_weigh is None) is added


@pytest.mark.parametrize("status", [WeightStatus.UNDER_ZERO, WeightStatus.OVER_CAPACITY])
def test_a_faulty_reading_never_prices_produce(status: WeightStatus) -> None:
    lane = Lane()
    lane.shop("start")
    lane.weigh(800, status=status)  # weight first
    assert types(lane.shop("add_item", plu="4011")) == ["weight_requested"]
    assert of(lane.weigh(900, status=status), EventType.ITEM_ADDED) == []  # weight after
    assert lane.co.lines == []


def test_scale_offline_raises_weigh_problem() -> None:
    lane = Lane()
    lane.shop("start")
    out = lane.weigh(0, stable=False, status=WeightStatus.OFFLINE)
    assert one(out, EventType.DEVICE_STATUS).data == {"device": "scale.scan", "status": "offline"}
    out = lane.shop("add_item", plu="4011")
    assert types(out)[:2] == ["input_rejected", "nudge_shown"]
    assert out[1].data["nudge"] == "scale_unavailable"
    assert alerts_raised(out) == ["weigh_problem"]
    assert lane.co.state is State.SHOPPING  # not blocking
    # A device status event only when the status changes.
    assert (
        of(lane.weigh(0, stable=False, status=WeightStatus.OFFLINE), EventType.DEVICE_STATUS) == []
    )
    assert of(lane.weigh(700), EventType.DEVICE_STATUS)[0].data["status"] == "ok"


def test_negative_weight_with_status_ok_is_rejected() -> None:
    lane = Lane()
    lane.shop("start")
    lane.shop("add_item", plu="4011")
    out = lane.weigh(-40)
    assert types(out) == ["input_rejected"]
    assert lane.co.pending_weigh is not None
    assert "scan" not in lane.co.weights


def test_cancel_weigh_drops_the_request() -> None:
    lane = Lane()
    lane.shop("start")
    lane.shop("add_item", plu="4011")
    lane.shop("cancel_weigh")
    assert of(lane.weigh(500), EventType.ITEM_ADDED) == []


# --------------------------------------------------------------------------------------------
# Labels with data in them


def test_embedded_weight_label() -> None:
    lane = Lane()
    line = one(lane.scan(DUCK_1234G), EventType.ITEM_ADDED).data["line"]
    assert (line["sku"], line["weight_g"], line["entry"]) == ("DUCK", 1234, "embedded")
    assert line["amount_minor"] == 8391  # 68.00/kg x 1.234 kg = 83.912


def test_embedded_price_label() -> None:
    lane = Lane()
    line = one(lane.scan(PORK_2590), EventType.ITEM_ADDED).data["line"]
    assert (line["sku"], line["amount_minor"], line["weight_g"]) == ("PORK", 2590, None)


def test_embedded_label_with_bad_check_digit_is_rejected() -> None:
    lane = Lane()
    out = lane.scan(DUCK_1234G[:-1] + "9")
    assert "input_rejected" in types(out) and of(out, EventType.ITEM_ADDED) == []


def test_gs1_databar_element_string() -> None:
    lane = Lane()
    out = lane.scan("(01)06971201001025(3103)000652(17)261231", symbology="DATABAR_EXP")
    line = one(out, EventType.ITEM_ADDED).data["line"]
    assert (line["sku"], line["weight_g"], line["amount_minor"]) == ("EGGS", 652, 1390)
    assert alerts_raised(out) == []  # expires 2026-12-31, after T0


def test_gs1_databar_weight_prices_a_weighed_item() -> None:
    lane = Lane()
    out = lane.scan("(01)06900000000014(3103)000450", symbology="DATABAR_EXP")
    line = one(out, EventType.ITEM_ADDED).data["line"]
    assert (line["sku"], line["weight_g"], line["amount_minor"]) == ("CHEESE", 450, 4500)


def test_gs1_past_expiry_raises_expired_item() -> None:
    lane = Lane()
    out = lane.scan("(01)06971201001025(17)251124")  # 2025-11-24, the day before T0
    assert alerts_raised(out) == ["expired_item"]
    assert len(of(out, EventType.ITEM_ADDED)) == 1  # sold; the attendant decides


# --------------------------------------------------------------------------------------------
# Age-restricted items


def test_age_check_blocks_payment_but_not_scanning() -> None:
    lane = Lane()
    out = lane.scan(BEER)
    assert "age_approval_requested" in types(out)
    assert alerts_raised(out) == ["age_check"]
    assert one(out, EventType.ALERT_RAISED).data["blocking"] is False
    out = lane.shop("pay")
    assert types(out) == ["input_rejected", "nudge_shown"]
    assert out[1].data["nudge"] == "age_check_needed"
    assert lane.co.state is State.SHOPPING
    assert types(lane.scan(CHIPS)) == ["item_added"]
    # A second restricted item joins the pending check; no second alert.
    assert alerts_raised(lane.scan(BAIJIU)) == []
    out = lane.att("approve_age")
    assert types(out) == ["age_approved", "alert_cleared"]
    assert one(out, EventType.ALERT_CLEARED).data["attendant_id"] == "att-7"
    out = lane.shop("pay")
    assert one(out, EventType.PAYMENT_REQUESTED).data["amount_minor"] == 550 + 675 + 2200
    assert lane.co.state is State.PAYMENT


def test_approval_lasts_for_the_session() -> None:
    lane = Lane()
    lane.scan(BEER)
    lane.att("approve", alert_id=lane.alert(AlertKind.AGE_CHECK))
    out = lane.scan(BAIJIU)
    assert types(out) == ["item_added"]
    assert lane.co.age_pending == set()


def test_rejected_age_check_voids_the_restricted_lines() -> None:
    lane = Lane()
    lane.scan(BEER)
    lane.scan(CHIPS)
    lane.scan(BAIJIU)
    out = lane.att("reject", alert_id=lane.alert(AlertKind.AGE_CHECK))
    voided = of(out, EventType.ITEM_VOIDED)
    assert [(e.data["line_id"], e.data["sku"]) for e in voided] == [(1, "BEER"), (3, "BAIJIU")]
    assert "age_rejected" in types(out)
    assert active_skus(lane) == ["CHIPS"]
    assert one(lane.shop("pay"), EventType.PAYMENT_REQUESTED).data["amount_minor"] == 675


def test_an_age_check_cannot_be_cleared_away() -> None:
    lane = Lane()
    lane.scan(BEER)
    alert_id = lane.alert(AlertKind.AGE_CHECK)
    assert types(lane.att("clear", alert_id=alert_id)) == ["input_rejected"]
    assert types(lane.att("clear_all")) == []
    assert lane.co.alerts.get(alert_id) is not None


# --------------------------------------------------------------------------------------------
# Voids


def test_void_request_blocks_the_lane_until_approved() -> None:
    lane = Lane()
    lane.scan(WATER)
    lane.scan(EGGS)
    out = lane.shop("remove_item", line_id=1)
    raised = one(out, EventType.ALERT_RAISED).data
    assert (raised["kind"], raised["blocking"], raised["line_id"]) == ("void_request", True, 1)
    assert lane.co.state is State.INTERVENTION
    out = lane.scan(CHIPS)
    assert types(out) == ["input_rejected", "nudge_shown"]
    assert out[1].data["nudge"] == "wait_for_attendant"
    assert types(lane.shop("pay")) == ["input_rejected", "nudge_shown"]
    assert active_skus(lane) == ["WATER", "EGGS"]
    out = lane.att("approve", alert_id=raised["alert_id"])
    assert types(out) == ["alert_cleared", "state_changed", "item_voided"]
    assert one(out, EventType.ITEM_VOIDED).data["totals"]["total_minor"] == 1390
    assert lane.co.state is State.SHOPPING
    assert active_skus(lane) == ["EGGS"]
    assert types(lane.scan(CHIPS)) == ["item_added"]


def test_rejected_void_keeps_the_line() -> None:
    lane = Lane()
    lane.scan(WATER)
    lane.shop("remove_item", line_id=1)
    out = lane.att("reject", alert_id=lane.alert(AlertKind.VOID_REQUEST))
    assert types(out) == ["alert_cleared", "state_changed"]
    assert lane.co.state is State.SHOPPING
    assert active_skus(lane) == ["WATER"]


def test_void_without_attendant_when_configured() -> None:
    lane = Lane(void_requires_attendant=False)
    lane.scan(WATER)
    out = lane.shop("remove_item", line_id=1)
    assert types(out) == ["item_voided"]
    assert lane.co.state is State.SHOPPING


@pytest.mark.parametrize("line_id", [0, 2, "1", None, True])
def test_remove_of_a_missing_line_is_rejected(line_id: object) -> None:
    lane = Lane()
    lane.scan(WATER)
    assert types(lane.shop("remove_item", line_id=line_id)) == ["input_rejected"]
    assert lane.co.state is State.SHOPPING


def test_attendant_void_item_also_closes_the_void_request() -> None:
    lane = Lane()
    lane.scan(WATER)
    lane.shop("remove_item", line_id=1)
    out = lane.att("void_item", line_id=1)
    assert types(out) == ["item_voided", "alert_cleared", "state_changed"]
    assert lane.co.state is State.SHOPPING
    assert types(lane.att("void_item", line_id=1)) == ["input_rejected"]  # already void


def test_voiding_a_line_moves_the_multibuy() -> None:
    lane = Lane(void_requires_attendant=False)
    for _ in range(3):
        lane.scan(COLA)
    assert lane.co.totals().total_minor == 800
    lane.shop("remove_item", line_id=2)
    assert lane.co.totals().total_minor == 600
    lane.scan(COLA)
    assert lane.co.totals().total_minor == 800


# --------------------------------------------------------------------------------------------
# Cancel and suspend


def test_cancel_with_items_needs_the_attendant() -> None:
    lane = Lane()
    lane.scan(WATER)
    out = lane.shop("cancel")
    assert alerts_raised(out) == ["cancel_request"]
    assert lane.co.state is State.INTERVENTION
    out = lane.att("approve", alert_id=lane.alert(AlertKind.CANCEL_REQUEST))
    cancelled = one(out, EventType.TRANSACTION_CANCELLED)
    assert cancelled.data["by"] == "attendant"
    assert cancelled.data["totals"]["total_minor"] == 200
    assert lane.co.state is State.CANCELLED and not lane.co.session_open
    assert lane.co.lines == []
    assert types(lane.scan(EGGS))[:2] == ["session_started", "state_changed"]
    assert lane.co.txn_no == 2


def test_rejected_cancel_goes_back_to_shopping() -> None:
    lane = Lane()
    lane.scan(WATER)
    lane.shop("cancel")
    lane.att("reject", alert_id=lane.alert(AlertKind.CANCEL_REQUEST))
    assert lane.co.state is State.SHOPPING
    assert active_skus(lane) == ["WATER"]


def test_empty_cancel_is_immediate() -> None:
    lane = Lane()
    lane.shop("start")
    out = lane.shop("cancel")
    assert types(out) == ["transaction_cancelled", "state_changed"]
    assert one(out, EventType.TRANSACTION_CANCELLED).data["by"] == "shopper"
    assert lane.co.state is State.CANCELLED


def test_cancel_after_everything_was_voided_is_immediate() -> None:
    lane = Lane(void_requires_attendant=False)
    lane.scan(WATER)
    lane.shop("remove_item", line_id=1)
    assert "transaction_cancelled" in types(lane.shop("cancel"))


def test_suspend_ends_the_session_with_its_lines() -> None:
    lane = Lane()
    lane.scan(WATER)
    lane.scan(EGGS)
    out = lane.att("suspend_transaction")
    suspended = one(out, EventType.TRANSACTION_SUSPENDED)
    assert [x["sku"] for x in suspended.data["lines"]] == ["WATER", "EGGS"]
    assert suspended.data["totals"]["total_minor"] == 1590
    assert lane.co.state is State.SUSPENDED and not lane.co.session_open
    assert types(lane.att("suspend_transaction")) == ["input_rejected"]


# --------------------------------------------------------------------------------------------
# Payment


def basket(lane: Lane) -> None:
    lane.scan(WATER)
    lane.scan(EGGS)  # 2.00 + 13.90 = 15.90


def test_split_tender() -> None:
    lane = Lane()
    basket(lane)
    out = lane.shop("pay", method="card")
    assert one(out, EventType.PAYMENT_REQUESTED).data["amount_minor"] == 1590
    out = lane.pay(1000)
    assert types(out) == ["payment_approved"]
    assert out[0].data["remaining_minor"] == 590
    assert lane.co.state is State.PAYMENT
    out = lane.pay(590, method="cash")
    receipt = one(out, EventType.TRANSACTION_COMPLETED).data["receipt"]
    assert [p["amount_minor"] for p in receipt["payments"]] == [1000, 590]
    assert receipt["change_minor"] == 0
    assert receipt["total_minor"] == 1590
    assert lane.co.state is State.COMPLETED


def test_cash_overpay_gives_change() -> None:
    lane = Lane()
    basket(lane)
    lane.shop("pay", method="cash")
    out = lane.pay(2000, method="cash")
    assert one(out, EventType.PAYMENT_APPROVED).data["remaining_minor"] == 0
    assert one(out, EventType.TRANSACTION_COMPLETED).data["receipt"]["change_minor"] == 410


def test_two_declines_call_the_attendant() -> None:
    lane = Lane()
    basket(lane)
    lane.shop("pay")
    out = lane.pay(1590, approved=False)
    assert types(out) == ["payment_declined"]
    out = lane.pay(1590, approved=False)
    assert alerts_raised(out) == ["payment_trouble"]
    assert lane.co.state is State.PAYMENT  # not blocking: the shopper may try another card
    assert "transaction_completed" in types(lane.pay(1590))


def test_declines_count_in_a_row() -> None:
    lane = Lane()
    basket(lane)
    lane.shop("pay")
    lane.pay(1590, approved=False)
    lane.pay(500)  # the second card works for part of it
    out = lane.pay(1090, approved=False)
    assert alerts_raised(out) == []


def test_scan_during_payment_before_money_goes_back_to_shopping() -> None:
    lane = Lane()
    basket(lane)
    lane.shop("pay")
    out = lane.scan(CHIPS)
    assert types(out) == ["payment_cancelled", "state_changed", "item_added"]
    assert lane.co.state is State.SHOPPING
    out = lane.shop("pay")
    assert one(out, EventType.PAYMENT_REQUESTED).data["amount_minor"] == 1590 + 675


def test_scan_after_part_payment_is_refused() -> None:
    lane = Lane()
    basket(lane)
    lane.shop("pay")
    lane.pay(1000)
    out = lane.scan(CHIPS)
    assert types(out) == ["input_rejected", "nudge_shown"]
    assert lane.co.state is State.PAYMENT and len(lane.co.lines) == 2


@pytest.mark.parametrize(
    ("action", "args"), [("add_item", {"sku": "CHIPS"}), ("remove_item", {"line_id": 1})]
)
def test_cart_changes_on_the_payment_screen_leave_payment_first(
    action: str, args: dict[str, Any]
) -> None:
    lane = Lane(void_requires_attendant=False)
    basket(lane)
    lane.shop("pay")
    out = lane.shop(action, **args)
    assert types(out)[:2] == ["payment_cancelled", "state_changed"]
    assert lane.co.state is State.SHOPPING
    lane.shop("pay")
    lane.pay(1000)
    out = lane.shop(action, **args)
    assert types(out) == ["input_rejected", "nudge_shown"]
    assert lane.co.state is State.PAYMENT


def test_back_leaves_the_payment_screen() -> None:
    lane = Lane()
    basket(lane)
    lane.shop("pay")
    assert types(lane.shop("back")) == ["payment_cancelled", "state_changed"]
    lane.shop("pay")
    lane.pay(100)
    assert types(lane.shop("back")) == ["input_rejected"]
    assert types(lane.shop("cancel")) == ["input_rejected", "nudge_shown"]


def test_pay_with_an_empty_cart_is_refused() -> None:
    lane = Lane()
    lane.shop("start")
    out = lane.shop("pay")
    assert types(out) == ["input_rejected", "nudge_shown"]
    assert out[1].data["nudge"] == "cart_empty"


@pytest.mark.parametrize("amount", [0, -100])
def test_non_positive_payment_is_rejected(amount: int) -> None:
    lane = Lane()
    basket(lane)
    lane.shop("pay")
    assert types(lane.pay(amount)) == ["input_rejected"]
    assert lane.co.payments == []


def test_payment_with_nothing_pending_inside_a_session_is_an_intervention() -> None:
    lane = Lane()
    basket(lane)
    out = lane.pay(1590)
    assert types(out)[0] == "input_rejected"
    raised = one(out, EventType.ALERT_RAISED).data
    assert (raised["kind"], raised["blocking"]) == ("unexpected_payment", True)
    assert lane.co.state is State.INTERVENTION
    assert types(lane.scan(CHIPS))[0] == "input_rejected"
    lane.att("clear", alert_id=raised["alert_id"])
    assert lane.co.state is State.SHOPPING


def test_payment_with_no_session_is_only_rejected() -> None:
    lane = Lane()
    out = lane.pay(1590)
    assert types(out) == ["input_rejected"]
    assert out[0].data["amount_minor"] == 1590
    assert lane.co.state is State.IDLE and lane.co.session_id is None


# --------------------------------------------------------------------------------------------
# Time


@pytest.mark.parametrize(("idle_ms", "reset"), [(59_999, False), (60_000, True)])
def test_empty_session_resets(idle_ms: int, reset: bool) -> None:
    lane = Lane(reset_empty_after_ms=60_000)
    lane.shop("start")
    out = lane.tick(idle_ms)
    if reset:
        assert types(out) == ["session_reset", "state_changed"]
        assert lane.co.state is State.IDLE
    else:
        assert out == []
        assert lane.co.state is State.SHOPPING


def test_activity_postpones_the_reset() -> None:
    lane = Lane(reset_empty_after_ms=60_000)
    lane.shop("start")
    lane.scan(BAD_CHECK, dt=50_000)  # a touch, even an unsuccessful one
    assert lane.tick(50_000) == []
    assert types(lane.tick(10_000))[0] == "session_reset"


def test_abandoned_basket_alert_once() -> None:
    lane = Lane(abandon_after_ms=300_000, reset_empty_after_ms=60_000)
    lane.scan(WATER)
    assert lane.tick(120_000) == []  # items in the cart: no reset
    assert lane.tick(179_999) == []
    out = lane.tick(1)
    assert alerts_raised(out) == ["abandoned"]
    assert lane.tick(300_000) == []
    assert lane.co.session_open


def test_ticks_outside_a_session_do_nothing() -> None:
    lane = Lane()
    assert lane.tick(10**9) == []


# --------------------------------------------------------------------------------------------
# Help


def test_help_inside_and_outside_a_session() -> None:
    lane = Lane()
    out = lane.shop("request_help", reason="lost")
    assert "session_started" in types(out)
    assert "help_requested" in types(out) and alerts_raised(out) == ["help"]
    alert_id = one(out, EventType.ALERT_RAISED).data["alert_id"]
    assert one(out, EventType.ALERT_RAISED).session_id == lane.co.session_id is not None
    assert alerts_raised(lane.shop("request_help")) == []  # one help alert at a time
    assert types(lane.att("clear", alert_id=alert_id)) == ["alert_cleared"]


def test_alert_ids_are_unique_across_sessions() -> None:
    lane = Lane()
    seen: list[str] = []
    for _ in range(3):
        lane.shop("request_help")
        lane.scan(WATER)
        lane.shop("remove_item", line_id=1)
        lane.att("reject", alert_id=lane.alert(AlertKind.VOID_REQUEST))
        lane.att("suspend_transaction")
    seen = [e.data["alert_id"] for e in of(lane.events, EventType.ALERT_RAISED)]
    assert len(seen) == 6 and len(set(seen)) == 6


# --------------------------------------------------------------------------------------------
# Unknown verbs


@pytest.mark.parametrize("session", [False, True])
def test_unknown_actions_and_commands_are_rejected(session: bool) -> None:
    lane = Lane()
    if session:
        lane.shop("start")
    assert types(lane.shop("dance")) == ["input_rejected"]
    assert types(lane.att("open_drawer")) == ["input_rejected"]
    assert types(lane.att("approve", alert_id="A9-9")) == ["input_rejected"]
    assert lane.co.session_open is session


def test_tracks_are_evidence_not_sales() -> None:
    lane = Lane()
    lane.shop("start")
    out = lane.apply(ItemTrack(lane.at(100), 1, "item", "scan", 0.9, "WATER"))
    assert out == [] and lane.co.lines == []
    lane.apply(ItemTrack(lane.at(100), 1, "item", "bagging", 0.9, "WATER", lost=True))
    assert lane.co.tracks == {}


# --------------------------------------------------------------------------------------------
# Every event


def full_session(lane: Lane) -> None:
    lane.shop("start", language="zh")
    lane.scan(WATER)
    lane.scan(WATER, dt=300, source="camera")
    lane.scan(BAD_CHECK)
    lane.scan(BEER)
    lane.shop("add_item", plu="4011")
    lane.weigh(1184)
    lane.shop("remove_item", line_id=1)
    lane.att("approve", alert_id=lane.alert(AlertKind.VOID_REQUEST))
    lane.att("approve_age")
    lane.shop("pay")
    lane.pay(100, approved=False)
    lane.pay(lane.co.amount_due() + 50, method="cash")
    lane.tick(1000)


def test_seq_and_event_ids_are_unique_and_increasing() -> None:
    lane = Lane()
    full_session(lane)
    full_session(lane)
    seqs = [e.seq for e in lane.events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len({e.event_id for e in lane.events}) == len(lane.events)
    assert all(a.ts_ms <= b.ts_ms for a, b in zip(lane.events, lane.events[1:], strict=False))
    assert lane.co.txn_no == 2
    assert len(of(lane.events, EventType.TRANSACTION_COMPLETED)) == 2


def test_event_json_is_canonical() -> None:
    lane = Lane()
    full_session(lane)
    for event in lane.events:
        text = event.to_json()
        obj = json.loads(text)
        assert json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == text
        assert {"event_id", "type", "ts", "seq", "session_id"} <= obj.keys()


def test_event_ids_depend_on_kiosk_and_journal() -> None:
    ids = set()
    for kiosk_id, journal_id in [("lane-01", "j1"), ("lane-02", "j1"), ("lane-01", "j2")]:
        lane = Lane(kiosk_id=kiosk_id, journal_id=journal_id)
        ids |= {e.event_id for e in lane.scan(WATER)}
    assert len(ids) == 9


def test_example_catalog_smoke() -> None:
    """One end-to-end sale against the shipped catalog."""
    from kiosk.replay import DEFAULT_CATALOG, load_catalog_file

    lane = Lane()
    lane.co = Checkout(load_catalog_file(DEFAULT_CATALOG), lane.settings)
    for _ in range(3):
        lane.scan("049000028911")  # Coca-Cola, 3 for 8.00
    lane.shop("add_item", plu="4011")
    lane.weigh(1184)
    lane.shop("pay")
    out = lane.pay(800 + 826)
    assert one(out, EventType.TRANSACTION_COMPLETED).data["receipt"]["total_minor"] == 1626


# --------------------------------------------------------------------------------------------
# Fuzzing: never raise, always deterministic, snapshot/restore is exact

CODES = [WATER, COLA, BEER, BAIJIU, CHIPS, EGGS, BAD_CHECK, NOT_LISTED, DUCK_1234G, PORK_2590]
CODES += ["4011", "94011", "4131", "(01)06971201001025(3103)000652(17)240101"]
SHOPPER = ["start", "set_language", "add_item", "cancel_weigh", "remove_item", "request_help"]
SHOPPER += ["pay", "back", "cancel", "dance", ""]
ATTENDANT = ["approve", "reject", "clear", "clear_all", "approve_age", "void_item"]
ATTENDANT += ["cancel_transaction", "suspend_transaction", "open_drawer", ""]

arg_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1, 5),
    st.text(max_size=6),
    st.sampled_from(["en", "zh", "4011", "4131", "WATER", "BEER", "card", "cash"]),
    st.builds(lambda s, n: f"A{s}-{n}", st.integers(0, 3), st.integers(1, 4)),
    st.lists(st.integers(), max_size=2),
)
args_dicts = st.dictionaries(
    st.sampled_from(["language", "plu", "sku", "line_id", "alert_id", "reason", "method", "x"]),
    arg_values,
    max_size=3,
)
# Args that often hit something real: a line of the cart or an alert of the first sessions.
useful_args = st.one_of(
    args_dicts,
    st.builds(lambda n: {"line_id": n}, st.integers(1, 4)),
    st.builds(lambda s, n: {"alert_id": f"A{s}-{n}"}, st.integers(1, 2), st.integers(1, 3)),
)


def _input(kind: str, ts: int, draw: st.DrawFn) -> Input:
    if kind == "barcode":
        garbage = st.text(min_size=1, max_size=16)
        data = draw(st.one_of(st.sampled_from(CODES), st.sampled_from(CODES), garbage))
        source = draw(st.sampled_from(["scanner", "camera", "scanner_scale", "attendant"]))
        return BarcodeRead(ts, data, draw(st.sampled_from(["", "EAN13", "DATABAR"])), source)
    if kind == "weight":
        return WeightReading(
            ts,
            draw(st.sampled_from(list(Platform))),
            draw(st.one_of(st.integers(-500, 20_000), st.sampled_from([0, 5, 912, 1184]))),
            draw(st.booleans()),
            draw(st.sampled_from(list(WeightStatus))),
        )
    if kind == "track":
        return ItemTrack(
            ts,
            draw(st.integers(0, 3)),
            "item",
            draw(st.sampled_from(["scan", "bagging", "outside"])),
            0.5,
            draw(st.sampled_from([None, "WATER"])),
            draw(st.booleans()),
        )
    if kind == "shopper":
        action = draw(st.sampled_from([*SHOPPER, "pay", "pay", "remove_item"]))
        return ShopperAction(ts, action, draw(useful_args))
    if kind == "attendant":
        command = draw(st.sampled_from(ATTENDANT))
        return AttendantCommand(
            ts, command, draw(st.sampled_from(["", "att-7"])), draw(useful_args)
        )
    if kind == "payment":
        return PaymentResult(
            ts,
            draw(st.booleans()),
            draw(st.one_of(st.integers(-1000, 5000), st.sampled_from([200, 1390, 10_000]))),
            draw(st.sampled_from(["card", "cash", "qr"])),
        )
    return Tick(ts)


@st.composite
def input_sequences(draw: st.DrawFn) -> list[Input]:
    kinds = ["barcode"] * 3 + ["shopper"] * 3 + ["attendant", "payment"] * 2
    kinds += ["weight", "track", "tick"]
    n = draw(st.integers(0, 60))
    ts = T0
    out: list[Input] = []
    for _ in range(n):
        ts += draw(st.sampled_from([0, 100, 799, 800, 2_000, 5_000, 60_000, 300_000]))
        out.append(_input(draw(st.sampled_from(kinds)), ts, draw))
    return out


def run(checkout: Checkout, inputs: Sequence[Input]) -> list[str]:
    return [event.to_json() for item in inputs for event in checkout.apply(item)]


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(input_sequences())
def test_any_input_sequence_is_handled_and_deterministic(inputs: list[Input]) -> None:
    first, second = Checkout(CATALOG), Checkout(CATALOG)
    a = run(first, inputs)
    assert a == run(second, inputs)
    seqs = [json.loads(x)["seq"] for x in a]
    assert seqs == list(range(1, len(a) + 1))
    assert len({json.loads(x)["event_id"] for x in a}) == len(a)
    # Whatever happened, the cart adds up and nothing is owed below zero mid-session.
    totals = first.totals()
    assert totals.total_minor >= 0
    if first.state is State.INTERVENTION:
        assert first.alerts.blocking


@FUZZ
@given(input_sequences(), input_sequences())
def test_snapshot_restore_between_sessions(head: list[Input], tail: list[Input]) -> None:
    original = Checkout(CATALOG)
    run(original, head)
    # Close any open session the attendant's way, so a snapshot is allowed.
    ts = max((x.ts_ms for x in head), default=T0)
    for command in ("clear_all", "approve_age", "suspend_transaction"):
        original.apply(AttendantCommand(ts, command, "att-7"))
    if original.session_open:  # a payment was taken: only a full payment ends it
        original.apply(PaymentResult(ts, True, max(original.amount_due(), 1), "cash"))
    assert not original.session_open
    snap = json.loads(json.dumps(original.snapshot()))  # as the journal stores it
    shifted = [replace(x, ts_ms=x.ts_ms - T0 + ts) for x in tail]
    restored = Checkout(CATALOG, CoreSettings(), snapshot=snap)
    assert run(restored, shifted) == run(original, shifted)


def test_snapshot_is_a_copy() -> None:
    lane = Lane()
    lane.weigh(500)
    snap = lane.co.snapshot()
    lane.weigh(900)
    assert snap["weights"]["scan"]["weight_g"] == 500


def test_snapshot_needs_a_closed_session() -> None:
    lane = Lane()
    lane.shop("start")
    with pytest.raises(RuntimeError):
        lane.co.snapshot()


# --- rules added after review -------------------------------------------------------------


def test_a_weight_already_sold_is_not_sold_again() -> None:
    lane = Lane()
    lane.shop("start")
    lane.weigh(1184)
    lane.shop("add_item", plu="4011")
    second = lane.shop("add_item", plu="4131")  # bananas still on the pan
    assert len(of(lane.events, EventType.ITEM_ADDED)) == 1
    assert [e.data["nudge"] for e in of(second, EventType.NUDGE_SHOWN)] == ["clear_scale"]
    assert one(second, EventType.WEIGHT_REQUESTED).data["sku"] == "APPLE"
    # Apples placed on top of the bananas: still not sellable (the pan never emptied).
    assert not of(lane.weigh(2100), EventType.ITEM_ADDED)
    lane.weigh(0)
    added = one(lane.weigh(905), EventType.ITEM_ADDED)
    assert (added.data["line"]["sku"], added.data["line"]["weight_g"]) == ("APPLE", 905)


def test_open_alerts_are_cleared_when_the_session_ends() -> None:
    lane = Lane()
    lane.shop("start")
    lane.scan(WATER)
    lane.shop("request_help")
    lane.shop("pay")
    lane.pay(200)
    cleared = of(lane.events, EventType.ALERT_CLEARED)
    assert [(e.data["kind"], e.data["resolution"]) for e in cleared] == [("help", "session ended")]
    assert types(lane.events)[-3:] == ["alert_cleared", "transaction_completed", "state_changed"]
    assert lane.co.alerts.open_alerts() == []


@pytest.mark.parametrize(
    "code",
    [
        "2110001000003",  # 21 + 10001 + 00.000 kg + check
        "2310002000006",  # 23 + 10002 + 000.00 price + check
    ],
)
def test_a_label_with_zero_weight_or_price_is_refused(code: str) -> None:
    from kiosk.core.barcodes import gtin_check_digit

    body = code[:12]
    code = body + str(gtin_check_digit(body))
    lane = Lane()
    out = lane.scan(code)
    assert not of(out, EventType.ITEM_ADDED)
    assert "zero weight or price" in one(out, EventType.INPUT_REJECTED).data["reason"]


def test_attendant_void_on_the_payment_screen_returns_to_shopping() -> None:
    lane = Lane()
    lane.scan(WATER)
    lane.scan(EGGS)
    lane.shop("pay")
    out = lane.att("void_item", line_id=2)
    assert one(out, EventType.PAYMENT_CANCELLED).data["reason"] == "attendant voided an item"
    assert lane.co.state is State.SHOPPING
    lane.shop("pay")
    assert lane.co.amount_due() == 200


def test_attendant_void_after_part_payment_is_refused() -> None:
    lane = Lane()
    lane.scan(WATER)
    lane.scan(EGGS)
    lane.shop("pay")
    lane.pay(500, method="cash")
    out = lane.att("void_item", line_id=2)
    assert "refund first" in one(out, EventType.INPUT_REJECTED).data["reason"]
    assert lane.co.amount_due() == 1590 - 500


def test_a_locked_lane_lets_the_current_sale_finish_but_starts_no_new_one() -> None:
    lane = Lane()
    lane.scan(WATER)
    locked = lane.att("lock_lane", reason="closing")
    assert one(locked, EventType.LANE_LOCKED).data["reason"] == "closing"
    lane.scan(EGGS)  # the shopper at the lane finishes
    lane.shop("pay")
    lane.pay(1590)
    assert lane.co.state is State.COMPLETED
    refused = lane.scan(WATER, dt=5000)
    assert [e.data["nudge"] for e in of(refused, EventType.NUDGE_SHOWN)] == ["lane_closed"]
    assert not of(lane.shop("start"), EventType.SESSION_STARTED)
    # The lock survives a restart between sessions.
    restored = Checkout(CATALOG, lane.settings, snapshot=lane.co.snapshot())
    assert restored.locked
    one(lane.att("unlock_lane"), EventType.LANE_UNLOCKED)
    assert of(lane.scan(WATER, dt=5000), EventType.SESSION_STARTED)


def test_after_a_decline_or_a_part_payment_pay_asks_the_terminal_again() -> None:
    lane = Lane()
    lane.scan(WATER)
    lane.scan(EGGS)
    first = one(lane.shop("pay"), EventType.PAYMENT_REQUESTED)
    assert first.data["amount_minor"] == 1590
    assert not of(lane.shop("pay"), EventType.PAYMENT_REQUESTED)  # terminal still busy
    lane.pay(1590, approved=False)
    retry = one(lane.shop("pay"), EventType.PAYMENT_REQUESTED)
    assert retry.data["amount_minor"] == 1590
    lane.pay(1000, method="card")
    rest = one(lane.shop("pay", method="cash"), EventType.PAYMENT_REQUESTED)
    assert rest.data["amount_minor"] == 590
    lane.pay(590, method="cash")
    assert lane.co.state is State.COMPLETED


def test_a_declined_result_with_no_amount_still_counts_as_a_decline() -> None:
    lane = Lane()
    lane.scan(WATER)
    lane.shop("pay")
    out = lane.pay(0, approved=False)
    assert one(out, EventType.PAYMENT_DECLINED)
