"""A whole lane wired by its config: simulated scale, terminal, printer and light tower
speaking their real bytes over ptys, the engine journaling every input."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from hardware.light_tower import Lamp, LightTowerSimulator, Mode
from hardware.payment import PaymentTerminalSimulator
from hardware.scale.base import get_protocol
from hardware.scale.simulator import ScaleSimulator
from kiosk.app import Lane
from kiosk.config import parse_config_text
from kiosk.core.events import Event
from kiosk.core.inputs import BarcodeRead, ShopperAction
from kiosk.core.pricing import price_by_weight
from tests.conftest import EXAMPLES, wait_for

WATER = "6902974302088"


def test_a_sale_runs_through_every_device(tmp_path: Path) -> None:
    events: list[Event] = []
    receipt_file = tmp_path / "receipt.bin"
    with (
        ScaleSimulator(get_protocol("toledo8217"), tmp_path / "scale") as scale,
        PaymentTerminalSimulator(str(tmp_path / "terminal")) as terminal,
        LightTowerSimulator(tmp_path / "tower") as tower,
    ):
        config = parse_config_text(
            f"""
            [kiosk]
            data_dir = "{tmp_path / "data"}"
            [catalog]
            path = "{EXAMPLES / "catalog.csv"}"
            [scan_scale]
            enabled = true
            port = "{tmp_path / "scale"}"
            protocol = "toledo8217"
            [payment]
            enabled = true
            port = "{tmp_path / "terminal"}"
            timeout_s = 20
            [printer]
            enabled = true
            url = "file:{receipt_file}"
            encoding = "gb18030"
            [light_tower]
            enabled = true
            port = "{tmp_path / "tower"}"
            """
        )
        lane = Lane(config, on_events=events.extend)
        lane.start()
        try:
            now = lane.clock
            types = lambda: [e.type.value for e in events]  # noqa: E731
            lane.put(ShopperAction(now(), "start", {"language": "zh"}))
            lane.put(BarcodeRead(now(), WATER, "EAN13"))
            assert wait_for(lambda: "item_added" in types())
            # Bananas on the produce scale: the weight arrives over the pty, motion first.
            scale.place(1184)
            lane.put(ShopperAction(now(), "add_item", {"plu": "4011"}))
            assert wait_for(lambda: types().count("item_added") == 2)
            banana = [e for e in events if e.type.value == "item_added"][1].data["line"]
            # The simulated scale has ±1 g of noise, as a real one does.
            assert abs(banana["weight_g"] - 1184) <= 2
            assert banana["amount_minor"] == price_by_weight(698, banana["weight_g"])
            assert tower.wait_for(lambda lamps: lamps[Lamp.GREEN] is Mode.ON)
            # Pay: the lane asks the terminal, the terminal approves, the sale completes.
            lane.put(ShopperAction(now(), "pay", {"method": "card"}))
            assert wait_for(lambda: "transaction_completed" in types(), 20)
            total = 200 + banana["amount_minor"]
            pays = [r for r in terminal.requests if r.get("op") == "pay"]
            assert [p["amount_minor"] for p in pays] == [total]
            assert wait_for(lambda: receipt_file.exists() and receipt_file.stat().st_size > 200)
            health = lane.health()
        finally:
            lane.stop()
    printed = receipt_file.read_bytes()
    assert "合计".encode("gb18030") in printed
    assert f"{total // 100}.{total % 100:02d}".encode() in printed
    assert health["scales"][0]["connected"] and health["payment"]["connected"]
    # Telemetry-ready loss-prevention KPIs of the live lane (docs/mismatch.md).
    assert health["kpis"]["transactions"] == 1 and health["kpis"]["completed"] == 1
    assert health["kpis"]["interventions_per_100"] == 0.0
    # Every event of the sale is in the outbox, journaled before the devices acted.
    with sqlite3.connect(tmp_path / "data" / "journal.sqlite3") as db:
        stored = [json.loads(r[0])["type"] for r in db.execute("SELECT payload FROM outbox")]
    assert "transaction_completed" in stored and "payment_approved" in stored


def test_a_payment_open_at_restart_is_asked_for_again(tmp_path: Path) -> None:
    with PaymentTerminalSimulator(str(tmp_path / "terminal")) as terminal:
        config = parse_config_text(
            f"""
            [kiosk]
            data_dir = "{tmp_path / "data"}"
            [catalog]
            path = "{EXAMPLES / "catalog.csv"}"
            [payment]
            enabled = true
            port = "{tmp_path / "terminal"}"
            timeout_s = 60
            """
        )
        terminal.time_out()  # takes the request and never answers: the lane dies waiting
        first = Lane(config)
        first.start()
        first.put(BarcodeRead(first.clock(), WATER, "EAN13"))
        first.put(ShopperAction(first.clock(), "pay", {"method": "card"}))
        assert wait_for(lambda: any(r.get("op") == "pay" for r in terminal.requests))
        first.stop()

        terminal.approve()
        events: list[Event] = []
        second = Lane(config, on_events=events.extend)
        second.start()
        try:
            assert wait_for(lambda: any(e.type.value == "transaction_completed" for e in events))
        finally:
            second.stop()
        pays = [r for r in terminal.requests if r.get("op") == "pay"]
        assert [p["amount_minor"] for p in pays] == [200, 200]
        assert pays[0]["ref"] != pays[1]["ref"]
