"""The MQTT contract: what the kiosk sends validates, broken payloads do not, and the
AsyncAPI document, the JSON Schemas and ``TopicTree`` describe the same topics."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # the dev extra's pyyaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from backend_client.commands import ACTIONS
from backend_client.contract import (
    CATEGORIES,
    EVENT_CATEGORY,
    TopicTree,
    claim_topic,
    event_payload,
    parse_store_topic,
)
from backend_client.schema_validation import (
    SCHEMA_KINDS,
    SNAPSHOT_MAX_BYTES,
    schema,
    validate,
    validate_snapshot,
)
from kiosk.core.alerts import AlertKind
from kiosk.core.catalog import Catalog
from kiosk.core.events import EventType
from kiosk.replay import replay_lines

REPO = Path(__file__).resolve().parents[1]
ASYNCAPI = REPO / "docs" / "asyncapi.yaml"
SCHEMA_DIR = REPO / "backend_client" / "schemas"
BOOT_ID = "0b7c3c1e-5d7e-4a53-9c59-2f3c5d6e7f80"
T = 1764070000
# Inputs that reach the event types the example sessions do not.
MORE_INPUTS: list[dict[str, Any]] = [
    {"t": T, "type": "shopper", "action": "start", "args": {}},
    {"t": T + 1, "type": "shopper", "action": "set_language", "args": {"language": "zh"}},
    {"t": T + 2, "type": "barcode", "data": "6902974302088", "symbology": "EAN13"},
    {"t": T + 3, "type": "barcode", "data": "6901035603102", "symbology": "EAN13"},
    {"t": T + 4, "type": "attendant", "command": "reject", "args": {"alert_id": "A1-1"}},
    {"t": T + 5, "type": "attendant", "command": "void_item", "args": {"line_id": 1}},
    {"t": T + 6, "type": "barcode", "data": "6900840100110", "symbology": "EAN13"},
    {"t": T + 7, "type": "shopper", "action": "request_help", "args": {"reason": "bag"}},
    {"t": T + 8, "type": "attendant", "command": "clear", "args": {"alert_id": "A1-2"}},
    {"t": T + 9, "type": "shopper", "action": "pay", "args": {"method": "card"}},
    {"t": T + 10, "type": "shopper", "action": "back", "args": {}},
    {"t": T + 11, "type": "attendant", "command": "suspend_transaction", "args": {}},
    {"t": T + 12, "type": "attendant", "command": "message", "args": {"text": "On my way"}},
    {"t": T + 20, "type": "shopper", "action": "start", "args": {}},
    {"t": T + 200, "type": "tick"},
]
# Types no input can produce yet (the core does not emit them today): written by hand.
HAND_WRITTEN: dict[str, dict[str, Any]] = {
    "quantity_changed": {"line_id": 1, "quantity": 2},
    "lane_locked": {"attendant_id": "att-07"},
    "lane_unlocked": {"attendant_id": "att-07"},
}


def wire(event: dict[str, Any]) -> dict[str, Any]:
    """The event as a subscriber decodes it from the MQTT payload."""
    payload = event_payload(event, kiosk_id="lane-01", store="store-01", boot_id=BOOT_ID)
    decoded: dict[str, Any] = json.loads(payload)
    return decoded


@pytest.fixture(scope="module")
def sent(example_catalog: Catalog) -> dict[str, list[dict[str, Any]]]:
    """Every event the example sessions (and MORE_INPUTS) make, by type, in wire form."""
    sessions = sorted((REPO / "examples" / "sessions").glob("*.jsonl"))
    logs = [p.read_text(encoding="utf-8").splitlines() for p in sessions]
    logs.append([json.dumps(line) for line in MORE_INPUTS])
    by_type: dict[str, list[dict[str, Any]]] = {}
    for lines in logs:
        for event in replay_lines(lines, example_catalog).events:
            by_type.setdefault(event["type"], []).append(wire(event))
    return by_type


def hand_written(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    base = {"event_id": "5c1d6b0e-8a37-5f0e-9d1a-0c2b3a4d5e6f", "type": kind, "ts": T}
    return wire({**base, "seq": 7, "session_id": None, **data})


def test_every_event_type_has_an_example(sent: dict[str, list[dict[str, Any]]]) -> None:
    assert set(sent) | set(HAND_WRITTEN) == {t.value for t in EventType}


def test_what_the_kiosk_sends_validates(sent: dict[str, list[dict[str, Any]]]) -> None:
    examples = [e for events in sent.values() for e in events]
    examples += [hand_written(k, d) for k, d in HAND_WRITTEN.items()]
    for event in examples:
        assert validate("event", event) == [], event


def test_schema_knows_every_event_type_and_category() -> None:
    (types, _calibration) = schema("event")["properties"]["type"]["anyOf"]
    assert set(types["enum"]) == {t.value for t in EventType}
    assert set(EVENT_CATEGORY) == set(EventType)
    assert set(EVENT_CATEGORY.values()) <= set(CATEGORIES)
    assert validate("event", hand_written("calibration_done", {})) == []


def test_alert_kinds_fit_the_schema() -> None:
    pattern = schema("event")["allOf"][7]["then"]["properties"]["kind"]["pattern"]
    assert all(re.search(pattern, k.value) for k in AlertKind)


Breaker = Callable[[dict[str, Any]], None]
BROKEN: list[tuple[str, str, Breaker, str]] = [
    ("no_event_id", "item_added", lambda e: e.pop("event_id"), "event_id"),
    ("event_id_not_uuid", "item_added", lambda e: e.update(event_id="42"), "event_id"),
    ("seq_zero", "item_added", lambda e: e.update(seq=0), "seq"),
    ("seq_text", "item_added", lambda e: e.update(seq="3"), "seq"),
    ("wrong_schema", "item_added", lambda e: e.update(schema="opensco.event/2"), "schema"),
    ("no_boot_id", "item_added", lambda e: e.pop("boot_id"), "boot_id"),
    ("ts_text", "item_added", lambda e: e.update(ts="2025-11-25T10:00:00Z"), "ts"),
    ("bad_kiosk_id", "item_added", lambda e: e.update(kiosk_id="Lane 1"), "kiosk_id"),
    ("unknown_type", "item_added", lambda e: e.update(type="item_teleported"), "type"),
    ("item_without_totals", "item_added", lambda e: e.pop("totals"), "totals"),
    ("float_money", "item_added", lambda e: e["line"].update(amount_minor=5.5), "amount_minor"),
    ("alert_not_blocking", "alert_raised", lambda e: e.pop("blocking"), "blocking"),
    ("alert_no_id", "alert_raised", lambda e: e.pop("alert_id"), "alert_id"),
    (
        "receipt_total_text",
        "transaction_completed",
        lambda e: e["receipt"].update(total_minor="12.25"),
        "total_minor",
    ),
    ("no_receipt", "transaction_completed", lambda e: e.pop("receipt"), "receipt"),
    ("session_id_number", "state_changed", lambda e: e.update(session_id=5), "session_id"),
]


@pytest.mark.parametrize(("case", "kind", "breaker", "word"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_events_are_caught(
    sent: dict[str, list[dict[str, Any]]], case: str, kind: str, breaker: Breaker, word: str
) -> None:
    event = copy.deepcopy(sent[kind][0])
    breaker(event)
    problems = validate("event", event)
    assert problems and any(word in p for p in problems), problems


STATUS_OK = [
    {
        "online": True,
        "kiosk_id": "lane-01",
        "store_id": "store-01",
        "boot_id": BOOT_ID,
        "software_version": "0.1.0",
        "models": {"detector": "yolo11n-sco-3"},
        "catalog_version": 12,
        "ts": T,
    },
    {"online": False, "kiosk_id": "lane-01", "boot_id": BOOT_ID, "reason": "lost"},
    {"online": False, "kiosk_id": "lane-01"},
]
STATUS_BAD = [
    {"online": True, "kiosk_id": "lane-01"},  # a birth must say what is running
    {"online": False},
    {"online": "yes", "kiosk_id": "lane-01"},
]


@pytest.mark.parametrize("status", STATUS_OK)
def test_status_forms(status: dict[str, Any]) -> None:
    assert validate("status", status) == []


@pytest.mark.parametrize("status", STATUS_BAD)
def test_bad_status(status: dict[str, Any]) -> None:
    assert validate("status", status)


def test_tele() -> None:
    tele = {"kiosk_id": "lane-01", "boot_id": BOOT_ID, "ts": T, "outbox_pending": 3}
    assert validate("tele", {**tele, "devices": {"scale.scan": "ok"}}) == []
    assert validate("tele", {**tele, "outbox_pending": -1})


def test_snapshot() -> None:
    jpeg = b"\xff\xd8\xff\xe0" + b"\0" * 1000
    props = {
        "snap_id": "9f1c2b7e-1a2b-4c3d-8e9f-001122334455",
        "kiosk_id": "lane-01",
        "boot_id": BOOT_ID,
        "alert_id": "A1-2",
        "ts": f"{T}.25",
        "sha256": hashlib.sha256(jpeg).hexdigest(),
        "size_bytes": str(len(jpeg)),
    }
    assert validate_snapshot(jpeg, props) == []
    big = jpeg + b"\0" * SNAPSHOT_MAX_BYTES
    assert any("limit" in p for p in validate_snapshot(big, props))
    assert validate_snapshot(b"GIF89a", props)
    assert validate("snapshot_meta", {**props, "size_bytes": 12})  # user properties are text


def test_problems_are_words() -> None:
    (problem,) = validate("tele", {"kiosk_id": "lane-01", "boot_id": BOOT_ID, "ts": "now"})
    assert problem.startswith("ts: ") and "number" in problem
    with pytest.raises(ValueError, match="known"):
        validate("telemetry", {})


@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_schemas_are_valid_draft_2020_12(kind: str) -> None:
    Draft202012Validator.check_schema(schema(kind))


# --- AsyncAPI <-> TopicTree <-> schema files -----------------------------------------------


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    assert doc["asyncapi"].startswith("3.")
    return doc


def _fill(address: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], address)


def test_channels_match_the_topic_tree(asyncapi: dict[str, Any]) -> None:
    tree = TopicTree(store="store-01", kiosk_id="lane-01")
    values = {"prefix": "opensco", "store": "store-01", "kiosk_id": "lane-01", "snap_id": "s1"}
    values["alert_id"] = "A1-1"
    expected = {tree.status, tree.state, tree.screen, tree.tele, tree.cmdresp, tree.snapshot("s1")}
    expected.add(claim_topic("opensco", "store-01", "lane-01", "A1-1"))
    expected |= {tree.event(t.value) for t in EventType} | {tree.event("calibration_done")}
    expected |= {tree.cmd(a) for a in ACTIONS}
    published = set()
    for name, channel in asyncapi["channels"].items():
        params = channel.get("parameters", {})
        assert set(re.findall(r"\{(\w+)\}", channel["address"])) == set(params), name
        enums = {"category": list(CATEGORIES), "action": list(ACTIONS)}
        variants = [values]
        for param, options in enums.items():
            if param in params:
                variants = [{**v, param: o} for v in variants for o in options]
        published |= {_fill(channel["address"], v) for v in variants}
    assert published == expected


def test_parameter_enums_match_the_code(asyncapi: dict[str, Any]) -> None:
    params = asyncapi["components"]["parameters"]
    assert params["category"]["enum"] == list(CATEGORIES)
    assert params["action"]["enum"] == list(ACTIONS)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [r for v in node.values() for r in _refs(v)] + (
            [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        )
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_schema_file_is_referenced_and_every_ref_resolves(asyncapi: dict[str, Any]) -> None:
    refs = _refs(asyncapi)
    files = {r for r in refs if not r.startswith("#")}
    for ref in files:
        assert (ASYNCAPI.parent / ref).resolve().is_file(), ref
    used = {(ASYNCAPI.parent / r).resolve().name for r in files}
    assert used == {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert {f"{k}.json" for k in SCHEMA_KINDS} == used
    for ref in (r for r in refs if r.startswith("#/")):
        node: Any = asyncapi
        for part in ref[2:].split("/"):
            node = node[part]
    for op in asyncapi["operations"].values():
        assert op["action"] in ("send", "receive")


# --- attendant additions: lane state and claims ---------------------------------------------

LANESTATE = {
    "schema": "opensco.lanestate/1",
    "kiosk_id": "lane-01",
    "store_id": "store-01",
    "ts": T,
    "seq": 12,
    "state": "intervention",
    "since_ts": T - 5,
    "locked": False,
    "out_of_service": False,
    "session_id": "5c1d6b0e-8a37-5f0e-9d1a-0c2b3a4d5e6f",
    "items": 3,
    "total_minor": 1250,
    "currency": "CNY",
    "age_check_pending": False,
    "help_requested": False,
    "open_alerts": [
        {
            "alert_id": "A1-2",
            "kind": "non_scan",
            "reason": "non_scan",
            "blocking": True,
            "line_id": None,
            "detail": "",
            "severity": "high",
            "actions": ["clear"],
            "evidence": {"snapshots": ["s1"]},
            "snap_ids": ["s1"],
            "raised_ts": T - 5,
        }
    ],
}
CLAIM = {
    "schema": "opensco.claim/1",
    "kiosk_id": "lane-01",
    "alert_id": "A1-2",
    "attendant_id": "att-07",
    "tablet_id": "tablet-01",
    "ts": T,
}


def test_lane_state_and_claim_forms() -> None:
    assert validate("lanestate", LANESTATE) == []
    assert validate("claim", CLAIM) == []
    assert validate("lanestate", {**LANESTATE, "state": "dancing"})
    assert validate("lanestate", {**LANESTATE, "total_minor": 12.5})
    assert validate("lanestate", {**LANESTATE, "training": True}) == []  # a training lane
    assert validate("lanestate", {**LANESTATE, "training": "yes"})
    broken_alert = {**LANESTATE["open_alerts"][0], "raised_ts": "now"}  # type: ignore[dict-item]
    assert validate("lanestate", {**LANESTATE, "open_alerts": [broken_alert]})
    assert validate("claim", {**CLAIM, "alert_id": "A1/2"})
    assert validate("claim", {**CLAIM, "extra": 1})


def test_store_topics_parse_back() -> None:
    tree = TopicTree(store="store-01", kiosk_id="lane-01")
    topic = claim_topic("opensco", "store-01", "lane-01", "A1-2")
    assert parse_store_topic(topic, "opensco", "store-01") == ("claim", "lane-01", "A1-2")
    assert parse_store_topic(tree.state, "opensco", "store-01") == ("state", "lane-01", "")
    assert parse_store_topic(tree.event("alert_raised"), "opensco", "store-01") == (
        "evt",
        "lane-01",
        "alert",
    )
    assert parse_store_topic(tree.screen, "opensco", "store-01") == ("screen", "lane-01", "")
    assert parse_store_topic(tree.state, "opensco", "store-02") is None
    assert parse_store_topic("opensco/store-01/kiosk/lane-01/weird", "opensco", "store-01") is None
    with pytest.raises(ValueError, match="topic segment"):
        claim_topic("opensco", "store-01", "lane-01", "A1/#")
