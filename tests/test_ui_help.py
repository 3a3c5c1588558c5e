"""Shopper help in a real Kivy window (Xvfb): the illustrated guide in English and 中文,
Help and Call attendant reachable on every shopper screen, and the exit survey's comment
reaching the journaled event and the telemetry counts (never the words themselves).

Screenshots of every guide page in both languages go to ``$OPENSCO_HELP_SCREENSHOTS``
when set (the issue's closing note), else to a temporary folder.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend_client.contract import event_payload
from backend_client.schema_validation import validate
from kiosk.core.inputs import AttendantCommand, BarcodeRead, PaymentResult, ShopperAction
from kiosk.core.session import Checkout
from kiosk.core.settings import CoreSettings
from kiosk.core.survey import CARD_NUMBER_MASK, COMMENT_MAX_CHARS, clean_comment
from kiosk.ui.strings import text
from tests.security_lane import catalog
from tests.test_ui_window import WATER, Lane, _need_display

pytestmark = pytest.mark.slow

PAGES = ("scan", "produce", "bags", "pay")
# What each page must say (a sample of each page's steps, in both languages).
EXPECTED: dict[tuple[str, str], tuple[str, str]] = {
    ("scan", "en"): ("Scanning",
                     "Hold the barcode to the red scanner window until you hear a beep."),
    ("scan", "zh"): ("扫描商品", "将条码对准红色扫描窗口，听到“嘀”声即可。"),
    ("produce", "en"): ("Fruit & veg", "Tap “Fruit & veg / no barcode”."),
    ("produce", "zh"): ("果蔬称重", "点击“果蔬 / 无条码商品”。"),
    ("bags", "en"): ("Own bags",
                     "Asked “Did you bring your own bags?” — tap “Yes, I'll put them down”."),
    ("bags", "zh"): ("自带购物袋", "屏幕询问“您自带购物袋了吗？”时，\n点击“是，我放上购物袋”。"),
    ("pay", "en"): ("Paying", "When everything is scanned, tap “Pay”."),
    ("pay", "zh"): ("付款", "全部商品扫描完后，点击“付款”。"),
}  # fmt: skip
SECOND_STEPS = {
    ("pay", "en"): "Choose Card, Mobile / QR or Cash.",
    ("pay", "zh"): "选择银行卡、扫码支付或现金。",
    ("bags", "en"): "Put your empty bags in the bagging area before you scan.",
}


class RecordingLane(Lane):
    """The window test's lane, also keeping every event as the outbox would send it."""

    def __init__(self, shots: Path) -> None:
        self.records: list[dict[str, Any]] = []
        self._records_lock = threading.Lock()
        super().__init__(shots)

    def _events(self, events: list[Any]) -> None:
        with self._records_lock:
            self.records.extend(e.to_dict() for e in events)
        super()._events(events)

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self._records_lock:
            return [r for r in self.records if r["type"] == kind]


@pytest.fixture(scope="module")
def lane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingLane]:
    _need_display()
    os.environ.setdefault("KIVY_HOME", str(tmp_path_factory.mktemp("kivy-home")))
    keep = os.environ.get("OPENSCO_HELP_SCREENSHOTS")
    shots = Path(keep) if keep else tmp_path_factory.mktemp("help-shots")
    lane = RecordingLane(shots)
    yield lane
    lane.close()


def _buttons(screen: Any) -> tuple[Any, Any]:
    """The visible Help and Call attendant buttons of a screen (exactly one of each)."""
    from kiosk.ui.screens.help import CallAttendantButton, GuideButton
    from kiosk.ui.widgets.base import walk_visible

    shown = walk_visible(screen)
    guides = [w for w in shown if isinstance(w, GuideButton)]
    calls = [w for w in shown if isinstance(w, CallAttendantButton)]
    assert len(guides) == 1 and len(calls) == 1, (screen.name, guides, calls)
    return guides[0], calls[0]


def _colour_share(png: Path, box: tuple[float, float, float, float]) -> int:
    """How many distinct coarse colours the picture area has: a drawing, not a blank."""
    import cv2

    img = cv2.imread(str(png))
    h, w = img.shape[:2]
    x0, y0, x1, y1 = box
    area = img[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)] // 32
    return len({tuple(p) for p in area.reshape(-1, 3)[::7]})


