"""The shopper app in a real Kivy window (Xvfb): whole purchases driven by simulated
touches through the window's input queue, the real core on an EngineThread, the scanner,
scales, attendant and payment terminal as the inputs they would put on the lane's queue.

Every step asserts what the screen shows (label texts), and each screen is written as a
PNG (kept in ``$OPENSCO_UI_SCREENSHOTS`` when set, for the issue's closing note).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kiosk.core.inputs import (
    AttendantCommand,
    BarcodeRead,
    Input,
    PaymentResult,
    Platform,
    WeightReading,
)
from kiosk.core.settings import CoreSettings
from kiosk.replay import load_catalog_file
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.slow

WATER = "6902974302088"  # Nongfu Spring 550 ml, multibuy 2 for 3.50
BEER = "6901035603102"  # Tsingtao, 18+
UNKNOWN = "5901234123457"  # a valid EAN-13 that is not in the catalog


def _need_display() -> None:
    if not os.environ.get("DISPLAY"):
        if os.environ.get("OPENSCO_REQUIRE_SERVICES") == "1":
            pytest.fail("DISPLAY is not set: Xvfb should be running (OPENSCO_REQUIRE_SERVICES=1)")
        pytest.skip("no DISPLAY (run under xvfb-run)")


class Lane:
    """One lane: engine thread + view-model + the app in an embedded event loop."""

    def __init__(self, shots: Path) -> None:
        from kiosk.engine import Engine, EngineThread
        from kiosk.ui.app import ShopperApp
        from kiosk.ui.viewmodel import ShopperViewModel

        catalog = load_catalog_file(EXAMPLES / "catalog.csv")
        # Security rules off: this test is about screens; their nudges have their own tests.
        base = CoreSettings(camera_scans=False)
        settings = replace(base, security=replace(base.security, enabled=False))
        self.offset_ms = 0
        self.engine = EngineThread(lambda: Engine(catalog, settings), listener=self._events)
        self.vm = ShopperViewModel(catalog, put=self.engine.put, clock=self.clock)
        self.engine.start()
        assert self.engine.ready.wait(10) and self.engine.start_error is None
        self.printed: list[dict[str, Any]] = []
        self.app = ShopperApp(self.vm, print_receipt=self.printed.append, tick_interval_s=0.2)
        self.app.start_embedded()
        self.shots = shots
        self.written: list[Path] = []

    def _events(self, events: list[Any]) -> None:
        self.vm.on_events(events)

    def clock(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    def put(self, item: Input) -> None:
        self.engine.put(item)

    def wait(self, predicate: Callable[[], object], what: str) -> None:
        assert self.app.pump(predicate, timeout_s=15.0), f"never happened: {what}"
        self.app.pump(frames=2)  # let the layout settle before the next touch

    def on(self, screen: str) -> Any:
        self.wait(lambda: self.app.sm.current == screen, f"screen {screen}")
        return self.app.screen(screen)

    def ids(self) -> Any:
        return self.app.screen().ids

    def tap(self, widget: Any) -> None:
        from kiosk.ui.widgets.base import tap

        assert widget.opacity > 0 and not widget.disabled and widget.height > 0, widget
        tap(widget)
        self.app.pump(frames=2)

    def shot(self, name: str) -> Path:
        import cv2

        self.app.pump(frames=2)
        path = self.app.screenshot(self.shots / f"{name}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = cv2.imread(str(path))
        assert img is not None and img.shape[1] == 1280 and img.shape[0] == 800
        assert float(img.std()) > 5.0, f"{name}: a blank screenshot"
        self.written.append(path)
        return path

    def to_attract(self) -> None:
        if self.app.sm.current != "attract":
            self.offset_ms += 120_000  # idle screens time out on the view-model's clock
        self.on("attract")

    def close(self) -> None:
        self.app.close_embedded()
        self.engine.stop()
        self.engine.join(10)


@pytest.fixture(scope="module")
def lane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lane]:
    _need_display()
    os.environ.setdefault("KIVY_HOME", str(tmp_path_factory.mktemp("kivy-home")))
    keep = os.environ.get("OPENSCO_UI_SCREENSHOTS")
    shots = Path(keep) if keep else tmp_path_factory.mktemp("screens")
    lane = Lane(shots)
    yield lane
    lane.close()


def _texts(widget: Any) -> list[str]:
    return [w.text for w in widget.walk() if hasattr(w, "text") and isinstance(w.text, str)]


def test_an_english_purchase_by_touch(lane: Lane) -> None:
    app, vm = lane.app, lane.vm
    s = lane.on("attract")
    assert s.ids.title.text == "Self-checkout"
    lane.shot("attract")
    lane.tap(s)  # anywhere
    s = lane.on("welcome")
    assert s.ids.start.text == "Start" and s.ids.lang_en.role == "ok"
    lane.shot("welcome")
    lane.tap(s.ids.start)
    s = lane.on("bags")
    assert s.ids.question.text == "Did you bring your own bags?"
    lane.shot("bags")
    lane.tap(s.ids.yes)
    s = lane.on("scanning")
    assert s.ids.prompt.text == "Scan an item" and not s.ids.cart_empty.hidden
    assert s.ids.pay_btn.disabled  # nothing to pay for yet

    for _ in range(2):  # the scanner reads two bottles of water
        lane.put(BarcodeRead(lane.clock(), WATER, "EAN13"))
        lane.offset_ms += 1_000
    lane.wait(lambda: app.shown_state.item_count == 2, "two items shown")
    assert s.ids.last_name.text == "Nongfu Spring water 550 ml"
    assert s.ids.last_price.text == "¥2.00"
    assert s.ids.count.text == "Items: 2"
    assert s.ids.total.text == "Total: ¥3.50" and s.ids.savings.text == "You saved: ¥0.50"
    assert len(s.ids.cart.rows) == 2

    lane.put(BarcodeRead(lane.clock(), UNKNOWN, "EAN13"))  # a nudge: private banner
    lane.wait(lambda: not s.ids.nudge.hidden, "nudge banner")
    assert s.ids.nudge.message.startswith("Item not found")
    lane.shot("scanning_nudge")
    lane.offset_ms += 7_000  # plain nudges fade on the view-model's tick
    lane.wait(lambda: s.ids.nudge.hidden, "nudge faded")

    lane.put(BarcodeRead(lane.clock(), BEER, "EAN13"))  # age check: keep scanning
    lane.wait(lambda: not s.ids.age.hidden, "age banner")
    assert s.ids.age.message.startswith("An attendant will check your ID")
    assert s.ids.last_name.text == "Tsingtao beer 500 ml can"
    lane.shot("scanning")
    lane.put(AttendantCommand(lane.clock(), "approve_age", "att-1"))
    lane.wait(lambda: s.ids.age.hidden, "age approved")

    lane.tap(s.ids.produce_btn)  # fruit by name search, then the scale
    p = lane.on("produce")
    assert p.ids.title.text == "Fruit & vegetables" and p.tiles  # top items before typing
    p.ids.search.insert_text("fs")  # pinyin initials of 富士苹果
    lane.wait(lambda: list(p.tiles) == ["PRD-002"], "search result")
    assert p.tiles["PRD-002"].label == "Fuji apples"
    lane.tap(p.tiles["PRD-002"])
    lane.wait(lambda: not p.ids.place.hidden, "place-on-scale prompt")
    assert p.ids.place.message == "Place the item on the scale"
    lane.shot("produce")
    lane.put(WeightReading(lane.clock(), Platform.SCAN, 1184, True))
    s = lane.on("scanning")
    lane.wait(lambda: s.ids.last_name.text == "Fuji apples", "apples sold")
    assert s.ids.cart.rows and "1.184 kg" in _texts(s.ids.cart.rows[4])
    lane.put(WeightReading(lane.clock(), Platform.SCAN, 0, True))

    lane.tap(s.ids.cart.remove_buttons[1])  # remove one water: needs the attendant
    i = lane.on("intervention")
    assert i.ids.title.text == "Please wait — help is on the way"
    assert i.ids.reason.text == "Removing an item needs an attendant"
    assert i.ids.next_step.text.startswith("Leave your items where they are")
    lane.shot("intervention")
    alert_id = vm.snapshot().intervention.alert_id
    lane.put(AttendantCommand(lane.clock(), "approve", "att-1", {"alert_id": alert_id}))
    s = lane.on("scanning")
    lane.wait(lambda: app.shown_state.lines[0].voided, "line 1 voided")
    assert s.ids.cart.remove_buttons[1].hidden and s.ids.count.text == "Items: 3"

    lane.tap(s.ids.help_btn)
    h = lane.on("help")
    assert h.ids.title.text == "Help is on the way"
    lane.shot("help")
    lane.tap(h.ids.back)
    s = lane.on("scanning")
    lane.put(AttendantCommand(lane.clock(), "clear_all", "att-1"))

    total = vm.snapshot().total_minor
    lane.tap(s.ids.pay_btn)
    assert not s.ids.methods.hidden and s.ids.produce_btn.hidden
    lane.tap(s.ids.pay_card)
    pay = lane.on("payment")
    lane.wait(lambda: pay.ids.status.text != "", "terminal waiting")
    assert pay.ids.amount.text == vm.money(total)
    assert pay.ids.status.text == "Follow the instructions on the payment terminal"
    assert pay.ids.retry.hidden
    lane.shot("payment")
    lane.put(PaymentResult(lane.clock(), False, total, "card", reason="insufficient funds"))
    lane.wait(lambda: not pay.ids.retry.hidden, "declined")
    assert pay.ids.status.text == "Payment declined (insufficient funds)"
    lane.shot("payment_declined")
    lane.tap(pay.ids.retry)
    lane.wait(lambda: pay.ids.retry.hidden, "waiting again")
    lane.put(PaymentResult(lane.clock(), True, total, "card", "T0001"))

    r = lane.on("receipt")
    assert r.ids.total.text == f"Total: {vm.money(total)}"
    texts = _texts(r.ids.lines)
    assert "Fuji apples  1.184 kg" in texts and "Tsingtao beer 500 ml can" in texts
    png = lane.shot("receipt")
    _assert_qr(png, vm.snapshot().receipt_qr)
    lane.tap(r.ids.print_btn)
    assert [x["txn_no"] for x in lane.printed] == [vm.snapshot().receipt["txn_no"]]
    lane.tap(r.ids.done)
    rate = lane.on("rating")
    assert rate.ids.title.text == "How was your checkout?"
    lane.shot("rating")
    lane.tap(rate.ids.rate_4)
    t = lane.on("thank_you")
    assert t.ids.title.text == "Thank you! Don't forget your bags." and vm.snapshot().rating == 4
    lane.shot("thank_you")
    lane.offset_ms += 7_000
    lane.on("attract")
    assert app.frames_drawn > 0

    vm.set_out_of_service("scale.bagging: not answering")
    o = lane.on("out_of_service")
    assert o.ids.title.text == "This lane is closed"
    assert o.ids.reason.text == "scale.bagging: not answering"
    lane.shot("out_of_service")
    vm.set_out_of_service(None)
    lane.on("attract")


def _assert_qr(png: Path, expected: str | None) -> None:
    import cv2

    assert expected
    found, _pts, _ = cv2.QRCodeDetector().detectAndDecode(cv2.imread(str(png)))
    assert found == expected


def test_a_chinese_purchase_shows_chinese(lane: Lane) -> None:
    from kiosk.ui.theme import FONT_NAME

    app = lane.app
    lane.to_attract()
    lane.tap(lane.app.screen())
    s = lane.on("welcome")
    lane.tap(s.ids.lang_zh)
    lane.wait(lambda: s.ids.title.text == "欢迎", "Chinese welcome")
    assert s.ids.start.text == "开始" and s.ids.hint.text.startswith("点击")
    lane.shot("welcome_zh")
    lane.tap(s.ids.start)
    b = lane.on("bags")
    assert b.ids.question.text == "您自带购物袋了吗？"
    lane.tap(b.ids.no)
    s = lane.on("scanning")
    assert s.ids.prompt.text == "请扫描商品" and s.ids.pay_btn.text == "付款"
    lane.put(BarcodeRead(lane.clock(), WATER, "EAN13"))
    lane.wait(lambda: s.ids.last_name.text == "农夫山泉饮用天然水 550ml", "Chinese item name")
    assert s.ids.total.text == "合计: ¥2.00"

    lane.tap(s.ids.produce_btn)  # bananas by PLU on the keypad
    p = lane.on("produce")
    assert p.ids.title.text == "水果蔬菜"
    for key in "4011":
        lane.tap(p.ids.keypad.buttons[key])
    assert p.ids.keypad.value == "4011"
    lane.tap(p.ids.keypad.buttons["OK"])
    lane.wait(lambda: not p.ids.place.hidden, "place-on-scale prompt")
    assert p.ids.place.message == "请将商品放在秤上"
    lane.put(WeightReading(lane.clock(), Platform.SCAN, 760, True))
    s = lane.on("scanning")
    lane.wait(lambda: s.ids.last_name.text == "香蕉", "bananas sold")
    lane.shot("scanning_zh")
    lane.put(WeightReading(lane.clock(), Platform.SCAN, 0, True))

    # Every label on the screen is drawn with the CJK font, and its glyphs have ink.
    labels = [w for w in s.walk() if hasattr(w, "font_name") and getattr(w, "text", "")]
    assert labels and all(w.font_name == FONT_NAME for w in labels)
    assert s.ids.last_name.texture is not None and s.ids.last_name.texture.size[0] > 50

    lane.tap(s.ids.pay_btn)
    assert s.ids.pay_qr.text == "扫码支付"
    lane.tap(s.ids.pay_qr)
    pay = lane.on("payment")
    lane.wait(lambda: pay.ids.status.text == "请按照支付终端上的提示操作", "Chinese waiting")
    amount = lane.vm.snapshot().payment.amount_minor
    lane.put(PaymentResult(lane.clock(), True, amount, "qr", "T0002"))
    r = lane.on("receipt")
    assert r.ids.title.text == "您的小票" and r.ids.total.text.startswith("合计")
    assert "香蕉  760 g" in _texts(r.ids.lines)
    lane.shot("receipt_zh")
    lane.tap(r.ids.done)
    rate = lane.on("rating")
    lane.tap(rate.ids.rate_5)
    t = lane.on("thank_you")
    assert t.ids.title.text == "谢谢！别忘了带走您的购物袋。"
    assert app.shown_state.rating == 5


def test_large_text_keeps_every_touch_target_at_least_48dp(lane: Lane) -> None:
    from kivy.metrics import dp

    from kiosk.ui.screens.produce import ProduceTile
    from kiosk.ui.widgets.base import TouchButton, walk_visible

    app, vm = lane.app, lane.vm
    lane.to_attract()
    normal_font, normal_touch = app.fs_m, app.touch_h
    lane.tap(app.screen())
    w = lane.on("welcome")
    assert w.ids.large_text.text == "大字 / Large text"  # both languages: it may be unreadable
    try:
        lane.tap(w.ids.large_text)
        lane.tap(w.ids.high_contrast)
        lane.wait(lambda: app.large_text and app.high_contrast, "large text on")
        assert app.fs_m > normal_font and app.touch_h > normal_touch
        assert w.ids.large_text.role == "ok" and w.ids.high_contrast.role == "ok"

        def check(screen_name: str) -> int:
            screen = lane.on(screen_name)
            lane.app.pump(frames=3)
            targets = [w for w in walk_visible(screen) if isinstance(w, TouchButton | ProduceTile)]
            small = [(w.text if hasattr(w, "text") else w.label, w.size) for w in targets
                     if w.height < dp(48) or w.width < dp(48)]  # fmt: skip
            assert not small, f"{screen_name}: targets under 48 dp: {small}"
            return len(targets)

        lane.shot("welcome_large_contrast")
        assert check("welcome") >= 6
        lane.tap(app.screen().ids.start)
        assert check("bags") == 4  # yes, no, Help, Call attendant
        lane.tap(app.screen().ids.yes)
        lane.put(BarcodeRead(lane.clock(), WATER, "EAN13"))
        lane.wait(lambda: app.shown_state.item_count == 1, "item shown")
        assert check("scanning") >= 6
        lane.shot("scanning_large_contrast")
        lane.tap(app.screen().ids.produce_btn)
        assert check("produce") >= 13  # keypad + tiles + back
        lane.shot("produce_large_contrast")
        lane.tap(app.screen().ids.back)
        lane.on("scanning")
        lane.tap(app.screen().ids.pay_btn)
        lane.tap(app.screen().ids.pay_cash)
        assert check("payment") >= 1
        amount = vm.snapshot().payment.amount_minor
        lane.put(PaymentResult(lane.clock(), True, amount, "cash", "T0003"))
        assert check("receipt") >= 2
        lane.tap(app.screen().ids.done)
        assert check("rating") == 7  # five scores, Help, Call attendant
        lane.tap(app.screen().ids.rate_3)
        lane.on("thank_you")
    finally:
        if vm.snapshot().large_text:
            vm.toggle_large_text()
        if vm.snapshot().high_contrast:
            vm.toggle_high_contrast()
    lane.wait(lambda: not app.large_text and app.touch_h == normal_touch, "normal text back")


def test_camera_preview_and_suggestion_card(lane: Lane) -> None:
    import threading

    import cv2
    import numpy as np

    from kiosk.core.events import Event, EventType
    from kiosk.ui.widgets.overlay import PreviewFrame, PreviewTrack
    from vision.types import Box

    app, vm = lane.app, lane.vm
    lane.to_attract()
    lane.put(BarcodeRead(lane.clock(), WATER, "EAN13"))  # a scan alone starts the sale
    s = lane.on("scanning")
    assert s.ids.preview.hidden  # no camera given: no preview

    frame = np.full((480, 640, 3), 40, np.uint8)
    zones = {"bagging": [[0.55, 0.1], [0.95, 0.1], [0.95, 0.9], [0.55, 0.9]]}
    track = PreviewTrack(Box(100, 150, 220, 300), 3, "item")
    app.set_preview(lambda: PreviewFrame(frame, zones, [track]))
    lane.wait(lambda: s.ids.preview.frames_shown >= 2, "preview frames drawn")
    assert not s.ids.preview.hidden and s.ids.preview.height > 100
    img = cv2.imread(str(lane.shot("scanning_preview")))
    b, g, r = (img[:, :, i].astype(int) for i in range(3))
    assert int(((g > 170) & (r < 120) & (b < 120)).sum()) > 50  # the green bagging zone
    assert int(((r > 170) & (g < 80) & (b < 80)).sum()) > 50  # the red track box
    app.set_preview(None)
    lane.wait(lambda: s.ids.preview.hidden, "preview off")

    # The core's suggestion arrives on the engine thread, like every event.
    suggested = Event(EventType.ITEM_SUGGESTED, lane.clock(), 1, "e-1", "s-1",
                      {"sku": "DRK-003", "name_en": "Coca-Cola can 330 ml",
                       "name_zh": "可口可乐 330ml 罐装", "track_id": 3, "score": 0.91})  # fmt: skip
    t = threading.Thread(target=vm.on_events, args=([suggested],))
    t.start()
    t.join()
    lane.wait(lambda: not s.ids.suggestion.hidden, "suggestion card")
    assert s.ids.suggestion_text.text == "Is this your item?  Coca-Cola can 330 ml"
    lane.shot("scanning_suggestion")
    lane.tap(s.ids.suggest_no)
    lane.wait(lambda: s.ids.suggestion.hidden, "suggestion dismissed")

    lane.put(AttendantCommand(lane.clock(), "cancel_transaction", "att-1"))
    lane.on("attract")
