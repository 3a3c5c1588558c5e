"""The mismatch rules, one behaviour per test, on the pure core fed real-shaped inputs."""

from __future__ import annotations

import dataclasses

import pytest

from kiosk.core.catalog import Catalog
from kiosk.core.events import EventType
from kiosk.core.inputs import input_from_dict, input_to_dict
from kiosk.core.security.findings import parse_policies
from kiosk.core.session import Checkout, State
from kiosk.core.settings import CoreSettings, SecuritySettings
from tests.security_lane import Lane, catalog


def settings(**security: object) -> CoreSettings:
    return CoreSettings(camera_scans=False, security=SecuritySettings(**security))  # type: ignore[arg-type]


# --- bagging scale -------------------------------------------------------------------


def test_scanned_item_bagged_at_its_weight_raises_nothing() -> None:
    lane = Lane()
    lane.start()
    lane.scan("water")
    lane.bag(578)  # 6 g off the catalog's 572: packaging varies
    lane.scan("cola")
    lane.bag(344)
    lane.wait(20_000)
    assert lane.findings() == []
    assert lane.co.state is State.SHOPPING


def test_unscanned_item_is_nudged_then_escalated_to_a_blocking_alert() -> None:
    lane = Lane()
    lane.start()
    nudge = lane.bag(348)
    assert [e.type.value for e in nudge if "mismatch" in e.type.value or "nudge" in e.type.value] \
        == ["mismatch_detected", "nudge_shown"]  # fmt: skip
    assert lane.alerts() == []
    lane.wait(7_000)
    assert lane.alerts() == []  # the shopper still has time to fix it
    lane.wait(1_500)
    (alert,) = lane.of("alert_raised")
    assert alert["kind"] == alert["reason"] == "unexpected_item"
    assert alert["blocking"] and alert["severity"] in ("medium", "high")
    assert alert["evidence"]["delta_g"] == 348 and "clear" in alert["actions"]
    assert lane.co.state is State.INTERVENTION
    # A scan now is refused until the attendant acts.
    lane.scan("cola")
    assert lane.of("input_rejected")[-1]["reason"] == "lane waiting for attendant"


def test_item_bagged_before_its_scan_self_corrects_without_an_alert() -> None:
    lane = Lane()
    lane.start()
    lane.bag(348)
    lane.wait(1_500)
    lane.scan("cola")
    lane.wait(10_000)
    assert lane.findings() == [("unexpected_item", "nudge")]
    assert lane.resolutions() == ["self_corrected"]
    assert lane.alerts() == []


def test_item_taken_back_off_the_scale_self_corrects() -> None:
    lane = Lane()
    lane.start()
    lane.bag(348)
    lane.bag(-348)
    lane.wait(10_000)
    assert lane.resolutions() == ["self_corrected"] and lane.alerts() == []


def test_bagged_weight_far_from_the_scanned_item_is_a_weight_mismatch() -> None:
    lane = Lane()
    lane.start()
    lane.scan("chips")  # 82 g
    lane.bag(1690)  # a bottle of peanut oil
    assert lane.findings() == [("weight_mismatch", "nudge")]
    evidence = lane.of("mismatch_detected")[0]["evidence"]
    assert evidence["expected"][0]["sku"] == "SNK-004" and evidence["delta_g"] == 1690


def test_two_of_the_same_item_under_one_read_is_multiple_items() -> None:
    lane = Lane()
    lane.start()
    lane.scan("water")
    lane.bag(1146)
    assert lane.findings() == [("multiple_items", "nudge")]
    assert lane.of("mismatch_detected")[0]["evidence"]["copies"] == 2
    lane.scan("water")  # the shopper scans the second one
    assert lane.resolutions() == ["self_corrected"]


