"""Remote assistance: a real headless lane publishes its shopper screen state on a real
mosquitto, the attendant's tablet (a real Kivy window under Xvfb) mirrors it on its Lane
screen, and a line voided there leaves the lane's cart. The screen topic validates against
its schema and never carries the payment terminal's reference.

Every wait polls what the window, the lane or the broker shows; no timed assertion.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend_client.contract import TopicTree
from backend_client.schema_validation import validate
from backend_client.screen_state import ScreenPublisher, screen_payload
from kiosk.attendant.demo import COLA, WATER, DemoFloor
from kiosk.attendant.screens import words
from kiosk.core.catalog import Catalog
from kiosk.ui.viewmodel import PaymentView, ShopperMessage, ShopperState, ShopperViewModel
from tests.conftest import wait_for
from tests.test_attendant_app import Tablet, _need_display

STORE = "store-p3"  # its own store: the session broker is shared with other tests
IDS = {"kiosk_id": "lane-01", "store_id": STORE, "currency": "CNY", "currency_exponent": 2}


# --- the payload, without a window ----------------------------------------------------------


def test_screen_payload_validates_and_refuses_anything_extra() -> None:
    state = ShopperState(
        screen="payment", lane_state="payment", total_minor=550, item_count=2,
        payment=PaymentView("declined", 550, "card", reason="card 4111… declined, ref R77"),
        message=ShopperMessage("An attendant is on the way.", "att-07", 0),
    )  # fmt: skip
    body = screen_payload(state, [], ts=1764070000.0, **IDS)
    assert validate("screen", body) == []
    assert body["prompt"]["key"] == "payment_declined" and body["prompt"]["text"]
    assert body["message"] == {"text": "An attendant is on the way.", "attendant_id": "att-07"}
    assert "R77" not in json.dumps(body) and "4111" not in json.dumps(body)
    assert body["payment"] == {"status": "declined", "amount_minor": 550, "method": "card"}
    # Closed objects: card data cannot ride along, not even in a nested object.
    assert validate("screen", {**body, "pan": "4111111111111111"})
    assert validate("screen", {**body, "payment": {**body["payment"], "reference": "R77"}})
    assert validate("screen", {**body, "total_minor": 5.5})


def test_publisher_rate_limits_and_always_sends_the_newest(example_catalog: Catalog) -> None:
    sent: list[dict[str, Any]] = []
    now = [100.0]
    vm = ShopperViewModel(example_catalog, put=lambda _i: None, clock=lambda: 0)
    pub = ScreenPublisher(
        vm, lambda _t, p, q, r: sent.append({"body": json.loads(p), "qos": q, "retain": r}),
        "opensco/store-p3/kiosk/lane-01/screen", owns_vm=False, min_interval_s=0.5,
        monotonic=lambda: now[0], wall=lambda: now[0], **IDS,
    )  # fmt: skip
    pub.pump()
    assert len(sent) == 1 and sent[0]["qos"] == 1 and sent[0]["retain"] is True
    vm.touch_start()  # attract -> welcome
    vm.toggle_large_text()  # a change the mirror does not show: not sent on its own
    pub.pump()
    assert len(sent) == 1  # within the interval: held back
    now[0] += 0.6
    pub.pump()
    assert [s["body"]["screen"] for s in sent] == ["attract", "welcome"]
    now[0] += 5
    pub.pump()  # nothing changed: nothing sent
    assert len(sent) == 2
    pub.republish()  # after a CONNACK: the newest again
    assert sent[-1]["body"]["screen"] == "welcome" and len(sent) == 3


# --- lane + broker + tablet -------------------------------------------------------------------


class ScreenTap:
    """A plain subscriber on the lane's screen topic: every payload the broker delivered."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.payloads: list[bytes] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="p3-screen-tap",
                                  protocol=mqtt.MQTTv5)  # fmt: skip
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_a: c.subscribe(topic, qos=1)
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        with self._lock:
            self.payloads.append(bytes(msg.payload))

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(p) for p in self.payloads if p]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def floor(
    mosquitto: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoFloor]:
    host, port = mosquitto
    demo = DemoFloor(broker=f"mqtt://{host}:{port}", lanes=1, store=STORE,
                     workdir=tmp_path_factory.mktemp("assist-floor"))  # fmt: skip
    demo.start()
    try:
        assert demo.wait_linked(), "the demo lane never connected"
        yield demo
    finally:
        demo.stop()


