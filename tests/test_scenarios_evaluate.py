"""The scenario evaluator: scoring hand-made event lists, truth files, settings, CLI, plot."""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from kiosk.core.catalog import Catalog
from kiosk.core.settings import CoreSettings
from kiosk.replay import replay_lines
from kiosk.scenarios import cli
from kiosk.scenarios.evaluate import classify, evaluate, kpis, replay_scenario, scenario_settings
from kiosk.scenarios.generator import generate_suite
from kiosk.scenarios.plot import render_svg
from kiosk.scenarios.truth import (
    SCHEMA,
    Scenario,
    ScenarioError,
    apply_overrides,
    load_scenario,
    load_suite,
    save_scenario,
    validate_truth,
)

KPI_KEYS = {
    "scenarios",
    "non_scan_recall",
    "ticket_switch_recall",
    "weight_fraud_recall",
    "item_removed_recall",
    "stacked_recall",
    "bag_abuse_recall",
    "false_interventions_per_100_honest",
    "false_flags_per_100_honest",
    "nudge_self_correction",
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    from kiosk.replay import DEFAULT_CATALOG, load_catalog_file

    return load_catalog_file(DEFAULT_CATALOG)


def truth(label: str, **extra: Any) -> dict[str, Any]:
    return {"schema": SCHEMA, "name": f"{label}-1", "label": label, **extra}


def alert(reason: str) -> dict[str, Any]:
    return {"type": "alert_raised", "alert_id": "A1-1", "kind": reason, "reason": reason}


def finding(fid: str, reason: str, action: str) -> dict[str, Any]:
    return {"type": "mismatch_detected", "finding_id": fid, "reason": reason, "action": action}


def resolved(fid: str, how: str) -> dict[str, Any]:
    return {"type": "mismatch_resolved", "finding_id": fid, "resolution": how}


# --- classify: one scenario's events ---------------------------------------------------


def test_a_fraud_is_caught_by_an_alert_of_its_family() -> None:
    out = classify(truth("non_scan"), [finding("F1", "non_scan", "nudge"), alert("non_scan")])
    assert out.caught and out.caught_by_alert and not out.missed
    assert out.interventions == ["non_scan"]


def test_a_flag_catches_but_is_not_an_intervention() -> None:
    flag = {"type": "lp_flagged", "finding_id": "F1", "reason": "produce_mismatch"}
    out = classify(truth("produce_switch"), [flag])
    assert out.caught and not out.caught_by_alert
    assert out.flags == ["produce_mismatch"] and out.interventions == []


def test_an_alert_outside_the_family_is_a_miss() -> None:
    out = classify(truth("item_removed"), [alert("non_scan")])
    assert out.missed and out.interventions == ["non_scan"]
    assert "alerts non_scan" in out.why()
    assert classify(truth("item_removed"), []).why() == "no security finding"


def test_expect_reasons_replace_the_default_family() -> None:
    events = [alert("non_scan")]
    assert not classify(truth("weight_fraud"), events).caught
    assert classify(truth("weight_fraud", expect_reasons=["non_scan"]), events).caught
    assert not classify(truth("non_scan", expect_reasons=["multiple_items"]), events).caught


def test_honest_alerts_count_only_security_reasons() -> None:
    events = [alert("void_request"), alert("age_check"), alert("unexpected_item")]
    out = classify(truth("honest"), events)
    assert out.honest and not out.missed
    assert out.interventions == ["unexpected_item"]


def test_nudges_and_their_self_correction() -> None:
    events = [
        finding("F1", "non_scan", "nudge"),
        finding("F2", "unexpected_item", "nudge"),
        finding("F3", "hand_in_bagging_area", "prompt"),  # a prompt is not a nudge
        resolved("F1", "self_corrected"),
        resolved("F2", "attendant"),
        resolved("F3", "self_corrected"),
        {"type": "transaction_completed", "receipt": {}},
    ]
    out = classify(truth("honest"), events)
    assert (out.nudges, out.self_corrected, out.completed) == (2, 1, True)
    assert out.findings[0] == "non_scan:nudge->self_corrected"


# --- kpis over a suite ----------------------------------------------------------------


def test_kpis_per_100_honest_and_recalls() -> None:
    outcomes = [classify(truth("honest"), []) for _ in range(8)]
    outcomes.append(classify(truth("honest"), [alert("weight_mismatch"), alert("non_scan")]))
    outcomes.append(classify(truth("honest"), [{"type": "lp_flagged", "reason": "ticket_switch"}]))
    outcomes.append(classify(truth("non_scan"), [alert("non_scan")]))
    outcomes.append(classify(truth("non_scan"), []))
    outcomes.append(
        classify(truth("ticket_switch"), [{"type": "lp_flagged", "reason": "ticket_switch"}])
    )
    k = kpis(outcomes)
    assert (k["scenarios"], k["honest"], k["frauds"]) == (13, 10, 3)
    assert k["false_interventions_per_100_honest"] == 20.0  # two alerts in ten sessions
    assert k["honest_stopped_per_100"] == 10.0  # one shopper stopped
    assert k["false_flags_per_100_honest"] == 10.0
    assert k["non_scan_recall"] == 0.5 and k["ticket_switch_recall"] == 1.0
    assert k["ticket_switch_alert_recall"] == 0.0
    assert k["bag_abuse_recall"] is None  # no such scenario: no figure, not a zero
    assert k["nudge_self_correction"] is None
    assert k["false_interventions_by_reason"] == {"non_scan": 1, "weight_mismatch": 1}
    assert set(k) >= KPI_KEYS


# --- truth files and settings ---------------------------------------------------------


def test_settings_overrides_reach_core_and_security_fields() -> None:
    s = apply_overrides(
        CoreSettings(),
        {
            "camera_scans": False,
            "security": {"weight_tolerance_k": 2, "policies": ["non_scan:alert"]},
        },
    )
    assert s.camera_scans is False
    assert s.security.weight_tolerance_k == 2.0 and isinstance(s.security.weight_tolerance_k, float)
    assert s.security.policies == ("non_scan:alert",)
    assert s.security.bagging_division_g == CoreSettings().security.bagging_division_g


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"camera_scan": False}, "unknown setting camera_scan"),
        ({"security": {"tolerance": 2}}, "unknown setting security.tolerance"),
        ({"camera_scans": "no"}, "camera_scans must be true or false"),
        ({"security": {"bagging_division_g": 2.5}}, "security.bagging_division_g must be int"),
        ({"security": 3}, '"security" must be an object'),
    ],
)
def test_bad_settings_overrides_say_which(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        validate_truth(truth("honest", settings=settings), "x.truth.json")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"label": "shoplifting"}, '"label" must be one of'),
        ({"honest": True}, '"honest" must be true exactly when'),
        ({"schema": "v0"}, '"schema" must be'),
        ({"expect_reasons": ["theft"]}, "unknown reason code"),
        ({"colour": "red"}, "unknown field"),
        ({"name": "../etc"}, '"name" must be'),
        ({"tags": "lean"}, '"tags" must be a list'),
    ],
)
def test_bad_truth_is_refused_with_the_field_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        validate_truth({**truth("non_scan"), **change}, "x.truth.json")