def test_item_removed_from_the_bagging_area_before_paying() -> None:
    lane = Lane()
    lane.start()
    lane.scan("water")
    lane.bag(572)
    lane.scan("cola")
    lane.bag(348)
    lane.bag(-572)
    assert lane.findings() == [("item_removed", "nudge")]
    assert lane.of("mismatch_detected")[0]["evidence"]["likely_lines"] == [1]
    lane.shopper("pay")  # paying with a nudge open escalates at once
    assert lane.alerts() == ["item_removed"]
    assert lane.co.state is State.INTERVENTION
    assert not lane.of("payment_requested")


def test_bags_full_lets_the_shopper_move_bags_to_the_cart() -> None:
    lane = Lane()
    lane.start()
    for _ in range(3):
        lane.scan("water")
        lane.bag(572)
    lane.shopper("remove_bags")
    lane.bag(-1200)
    lane.bag(-516)
    lane.scan("cola")
    lane.bag(348)
    lane.wait(10_000)
    assert lane.findings() == [] and lane.alerts() == []


def test_voided_item_may_leave_the_bagging_area() -> None:
    lane = Lane()
    lane.start()
    lane.scan("water")
    lane.bag(572)
    lane.shopper("remove_item", line_id=1)
    (void_alert,) = lane.of("alert_raised")
    lane.attendant("approve", alert_id=void_alert["alert_id"])
    lane.bag(-572)
    lane.wait(10_000)
    assert lane.findings() == []


def test_own_bag_is_accepted_and_an_item_declared_as_a_bag_is_not() -> None:
    lane = Lane()
    lane.start()
    lane.shopper("own_bag")
    lane.bag(42)
    lane.scan("water")
    lane.bag(570)
    assert lane.findings() == [] and lane.of("bag_accepted") == [{"weight_g": 42, "bags": 1}]
    heavy = Lane()
    heavy.start()
    heavy.shopper("own_bag")
    heavy.bag(572)  # no bag weighs that
    assert heavy.findings() == [("unexpected_item", "nudge")]
    assert heavy.of("mismatch_detected")[0]["evidence"]["bag_declared"] is True
    posing = Lane()
    posing.start()
    posing.shopper("own_bag")
    posing.track(4, "bagging")  # the camera sees merchandise go down, and no bag
    posing.bag(118)  # a packet of noodles weighs like a bag
    assert posing.of("bag_accepted") and posing.findings() == [("bag_abuse", "nudge")]
    honest = Lane()
    honest.start()
    honest.shopper("own_bag")
    honest.track(4, "bagging", label="bag")
    honest.bag(118)
    assert honest.findings() == []


def test_heavy_item_may_skip_bagging_and_light_items_need_not_register() -> None:
    lane = Lane()
    lane.start()
    lane.scan("rice")
    lane.shopper("skip_bagging")
    lane.scan("gum")  # 16 g: below what the bagging scale is trusted to see
    lane.wait(30_000)
    assert lane.of("bagging_skipped") == [{"line_id": 1}]
    assert lane.findings() == []


def test_scanned_item_never_bagged_gets_a_prompt_but_never_an_alert() -> None:
    lane = Lane()
    lane.start()
    lane.scan("water")
    lane.wait(60_000)
    assert lane.findings() == [("item_not_bagged", "nudge")]
    assert lane.alerts() == []
    lane.bag(572)
    assert lane.resolutions() == ["self_corrected"]


def test_lane_without_a_bagging_scale_is_not_nagged() -> None:
    co = Checkout(catalog(), settings())
    lane = Lane.__new__(Lane)
    lane.co, lane.now, lane.events, lane.bagging, lane.next_track = co, 1_764_061_200_000, [], 0, 1
    lane.start()
    lane.scan("water")
    lane.wait(60_000)
    assert lane.findings() == []


# --- vision ----------------------------------------------------------------------------