@pytest.fixture
def tablet(floor: DemoFloor, tmp_path: Path) -> Iterator[Tablet]:
    _need_display()
    shots = Path(os.environ.get("OPENSCO_UI_SCREENSHOTS") or tmp_path / "shots") / "assist"
    t = Tablet(floor, shots)
    try:
        yield t
    finally:
        t.close()


def _line_ids(bodies: list[dict[str, Any]]) -> list[int]:
    return [x["line_id"] for x in bodies[-1]["lines"]] if bodies else []


def test_tablet_mirrors_the_lane_and_voids_a_line_from_it(
    tablet: Tablet, floor: DemoFloor, mosquitto: tuple[str, int]
) -> None:
    lane = floor.lane("lane-01")
    tap = ScreenTap(*mosquitto, TopicTree(STORE, "lane-01").screen)
    try:
        tablet.sign_in()
        lane.start_sale()
        lane.scan_and_bag(WATER)
        lane.scan_and_bag(COLA)
        assert wait_for(lambda: len(lane.of("item_added")) == 2, 20), "the lane never sold two"
        added = lane.of("item_added")
        total = int(added[-1]["totals"]["total_minor"])

        # From the lane map's tile to its Lane screen.
        tablet.tap(tablet.app.shell.ids.nav_lanes)
        lanes = tablet.app.screen("lanes")
        tablet.wait(lambda: "lane-01" in lanes.tiles, "lane-01 on the lane map")
        tablet.tap(lanes.tiles["lane-01"].screen_button)
        assist = tablet.app.screen("assist")
        tablet.wait(lambda: tablet.app.sm.current == "assist", "the Lane screen")
        tablet.wait(lambda: len(assist.line_buttons) == 2, "both lines on the Lane screen")

        # The same lines and total as the lane's own cart.
        ids = [int(a["line"]["line_id"]) for a in added]
        assert list(assist.line_buttons) == ids
        for event, btn in zip(added, assist.line_buttons.values(), strict=True):
            assert event["line"]["name_en"] in btn.text
        money = words.money_text(total, "CNY", 2)
        tablet.wait(lambda: money in assist.ids.totals.text, f"the total {money}")
        assert assist.ids.totals.text.startswith("2 items")
        assert assist.ids.prompt_line.text  # the shopper's prompt is mirrored
        tablet.shot("lane-screen")

        # Void the cola from the tablet: confirm first, then the lane's cart loses it.
        cola_line = ids[1]
        tablet.tap(assist.line_buttons[cola_line])
        tablet.tap(assist.buttons["void_item"])
        assert not lane.of("item_voided")  # the prompt alone sends nothing
        tablet.tap(assist.choice("Yes, void"))
        assert wait_for(lambda: lane.of("item_voided"), 20), "the lane never voided the line"
        (voided,) = lane.of("item_voided")
        assert voided["line_id"] == cola_line
        tablet.wait(lambda: assist.line_buttons[cola_line].disabled, "the line shown voided")
        left = int(voided["totals"]["total_minor"])
        tablet.wait(lambda: words.money_text(left, "CNY", 2) in assist.ids.totals.text,
                    "the new total")  # fmt: skip

        def void_accepted() -> bool:
            cmds = tablet.app.floor.commands
            return any((c.action, c.status) == ("void_item", "accepted") for c in cmds)

        tablet.wait(void_accepted, "the accepted void")
        tablet.shot("line-voided")

        # The shopper takes the can out and pays by card: the terminal's reference
        # (DEMO-n) is in the lane's events, never on the screen topic.
        lane.bag(-COLA[2])
        lane.pay()
        assert wait_for(lambda: lane.of("payment_requested"), 20), "payment never requested"
        assert wait_for(lambda: any(b["screen"] == "payment" for b in tap.bodies()), 20)
        lane.card_approved()
        assert wait_for(lambda: lane.of("transaction_completed"), 20), "the sale never ended"
        assert wait_for(lambda: any(b["screen"] == "receipt" for b in tap.bodies()), 20)
        approved = lane.of("payment_approved")
        assert approved and "DEMO-" in json.dumps(approved)  # the reference exists ...
        bodies = tap.bodies()
        for body in bodies:
            assert validate("screen", body) == [], body
            assert "DEMO-" not in json.dumps(body)  # ... and never reaches the screen topic
            assert "receipt" not in body
        assert _line_ids(bodies) == ids  # the voided line stays, marked
        assert [x["voided"] for x in bodies[-1]["lines"]] == [False, True]
    finally:
        tap.close()
