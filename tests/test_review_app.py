"""The loss-prevention review app in a real Kivy window (Xvfb) on a real SQLite review store.

The store is filled the way the listener fills it: labelled fraud scenarios (kiosk.scenarios)
replayed through kiosk.engine, each event wrapped in the MQTT wire envelope and given to
``ReviewStore.ingest_event``; two evidence JPEGs go through ``ingest_snapshot``, one of them
old enough to be purged. Every step is simulated touches through the window's input queue
and assertions on what the screens show; each screen is written as a PNG (kept in
``$OPENSCO_REVIEW_SCREENSHOTS`` when set).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

VIEWER = "lp-tester"
LANES = (("store-01", "lane-01"), ("store-01", "lane-02"), ("store-02", "lane-07"))
NON_SCAN = "Item bagged without a scan"


def _need_display() -> None:
    if not os.environ.get("DISPLAY"):
        if os.environ.get("OPENSCO_REQUIRE_SERVICES") == "1":
            pytest.fail("DISPLAY is not set: Xvfb should be running (OPENSCO_REQUIRE_SERVICES=1)")
        pytest.skip("no DISPLAY (run under xvfb-run)")


def _evidence_jpeg(seed: int) -> bytes:
    """A small camera-like frame with an item box drawn, as vision/evidence.py sends."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    img = (rng.integers(60, 120, size=(240, 320, 3))).astype(np.uint8)
    cv2.rectangle(img, (90, 70), (210, 180), (40, 200, 40), 3)
    cv2.putText(img, f"track {seed}", (92, 64), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return bytes(buf)


def _snap_props(jpeg: bytes, snap_id: str, kiosk: str, flag: Any) -> dict[str, str]:
    return {
        "schema": "opensco.snapshot/1",
        "snap_id": snap_id,
        "kiosk_id": kiosk,
        "boot_id": "boot-1",
        "ts": f"{flag.ts:.3f}",
        "sha256": hashlib.sha256(jpeg).hexdigest(),
        "size_bytes": str(len(jpeg)),
        "alert_id": flag.alert_id,
        "session_id": flag.session_id,
    }


class Fixture:
    """The filled store, what went into it, and the app on the shared window."""

    def __init__(self, db: Path, shots: Path) -> None:
        from backend_client.contract import event_payload
        from backend_client.review_store import ReviewStore
        from kiosk.core.settings import CoreSettings
        from kiosk.replay import DEFAULT_CATALOG, load_catalog_file, replay_lines
        from kiosk.scenarios.evaluate import scenario_settings
        from kiosk.scenarios.generator import generate_suite

        self.store = ReviewStore.open(f"sqlite:///{db}")
        self.shots = shots
        self.written: list[Path] = []
        catalog = load_catalog_file(DEFAULT_CATALOG)
        self.sent: list[dict[str, Any]] = []
        for i, scenario in enumerate(generate_suite(14, 11, catalog)):
            store, kiosk = LANES[i % len(LANES)]
            base = dataclasses.replace(
                CoreSettings(), journal_id=f"{kiosk}-{i}", kiosk_id=kiosk, store_id=store
            )
            result = replay_lines(
                [json.dumps(r) for r in scenario.records],
                catalog,
                scenario_settings(scenario, base),
            )
            for event in result.events:
                wire = event_payload(event, kiosk_id=kiosk, store=store, boot_id=f"boot-{i}")
                self.store.ingest_event(wire)
                self.sent.append(json.loads(wire))
        self.app: Any = None

    def start_app(self) -> None:
        from kiosk.review.app import ReviewApp

        self.app = ReviewApp(self.store, viewer=VIEWER)
        self.app.start_embedded()
        self.wait(lambda: self.app.sm is not None and self.app.sm.current == "flags", "list")

    def wait(self, predicate: Any, what: str) -> None:
        assert self.app.pump(predicate, timeout_s=15.0), f"never happened: {what}"
        self.app.pump(frames=2)

    def tap(self, widget: Any) -> None:
        from kiosk.ui.widgets.base import tap

        assert widget.opacity > 0 and not widget.disabled and widget.height > 0, widget
        tap(widget)
        self.app.pump(frames=2)

    def shot(self, name: str) -> Path:

        self.app.pump(frames=3)
        path = self.app.screenshot(self.shots / f"review_{name}.png")
        check_png(path)
        self.written.append(path)
        return path

    def views(self) -> list[dict[str, Any]]:
        return [r for r in self.store.access_log(limit=10_000) if r["viewer"] == VIEWER]


def check_png(path: Path) -> None:
    import cv2

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = cv2.imread(str(path))
    assert img is not None and img.shape[1] == 1280 and img.shape[0] == 800
    assert float(img.std()) > 5.0, f"{path.name}: a blank screenshot"


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    _need_display()
    os.environ.setdefault("KIVY_HOME", str(tmp_path_factory.mktemp("kivy-home")))
    keep = os.environ.get("OPENSCO_REVIEW_SCREENSHOTS")
    shots = Path(keep) if keep else tmp_path_factory.mktemp("review-screens")
    fx = Fixture(tmp_path_factory.mktemp("review-db") / "review.sqlite3", shots)
    oracle = fx.store.flags(viewer="test-setup")
    # Two evidence images for two security alerts: one fresh, one past its retention.
    alerts = [f for f in oracle if f.alert_id and f.session_id]
    assert len(alerts) >= 2, "the suite should raise security alerts"
    fx.fresh_flag, fx.old_flag = alerts[0], alerts[1]
    fx.fresh_jpeg = _evidence_jpeg(1)
    for flag, jpeg, snap, received in (
        (fx.fresh_flag, fx.fresh_jpeg, "snap-fresh", time.time()),
        (fx.old_flag, _evidence_jpeg(2), "snap-old", time.time() - 90 * 86400),
    ):
        props = _snap_props(jpeg, snap, flag.kiosk_id, flag)
        assert fx.store.ingest_snapshot(jpeg, props, now=received) == "new"
    assert fx.store.purge_expired() == 1
    fx.start_app()
    yield fx
    fx.app.close_embedded()
    fx.store.close()


def test_the_autoplay_tour_writes_every_screen_and_leaves_the_window(
    fx: Fixture, tmp_path: Path
) -> None:
    """``sco review --autoplay``'s path: a second app on the same window, then back."""
    from kiosk.review.app import run_review_app

    fx.app.close_embedded()
    assert run_review_app(fx.store, viewer="autoplay", screenshots=tmp_path, autoplay=True) == 0
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == [f"review_{n}.png" for n in ("detail", "export", "flags", "precision")]
    for png in tmp_path.glob("*.png"):
        check_png(png)
    assert run_review_app(fx.store, viewer="  ") == 2  # no viewer id: refused, nothing shown
    fx.start_app()  # the fixture's app again, on the same window


def test_the_list_shows_every_flag(fx: Fixture) -> None:
    expected = {f.flag_id: f for f in fx.store.flags(viewer="test-setup")}
    before = len(fx.views())
    fx.app.show_flags()
    s = fx.app.screen("flags")
    fx.wait(lambda: s.table.data, "table filled")
    shown = {row["flag_id"]: row for row in s.table.data}
    assert shown.keys() == expected.keys() and len(shown) >= 5
    assert NON_SCAN in {row["reason"] for row in shown.values()}
    assert all(row["label"] == "Not reviewed" for row in shown.values())
    lanes = {row["lane"] for row in shown.values()}
    assert lanes == {f"{s}/{k}" for s, k in LANES}
    assert s.count.text == f"{len(expected)} flagged events"
    assert fx.views()[0]["action"] == "list" and len(fx.views()) == before + 1
    fx.wait(lambda: s.rows_visible(), "rows drawn")
    fx.shot("flags")


def test_filtering_by_reason_and_lane_narrows_the_list(fx: Fixture) -> None:
    s = fx.app.screen("flags")
    everything = len(s.table.data)
    fx.tap(s.reason)  # the drop-down, then the choice, like a mouse would
    fx.wait(lambda: s.reason._dropdown.attach_to is not None, "reason choices open")
    option = next(b for b in s.reason._dropdown.container.children if b.text == NON_SCAN)
    fx.tap(option)
    assert s.reason.text == NON_SCAN
    fx.tap(s.apply_btn)
    fx.wait(lambda: len(s.table.data) < everything, "list narrowed")
    assert s.table.data and {row["reason"] for row in s.table.data} == {NON_SCAN}
    n_non_scan = len(s.table.data)
    assert fx.views()[0]["detail"] == "reason=non_scan"

    s.lane.text = "store-02/lane-07"
    fx.tap(s.apply_btn)
    fx.wait(lambda: all(r["lane"] == "store-02/lane-07" for r in s.table.data), "one lane")
    assert len(s.table.data) <= n_non_scan

    s.since.text = "25/11/2025"  # bad input: a clear message, the list stays as it was
    shown = list(s.table.data)
    fx.tap(s.apply_btn)
    assert "YYYY-MM-DD" in fx.app.status_label.text and s.table.data == shown
    fx.tap(s.clear_btn)
    fx.wait(lambda: len(s.table.data) == everything, "filters cleared")
    assert fx.app.status_label.text == ""


def _open(fx: Fixture, flag_id: str) -> Any:
    """Tap the flag's row on the list (scrolling it into view first)."""
    s = fx.app.screen("flags")
    index = next(i for i, row in enumerate(s.table.data) if row["flag_id"] == flag_id)
    n = len(s.table.data)
    s.table.scroll_y = 1 - index / max(n - 1, 1)
    fx.wait(lambda: any(r.flag_id == flag_id for r in s.rows_visible()), "row in view")
    row = next(r for r in s.rows_visible() if r.flag_id == flag_id)
    fx.tap(row)
    fx.wait(lambda: fx.app.sm.current == "detail", "detail screen")
    d = fx.app.screen("detail")
    assert d.detail.flag.flag_id == flag_id
    return d


def test_a_flag_shows_its_evidence_receipt_and_images(fx: Fixture) -> None:
    flag = fx.fresh_flag
    before = len(fx.views())
    d = _open(fx, flag.flag_id)
    views = fx.views()[: len(fx.views()) - before]
    assert {v["action"] for v in views} == {"detail", "snapshot"}
    assert any(v["flag_id"] == flag.flag_id for v in views)
    assert d.subtitle.text.count(flag.kiosk_id) == 1 and flag.severity in d.subtitle.text
    assert d.evidence.text.startswith("• ") and "No evidence" not in d.evidence.text
    if "delta_g" in flag.evidence:
        assert f"Bagging scale changed by {flag.evidence['delta_g']:+d} g" in d.evidence.text
    # The image the kiosk sent, decoded at its own size.
    assert len(d.images) == 1 and tuple(d.images[0].texture.size) == (320, 240)
    # The timeline marks the flagged event; the receipt is the session's, when it paid.
    assert any(line.startswith(">") for line in d.timeline.text.splitlines())
    receipts = [
        e["receipt"]
        for e in fx.sent
        if e["type"] == "transaction_completed" and e["session_id"] == flag.session_id
    ]
    if receipts:
        assert receipts[0]["lines"][0]["name_en"][:10] in d.receipt.text
        assert "TOTAL" in d.receipt.text.upper()
    else:
        assert d.receipt.text.startswith("No receipt")
    assert d.current_label.text.startswith("Label: Not reviewed")
    fx.shot("detail")

    fx.tap(d.back)
    fx.wait(lambda: fx.app.sm.current == "flags", "back to the list")
    d = _open(fx, fx.old_flag.flag_id)
    from kiosk.review.screens.detail import PURGED

    assert d.images == [] and d.placeholders == [PURGED]
    fx.shot("detail_purged")
    fx.tap(d.back)

    # A flag whose sale was paid: its receipt is shown next to it, amounts in yuan.
    paid = {e["session_id"]: e["receipt"] for e in fx.sent if e["type"] == "transaction_completed"}
    flag = next(f for f in fx.store.flags(viewer="test-setup") if f.session_id in paid)
    receipt = paid[flag.session_id]
    fx.wait(lambda: fx.app.sm.current == "flags", "back to the list")
    d = _open(fx, flag.flag_id)
    total = receipt["total_minor"]
    assert f"{total // 100}.{total % 100:02d}" in d.receipt.text
    for line in receipt["lines"]:
        assert line["name_en"][:12] in d.receipt.text
    fx.shot("detail_receipt")
    fx.tap(d.back)


def _summary(fx: Fixture, reason_words: str) -> str:
    fx.tap(fx.app.nav_buttons["precision"])
    p = fx.app.screen("precision")
    fx.wait(lambda: fx.app.sm.current == "precision", "precision screen")
    return next(t for t in p.summary_texts() if t.startswith(reason_words + ":"))


def test_labelling_changes_the_precision_on_the_chart(fx: Fixture) -> None:
    from kiosk.review.words import reason_words

    flags = fx.store.flags(viewer="test-setup")
    by_reason = {f.reason: [g for g in flags if g.reason == f.reason] for f in flags}
    reason = max(by_reason, key=lambda r: len(by_reason[r]))  # the most common reason
    same = by_reason[reason]
    assert len(same) >= 2 and all(f.label is None for f in same)
    words = reason_words(reason)
    assert _summary(fx, words).startswith(f"{words}: no labels yet (0 confirmed, 0 false")
    before = len(fx.views())
    fx.tap(fx.app.nav_buttons["flags"])
    d = _open(fx, same[0].flag_id)
    d.note.text = "customer had receipt from till 3"
    fx.tap(d.false_alarm)
    fx.wait(lambda: d.current_label.text.startswith("Label: False alarm"), "label shown")
    assert VIEWER in d.current_label.text
    text = _summary(fx, words)
    assert text.startswith(f"{words}: 0% (0 confirmed, 1 false alarm,")
    p = fx.app.screen("precision")
    series = next(s for s in p.chart.series if s.reason == reason)
    assert series.points and series.points[-1][1] == 0.0
    fx.tap(fx.app.nav_buttons["flags"])  # a second one confirmed: half were losses
    d = _open(fx, same[1].flag_id)
    fx.tap(d.confirm)
    fx.wait(lambda: d.current_label.text.startswith("Label: Confirmed loss"), "label 2")
    assert _summary(fx, words).startswith(f"{words}: 50% (1 confirmed, 1 false alarm,")
    assert next(s for s in p.chart.series if s.reason == reason).precision == 0.5
    fx.shot("precision")
    saved = fx.store.detail(same[0].flag_id, viewer="test-setup").flag
    assert saved.label == "false_alarm" and saved.note == "customer had receipt from till 3"
    actions = [v["action"] for v in fx.views()[: len(fx.views()) - before]]
    assert "label" in actions and actions.count("detail") >= 1
    # The list shows the label too.
    fx.tap(fx.app.nav_buttons["flags"])
    s = fx.app.screen("flags")
    row = next(r for r in s.table.data if r["flag_id"] == same[0].flag_id)
    assert row["label"] == "False alarm — customer had receipt from till 3"


def test_exports_go_to_the_chosen_folder(fx: Fixture, tmp_path: Path) -> None:
    fx.tap(fx.app.nav_buttons["export"])
    e = fx.app.screen("export")
    fx.wait(lambda: fx.app.sm.current == "export", "export screen")
    e.folder.text = str(tmp_path / "out")
    fx.tap(e.csv_btn)
    fx.wait(lambda: e.result.text.startswith("Wrote "), "csv written")
    csv_path = e.written[-1]
    assert csv_path.parent == tmp_path / "out" and csv_path.suffix == ".csv"
    with csv_path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(fx.store.flags(viewer="test-setup"))
    fx.tap(e.html_btn)
    fx.wait(lambda: e.result.text.endswith(".html") or ".html (" in e.result.text, "html")
    html = e.written[-1].read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html") and "<svg" in html
    fx.shot("export")
    assert [v["action"] for v in fx.views()[:2]] != []

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    e.folder.text = str(blocker / "sub")  # a folder under a file: cannot exist
    n = len(e.written)
    fx.tap(e.csv_btn)
    assert e.result.text == "Nothing written." and len(e.written) == n
    assert "Could not export CSV" in fx.app.status_label.text


def test_every_view_wrote_an_access_log_row(fx: Fixture) -> None:
    before = len(fx.views())
    for name in ("flags", "precision", "export"):
        fx.tap(fx.app.nav_buttons[name])
        fx.wait(lambda n=name: fx.app.sm.current == n, name)
    after = fx.views()
    # The list and the chart read flags (logged); the export screen only shows the filter.
    assert len(after) - before >= 2
    assert {r["action"] for r in after} >= {"list", "detail", "snapshot", "label"}
    assert all(r["viewer"] == VIEWER for r in after)


def test_evidence_and_precision_in_words() -> None:
    """The sentences and figures the screens show, from a real kiosk evidence record."""
    from backend_client.review_store import PrecisionPoint
    from kiosk.review.chart import build_series
    from kiosk.review.words import describe_evidence, timeline_lines

    evidence = {
        "anchor_g": 2222,
        "settled_g": 2140,
        "delta_g": -82,
        "expected": [],
        "tolerance_g": 6,
        "likely_lines": [4],
        "unexplained_g": -82,
        "clutter": [{"track_id": 371, "label": "hand"}],
        "track_id": 372,
        "label": "item",
        "sku": None,
        "identity_score": None,
        "snapshots": [],
        "unpaid_track": 372,
        "lane_note": "new field from a newer kiosk",
    }
    lines = describe_evidence(evidence)
    assert lines[0] == "Bagging scale changed by -82 g (from 2222 g to 2140 g), tolerance ±6 g"
    assert "Expected on the scale: nothing" in lines and "Also in view: hand #371" in lines
    assert "Camera tracked item #372, not identified as a product" in lines
    assert lines[-1] == "Lane note: new field from a newer kiosk"  # unknown keys still shown
    assert describe_evidence({}) == ["No evidence recorded"]
    events = [
        {"event_id": "a", "type": "item_added", "ts": 98.0, "line": {"name_en": "Rice"}},
        {"event_id": "f", "type": "lp_flagged", "ts": 100.0, "reason": "non_scan"},
    ]
    assert timeline_lines(events, 100.0, "f") == [
        "     -2.0 s  Item added: Rice",
        ">    +0.0 s  Flagged for review: Item bagged without a scan",
    ]
    week = 7 * 86400.0
    series = build_series(
        [
            PrecisionPoint("non_scan", 0.0, 2, 1, 0),
            PrecisionPoint("non_scan", week, 0, 0, 4),
            PrecisionPoint("bag_abuse", week, 0, 1, 1),
        ]
    )
    assert [s.reason for s in series] == ["bag_abuse", "non_scan"]
    non_scan = series[1]
    assert non_scan.points == ((0.0, 2 / 3),) and non_scan.buckets == (0.0, week)
    assert non_scan.summary() == (
        "Item bagged without a scan: 67% (2 confirmed, 1 false alarm, 4 not reviewed)"
    )
    assert series[0].summary().startswith("Goods declared as a bag: 0% (0 confirmed, 1 false")