def test_lean_with_a_hand_in_view_is_a_gentle_prompt_and_never_escalates() -> None:
    lane = Lane()
    lane.start()
    lane.scan("water")
    lane.bag(572)
    lane.track(9, "bagging", label="hand")
    lane.bag(900)  # leaning on the shelf
    assert lane.findings() == [("unexpected_item", "prompt")]
    assert lane.of("nudge_shown")[-1]["nudge"] == "keep_bagging_area_clear"
    lane.wait(30_000)  # however long the hand stays
    assert lane.alerts() == []
    lane.bag(-900)
    lane.track(9, "outside", label="hand", lost=True)
    lane.wait(10_000)
    assert lane.resolutions() == ["self_corrected"] and lane.alerts() == []


def test_purse_left_after_the_hand_goes_becomes_a_timed_nudge() -> None:
    lane = Lane()
    lane.start()
    lane.track(9, "bagging", label="hand")
    lane.bag(640)
    lane.track(9, "outside", label="hand", lost=True)
    lane.wait(3_000)
    assert [n["nudge"] for n in lane.of("nudge_shown")] == [
        "keep_bagging_area_clear",
        "unexpected_item_in_bagging_area",
    ]
    lane.wait(7_000)
    assert lane.alerts() == ["unexpected_item"]


def test_item_carried_from_scanner_to_bag_without_a_read_is_a_non_scan() -> None:
    lane = Lane()
    lane.start()
    lane.scan("water")
    lane.bag(572)  # the water was not tracked; its sale must not excuse the next item
    lane.track(5, "scan")
    lane.track(5, "bagging")
    lane.bag(16)  # chewing gum: too light for the scale to object
    lane.wait(1_500)
    assert lane.findings() == [("non_scan", "nudge")]
    found = lane.of("mismatch_detected")[0]
    assert found["track_id"] == 5 and found["evidence"]["unpaid_track"] == 5
    lane.wait(7_000)
    assert lane.alerts() == ["non_scan"]


def test_weight_and_camera_agreeing_make_one_high_severity_finding() -> None:
    lane = Lane()
    lane.start()
    lane.track(5, "scan")
    lane.track(5, "bagging")
    lane.bag(348)
    lane.wait(8_000)
    assert lane.findings() == [("non_scan", "nudge")]
    (alert,) = lane.of("alert_raised")
    assert alert["kind"] == "non_scan" and alert["severity"] == "high"
    assert alert["evidence"]["delta_g"] == 348 and alert["evidence"]["track_id"] == 5


def test_scanned_item_tracked_into_the_bag_is_fine_even_if_its_track_breaks() -> None:
    lane = Lane()
    lane.start()
    lane.track(5, "scan")
    lane.scan("water")
    lane.track(5, "outside", lost=True)  # the tracker lost it over the scanner
    lane.track(6, "scan")
    lane.track(6, "bagging")
    lane.bag(572)
    lane.wait(10_000)
    assert lane.findings() == []


def test_two_items_tracked_for_one_read_is_caught() -> None:
    lane = Lane()
    lane.start()
    lane.track(5, "scan")
    lane.track(6, "scan")
    lane.scan("water")
    lane.track(5, "bagging")
    lane.track(6, "bagging")
    lane.bag(572 + 348)
    lane.wait(10_000)
    assert lane.alerts() and lane.alerts()[0] in ("non_scan", "weight_mismatch")


def test_item_unlike_its_scanned_sku_is_a_ticket_switch() -> None:
    lane = Lane()
    lane.start()
    lane.track(7, "scan")
    lane.scan("water")
    lane.track(7, "scan", sku="DRK-001", identity_score=0.08)
    lane.track(7, "bagging")
    lane.bag(1690)
    lane.wait(8_000)
    assert lane.findings() == [("ticket_switch", "nudge")]  # one incident, two witnesses
    (alert,) = lane.of("alert_raised")
    assert alert["kind"] == "ticket_switch" and alert["severity"] == "high"
    assert alert["evidence"]["identity_score"] == 0.08 and alert["evidence"]["delta_g"] == 1690


