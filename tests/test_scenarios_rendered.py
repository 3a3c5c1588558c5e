"""Rendered scenarios: scene-renderer frames through the real vision pipeline (shipped
detector), scale loads through a pty simulator and the real ``SerialScale`` adapter. The
input logs must hold what those adapters produce, match the scene's truth, follow the
scenario contract, and replay through the core with the expected verdict."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kiosk.core.barcodes import normalize_gtin
from kiosk.core.settings import CoreSettings
from kiosk.replay import DEFAULT_CATALOG, load_catalog_file, replay_lines
from kiosk.scenarios.evaluate import scenario_settings
from kiosk.scenarios.rendered import RIGS, SPECS, render_results
from kiosk.scenarios.truth import load_scenario
from models.scenes import parse_script
from models.scenes.catalog import product_by_code
from models.scenes.photos import GROCERY_ROOT

NAMES = ("rendered-basket", "rendered-nonscan")
BAGGING_DIVISION = next(r.division_g for r in RIGS if r.platform.value == "bagging")
SECURITY = {"non_scan", "unexpected_item", "weight_mismatch", "item_removed", "ticket_switch",
            "multiple_items", "bag_abuse", "produce_mismatch"}  # fmt: skip


@dataclass
class Rendered:
    name: str
    records: list[dict[str, Any]]
    render: dict[str, Any]
    path: Path


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    out = tmp_path_factory.mktemp("rendered")
    # The grocery photos only change how some packs look; without them scenes are drawn.
    results = render_results(out, NAMES, with_photos=GROCERY_ROOT.is_dir())
    got = {}
    for r in results:
        records = [json.loads(line) for line in r.inputs_path.read_text().splitlines()]
        render = json.loads((out / f"{r.name}.render.json").read_text())
        got[r.name] = Rendered(r.name, records, render, r.inputs_path)
    return got


def _gtin(code: str) -> str:
    return normalize_gtin(code)


def _scanned(name: str) -> dict[str, str]:
    """GTIN-14 -> SKU of every pack the script shows to the camera."""
    out = {}
    for action in parse_script(SPECS[name].script):
        if action.kind in ("scan", "switch"):
            product = product_by_code(action.barcode_sku or action.sku or "")
            fmt = product.barcode()
            assert fmt is not None
            out[_gtin(fmt[0])] = product.sku
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_the_camera_reads_every_scanned_pack_and_follows_it_to_bagging(
    rendered: dict[str, Rendered], name: str
) -> None:
    records = rendered[name].records
    reads = [r for r in records if r["type"] == "barcode"]
    assert reads and all(r["source"] == "camera" and r.get("track_id") for r in reads)
    read_codes = {_gtin(r["data"]) for r in reads}
    assert read_codes == set(_scanned(name))  # every shown code, nothing else
    tracks = [r for r in records if r["type"] == "track"]
    for read in reads:
        # Updates that come after the read in the log (a zone change in the same frame may
        # carry the same time but was sent before the read named the item).
        after = records[records.index(read) + 1 :]
        mine = [t for t in after if t["type"] == "track" and t["track_id"] == read["track_id"]]
        # The read names the SKU on the track, and the item is followed into the bag.
        assert mine[0]["sku"] == _scanned(name)[_gtin(read["data"])]
        assert any(t["zone"] == "bagging" and t["label"] == "item" for t in mine), read
    assert {t["label"] for t in tracks} >= {"item", "hand"}
    assert all(0.0 <= t["confidence"] <= 1.0 for t in tracks)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_stable_bagging_readings_match_the_scenes_weights(
    rendered: dict[str, Rendered], name: str
) -> None:
    records = rendered[name].records
    truth = [(t, g) for t, p, g in rendered[name].render["true_loads"] if p == "bagging"]
    bagging = [r for r in records if r["type"] == "weight" and r["platform"] == "bagging"]
    stable = [r for r in bagging if r["stable"]]
    assert len(bagging) > len(stable) > 0  # motion while things are put down, then settled
    for reading in stable:
        # The load then, or just before: a busy machine may deliver a settled weight late.
        ms = reading["t"] * 1000
        then = {[g for t, g in truth if t <= max(ms - lag, 0)][-1] for lag in (0, 300)}
        assert any(abs(reading["weight_g"] - g) <= BAGGING_DIVISION for g in then), reading
        assert reading["weight_g"] % BAGGING_DIVISION == 0 and reading["status"] == "ok"
    # Each load held long enough to settle was reported.
    held = [(t, g) for (t, g), (t_next, _) in itertools.pairwise(truth) if t_next - t >= 1000]
    for t, grams in held:
        assert any(
            abs(r["weight_g"] - grams) <= BAGGING_DIVISION and r["t"] * 1000 >= t for r in stable
        ), (t, grams)
    # The truth itself is the catalog: the bagged packs' expected weights plus the bags.
    catalog = load_catalog_file(DEFAULT_CATALOG)
    packs = 0
    for action in parse_script(SPECS[name].script):
        if action.kind in ("scan", "skip_scan") and action.sku:
            product = catalog.by_sku(product_by_code(action.sku).sku)
            assert product is not None and product.expected_weight_g is not None
            packs += product.expected_weight_g
    full = max(g for _, g in truth)
    assert 0 <= full - packs <= 2 * 36  # at most two bags of up to 36 g


@pytest.mark.slow
def test_the_logs_follow_the_scenario_contract(rendered: dict[str, Rendered]) -> None:
    for r in rendered.values():
        scenario = load_scenario(r.path)  # the evaluator's own loader validates the sidecar
        assert scenario.truth["label"] == SPECS[r.name].label
        assert scenario.truth["settings"] == {"camera_scans": True}
        times = [rec["t"] for rec in r.records]
        assert times == sorted(times)
        # The shopper starts before anything is scanned (the scales' first readings, as
        # many as a busy machine's adapters send, may come earlier).
        start = next(i for i, rec in enumerate(r.records)
                     if rec["type"] == "shopper" and rec["action"] == "start")  # fmt: skip
        assert r.records[0]["type"] != "tick"
        assert all(rec["type"] != "barcode" for rec in r.records[:start])
        ticks = [rec["t"] for rec in r.records if rec["type"] == "tick"]
        assert all(round((b - a) * 1000) == 500 for a, b in itertools.pairwise(ticks))
        pay = next(rec for rec in r.records if rec["type"] == "shopper" and rec["action"] == "pay")
        payment = next(rec for rec in r.records if rec["type"] == "payment")
        assert payment["t"] > pay["t"] and payment["approved"]


def _verdict(r: Rendered) -> list[dict[str, Any]]:
    scenario = load_scenario(r.path)
    settings = scenario_settings(scenario, CoreSettings())
    lines = r.path.read_text().splitlines()
    return replay_lines(lines, load_catalog_file(DEFAULT_CATALOG), settings).events


@pytest.mark.slow
def test_the_non_scan_render_is_caught(rendered: dict[str, Rendered]) -> None:
    events = _verdict(rendered["rendered-nonscan"])
    caught = [
        e
        for e in events
        if e["type"] in ("alert_raised", "mismatch_detected")
        and e.get("reason") in ("non_scan", "unexpected_item")
    ]
    assert caught


@pytest.mark.slow
def test_the_honest_basket_raises_no_security_alert(rendered: dict[str, Rendered]) -> None:
    events = _verdict(rendered["rendered-basket"])
    alerts = [e for e in events if e["type"] == "alert_raised" and e.get("reason") in SECURITY]
    assert not alerts
    assert any(e["type"] == "transaction_completed" for e in events)
