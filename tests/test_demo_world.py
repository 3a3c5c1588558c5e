"""The demo's world: queued shopper actions → rendered frames and truth → scale loads and
scanner reads; the live camera feed the lane reads. Rendered without photos (fast, and the
grocery photos may be absent); the scales are real ScaleSimulators on ptys read by the
real SerialScale adapter."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from hardware.scale.base import get_protocol
from hardware.scale.serial_adapter import SerialScale
from kiosk.core.inputs import Platform, WeightReading
from kiosk.demo.world import LEAN, DemoWorld, parse_action
from kiosk.errors import CameraError, KioskError
from kiosk.replay import DEFAULT_CATALOG, load_catalog_file
from models.scenes.catalog import product_by_code
from vision.camera import make_source
from vision.live_source import LiveFeed, publish_feed, withdraw_feed

CATALOG = load_catalog_file(DEFAULT_CATALOG)
MAX_FRAMES = 1_500


def world(**kwargs: object) -> DemoWorld:
    return DemoWorld(CATALOG, scales=False, with_photos=False, feed_name="test-world", **kwargs)  # type: ignore[arg-type]


def play(w: DemoWorld, action: str, *, release: bool = True) -> list[tuple[int, int]]:
    """Queue ``action`` and step until the world is idle; (bagging, scale) grams per frame."""
    w.do(action)
    loads = []
    for _ in range(MAX_FRAMES):
        w.step()
        loads.append((w.loads[Platform.BAGGING], w.loads[Platform.SCAN]))
        if w.holding_produce and release:
            w.release_produce()
        if w.idle:
            return loads
    raise AssertionError(f"{action} never finished")


def weight_of(sku: str) -> int:
    product = CATALOG.by_sku(sku)
    assert product is not None and product.expected_weight_g
    return product.expected_weight_g


def test_a_scanned_item_is_read_once_at_the_scanner_and_weighed_in_the_bag() -> None:
    w = world()
    before = w.loads[Platform.BAGGING]
    loads = play(w, "scan(DRK-003)")
    assert [(s.data, s.symbology, s.sku) for s in w.scans] == [
        ("6902949100183", "EAN13", "DRK-003")
    ]
    assert loads[-1][0] == before + weight_of("DRK-003")
    # The read came while the can was still in the hand, before it reached the bag.
    scan_frame = w.scans[0].frame
    assert loads[scan_frame][0] == before


def test_skipping_the_scan_weighs_the_item_and_reads_nothing() -> None:
    w = world()
    before = w.loads[Platform.BAGGING]
    loads = play(w, "skip_scan(SNK-005)")
    assert w.scans == []
    assert loads[-1][0] == before + weight_of("SNK-005")


def test_a_swapped_barcode_reads_the_cheap_code_and_weighs_the_real_item() -> None:
    w = world()
    before = w.loads[Platform.BAGGING]
    play(w, "switch(DRK-010, SNK-009)")
    code, symbology = product_by_code("SNK-009").barcode() or ("", "")
    assert [(s.data, s.symbology, s.sku) for s in w.scans] == [(code, symbology, "SNK-009")]
    assert w.loads[Platform.BAGGING] == before + weight_of("DRK-010")


def test_produce_stays_on_the_scale_until_it_is_sold_then_goes_to_the_bag() -> None:
    w = world(produce_hold_s=60.0)
    before = w.loads[Platform.BAGGING]
    w.do("place_produce(4011)")
    for _ in range(MAX_FRAMES):
        w.step()
        if w.holding_produce:
            break
    grams = w.loads[Platform.SCAN]
    assert grams > 0 and w.loads[Platform.BAGGING] == before
    for _ in range(50):  # nobody picked it yet: it stays, and nothing else moves
        w.step()
        assert w.loads == {Platform.BAGGING: before, Platform.SCAN: grams}
    assert not w.idle
    w.release_produce()
    loads = play(w, "idle")
    assert loads[-1] == (before + grams, 0)
    assert w.scans == []


def test_leaning_adds_weight_only_while_the_hand_presses() -> None:
    w = world(lean_g=2_000, lean_s=1.0)
    before = w.loads[Platform.BAGGING]
    loads = play(w, LEAN)
    bagging = [b for b, _ in loads]
    assert max(bagging) == before + 2_000
    assert bagging[-1] == before and bagging[0] == before
    pressed = sum(b == before + 2_000 for b in bagging)
    assert pressed == round(1.0 * w.fps)


def test_a_bag_put_down_weighs_a_bag() -> None:
    w = world()
    before = w.loads[Platform.BAGGING]
    play(w, "bag_down")
    assert 26 <= w.loads[Platform.BAGGING] - before <= 36
    assert w.scans == []


def test_taking_an_item_back_out_unweighs_it() -> None:
    w = world()
    before = w.loads[Platform.BAGGING]
    play(w, "skip_scan(SNK-005)")
    play(w, "remove(SNK-005)")
    assert w.loads[Platform.BAGGING] == before


def test_bad_actions_are_refused_with_the_known_ones() -> None:
    with pytest.raises(KioskError, match="unknown action"):
        parse_action("juggle(DRK-001)")
    with pytest.raises(KioskError, match="one action at a time"):
        parse_action("scan(DRK-001); scan(DRK-003)")
    with pytest.raises(KioskError):
        world().do("scan(NOPE-999)")
    assert parse_action(" lean ") == LEAN


def test_frames_go_to_the_feed_and_the_camera_reads_them() -> None:
    w = world()
    image, truth = w.step()
    source = make_source("live:test-world?timeout_s=1")
    with pytest.raises(CameraError, match="no live feed"):
        source.open()  # not published until the world starts
    publish_feed(w.feed)
    try:
        source.open()
        first = source.read()
        assert first is not None and np.array_equal(first, image)
        assert truth.index == 0 and image.shape == (w.player.H, w.player.W, 3)
        nxt, _ = w.step()
        second = source.read()
        assert second is not None and np.array_equal(second, nxt)
        with pytest.raises(CameraError, match="no frame from live feed"):
            source.read()  # nothing new within timeout_s: a stalled camera
        w.feed.close()
        assert source.read() is None  # the end of the stream
    finally:
        source.close()
        withdraw_feed(w.feed)


def test_a_live_feed_wakes_a_waiting_reader() -> None:
    feed = publish_feed(LiveFeed("test-wake"))
    try:
        source = make_source("live:test-wake")
        feed.push(np.zeros((4, 4, 3), np.uint8))
        source.open()
        assert source.read() is not None
        later = np.full((4, 4, 3), 7, np.uint8)
        threading.Timer(0.05, feed.push, (later,)).start()
        got = source.read()
        assert got is not None and int(got[0, 0, 0]) == 7
    finally:
        withdraw_feed(feed)
    with pytest.raises(CameraError, match="names no feed"):
        make_source("live:")


@pytest.mark.slow
def test_the_simulated_devices_speak_to_the_real_scale_adapter() -> None:
    """Bagging (SICS) and scanner-scale (Magellan) simulators on ptys, read by SerialScale:
    the scan arrives as a barcode, the bagged can as a settled bagging weight."""
    w = DemoWorld(CATALOG, with_photos=False, feed_name="test-devices", fps=60.0)
    w.start_scales()
    readings: list[WeightReading] = []
    codes: list[tuple[str, str]] = []
    adapters = [
        SerialScale(w.port(Platform.BAGGING), get_protocol("sics"), Platform.BAGGING,
                    poll_hz=10, on_reading=readings.append, zero_before_trust=False),
        SerialScale(w.port(Platform.SCAN), get_protocol("magellan"), Platform.SCAN,
                    poll_hz=10, on_reading=readings.append,
                    on_barcode=lambda data, sym: codes.append((data, sym))),
    ]  # fmt: skip
    try:
        for a in adapters:
            a.start()
        start = w.loads[Platform.BAGGING]
        w.start()
        w.do("scan(DRK-003)")
        assert w.wait_idle(60)
        want = start + weight_of("DRK-003")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            stable = [r for r in readings if r.platform is Platform.BAGGING and r.stable]
            if codes and stable and abs(stable[-1].weight_g - want) <= 5:
                break
            time.sleep(0.05)
        assert codes == [("6902949100183", "EAN13")]
        stable = [r for r in readings if r.platform is Platform.BAGGING and r.stable]
        assert stable and abs(stable[-1].weight_g - want) <= 5
        assert w.stats.frames > 0 and w.stats.render_fps > 0
    finally:
        for a in adapters:
            a.stop()
        w.stop()