def test_camera_alone_doubting_an_item_the_scale_accepts_is_a_silent_flag() -> None:
    lane = Lane()
    lane.start()
    lane.track(7, "scan")
    lane.scan("water")
    lane.track(7, "scan", sku="DRK-001", identity_score=0.1)
    lane.bag(572)
    lane.wait(10_000)
    assert lane.findings() == [("ticket_switch", "flag")] and lane.alerts() == []
    (flag,) = lane.of("lp_flagged")
    assert flag["evidence"]["identity_score"] == 0.1 and flag["line_id"] == 1


def test_switched_item_that_weighs_like_the_scanned_one_is_still_fought_by_the_debt() -> None:
    lane = Lane()
    lane.start()
    lane.scan("water")  # 572, catalog tolerance 15 g
    lane.bag(510)  # 62 g light: not this item
    lane.scan("cola")
    lane.bag(370)  # 22 g over: fits on its own, and must not soak up the missing 62 g
    lane.wait(10_000)
    assert lane.alerts() == ["weight_mismatch"]


def test_doubtful_identity_alone_is_no_finding_but_with_a_wrong_weight_is_a_switch() -> None:
    lane = Lane()
    lane.start()
    lane.track(7, "scan")
    lane.scan("water")
    lane.track(7, "scan", sku="DRK-001", identity_score=0.35)
    lane.bag(572)
    assert lane.findings() == []
    lane.track(8, "scan")
    lane.scan("cola")
    lane.track(8, "scan", sku="DRK-003", identity_score=0.35)
    lane.bag(910)
    assert lane.findings() == [("ticket_switch", "nudge")]


def test_camera_suggests_an_item_whose_code_will_not_scan() -> None:
    lane = Lane()
    lane.start()
    lane.track(3, "scan", sku="DRK-003", identity_score=0.93)
    lane.wait(3_000)
    (offer,) = lane.of("item_suggested")
    assert offer["sku"] == "DRK-003" and offer["track_id"] == 3
    lane.shopper("confirm_item", sku="DRK-003", track_id=3)
    (added,) = lane.of("item_added")
    assert added["line"]["sku"] == "DRK-003" and added["line"]["entry"] == "vision"
    lane.shopper("confirm_item", sku="DRK-001")  # never suggested
    assert lane.of("input_rejected")[-1]["reason"].startswith("no suggestion")


def test_produce_suggestions_and_a_cheaper_plu_than_what_the_camera_sees() -> None:
    lane = Lane()
    lane.start()
    lane.track(4, "produce_scale", sku="PRD-013",
               candidates=(("PRD-013", 0.86), ("PRD-001", 0.09)))  # fmt: skip
    (offer,) = lane.of("produce_suggested")
    assert [c["plu"] for c in offer["candidates"]] == ["94011", "4011"]
    lane.feed(*[input_from_dict(x) for x in (
        {"t": (lane.at(300)) / 1000, "type": "weight", "platform": "scan", "weight_g": 1204,
         "stable": True},
    )])  # fmt: skip
    lane.shopper("add_item", plu="4011")
    assert lane.findings() == [("produce_mismatch", "nudge")]
    lane.wait(9_000)
    assert lane.alerts() == []  # not worth stopping anyone: loss prevention reviews it
    (flag,) = lane.of("lp_flagged")
    assert flag["evidence"]["seen_sku"] == "PRD-013" and flag["evidence"]["typed_sku"] == "PRD-001"


def test_dearer_plu_than_the_camera_sees_is_only_questioned() -> None:
    lane = Lane()
    lane.start()
    lane.track(4, "produce_scale", sku="PRD-001", candidates=(("PRD-001", 0.9),))
    lane.feed(input_from_dict({"t": lane.at(300) / 1000, "type": "weight", "platform": "scan",
                               "weight_g": 1204, "stable": True}))  # fmt: skip
    lane.shopper("add_item", plu="94011")
    lane.wait(10_000)
    assert lane.findings() == [("produce_mismatch", "nudge")]  # asked to check, no more
    assert lane.alerts() == [] and lane.of("lp_flagged") == []


# --- attendant, policies, learning, recovery --------------------------------------------