def test_suite_files_must_come_in_pairs_and_agree(tmp_path: Path) -> None:
    sc = Scenario("honest-1", [{"t": 1, "type": "tick"}], truth("honest"))
    save_scenario(tmp_path, sc)
    assert load_scenario(tmp_path / "honest-1.jsonl").records == sc.records
    (tmp_path / "lonely.jsonl").write_text('{"t": 1, "type": "tick"}\n')
    with pytest.raises(ScenarioError, match=r"no truth sidecar lonely\.truth\.json"):
        load_suite(tmp_path)
    (tmp_path / "lonely.jsonl").unlink()
    (tmp_path / "orphan.truth.json").write_text(json.dumps(truth("honest")))
    with pytest.raises(ScenarioError, match="truth without inputs: orphan"):
        load_suite(tmp_path)
    (tmp_path / "orphan.truth.json").unlink()
    (tmp_path / "honest-1.jsonl").write_text('{"t": 1, "type": "tick"}\n{"t": 2, "type": "nap"}\n')
    with pytest.raises(ScenarioError, match=r"honest-1\.jsonl: line 2: unknown input type"):
        load_suite(tmp_path)
    (tmp_path / "other.jsonl").write_text("")
    (tmp_path / "other.truth.json").write_text(json.dumps(truth("honest")))  # name honest-1
    with pytest.raises(ScenarioError, match="differs from the file name"):
        load_scenario(tmp_path / "other.jsonl")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScenarioError, match="no scenarios"):
        load_suite(tmp_path / "empty")


# --- replay through the real core ----------------------------------------------------


