"""The labelled scenario generator: deterministic, realistic device records, valid truth."""

from __future__ import annotations

import itertools
import json
import random
import statistics
from collections import Counter
from pathlib import Path

import pytest

from kiosk.core.catalog import Catalog
from kiosk.core.inputs import input_from_dict
from kiosk.core.session import Checkout
from kiosk.core.settings import SecuritySettings
from kiosk.scenarios.generator import (
    DEFAULT_COUNT,
    MIX,
    VARIANTS,
    allocate,
    generate_suite,
    write_suite,
)
from kiosk.scenarios.lane_sim import WeightModel, display_code
from kiosk.scenarios.truth import LABELS, Scenario, apply_overrides, load_suite, validate_truth

COUNT = 40


@pytest.fixture(scope="module")
def suite(catalog: Catalog) -> list[Scenario]:
    return generate_suite(COUNT, seed=11, catalog=catalog)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    from kiosk.replay import DEFAULT_CATALOG, load_catalog_file

    return load_catalog_file(DEFAULT_CATALOG)


def _dump(scenarios: list[Scenario]) -> str:
    return json.dumps([[s.name, s.records, s.truth] for s in scenarios], sort_keys=True)


def test_same_seed_gives_the_same_suite_and_another_seed_does_not(
    suite: list[Scenario], catalog: Catalog
) -> None:
    assert _dump(generate_suite(COUNT, seed=11, catalog=catalog)) == _dump(suite)
    assert _dump(generate_suite(COUNT, seed=12, catalog=catalog)) != _dump(suite)


def test_the_mix_is_half_honest_and_has_every_label_and_variant() -> None:
    assert DEFAULT_COUNT >= 240
    labels = allocate(DEFAULT_COUNT)
    counts = Counter(labels)
    assert len(labels) == DEFAULT_COUNT
    assert set(counts) == set(LABELS) == set(MIX)
    assert abs(counts["honest"] - DEFAULT_COUNT / 2) <= 1
    for label, variants in VARIANTS.items():
        # Variants cycle within a label, so each needs at least one scenario.
        assert counts[label] >= len(variants), label


def test_small_suites_still_have_every_label(suite: list[Scenario]) -> None:
    counts = Counter(s.label for s in suite)
    assert set(counts) == set(LABELS)
    assert counts["honest"] == COUNT // 2
    assert len({s.name for s in suite}) == COUNT


def test_records_are_valid_inputs_in_time_order_with_a_tick_every_500_ms(
    suite: list[Scenario],
) -> None:
    for sc in suite:
        times = [r["t"] for r in sc.records]
        assert times == sorted(times), sc.name
        for r in sc.records:
            input_from_dict(r)  # raises on an unknown field or a bad value
        ticks = [r["t"] for r in sc.records if r["type"] == "tick"]
        gaps = {round(b - a, 3) for a, b in itertools.pairwise(ticks)}
        assert gaps == {0.5}, sc.name
        assert ticks[0] - times[0] <= 0.5
        payment = max(r["t"] for r in sc.records if r["type"] == "payment")
        assert ticks[-1] >= payment, sc.name


def test_scales_report_like_a_filtered_adapter(suite: list[Scenario]) -> None:
    for sc in suite:
        division = sc.truth["settings"]["security"]["bagging_division_g"]
        bagging = [r for r in sc.records if r["type"] == "weight" and r["platform"] == "bagging"]
        assert bagging, sc.name
        previous = None
        for r in bagging:
            assert r["weight_g"] >= 0 and r["status"] == "ok"
            if r["stable"]:
                assert r["weight_g"] % division == 0, (sc.name, r)
            # The adapter reports changes only: never the same reading twice in a row.
            assert (r["weight_g"], r["stable"]) != previous, (sc.name, r)
            previous = (r["weight_g"], r["stable"])
        # The bags are lifted after paying: the scale ends empty and settled.
        assert bagging[-1]["weight_g"] == 0 and bagging[-1]["stable"], sc.name


def test_tracks_have_the_contract_shape(suite: list[Scenario]) -> None:
    labels: Counter[str] = Counter()
    for sc in suite:
        for r in (r for r in sc.records if r["type"] == "track"):
            labels[r["label"]] += 1
            assert r["zone"] in ("scan", "bagging", "produce_scale", "outside")
            assert 0.0 <= r["confidence"] <= 1.0
            if r["lost"]:
                assert r["zone"] == "outside"
            if "candidates" in r:
                assert r["zone"] == "produce_scale" and r["sku"] == r["candidates"][0]["sku"]
    assert {"item", "hand"} <= set(labels)