def test_attendant_clear_re_anchors_and_the_sale_goes_on() -> None:
    lane = Lane()
    lane.start()
    lane.scan("chips")
    lane.bag(1690)
    lane.wait(9_000)
    (alert,) = lane.of("alert_raised")
    lane.attendant("approve", alert_id=alert["alert_id"])
    assert lane.resolutions() == ["attendant"]
    assert lane.co.state is State.SHOPPING
    lane.scan("water")
    lane.bag(572)
    lane.wait(10_000)
    assert len(lane.findings()) == 1


def test_policies_per_reason_come_from_settings() -> None:
    lane = Lane(settings(policies=("unexpected_item:alert",)))
    lane.start()
    lane.bag(348)
    assert lane.alerts() == ["unexpected_item"]  # at once, no nudge first
    flag = Lane(settings(policies=("unexpected_item:flag",)))
    flag.start()
    flag.bag(348)
    assert flag.alerts() == [] and flag.of("lp_flagged")[0]["reason"] == "unexpected_item"
    off = Lane(settings(policies=("unexpected_item:off",)))
    off.start()
    off.bag(348)
    assert off.findings() == []
    with pytest.raises(ValueError, match="reasons are"):
        parse_policies(("shoplifting:alert",))


def test_tolerance_multiplier_trades_catches_for_false_alarms() -> None:
    def finds(k: float, grams: int) -> bool:
        lane = Lane(settings(weight_tolerance_k=k))
        lane.start()
        lane.scan("water")
        lane.bag(grams)
        return bool(lane.findings())

    assert finds(1.0, 592) and not finds(3.0, 592)


def test_learned_weights_follow_the_lane_and_survive_a_snapshot() -> None:
    co = Checkout(catalog(), settings())
    lane = Lane.__new__(Lane)
    lane.co, lane.now, lane.events, lane.bagging, lane.next_track = co, 1_764_061_200_000, [], 0, 1
    from kiosk.core.inputs import PaymentResult, Platform, WeightReading

    for _ in range(12):
        lane.feed(WeightReading(lane.at(100), Platform.BAGGING, 0, True))
        lane.bagging = 0
        lane.start()
        lane.scan("water")
        lane.bag(596)  # this store's bottles weigh 596 g, not the catalog's 572
        lane.shopper("pay")
        lane.feed(PaymentResult(lane.at(500), True, co.amount_due(), "card", "R"))
    learned = co.security.book.expected(co.catalog.by_sku("DRK-001"), "DRK-001")
    assert 590 < learned.mean_g < 600 and learned.sigma_g < 7.5
    assert lane.findings() == []
    snap = co.snapshot()
    again = Checkout(catalog(), settings(), snapshot=snap)
    assert again.security.book.to_dict() == co.security.book.to_dict()
    # One wild reading does not drag the mean.
    book = again.security.book
    assert book.learn("DRK-001", 2000, co.catalog.by_sku("DRK-001")) is False


def test_same_inputs_give_byte_identical_events() -> None:
    def run() -> list[str]:
        lane = Lane()
        lane.start()
        lane.track(5, "scan")
        lane.track(5, "bagging")
        lane.bag(348)
        lane.wait(8_000)
        return [e.to_json() for e in lane.events]

    first, second = run(), run()
    assert first == second
    assert any('"non_scan"' in line for line in first)