def test_every_guide_page_in_both_languages(lane: RecordingLane) -> None:
    app, vm = lane.app, lane.vm
    lane.to_attract()
    guide, _call = _buttons(lane.on("attract"))
    lane.tap(guide)
    h = lane.on("help")
    assert h.ids.title.text == "How to use self-checkout" and h.ids.called.hidden
    assert not h.ids.call.hidden  # nobody called yet: the button is there
    for lang in ("en", "zh"):
        lane.tap(h.ids[f"lang_{lang}"])
        lane.wait(lambda lang=lang: app.shown_state.language == lang, f"language {lang}")
        titles = {"en": "How to use self-checkout", "zh": "自助结账使用指南"}
        assert h.ids.title.text == titles[lang]
        for page in PAGES:
            lane.tap(h.ids[f"tab_{page}"])
            lane.wait(lambda page=page: h.ids.picture.page == page, f"page {page}")
            title, first = EXPECTED[(page, lang)]
            assert h.ids.page_title.text == title
            assert h.ids.step_1.text == first
            assert h.ids[f"tab_{page}"].role == "primary"
            if (page, lang) in SECOND_STEPS:
                assert h.ids.step_2.text == SECOND_STEPS[(page, lang)]
            assert all(h.ids[f"step_{n}"].text for n in (1, 2, 3))
            png = lane.shot(f"help_{page}_{lang}")
            picture = h.ids.picture
            box = (picture.x / 1280, 1 - picture.top / 800, picture.right / 1280,
                   1 - picture.y / 800)  # fmt: skip
            assert _colour_share(png, box) >= 6, f"{page}/{lang}: the picture looks empty"
    # Reading the guide calls nobody; Back goes where the shopper came from.
    assert lane.of("help_requested") == [] and vm.snapshot().lane_state == "idle"
    lane.tap(h.ids.back)
    lane.on("attract")
    vm.set_language("en")


def _call_and_clear(lane: RecordingLane, screen: Any) -> None:
    """Tap Call attendant: a help alert is raised, the help screen says help is coming;
    then the attendant clears it."""
    before, lang = len(lane.of("alert_raised")), lane.app.shown_state.language
    _guide, call = _buttons(screen)
    lane.tap(call)
    h = lane.on("help")
    lane.wait(lambda: len(lane.of("alert_raised")) > before, "help alert raised")
    alert = lane.of("alert_raised")[-1]
    assert alert["kind"] == "help" and lane.of("help_requested")[-1]["reason"] == "shopper"
    lane.wait(lambda: h.ids.title.text == text("help_title", lang), "help-is-coming title")
    assert lane.app.shown_state.language == lang  # the session the call opened kept it
    assert not h.ids.called.hidden and h.ids.call.hidden
    lane.shot(f"help_called_from_{screen.name}_{lane.app.shown_state.language}")
    lane.put(AttendantCommand(lane.clock(), "clear_all", "att-1"))
    lane.wait(lambda: not lane.app.shown_state.help_called, "help alert cleared")
    assert h.ids.title.text == text("help_guide_title", lang) and not h.ids.call.hidden


def _guide_round_trip(lane: RecordingLane, name: str, page: str) -> Any:
    """Help opens the guide on the page that fits the screen; Back comes back to it."""
    screen = lane.on(name)
    guide, _call = _buttons(screen)
    lane.tap(guide)
    h = lane.on("help")
    lang = lane.app.shown_state.language
    assert h.ids.picture.page == page and h.ids.title.text == text("help_guide_title", lang)
    lane.tap(h.ids.back)
    return lane.on(name)


def _end_sale(lane: RecordingLane) -> None:
    if lane.vm.snapshot().lane_state not in ("idle", "completed", "cancelled"):
        lane.put(AttendantCommand(lane.clock(), "cancel_transaction", "att-1"))
    lane.to_attract()


