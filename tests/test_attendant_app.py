"""The attendant's tablet in a real Kivy window (Xvfb) against two real lanes on a real
mosquitto: the kiosks' alerts reach the tablet's screen, a tapped approval reaches the kiosk
and its sale goes on to payment, a forged approval is refused and changes nothing, and the
scripted demo shift (`sco attendant --demo --autoplay`) exits 0 with its screenshots.

Touches go through the window's input queue (``kiosk.ui.widgets.base.tap``); every wait
polls what the screen or the lane shows, never a timed assertion.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.attendant.demo import BEER, DemoFloor
from kiosk.attendant.screens import words
from tests.conftest import SCO, wait_for

pytestmark = pytest.mark.slow

STORE = "store-c2"  # its own store: the session broker is shared with other tests


def _need_display() -> None:
    if not os.environ.get("DISPLAY"):
        if os.environ.get("OPENSCO_REQUIRE_SERVICES") == "1":
            pytest.fail("DISPLAY is not set: Xvfb should be running (OPENSCO_REQUIRE_SERVICES=1)")
        pytest.skip("no DISPLAY (run under xvfb-run)")


@pytest.fixture(scope="module")
def floor(
    mosquitto: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoFloor]:
    host, port = mosquitto
    demo = DemoFloor(broker=f"mqtt://{host}:{port}", lanes=2, store=STORE,
                     workdir=tmp_path_factory.mktemp("attendant-floor"))  # fmt: skip
    demo.start()
    try:
        assert demo.wait_linked(), "the demo lanes never connected"
        yield demo
    finally:
        demo.stop()


class Tablet:
    """The app in an embedded event loop, with taps and waits that say what they wait for."""

    def __init__(self, floor: DemoFloor, shots: Path, broker: str | None = None) -> None:
        from kiosk.attendant.app import AttendantApp
        from kiosk.attendant.cli import client_factory

        tablet_id = "tablet-test" if broker is None else "tablet-flaky"
        self.app = AttendantApp(
            keyring_dir=floor.keyring_dir,
            connect=client_factory(broker or str(floor.broker_url), floor.store, tablet_id),
            store=floor.store, tablet_id=tablet_id, chime=False,
        )  # fmt: skip
        self.app.start_embedded()
        self.floor = floor
        self.shots = shots

    def wait(self, predicate: Any, what: str, timeout_s: float = 30.0) -> None:
        assert self.app.pump(predicate, timeout_s=timeout_s), f"never happened: {what}"
        self.app.pump(frames=2)

    def tap(self, widget: Any) -> None:
        from kiosk.ui.widgets.base import tap

        self.app.pump(frames=2)
        assert widget.opacity > 0 and not widget.disabled and widget.height > 0, widget
        tap(widget)
        self.app.pump(frames=2)

    def type_pin(self, pin: str) -> None:
        pad = self.app.screen("signin").ids.pin
        for digit in pin:
            self.tap(pad.buttons[digit])
        self.tap(pad.buttons["OK"])

    def sign_in(self) -> None:
        self.app.screen("signin").ids.attendant.text = self.floor.attendant_id
        self.type_pin(self.floor.pin)
        self.wait(lambda: self.app.signed_in == self.floor.attendant_id, "signed in")
        self.wait(lambda: self.app.connected, "connected to the broker")

    def queue_row(self, kiosk_id: str, kind: str) -> Any:
        if self.app.sm.current != "queue":
            self.tap(self.app.shell.ids.nav_queue)
        rows = self.app.screen("queue").rows
        return next((r for r in rows if r.alert.kiosk_id == kiosk_id and r.alert.kind == kind),
                    None)  # fmt: skip

    def shot(self, name: str) -> Path:
        self.app.pump(frames=3)
        path = self.app.screenshot(self.shots / f"{name}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        return path

    def close(self) -> None:
        self.app.close_embedded()


@pytest.fixture
def tablet(floor: DemoFloor, tmp_path: Path) -> Iterator[Tablet]:
    _need_display()
    shots = Path(os.environ.get("OPENSCO_UI_SCREENSHOTS") or tmp_path / "shots") / "attendant"
    t = Tablet(floor, shots)
    try:
        yield t
    finally:
        t.close()


def test_a_wrong_pin_is_refused_and_says_so(tablet: Tablet) -> None:
    signin = tablet.app.screen("signin")
    signin.ids.attendant.text = tablet.floor.attendant_id
    tablet.type_pin("0000" if tablet.floor.pin != "0000" else "1111")
    tablet.wait(lambda: signin.ids.message.text != "", "a message on the sign-in screen")
    assert tablet.app.signed_in == "" and tablet.app.sm.current == "signin"
    assert "attempt" in signin.ids.message.text.lower(), signin.ids.message.text
    tablet.shot("signin-wrong-pin")
    tablet.sign_in()  # the right PIN still works after one miss


def test_age_alert_reaches_the_screen_and_the_approval_lets_the_sale_continue(
    tablet: Tablet, floor: DemoFloor
) -> None:
    lane = floor.lane("lane-01")
    tablet.sign_in()
    floor.run_in_background(lane.play_age_check, "age-check")
    tablet.wait(lambda: tablet.queue_row("lane-01", "age_check") is not None,
                "the age check on the queue")  # fmt: skip
    row = tablet.queue_row("lane-01", "age_check")
    assert row.reason.text == "Age check: ID needed"
    assert row.where.text.startswith("lane-01") and "not claimed" in row.where.text
    assert tablet.app.chimes >= 1  # a new alert is announced
    tablet.shot("queue")

    tablet.tap(row.open)
    detail = tablet.app.screen("detail")
    tablet.wait(lambda: tablet.app.sm.current == "detail", "the alert detail")
    tablet.tap(detail.buttons["claim"])
    tablet.wait(lambda: "claimed by att-demo" in detail.ids.info.text, "the claim shown")
    tablet.tap(detail.buttons["approve"])
    assert detail.ids.prompt_text.text == words.id_prompt_text(time.time())
    assert not lane.of("age_approved")  # the prompt alone sends nothing
    tablet.shot("id-check")
    tablet.tap(detail.choice("ID checked"))

    tablet.wait(lambda: lane.of("age_approved"), "the kiosk's age_approved")
    (approved,) = lane.of("age_approved")
    assert approved["attendant_id"] == "att-demo"  # the signed issuer is who acted
    tablet.wait(lambda: any(c.action == "approve_age" and c.status == "accepted"
                            for c in tablet.app.floor.commands), "the accepted answer")  # fmt: skip
    answers = [c.children[0].text for c in tablet.app.shell.ids.answers.children]
    assert "lane-01 Approve age: accepted" in answers
    tablet.wait(lambda: tablet.app.floor.lane("lane-01").display_state == "shopping",
                "lane-01 back to shopping on the tablet")  # fmt: skip
    tablet.shot("approved")

    lane.finish_sale()
    assert wait_for(lambda: lane.of("payment_requested"), 20), "payment never became possible"
    types = lane.types()
    assert types.index("age_approved") < types.index("payment_requested")


def test_a_forged_approval_is_refused_and_changes_nothing(
    tablet: Tablet, floor: DemoFloor, mosquitto: tuple[str, int]
) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    lane = floor.lane("lane-02")
    tablet.sign_in()
    lane.start_sale()
    lane.scan(BEER)
    tablet.wait(lambda: tablet.queue_row("lane-02", "age_check") is not None,
                "lane-02's age check on the queue")  # fmt: skip
    alert_id = tablet.queue_row("lane-02", "age_check").alert.alert_id

    answers: list[dict[str, Any]] = []
    forger = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="forger",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    forger.on_message = lambda _c, _u, m: answers.append(json.loads(m.payload))
    forger.connect(*mosquitto)
    forger.loop_start()
    reply = f"opensco/{STORE}/forger/reply"
    forger.subscribe(reply, qos=1)
    try:
        now = int(time.time())
        forged = {
            "command_id": str(uuid.uuid4()), "action": "approve_age", "kiosk_id": "lane-02",
            "issuer": {"id": "att-demo", "role": "attendant"}, "issued_at": now,
            "expires_at": now + 30, "args": {"alert_id": alert_id},
            "key_id": floor.key_id, "sig": "A" * 86,  # a signature the key never made
        }  # fmt: skip
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = reply
        props.CorrelationData = forged["command_id"].encode()
        time.sleep(0.2)  # let the reply subscription land (not an assertion)
        forger.publish(f"opensco/{STORE}/kiosk/lane-02/cmd/approve_age", json.dumps(forged),
                       qos=1, properties=props)  # fmt: skip
        assert wait_for(lambda: answers, 20), "the kiosk never answered the forged command"
    finally:
        forger.loop_stop()
        forger.disconnect()
    assert answers[0]["accepted"] is False and answers[0]["code"] == "bad_signature"
    tablet.app.pump(frames=10)
    assert not lane.of("age_approved")
    assert tablet.queue_row("lane-02", "age_check") is not None  # still waiting for a real ID check
    assert tablet.app.floor.lane("lane-02").display_state == "age_check"


def test_a_lost_broker_shows_reconnecting_and_the_tablet_comes_back(
    floor: DemoFloor, broker_factory: Any, tmp_path: Path
) -> None:
    _need_display()
    broker = broker_factory()
    tablet = Tablet(floor, tmp_path, broker=f"mqtt://{broker.host}:{broker.port}")
    try:
        tablet.sign_in()
        link = tablet.app.shell.ids.link
        assert link.text.startswith("Connected")
        broker.kill9()
        tablet.wait(lambda: link.text == "Reconnecting…", "the reconnecting notice")
        tablet.shot("reconnecting")
        broker.restart()
        tablet.wait(lambda: link.text.startswith("Connected"), "connected again", timeout_s=60)
    finally:
        tablet.close()


def test_the_scripted_shift_exits_0_with_its_screenshots(
    tmp_path: Path, mosquitto: tuple[str, int]
) -> None:
    _need_display()
    shots = tmp_path / "shots"
    env = {**os.environ, "KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1"}
    proc = subprocess.run(
        [*SCO, "attendant", "--demo", "--autoplay", "--no-sound", "--screenshots", str(shots)],
        capture_output=True, text=True, timeout=400, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.splitlines()[0])
    assert "age_check_event_to_tablet_ms" in figures and "non_scan_event_to_tablet_ms" in figures
    names = sorted(p.name for p in shots.glob("*.png"))
    for part in ("signin", "lanes", "queue-age-check", "id-check", "clear-reason", "lanes-after"):
        assert any(part in n for n in names), (part, names)


def test_without_a_display_it_says_so() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run([*SCO, "attendant", "--demo", "--autoplay"], capture_output=True,
                          text=True, timeout=60, env=env)  # fmt: skip
    assert proc.returncode == 2
    assert "needs a display" in proc.stderr and "Xvfb" in proc.stderr


def test_the_id_prompt_date_is_eighteen_years_back_even_on_29_february() -> None:
    import datetime as dt

    leap = dt.datetime(2028, 2, 29, 12).timestamp()
    assert words.id_check_date(leap) == "2010-02-28"
    assert words.id_prompt_text(dt.datetime(2026, 12, 7, 9).timestamp()) == (
        "Check the shopper's ID: born on or before 2008-12-07"
    )
    assert words.duration_text(65) == "1 min 05 s" and words.duration_text(3) == "3 s"
