"""The review store on a real SQLite file and a real PostgreSQL server (same test bodies):
flags from replayed lanes are stored exactly once, labels move precision, images past
retention are gone, every view is in the access log; the listener path uses a real mosquitto."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from backend_client.receiver import BackendListener
from backend_client.review_store import FlagFilter, RetentionPolicy, ReviewStore
from backend_client.review_store.db import Database, DbUrl, migrate, schema_version
from backend_client.review_store.schema import MIGRATIONS, SCHEMA_VERSION
from kiosk.errors import BackendError
from tests.conftest import wait_for
from tests.pg_util import postgres_server, postgres_url  # noqa: F401  (fixtures)
from tests.review_util import flagged, jpeg, snapshot_props, store_url, two_lanes  # noqa: F401

DAY = 86_400.0


@pytest.fixture
def store(store_url: str) -> Any:  # noqa: F811
    s = ReviewStore.open(store_url)
    yield s
    s.close()


def ingest_all(s: ReviewStore) -> list[str]:
    return [s.ingest_event(payload).status for _topic, payload in two_lanes()]


def test_flags_from_replayed_lanes_are_stored_exactly_once(store: ReviewStore) -> None:
    first = ingest_all(store)
    again = ingest_all(store)  # at-least-once delivery: every event a second time
    assert first.count("new") == len(first) == 50 and set(again) == {"duplicate"}
    assert store.receiver.count() == 50
    rows = store.flags(viewer="lp-1")
    assert sorted((r.kiosk_id, r.event_type, r.reason) for r in rows) == [
        ("lane-01", "lp_flagged", "produce_mismatch"),
        ("lane-02", "alert_raised", "non_scan"),  # the unexpected_payment alert is no LP flag
    ]
    alert = next(r for r in rows if r.kiosk_id == "lane-02")
    assert alert.flag_id == flagged("lane-02", "alert_raised")["event_id"]
    assert alert.outcome == "alert" and alert.alert_id and alert.label is None
    assert {r.store_id for r in rows} == {"store-01"} and all(r.session_id for r in rows)


def test_a_finding_flagged_and_alerted_is_one_review_item(store: ReviewStore) -> None:
    alert = dict(flagged("lane-02", "alert_raised"), kiosk_id="lane-02", store_id="store-01")
    flag = dict(alert, type="lp_flagged", event_id=str(uuid.uuid4()), seq=alert["seq"] + 100)
    del flag["alert_id"]
    assert store.ingest_event(json.dumps(flag).encode()).status == "new"
    assert store.ingest_event(json.dumps(alert).encode()).status == "new"
    (row,) = store.flags(viewer="lp-1")
    assert row.flag_id == flag["event_id"] and row.alert_id == alert["alert_id"]
    assert row.outcome == "alert"


def test_a_label_changes_precision_and_relabels_keep_history(store: ReviewStore) -> None:
    ingest_all(store)
    assert all(p.precision is None for p in store.precision())
    flag_id = flagged("lane-02", "alert_raised")["event_id"]
    store.label(flag_id, "confirmed_loss", "seen on camera", reviewer="lp-1")
    (point,) = store.precision(FlagFilter(reason="non_scan"))
    assert (point.confirmed, point.false_alarms, point.precision) == (1, 0, 1.0)
    other = flagged("lane-01", "lp_flagged")["event_id"]
    store.label(other, "false_alarm", "typed the right PLU", reviewer="lp-2")
    by_reason = {p.reason: p.precision for p in store.precision(bucket="day")}
    assert by_reason == {"non_scan": 1.0, "produce_mismatch": 0.0}
    row = store.label(flag_id, "false_alarm", "it was a bag", reviewer="lp-3")
    assert (row.label, row.note, row.labelled_by) == ("false_alarm", "it was a bag", "lp-3")
    assert store.precision(FlagFilter(reason="non_scan"))[0].precision == 0.0
    history = store.detail(flag_id, viewer="lp-3").labels
    assert [h["label"] for h in history] == ["confirmed_loss", "false_alarm"]
    with pytest.raises(KeyError):
        store.label("no-such-flag", "false_alarm", "", reviewer="lp-1")
    with pytest.raises(ValueError):
        store.label(flag_id, "maybe", "", reviewer="lp-1")


def test_filters(store: ReviewStore) -> None:
    ingest_all(store)
    ts = flagged("lane-02", "alert_raised")["ts"]

    def reasons(**kw: Any) -> list[str]:
        return sorted(r.reason for r in store.flags(FlagFilter(**kw), viewer="lp-1"))

    assert reasons(kiosk_id="lane-01") == ["produce_mismatch"]
    assert reasons(store_id="store-99") == []
    assert reasons(reason="non_scan") == ["non_scan"]
    assert reasons(since_ts=ts + 0.001) == ["produce_mismatch"]
    assert reasons(until_ts=ts + 0.001) == ["non_scan"]
    assert reasons(limit=1) == ["produce_mismatch"]  # newest first
    store.label(flagged("lane-01", "lp_flagged")["event_id"], "false_alarm", "", reviewer="x")
    assert reasons(label="unlabelled") == ["non_scan"]
    assert reasons(label="false_alarm") == ["produce_mismatch"]
    sev = flagged("lane-02", "alert_raised")["severity"]
    assert "non_scan" in reasons(severity=sev)


def test_detail_has_timeline_receipt_weights_and_snapshots(store: ReviewStore) -> None:
    ingest_all(store)
    event = flagged("lane-02", "alert_raised")
    data = jpeg(1)
    props = snapshot_props(data, "snap-a1", "lane-02", alert_id=event["alert_id"])
    assert store.ingest_snapshot(data, props) == "new"
    detail = store.detail(event["event_id"], viewer="lp-1")
    assert detail.flag.snap_ids == ("snap-a1",)
    seqs = [e["seq"] for e in detail.timeline]
    assert seqs == sorted(seqs) and event["seq"] in seqs
    assert {e["session_id"] for e in detail.timeline} == {event["session_id"]}
    assert detail.weights and all(any(k.endswith("_g") for k in w) for w in detail.weights)
    (snap,) = detail.snapshots
    assert snap.present and snap.size == len(data)
    assert store.snapshot_jpeg("snap-a1", viewer="lp-1") == data
    flag = store.detail(flagged("lane-01", "lp_flagged")["event_id"], viewer="lp-1")
    assert flag.receipt is not None and isinstance(flag.receipt["total_minor"], int)


def test_snapshots_are_checked_deduplicated_and_purged_past_retention(
    store_url: str,  # noqa: F811
) -> None:
    store = ReviewStore.open(store_url, RetentionPolicy(short_s=7 * DAY, case_s=30 * DAY))
    try:
        ingest_all(store)
        alert = flagged("lane-02", "alert_raised")
        t0 = 1_800_000_000.0
        images = {name: jpeg(i) for i, name in enumerate(("evid", "plain", "short", "case"))}
        extra = {
            "evid": {"alert_id": alert["alert_id"]},  # evidence of a flag: 30 days
            "plain": {},  # nobody cites it: 7 days
            "short": {"alert_id": alert["alert_id"], "retention_class": "short"},
            "case": {"retention_class": "case"},
        }
        for name, data in images.items():
            props = snapshot_props(data, f"snap-{name}", "lane-02", **extra[name])
            assert store.ingest_snapshot(data, props, now=t0) == "new"
            assert store.ingest_snapshot(data, props, now=t0) == "duplicate"
        bad = snapshot_props(images["plain"], "snap-bad", "lane-02")
        assert store.ingest_snapshot(images["plain"] + b"x", bad) == "invalid"
        assert store.ingest_snapshot(b"not a jpeg", snapshot_props(b"not a jpeg", "s", "k")) == (
            "invalid"
        )
        assert store.purge_expired(now=t0 + 6 * DAY) == 0
        assert store.purge_expired(now=t0 + 8 * DAY) == 2  # plain and short
        assert store.snapshot_jpeg("snap-plain", viewer="lp-1") is None
        assert store.snapshot_jpeg("snap-evid", viewer="lp-1") == images["evid"]
        assert store.purge_expired(now=t0 + 31 * DAY) == 2  # evid and case
        assert store.purge_expired(now=t0 + 99 * DAY) == 0
        info = {s.snap_id: s for s in store.detail(alert["event_id"], viewer="lp-1").snapshots}
        assert set(info) == {"snap-evid", "snap-short"}
        assert not info["snap-evid"].present and info["snap-evid"].purged_at == t0 + 31 * DAY
        # The kiosk re-sends a purged image: it is not revived.
        props = snapshot_props(images["evid"], "snap-evid", "lane-02", **extra["evid"])
        assert store.ingest_snapshot(images["evid"], props) == "duplicate"
        assert store.snapshot_jpeg("snap-evid", viewer="lp-1") is None
    finally:
        store.close()


def test_every_view_is_in_the_access_log(store: ReviewStore) -> None:
    ingest_all(store)
    flag_id = flagged("lane-01", "lp_flagged")["event_id"]
    store.flags(FlagFilter(reason="produce_mismatch"), viewer="lp-1")
    store.detail(flag_id, viewer="lp-2")
    store.snapshot_jpeg("snap-x", viewer="lp-3")
    store.export_csv(FlagFilter(), io.StringIO(), viewer="lp-4")
    store.report_html(FlagFilter(), viewer="lp-5")
    log = list(reversed(store.access_log()))
    assert [(e["viewer"], e["action"]) for e in log] == [
        ("lp-1", "list"), ("lp-2", "detail"), ("lp-3", "snapshot"), ("lp-4", "export_csv"),
        ("lp-5", "report_html"),
    ]  # fmt: skip
    assert log[0]["detail"] == "reason=produce_mismatch" and log[1]["flag_id"] == flag_id
    assert log[2]["detail"] == "snap_id=snap-x" and all(e["ts"] > 0 for e in log)
    with pytest.raises(BackendError):
        store.flags(viewer=" ")
    assert len(store.access_log()) == 5  # a refused view leaves nothing behind


def test_csv_and_html_exports(store: ReviewStore) -> None:
    ingest_all(store)
    flag_id = flagged("lane-01", "lp_flagged")["event_id"]
    store.label(flag_id, "confirmed_loss", '=HYPERLINK("x") <script>', reviewer="lp-1")
    out = io.StringIO()
    assert store.export_csv(FlagFilter(), out, viewer="lp-1") == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    row = next(r for r in rows if r["flag_id"] == flag_id)
    assert row["label"] == "confirmed_loss" and row["note"].startswith("'=")
    page = store.report_html(FlagFilter(), viewer="lp-1")
    assert "<svg" in page and "produce_mismatch" in page
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_migrations_bring_an_old_receiver_database_up_to_date(store_url: str) -> None:  # noqa: F811
    db = Database(store_url)
    migrate(db, MIGRATIONS[:1])  # what the reference receiver used to create
    event = dict(flagged("lane-02", "alert_raised"), kiosk_id="lane-02", store_id="store-01")
    db.execute(
        "INSERT INTO events (event_id, kiosk_id, store_id, seq, type, ts, boot_id, payload, "
        "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (event["event_id"], "lane-02", "store-01", event["seq"], event["type"], event["ts"],
         "b", json.dumps(event), time.time()),
    )  # fmt: skip
    db.close()
    with ReviewStore.open(store_url) as store:
        assert schema_version(store.db) == SCHEMA_VERSION
        (row,) = store.flags(viewer="lp-1")
        assert row.flag_id == event["event_id"] and row.session_id == event["session_id"]
        assert store.ingest_event(json.dumps(event).encode()).status == "duplicate"
    with ReviewStore.open(store_url) as store:  # opening again applies nothing twice
        assert len(store.flags(viewer="lp-1")) == 1


def test_database_urls() -> None:
    assert DbUrl.parse("/var/lib/x.sqlite3") == DbUrl("sqlite", "/var/lib/x.sqlite3")
    assert DbUrl.parse("sqlite:///var/x.db") == DbUrl("sqlite", "/var/x.db")
    assert DbUrl.parse("postgresql://lp@db:5432/review").kind == "postgresql"
    assert DbUrl.parse("postgresql://lp:secret@db/r").redacted() == "postgresql://lp:***@db/r"
    for bad in ("", "mysql://x/y", "sqlite://relative.db"):
        with pytest.raises(BackendError):
            DbUrl.parse(bad)
    with pytest.raises(BackendError, match="cannot connect"):
        Database("postgresql://nobody@127.0.0.1:1/none")


# --- the listener: a real broker, every event published twice -------------------------------


def _publisher(host: str, port: int) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(host, port)
    client.loop_start()
    return client


def test_listener_stores_each_flag_and_snapshot_once(
    mosquitto: tuple[str, int],
    store_url: str,  # noqa: F811
) -> None:
    host, port = mosquitto
    store = ReviewStore.open(store_url)
    seen: list[tuple[str, str]] = []
    prefix = f"t{uuid.uuid4().hex[:8]}"  # the broker is shared by the session's tests
    listener = BackendListener(
        f"mqtt://{host}:{port}", store.receiver, prefix=prefix,
        report=lambda kind, item: seen.append((kind, getattr(item, "status", ""))),
        snapshots=store.ingest_snapshot,
    )  # fmt: skip
    listener.start()
    publisher = _publisher(host, port)
    try:
        assert listener.subscribed.wait(10)
        alert = flagged("lane-02", "alert_raised")
        data = jpeg(7)
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.UserProperty = list(
            snapshot_props(data, "snap-l1", "lane-02", alert_id=alert["alert_id"]).items()
        )
        snap_topic = f"{prefix}/store-01/kiosk/lane-02/snap/snap-l1"
        wire = [(prefix + t.removeprefix("opensco"), p) for t, p in two_lanes()]
        for _round in range(2):
            publisher.publish(snap_topic, data, qos=1, properties=props)
            for topic, payload in wire:
                publisher.publish(topic, payload, qos=1).wait_for_publish(10)
        assert wait_for(lambda: seen.count(("duplicate", "duplicate")) == len(wire), 30)
        assert wait_for(lambda: seen.count(("snapshot", "duplicate")) == 1, 10)
        assert store.receiver.count() == len(wire)
        rows = store.flags(viewer="lp-1")
        assert len(rows) == 2 and len({r.flag_id for r in rows}) == 2
        (row,) = [r for r in rows if r.kiosk_id == "lane-02"]
        assert row.snap_ids == ("snap-l1",)
        assert store.snapshot_jpeg("snap-l1", viewer="lp-1") == data
        flag_id = flagged("lane-01", "lp_flagged")["event_id"]
        store.label(flag_id, "confirmed_loss", "", reviewer="lp-1")
        assert store.precision(FlagFilter(kiosk_id="lane-01"))[0].precision == 1.0
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        listener.stop()
        store.close()


def test_a_dropped_postgresql_connection_is_opened_again(postgres_url: str) -> None:  # noqa: F811
    import psycopg

    store = ReviewStore.open(postgres_url)
    try:
        pid = store.db.query("SELECT pg_backend_pid()")[0][0]
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        payload = two_lanes()[0][1]
        with pytest.raises(psycopg.OperationalError):
            store.ingest_event(payload)  # the listener logs it; the seq gap brings it back
        assert store.ingest_event(payload).status == "new"
        assert store.receiver.count() == 1
    finally:
        store.close()