def _to_receipt(lane: RecordingLane) -> Any:
    """A quick cash sale of one water, from attract to the receipt screen."""
    lane.put(BarcodeRead(lane.clock(), WATER, "EAN13"))
    s = lane.on("scanning")
    lane.wait(lambda: lane.app.shown_state.item_count >= 1, "item shown")
    lane.tap(s.ids.pay_btn)
    lane.tap(s.ids.pay_cash)
    lane.on("payment")
    lane.wait(lambda: lane.vm.snapshot().payment.status == "waiting", "terminal waiting")
    amount = lane.vm.snapshot().payment.amount_minor
    lane.put(PaymentResult(lane.clock(), True, amount, "cash", "T-help"))
    return lane.on("receipt")


def test_help_and_call_attendant_on_every_shopper_screen(lane: RecordingLane) -> None:
    from kiosk.ui.screens import SCREENS

    app, vm = lane.app, lane.vm
    checked: list[str] = []
    # Before a sale: attract, welcome, bags. A call there opens a session for the alert.
    for name in ("attract", "welcome", "bags"):
        _end_sale(lane)
        if name != "attract":
            lane.tap(app.screen())
            w = lane.on("welcome")
            if name == "welcome":  # this one in Chinese
                lane.tap(w.ids.lang_zh)
                lane.wait(lambda: app.shown_state.language == "zh", "Chinese")
            if name == "bags":
                lane.tap(w.ids.start)
        screen = _guide_round_trip(lane, name, "bags" if name == "bags" else "scan")
        _call_and_clear(lane, screen)
        lane.tap(app.screen("help").ids.back)
        lane.on("bags" if name == "bags" else "scanning")  # the session the call opened
        checked.append(name)

    # During a sale: scanning, produce, payment; Back returns to the same screen.
    _end_sale(lane)
    lane.put(BarcodeRead(lane.clock(), WATER, "EAN13"))
    for name, page, open_it in (("scanning", "scan", None), ("produce", "produce", "produce_btn")):
        if open_it:
            lane.tap(app.screen().ids[open_it])
        screen = _guide_round_trip(lane, name, page)
        _call_and_clear(lane, screen)
        lane.tap(app.screen("help").ids.back)
        lane.on(name)
        checked.append(name)
    lane.tap(app.screen().ids.back)  # produce → scanning
    s = lane.on("scanning")
    lane.tap(s.ids.pay_btn)
    lane.tap(s.ids.pay_card)
    screen = _guide_round_trip(lane, "payment", "pay")
    _call_and_clear(lane, screen)
    lane.tap(app.screen("help").ids.back)
    lane.on("payment")
    checked.append("payment")

    # After the sale: the guide returns to each screen; a call opens a new session.
    amount = vm.snapshot().payment.amount_minor
    lane.put(PaymentResult(lane.clock(), True, amount, "card", "T-help-1"))
    _guide_round_trip(lane, "receipt", "scan")
    lane.tap(app.screen().ids.done)
    _guide_round_trip(lane, "rating", "scan")
    lane.tap(app.screen().ids.rate_5)
    _guide_round_trip(lane, "thank_you", "scan")
    for name in ("receipt", "rating", "thank_you"):
        _end_sale(lane)
        r = _to_receipt(lane)
        if name != "receipt":
            lane.tap(r.ids.done)
        if name == "thank_you":
            lane.tap(lane.on("rating").ids.rate_4)
        _call_and_clear(lane, lane.on(name))
        lane.tap(app.screen("help").ids.back)
        lane.on("scanning")  # the help call opened a session: the attendant is on the way
        checked.append(name)
    _end_sale(lane)

    # The two screens without the buttons say why: the attendant is already called, or
    # the lane takes no shoppers (the core would refuse a help call on a closed lane).
    exempt = {"help", "intervention", "out_of_service"}
    assert sorted(checked) == sorted(set(SCREENS) - exempt)
    assert app.screen("intervention").ids.title.text == "Please wait — help is on the way"