def test_every_session_pays_the_right_amount_with_the_rules_off(
    suite: list[Scenario], catalog: Catalog
) -> None:
    """The terminal is asked for exactly what the core wants: with the mismatch rules off
    every session (frauds too) completes, and nothing a real lane sends is rejected."""
    for sc in suite:
        settings = apply_overrides(
            apply_overrides(Checkout(catalog).settings, sc.truth["settings"]),
            {"security": {"enabled": False}},
        )
        assert settings.security == SecuritySettings(
            enabled=False, bagging_division_g=settings.security.bagging_division_g
        )
        core = Checkout(catalog, settings)
        events = [e for r in sc.records for e in core.apply(input_from_dict(r))]
        kinds = [e.type.value for e in events]
        rejected = [e.data["reason"] for e in events if e.type.value == "input_rejected"]
        assert "transaction_completed" in kinds, (sc.name, rejected)
        assert not [r for r in rejected if "unknown shopper action" not in r], (sc.name, rejected)


def test_frauds_are_what_their_truth_says(suite: list[Scenario], catalog: Catalog) -> None:
    for sc in suite:
        reads = [r for r in sc.records if r["type"] == "barcode" and r["source"] == "scanner"]
        codes = {r["data"] for r in reads}
        if sc.label == "ticket_switch":
            # "DEAR scanned with the barcode of CHEAP": the cheap code is read.
            cheap = catalog.by_sku(sc.truth["description"].split("barcode of ")[1].split()[0])
            assert cheap is not None and display_code(cheap)[0] in codes
            if "similar_weight" in sc.truth["tags"]:  # only vision can tell: it must see
                scored = [
                    r
                    for r in sc.records
                    if r["type"] == "track" and r["sku"] == cheap.sku and "identity_score" in r
                ]
                assert scored, sc.name
        if sc.label == "produce_switch":
            typed = sc.truth["description"].split("PLU ")[1].split()[0]
            plus = [r["args"].get("plu") for r in sc.records if r.get("action") == "add_item"]
            assert typed in plus
        if sc.label == "bag_abuse":
            assert any(r.get("action") == "own_bag" for r in sc.records)
        if not sc.honest:
            assert sc.truth["tags"], sc.name  # the variant is tagged


def test_truth_is_valid_and_scanner_lane_settings(suite: list[Scenario]) -> None:
    for sc in suite:
        validate_truth(sc.truth, sc.name)
        assert sc.truth["settings"]["camera_scans"] is False
        assert sc.truth["honest"] == (sc.label == "honest")
    tags = Counter(t for sc in suite for t in sc.truth["tags"])
    assert tags["own_bag"] and tags["produce"]


def test_pack_weights_scatter_around_the_catalog(catalog: Catalog) -> None:
    product = catalog.by_sku("DRK-001")
    assert product is not None and product.weight_tolerance_g
    tol = product.weight_tolerance_g
    biases, spreads = [], []
    for seed in range(40):
        model = WeightModel(random.Random(seed))
        units = [model.unit(product) for _ in range(60)]
        biases.append(statistics.mean(units) - (product.expected_weight_g or 0))
        spreads.append(statistics.pstdev(units))
    # Per-store bias: different stores differ, but rarely by more than the tolerance.
    assert 0.1 * tol < statistics.pstdev(biases) < 0.8 * tol
    assert all(abs(b) <= 1.2 * tol for b in biases)
    # Unit spread about a third of the catalog tolerance (which is about 2 sigma).
    assert 0.15 * tol < statistics.median(spreads) < 0.6 * tol


def test_write_and_load_round_trip(suite: list[Scenario], tmp_path: Path) -> None:
    few = suite[:6]
    assert write_suite(tmp_path, scenarios=few) == 6
    loaded = load_suite(tmp_path)
    assert [s.name for s in loaded] == sorted(s.name for s in few)
    by_name = {s.name: s for s in few}
    for s in loaded:
        assert s.records == by_name[s.name].records
        assert s.truth == by_name[s.name].truth