def test_a_bug_in_a_rule_never_stops_the_sale(monkeypatch: pytest.MonkeyPatch) -> None:
    lane = Lane()
    lane.start()

    def broken(*_: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(lane.co.security, "on_weight", broken)
    lane.scan("water")
    lane.bag(572)
    assert any(s.get("device") == "security" and s["status"] == "fault"
               for s in lane.of("device_status"))  # fmt: skip
    lane.scan("cola")
    assert len(lane.of("item_added")) == 2


def test_security_switched_off_emits_nothing() -> None:
    lane = Lane(settings(enabled=False))
    lane.start()
    lane.bag(348)
    lane.wait(10_000)
    assert lane.findings() == [] and lane.alerts() == []


def test_track_candidates_round_trip_through_the_public_format() -> None:
    raw = {"t": 1.5, "type": "track", "track_id": 4, "label": "item", "zone": "produce_scale",
           "confidence": 0.9, "sku": "PRD-013", "lost": False,
           "candidates": [{"sku": "PRD-013", "score": 0.86}]}  # fmt: skip
    track = input_from_dict(raw)
    assert input_to_dict(track) == raw
    from kiosk.errors import InputFormatError

    with pytest.raises(InputFormatError, match="candidate"):
        input_from_dict({**raw, "candidates": [{"sku": "X", "score": 3}]})


def test_settings_dataclass_is_frozen_and_replaceable() -> None:
    s = dataclasses.replace(SecuritySettings(), weight_tolerance_k=2.0)
    assert s.weight_tolerance_k == 2.0 and isinstance(catalog(), Catalog)
    assert EventType.MISMATCH_DETECTED.value == "mismatch_detected"


def test_bags_rearranged_before_the_first_scan_are_no_loss() -> None:
    lane = Lane()
    lane.start()
    lane.shopper("own_bag")
    lane.bag(30)
    lane.track(6, "bagging", label="bag")
    lane.bag(390)  # a handbag put down with the bags...
    lane.bag(-390)  # ...and picked up again
    lane.wait(10_000)
    assert lane.findings() == []


def test_an_item_passed_off_as_a_bag_self_corrects_when_scanned() -> None:
    lane = Lane()
    lane.start()
    lane.shopper("own_bag")
    lane.track(4, "bagging")
    lane.bag(83)  # chips, weighed like a bag
    assert lane.findings() == [("bag_abuse", "nudge")]
    lane.scan("chips")
    assert lane.resolutions() == ["self_corrected"]
    lane.wait(20_000)
    assert lane.alerts() == []


def test_three_items_bagged_at_once_after_scanning_them_all() -> None:
    lane = Lane()
    lane.start()
    lane.scan("chips")  # 82 g
    lane.scan("water")  # 572 g
    lane.scan("cola")  # 348 g
    lane.bag(82 + 572 + 348 + 4)
    lane.wait(20_000)
    assert lane.findings() == []


def test_paying_closes_the_read_window_of_an_item_just_bagged() -> None:
    lane = Lane()
    lane.start()
    lane.scan("water")
    lane.bag(572)
    lane.track(5, "scan")
    lane.track(5, "bagging")  # gum, too light for the scale, not scanned...
    lane.shopper("pay")  # ...and pay at once, before the read window would close
    assert lane.alerts() == ["non_scan"] and not lane.of("payment_requested")


def test_one_item_followed_as_two_tracks_is_not_a_non_scan() -> None:
    lane = Lane()
    lane.start()
    lane.track(18, "scan")
    lane.track(19, "scan")  # a second box on the same can
    lane.scan("cola")
    lane.track(18, "scan", sku="DRK-003", identity_score=0.8)
    lane.track(19, "scan", sku="DRK-003", identity_score=0.8)
    lane.track(18, "bagging")
    lane.track(19, "bagging")
    lane.bag(349)  # the scale saw one can
    lane.wait(10_000)
    assert lane.findings() == []


def test_a_weighed_bunch_seen_as_several_tracks_is_one_sale() -> None:
    from kiosk.core.inputs import Platform, WeightReading

    lane = Lane()
    lane.start()
    for track_id in (21, 23, 24):  # the detector split the bananas into three "items"
        lane.track(track_id, "produce_scale", sku="PRD-002", candidates=(("PRD-002", 0.02),))
    lane.feed(WeightReading(lane.at(300), Platform.SCAN, 745, True))
    lane.shopper("add_item", plu="4011")
    lane.feed(WeightReading(lane.at(300), Platform.SCAN, 0, True))
    for track_id in (21, 23, 24):
        lane.track(track_id, "bagging")
    lane.bag(748)
    lane.wait(10_000)
    assert lane.findings() == []