def test_a_survey_comment_reaches_the_event_and_only_counts_reach_telemetry(
    lane: RecordingLane,
) -> None:
    from kiosk.core.kpis import KpiTracker
    from kiosk.ops.metrics_http import parse_exposition, render_metrics
    from kiosk.ops.telemetry import SaleTimer, kpi_figures, tele_fields

    _end_sale(lane)
    r = _to_receipt(lane)
    lane.tap(r.ids.done)
    rate = lane.on("rating")
    assert rate.ids.comment.text == ""  # the last shopper's words are never shown
    box = rate.ids.comment
    box.insert_text("x" * (COMMENT_MAX_CHARS + 40))
    lane.app.pump(frames=2)
    assert len(box.text) == COMMENT_MAX_CHARS  # typing stops at the limit
    box.text = ""
    box.cursor, box.scroll_x = (0, 0), 0  # back to the start of the emptied line
    words = "Queue was quick, scanner slow. Card 4111 1111 1111 1111 was fine"
    box.insert_text(words)
    lane.app.pump(frames=2)
    lane.shot("rating_comment")
    lane.tap(rate.ids.rate_4)
    lane.on("thank_you")
    lane.wait(lambda: lane.of("survey_answered"), "survey event")
    event = lane.of("survey_answered")[-1]
    assert event["score"] == 4
    assert event["comment"] == (f"Queue was quick, scanner slow. Card {CARD_NUMBER_MASK} was fine")
    assert "4111" not in json.dumps(lane.records)  # not in any event, payment ones included
    wire = json.loads(event_payload(event, kiosk_id="lane-01", store="store-01",
                                    boot_id="b" * 32))  # fmt: skip
    assert validate("event", wire) == [], wire
    payment_kinds = {k for k in (r["type"] for r in lane.records) if k.startswith("payment")}
    assert payment_kinds and all(
        "comment" not in r for r in lane.records if r["type"] in payment_kinds
    )

    # The lane folds the same events into its KPIs: counts and mean, never the words.
    kpis, sales = KpiTracker(), SaleTimer()
    for record in lane.records:
        kpis.observe(record)
        sales.observe(record)
    figures = kpi_figures(kpis, sales)
    ratings = [e["score"] for e in lane.of("survey_answered")]
    assert figures["survey_answers"] == len(ratings)
    assert figures["survey_comments"] == 1
    assert figures["survey_answers_by_score"]["4"] == ratings.count(4) >= 1
    assert figures["survey_score_mean"] == round(sum(ratings) / len(ratings), 2)
    tele = tele_fields({"kpis": figures})
    assert tele["kpis"]["survey_comments"] == 1
    assert tele["kpis"]["survey_answers_by_score.4"] == ratings.count(4)
    page = render_metrics({"kiosk_id": "lane-01", "store_id": "store-01", "kpis": figures})
    families = parse_exposition(page)
    samples = families["opensco_survey_answers_by_score_total"].samples
    by_score = {dict(labels)["score"]: value for _name, labels, value in samples}
    assert by_score["4"] == ratings.count(4) and set(by_score) == {"1", "2", "3", "4", "5"}
    assert families["opensco_survey_comments_total"].samples[0][2] == 1
    assert "Queue" not in page and "Queue" not in json.dumps(tele)


def test_comment_cleaning() -> None:
    assert clean_comment(None) == ("", False)
    assert clean_comment(42) == ("", False)
    assert clean_comment("  great\n\tlane\x1b[31m  ") == ("great lane [31m", False)
    assert clean_comment("pan 4111-1111-1111-1111 end") == (f"pan {CARD_NUMBER_MASK} end", False)
    assert clean_comment("order 12345 and phone 13800138000") == (
        "order 12345 and phone 13800138000", False)  # short numbers stay  # fmt: skip
    text, cut = clean_comment("很好" * 200)
    assert cut and len(text) == COMMENT_MAX_CHARS


def test_the_core_keeps_the_score_when_the_comment_is_bad() -> None:
    co = Checkout(catalog(), CoreSettings(camera_scans=False))
    events = co.apply(ShopperAction(1_000, "rate", {"score": 3, "comment": {"x": 1}}))
    kinds = [e.type.value for e in events]
    assert kinds == ["input_rejected", "survey_answered"]
    assert "comment" not in events[1].data and events[1].data["score"] == 3
    events = co.apply(ShopperAction(2_000, "rate", {"score": 2, "comment": "y" * 500}))
    assert events[-1].data["comment"] == "y" * COMMENT_MAX_CHARS
    assert events[-1].data["comment_truncated"] is True
