"""Training mode is clearly marked (docs/training.md): a TRAINING ribbon over every shopper
screen in English and Chinese (and none on a normal lane), the lane state, the tablet's tile,
alert row and detail on a real training lane over mosquitto, the tablet's own banner with
``--training``, the ``opensco_training_mode`` gauge, and a replay of a training input log
that reproduces its events byte for byte.

Screenshots go to ``$OPENSCO_TRAINING_SHOTS`` when set (the closing note's pictures).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from backend_client.schema_validation import validate
from kiosk.app import Lane
from kiosk.attendant.demo import DemoFloor
from kiosk.attendant.floor import Floor
from kiosk.config import parse_config_text
from kiosk.core.events import Event, EventType
from kiosk.core.inputs import BarcodeRead
from kiosk.core.settings import CoreSettings
from kiosk.ops.metrics_http import parse_exposition, render_metrics
from kiosk.ops.telemetry import tele_fields
from kiosk.replay import load_catalog_file
from kiosk.ui.strings import text
from kiosk.ui.viewmodel import ShopperViewModel
from tests.conftest import EXAMPLES, SCO, SESSIONS

WATER = "6902974302088"
STORE = "store-tr"  # its own store: the session broker is shared with other tests


def _need_display() -> None:
    if not os.environ.get("DISPLAY"):
        if os.environ.get("OPENSCO_REQUIRE_SERVICES") == "1":
            pytest.fail("DISPLAY is not set: Xvfb should be running (OPENSCO_REQUIRE_SERVICES=1)")
        pytest.skip("no DISPLAY (run under xvfb-run)")


def _shots(tmp_path: Path) -> Path:
    return Path(os.environ.get("OPENSCO_TRAINING_SHOTS") or tmp_path / "shots")


def _lane_config(tmp_path: Path, training: bool) -> Any:
    return parse_config_text(
        f'[kiosk]\nid = "lane-07"\nstore = "{STORE}"\ndata_dir = "{tmp_path}"\n'
        f"training = {'true' if training else 'false'}\n"
        f'[catalog]\npath = "{EXAMPLES / "catalog.csv"}"\n'
    )


# --- no window ------------------------------------------------------------------------------


def test_the_view_model_learns_training_from_the_events() -> None:
    from kiosk.engine import Engine

    catalog = load_catalog_file(EXAMPLES / "catalog.csv")
    vm = ShopperViewModel(catalog, put=lambda _i: None, clock=lambda: 0)
    assert vm.snapshot().training is False
    engine = Engine(catalog, CoreSettings(training=True, camera_scans=False))
    try:
        events = engine.submit(BarcodeRead(1_000, WATER, "EAN13"))
    finally:
        engine.close()
    assert events and all(e.data.get("training") is True for e in events)
    vm.on_events(events)
    assert vm.snapshot().training is True
    assert ShopperViewModel(catalog, put=lambda _i: None, clock=lambda: 0,
                            training=True).snapshot().training  # fmt: skip


def test_lane_state_and_floor_carry_training_and_bad_values_change_nothing(
    tmp_path: Path,
) -> None:
    from backend_client.lane_state import LaneStateSummary
    from kiosk.engine import Engine

    catalog = load_catalog_file(EXAMPLES / "catalog.csv")
    engine = Engine(catalog, CoreSettings(training=True, camera_scans=False))
    try:
        events = engine.submit(BarcodeRead(1_000, WATER, "EAN13"))
        body = LaneStateSummary("lane-07", STORE, "CNY").update(engine.checkout, events)
    finally:
        engine.close()
    assert body is not None and body["training"] is True
    assert validate("lanestate", body) == []
    floor = Floor(STORE, "att-01")
    assert floor.on_state("lane-07", body, 2.0)
    lane = floor.snapshot().lane("lane-07")
    assert lane is not None and lane.training
    # A lane from before the field: not training. A broken value: refused, nothing changed.
    old = {**{k: v for k, v in body.items() if k != "training"}, "kiosk_id": "lane-08"}
    assert floor.on_state("lane-08", old, 2.0)
    assert floor.snapshot().lane("lane-08").training is False  # type: ignore[union-attr]
    assert not floor.on_state("lane-07", {**body, "training": "yes", "items": 9}, 3.0)
    after = floor.snapshot().lane("lane-07")
    assert after is not None and after.training and after.items == body["items"]
    # Its alerts are marked too: an alert raised on a training lane.
    alert = {"schema": "opensco.event/1", "type": "alert_raised", "ts": 4.0, "seq": 99,
             "kiosk_id": "lane-08", "alert_id": "A9-1", "kind": "non_scan",
             "reason": "non_scan", "blocking": True, "severity": "high", "actions": ["clear"],
             "evidence": {}, "training": True}  # fmt: skip
    assert floor.on_event("lane-08", alert, 4.0)
    state = floor.snapshot()
    assert state.lane("lane-08").training  # type: ignore[union-attr]
    assert [a.training for a in state.alerts if a.kiosk_id == "lane-08"] == [True]


@pytest.mark.parametrize("training", [True, False])
def test_telemetry_reports_training_mode(tmp_path: Path, training: bool) -> None:
    lane = Lane(_lane_config(tmp_path, training))
    lane.start()
    try:
        snap = lane.telemetry.snapshot()
    finally:
        lane.stop()
    page = render_metrics(snap)
    assert "opensco_training_mode" in parse_exposition(page)  # strict: valid exposition
    sample = re.search(r"^opensco_training_mode\{[^}]*\} (\S+)$", page, re.M)
    assert sample is not None and float(sample.group(1)) == (1.0 if training else 0.0)
    fields = tele_fields(snap)
    assert fields["training"] is training
    assert validate("tele", {"kiosk_id": "lane-07", "boot_id": "b-1", "ts": 1.0, **fields}) == []


def test_a_training_input_log_replays_to_byte_identical_events(tmp_path: Path) -> None:
    """`sco replay` of a training lane's input log, twice: the same bytes, every event
    marked, and the same sale as on a normal lane but for the mark."""
    log = SESSIONS / "age-restricted.jsonl"
    outs: dict[str, bytes] = {}
    for name, training in (("a", True), ("b", True), ("normal", False)):
        config = tmp_path / f"{name}.toml"
        config.write_text(f"[kiosk]\ntraining = {'true' if training else 'false'}\n",
                          encoding="utf-8")  # fmt: skip
        out = tmp_path / f"{name}.jsonl"
        run = subprocess.run([*SCO, "replay", str(log), "--config", str(config), "--out",
                              str(out)], capture_output=True, text=True, timeout=120)  # fmt: skip
        assert run.returncode == 0, run.stderr
        outs[name] = out.read_bytes()
    assert outs["a"] == outs["b"] and outs["a"]
    training = [json.loads(line) for line in outs["a"].decode().splitlines()]
    normal = [json.loads(line) for line in outs["normal"].decode().splitlines()]
    assert all(e["training"] is True for e in training)
    assert not any("training" in e for e in normal)
    assert [{k: v for k, v in e.items() if k != "training"} for e in training] == normal
    assert any(e["type"] == EventType.TRANSACTION_COMPLETED.value for e in training)


# --- the tablet -----------------------------------------------------------------------------


@pytest.fixture
def training_floor(mosquitto: tuple[str, int], tmp_path: Path) -> Iterator[DemoFloor]:
    host, port = mosquitto
    demo = DemoFloor(broker=f"mqtt://{host}:{port}", lanes=1, store=STORE,
                     workdir=tmp_path / "floor", training=True)  # fmt: skip
    demo.start()
    try:
        assert demo.wait_linked(), "the training lane never connected"
        yield demo
    finally:
        demo.stop()


@pytest.mark.slow
def test_the_tablet_marks_a_training_lane_and_itself(
    training_floor: DemoFloor, tmp_path: Path
) -> None:
    _need_display()
    from tests.test_attendant_app import Tablet

    class TrainingTablet(Tablet):
        def __init__(self, floor: DemoFloor, shots: Path) -> None:
            from kiosk.attendant.app import AttendantApp
            from kiosk.attendant.cli import client_factory

            self.app = AttendantApp(
                keyring_dir=floor.keyring_dir,
                connect=client_factory(str(floor.broker_url), floor.store, "tablet-train"),
                store=floor.store, tablet_id="tablet-train", chime=False, training=True,
            )  # fmt: skip
            self.app.start_embedded()
            self.floor, self.shots = floor, shots

    tablet = TrainingTablet(training_floor, _shots(tmp_path))
    app = tablet.app
    try:
        bar = app.shell.ids.training_bar
        assert bar.height > 0 and bar.opacity == 1 and "TRAINING" in bar.text  # sign-in too
        tablet.sign_in()
        if app.sm.current != "lanes":
            tablet.tap(app.shell.ids.nav_lanes)
        lanes = app.screen("lanes")
        tablet.wait(lambda: "lane-01" in lanes.tiles, "the lane's tile")
        assert "TRAINING" in lanes.tiles["lane-01"].title.text
        sim = training_floor.lane("lane-01")
        training_floor.run_in_background(sim.play_age_check, "age-check")
        tablet.wait(lambda: tablet.queue_row("lane-01", "age_check") is not None, "age alert")
        row = tablet.queue_row("lane-01", "age_check")
        assert row.alert.training and row.where.text.startswith("TRAINING · lane-01")
        tablet.shot("tablet-training-queue")
        tablet.tap(row.open)
        tablet.wait(lambda: app.sm.current == "detail", "the alert's detail")
        assert app.screen("detail").ids.title.text.startswith("TRAINING · ")
        assert bar.height > 0 and bar.opacity == 1  # on every screen of the tablet
    finally:
        tablet.close()


# --- the shopper window ---------------------------------------------------------------------


class ShopperWindow:
    """The real core on an engine thread, the view model and the app in an embedded loop."""

    def __init__(self, training: bool) -> None:
        from kiosk.engine import Engine, EngineThread
        from kiosk.ui.app import ShopperApp

        catalog = load_catalog_file(EXAMPLES / "catalog.csv")
        base = CoreSettings(camera_scans=False, training=training)
        settings = replace(base, security=replace(base.security, enabled=False))
        self.engine = EngineThread(lambda: Engine(catalog, settings), listener=self._events)
        self.vm = ShopperViewModel(catalog, put=self.engine.put, clock=self.clock,
                                   training=training)  # fmt: skip
        self.engine.start()
        assert self.engine.ready.wait(10) and self.engine.start_error is None
        self.app = ShopperApp(self.vm, tick_interval_s=0.2)
        self.app.start_embedded()

    def _events(self, events: list[Event]) -> None:
        self.vm.on_events(events)

    @staticmethod
    def clock() -> int:
        return int(time.time() * 1000)

    def on(self, screen: str) -> None:
        ok = self.app.pump(lambda: self.app.sm.current == screen, timeout_s=15.0)
        assert ok, f"never showed {screen}"
        self.app.pump(frames=3)

    def ribbon_shown(self) -> bool:
        ribbon, sm = self.app.training_ribbon, self.app.sm
        # Shown, and above the screen rather than over it: no button is covered.
        return bool(ribbon.height > 0 and ribbon.opacity == 1 and ribbon.y >= sm.top)

    def close(self) -> None:
        self.app.close_embedded()
        self.engine.stop()
        self.engine.join(10)


@pytest.fixture
def window_factory() -> Iterator[Any]:
    _need_display()
    opened: list[ShopperWindow] = []

    def make(training: bool) -> ShopperWindow:
        w = ShopperWindow(training)
        opened.append(w)
        return w

    yield make
    for w in opened:
        w.close()


@pytest.mark.slow
def test_every_shopper_screen_says_training_in_both_languages(
    window_factory: Any, tmp_path: Path
) -> None:
    shots = _shots(tmp_path)
    w = window_factory(True)
    app, vm = w.app, w.vm
    w.on("attract")
    assert w.ribbon_shown() and app.training_ribbon.text == text("training_banner", "en")
    app.screenshot(shots / "shopper-attract-en.png")
    seen = []
    for step, screen in ((vm.touch_start, "welcome"), (vm.start, "bags")):
        step()
        w.on(screen)
        assert w.ribbon_shown(), screen
        seen.append(screen)
    vm.own_bag()
    vm.set_language("zh")
    w.engine.put(BarcodeRead(w.clock(), WATER, "EAN13"))
    w.on("scanning")
    app.pump(lambda: app.training_ribbon.text == text("training_banner", "zh"), 10.0)
    assert w.ribbon_shown() and app.training_ribbon.text == text("training_banner", "zh")
    assert "培训" in app.training_ribbon.text
    app.screenshot(shots / "shopper-scanning-zh.png")
    for step, screen in ((vm.open_help, "help"), (vm.close_help, "scanning"),
                         (vm.pay, "payment")):  # fmt: skip
        step()
        w.on(screen)
        assert w.ribbon_shown(), screen
        seen.append(screen)
    vm.set_out_of_service("scale offline")
    w.on("out_of_service")
    assert w.ribbon_shown()
    assert seen == ["welcome", "bags", "help", "scanning", "payment"]


@pytest.mark.slow
def test_a_normal_lane_shows_no_training_ribbon(window_factory: Any) -> None:
    w = window_factory(False)
    w.on("attract")
    w.engine.put(BarcodeRead(w.clock(), WATER, "EAN13"))
    w.on("scanning")
    ribbon = w.app.training_ribbon
    assert ribbon.height == 0 and ribbon.opacity == 0
    assert w.app.sm.top == pytest.approx(w.app.root.top)  # the screens keep the whole height