def test_replay_gives_the_events_sco_replay_gives(catalog: Catalog) -> None:
    """Scoring a hidden suite from `sco replay` output must give the same outcome."""
    for sc in generate_suite(4, seed=3, catalog=catalog):
        settings = scenario_settings(sc, CoreSettings())
        ours = replay_scenario(sc, catalog, settings)
        lines = [json.dumps(r) for r in sc.records]
        theirs = replay_lines(lines, catalog, settings).events
        assert [e["type"] for e in ours] == [e["type"] for e in theirs]
        assert classify(sc.truth, ours, sc.name) == classify(sc.truth, theirs, sc.name)


def test_evaluate_reports_a_broken_core_instead_of_stopping(catalog: Catalog) -> None:
    suite = generate_suite(3, seed=5, catalog=catalog)
    bad = Scenario("x", suite[0].records, {**suite[0].truth, "settings": {}})
    report = evaluate([bad, *suite[1:]], Catalog([]))  # every barcode unknown, no crash
    assert report.kpis["scenarios"] == 3


def test_the_rules_catch_frauds_in_a_small_suite(catalog: Catalog) -> None:
    """End to end on a fast subset: a regression guard, looser than the issue's targets
    (bench/scenarios.py measures those on the full suite)."""
    report = evaluate(generate_suite(120, seed=2026, catalog=catalog), catalog)
    k = report.kpis
    assert k["core_errors"] == 0, [o.error for o in report.outcomes if o.error]
    assert k["fraud_recall"] is not None and k["fraud_recall"] >= 0.8, report.misses
    assert k["non_scan_recall"] is not None and k["non_scan_recall"] >= 0.85
    assert k["false_interventions_per_100_honest"] <= 5, report.false_interventions


# --- plot ---------------------------------------------------------------------------


def test_plot_is_valid_svg_with_labelled_points() -> None:
    points = [
        {
            "k": 1.0,
            "fraud_recall": 0.99,
            "weight_classes_recall": 0.98,
            "false_interventions_per_100_honest": 6.0,
        },
        {
            "k": 1.5,
            "fraud_recall": 0.99,
            "weight_classes_recall": 0.98,
            "false_interventions_per_100_honest": 6.0,
        },
        {
            "k": 3.0,
            "fraud_recall": 0.95,
            "weight_classes_recall": 0.9,
            "false_interventions_per_100_honest": 0.8,
        },
    ]
    svg = render_svg(points, "t <&> t")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "k=1, 1.5" in texts and "k=3" in texts  # coinciding points share a label
    assert "t <&> t" in texts and "target: 1 per 100" in texts
    circles = list(root.iter("{http://www.w3.org/2000/svg}circle"))
    assert len(circles) == 2 * 2 + 2  # two series of two positions, two legend marks


# --- CLI ----------------------------------------------------------------------------


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["scenarios", *argv])
    return int(args.func(args))


def test_cli_gen_then_eval_json_last_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["gen", str(tmp_path / "suite"), "--count", "12", "--seed", "8"]) == 0
    assert len(list((tmp_path / "suite").glob("*.truth.json"))) == 12
    capsys.readouterr()
    plot = tmp_path / "trade.svg"
    rc = run_cli(["eval", str(tmp_path / "suite"), "--json", "--plot", str(plot), "--sweep", "2,3"])
    out = capsys.readouterr().out
    assert rc == 0
    last = json.loads(out.strip().splitlines()[-1])
    assert set(last) >= KPI_KEYS and last["scenarios"] == 12
    assert [p["k"] for p in last["sweep"]] == [2.0, 3.0]
    assert "label" in out and "misses" in out
    ET.parse(plot)


def test_cli_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["eval", str(tmp_path / "none"), "--json"]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert run_cli(["eval", str(tmp_path), "--sweep", "1,x"]) == 2
    assert "--sweep takes numbers" in capsys.readouterr().err


@pytest.mark.slow
def test_sco_scenarios_eval_builtin_suite(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the real `sco` entry point, with the plugin listed once."""
    import kiosk.cli

    plugins = tuple(p for p in kiosk.cli.CLI_PLUGINS if p != "kiosk.scenarios.cli")
    monkeypatch.setattr(kiosk.cli, "CLI_PLUGINS", (*plugins, "kiosk.scenarios.cli"))
    assert kiosk.cli.main(["scenarios", "eval", "--json"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["scenarios"] >= 240 and set(last) >= KPI_KEYS
    assert last["honest"] == last["scenarios"] // 2
