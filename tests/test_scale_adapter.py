"""The serial adapter against a simulated scale: real frames through a pty, every protocol."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import serial  # type: ignore[import-untyped]
from hypothesis import given
from hypothesis import strategies as st

from hardware.scale.base import ScaleReading, get_protocol
from hardware.scale.config import PROTOCOL_NAMES, scale_from_config
from hardware.scale.serial_adapter import ScaleState, SerialScale
from hardware.scale.simulator import ScaleSimulator
from hardware.scale.stability import StabilityFilter
from kiosk.config import ConfigFileError, parse_config_text
from kiosk.core.inputs import Platform, WeightReading, WeightStatus
from tests.test_scale_simulator import PROTOCOLS, wait_for


@dataclass
class Inbox:
    """Stands in for EngineThread.put: records what the adapter hands to the core."""

    readings: list[WeightReading] = field(default_factory=list)
    barcodes: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, reading: WeightReading) -> None:
        with self.lock:
            self.readings.append(reading)

    def scan(self, data: str, symbology: str) -> None:
        with self.lock:
            self.barcodes.append((data, symbology))

    def snapshot(self) -> list[WeightReading]:
        with self.lock:
            return list(self.readings)

    def has(self, grams: int | None = None, stable: bool | None = True, status: str = "ok") -> bool:
        return any(self.match(r, grams, stable, status) for r in self.snapshot())

    @staticmethod
    def match(r: WeightReading, grams: int | None, stable: bool | None, status: str) -> bool:
        near = grams is None or abs(r.weight_g - grams) <= 5  # unit rounding (lb fields)
        return near and stable in (None, r.stable) and r.status.value == status


@dataclass
class Rig:
    sim: ScaleSimulator
    inbox: Inbox
    scales: list[SerialScale] = field(default_factory=list)

    def scale(self, url: str | None = None, **kwargs: object) -> SerialScale:
        options: dict[str, object] = {"poll_hz": 20, "offline_after_missed": 5}
        options.update(kwargs)
        scale = SerialScale(
            url or self.sim.port_path,
            self.sim.protocol,
            Platform.SCAN,
            on_reading=self.inbox.put,
            on_barcode=self.inbox.scan,
            reconnect_min_s=0.1,
            reconnect_max_s=0.5,
            **options,  # type: ignore[arg-type]
        )
        self.scales.append(scale)
        return scale.start()


@pytest.fixture(params=PROTOCOLS)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    sim = ScaleSimulator(get_protocol(request.param), tmp_path / "scale", settle_ms=400, seed=3)
    sim.start()
    rig = Rig(sim, Inbox())
    try:
        yield rig
    finally:
        for scale in rig.scales:
            scale.stop()
        sim.stop()


def settle_empty(rig: Rig, scale: SerialScale) -> None:
    wait_for(lambda: rig.inbox.has(0), what="a stable zero reading")
    assert scale.health().state is ScaleState.READY


def test_motion_then_settle(rig: Rig) -> None:
    scale = rig.scale()
    settle_empty(rig, scale)
    rig.sim.place(1200)
    wait_for(lambda: rig.inbox.has(1200), what="a stable 1200 g reading")
    readings = rig.inbox.snapshot()
    first = next(i for i, r in enumerate(readings) if r.stable and r.weight_g == 0)
    last = next(i for i, r in enumerate(readings) if Inbox.match(r, 1200, True, "ok"))
    assert any(not r.stable for r in readings[first:last]), "no motion reading before settle"
    assert all(r.platform is Platform.SCAN and r.ts_ms > 0 for r in readings)
    health = scale.health()
    assert health.connected and health.frames_ok > 0 and health.last_reading_ts_ms


def test_under_zero_and_over_capacity(rig: Rig) -> None:
    scale = rig.scale()
    settle_empty(rig, scale)
    rig.sim.place(rig.sim.pan.capacity_g + 1000)
    wait_for(lambda: rig.inbox.has(None, None, "over_capacity"), what="over capacity")
    rig.sim.place(400)
    wait_for(lambda: rig.inbox.has(400), what="400 g")
    rig.sim.zero()
    rig.sim.remove()
    wait_for(lambda: rig.inbox.has(None, None, "under_zero"), what="under zero")


def test_item_on_the_pan_at_start_is_not_trusted_until_zero(rig: Rig) -> None:
    rig.sim.place(800)
    wait_for(lambda: rig.sim.status()["stable"], what="the simulator to settle")
    scale = rig.scale()
    wait_for(lambda: scale.health().state is ScaleState.LOADED_AT_START, what="LOADED_AT_START")
    wait_for(lambda: rig.inbox.has(800, stable=False), what="the loaded weight, reported")
    assert not rig.inbox.has(800), "a weight already on the pan was delivered as stable"
    rig.sim.remove()
    wait_for(lambda: rig.inbox.has(0), what="zero")
    rig.sim.place(300)
    wait_for(lambda: rig.inbox.has(300), what="a trusted 300 g after zero")
    assert scale.health().state is ScaleState.READY


def test_same_weight_is_delivered_once(rig: Rig) -> None:
    rig.sim.set_noise(2)
    scale = rig.scale(stability=StabilityFilter(division_g=5, window_n=3, settle_ms=100))
    settle_empty(rig, scale)
    rig.sim.place(700)
    wait_for(lambda: rig.inbox.has(700), what="700 g")
    frames = scale.health().frames_ok
    wait_for(lambda: scale.health().frames_ok > frames + 15, what="more frames")
    stable_700 = [r for r in rig.inbox.snapshot() if Inbox.match(r, 700, True, "ok")]
    assert len(stable_700) == 1, stable_700
    first = scale.read_once(timeout_s=5, want_stable=True)
    again = scale.read_once(timeout_s=5, want_stable=True)
    assert first.state is ScaleState.READY and first.reading is not None
    assert again.state is ScaleState.SAME_WEIGHT


def test_sleeping_scale_goes_offline_then_returns(rig: Rig) -> None:
    scale = rig.scale(offline_after_missed=3)
    settle_empty(rig, scale)
    rig.sim.sleep()
    wait_for(lambda: rig.inbox.has(0, stable=False, status="offline"), what="an OFFLINE reading")
    health = scale.health()
    assert health.state is ScaleState.UNAVAILABLE and health.last_error
    assert "polls" in health.last_error
    offline = [r for r in rig.inbox.snapshot() if r.status is WeightStatus.OFFLINE]
    assert len(offline) == 1
    rig.sim.wake()
    wait_for(lambda: scale.health().state is ScaleState.READY, what="READY after wake")
    assert rig.inbox.snapshot()[-1].status is WeightStatus.OK


def test_unplug_and_replug_recovers_by_itself(rig: Rig) -> None:
    scale = rig.scale()
    settle_empty(rig, scale)
    rig.sim.unplug()
    wait_for(lambda: not scale.health().connected, what="the adapter to notice")
    wait_for(lambda: rig.inbox.has(0, stable=False, status="offline"), what="OFFLINE")
    assert scale.health().state is ScaleState.UNAVAILABLE
    rig.sim.place(250)  # put down while the cable was out
    rig.sim.replug()
    wait_for(lambda: scale.health().reconnects >= 1, timeout=10, what="a reconnect")
    wait_for(lambda: scale.health().state is ScaleState.LOADED_AT_START, what="LOADED_AT_START")
    rig.sim.remove()
    wait_for(lambda: scale.health().state is ScaleState.READY, what="READY after zero")
    rig.sim.place(600)
    wait_for(lambda: rig.inbox.has(600), what="readings to resume")


def test_garbage_on_the_line_is_counted_not_fatal(rig: Rig) -> None:
    scale = rig.scale()
    settle_empty(rig, scale)
    for _ in range(3):
        rig.sim.garbage()
    wait_for(lambda: scale.health().frames_bad > 0, what="frames_bad to count")
    assert scale.health().last_error
    rig.sim.place(900)
    wait_for(lambda: rig.inbox.has(900), what="readings after garbage")
    assert scale.health().connected


def test_missing_port_is_unavailable_and_retried(tmp_path: Path) -> None:
    inbox = Inbox()
    protocol = get_protocol(PROTOCOLS[0])
    url = str(tmp_path / "nothing")
    with SerialScale(url, protocol, on_reading=inbox.put, reconnect_min_s=0.05) as scale:
        wait_for(lambda: inbox.has(0, stable=False, status="offline"), what="OFFLINE")
        error = scale.health().last_error or ""
        assert "cannot open" in error and url in error
        assert not scale.health().connected
    assert len(inbox.snapshot()) == 1  # said once, not on every retry


def test_read_once_without_a_scale_says_so(tmp_path: Path) -> None:
    scale = SerialScale(str(tmp_path / "nothing"), get_protocol(PROTOCOLS[0]))
    result = scale.read_once(timeout_s=0.5)
    assert result.state is ScaleState.UNAVAILABLE and result.reading is None
    assert result.message.startswith("scale unavailable: no answer on")


def test_loop_url_echo_is_not_a_scale() -> None:
    # loop:// echoes our polls back: the adapter opens it by URL and reports no scale.
    protocol = get_protocol("nci")
    inbox = Inbox()
    with SerialScale("loop://", protocol, on_reading=inbox.put, poll_hz=20) as scale:
        wait_for(lambda: inbox.has(0, stable=False, status="offline"), what="OFFLINE")
        assert scale.health().connected and scale.health().state is ScaleState.UNAVAILABLE


class SerialServer:
    """A serial-to-Ethernet converter in miniature: one TCP client ↔ the scale's pty."""

    def __init__(self, port_path: str) -> None:
        self.port_path = port_path
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        conn, _ = self.listener.accept()
        with conn, serial.serial_for_url(self.port_path, timeout=0) as line:
            while not self.stop.is_set():
                ready, _, _ = select.select([conn, line.fileno()], [], [], 0.05)
                if conn in ready:
                    data = conn.recv(4096)
                    if not data:
                        return
                    line.write(data)
                if line.fileno() in ready:
                    conn.sendall(line.read(4096))

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(2)


def test_socket_url_reaches_a_networked_scale(rig: Rig) -> None:
    server = SerialServer(rig.sim.port_path)
    try:
        scale = rig.scale(url=server.url)
        settle_empty(rig, scale)
        rig.sim.place(1500)
        wait_for(lambda: rig.inbox.has(1500), what="1500 g over socket://")
    finally:
        for s in rig.scales:
            s.stop()
        server.close()


def test_magellan_barcodes_reach_on_barcode(tmp_path: Path) -> None:
    inbox = Inbox()
    with ScaleSimulator(get_protocol("magellan"), settle_ms=100) as sim:
        scale = SerialScale(
            sim.port_path, sim.protocol, on_reading=inbox.put, on_barcode=inbox.scan, poll_hz=20
        )
        with scale:
            wait_for(lambda: inbox.has(0), what="zero")
            sim.barcode("4006381333931", "EAN13")
            sim.barcode("96385074", "EAN8")
            wait_for(lambda: len(inbox.barcodes) == 2, what="two barcodes")
    assert inbox.barcodes == [("4006381333931", "EAN13"), ("96385074", "EAN8")]


def test_zero_and_tare_reach_the_scale(tmp_path: Path) -> None:
    inbox = Inbox()
    with ScaleSimulator(get_protocol("sics"), settle_ms=100) as sim:
        with SerialScale(sim.port_path, sim.protocol, on_reading=inbox.put, poll_hz=20) as scale:
            wait_for(lambda: inbox.has(0), what="zero")
            sim.place(300)
            wait_for(lambda: inbox.has(300), what="300 g")
            assert scale.tare()
            wait_for(lambda: sim.status()["tare_g"] == 300, what="the tare to reach the scale")
            wait_for(lambda: inbox.snapshot()[-1].weight_g == 0, what="net zero")
        assert not SerialScale("loop://", get_protocol("magellan")).tare()


# --- the stability filter (pure) -------------------------------------------------------


def r(weight: int | None, stable: bool = True) -> ScaleReading:
    return ScaleReading(weight_g=weight, stable=stable)


def test_filter_needs_n_readings_within_a_division_for_t_ms() -> None:
    f = StabilityFilter(division_g=5, window_n=3, settle_ms=200)
    assert not f.feed(0, r(100)).stable
    assert not f.feed(100, r(104)).stable  # two readings only
    assert not f.feed(150, r(102)).stable  # three, but 150 ms
    assert f.feed(200, r(101)).stable
    assert not f.feed(250, r(107)).stable  # 107 - 101 > 5: the run restarts
    assert not f.feed(300, r(107, stable=False)).stable  # the scale says motion
    assert not f.feed(310, r(None)).stable  # no weight: window restarts


def reference(history: list[tuple[int, int | None, bool]], division: int, n: int, t: int) -> bool:
    """The filter's rule over the whole history, computed the slow way."""
    ts, weight, scale_stable = history[-1]
    if weight is None:
        return False
    run: list[tuple[int, int]] = []
    for ts_i, w, _ in reversed(history):
        if w is None:
            break
        candidate = [*run, (ts_i, w)]
        values = [v for _, v in candidate]
        if max(values) - min(values) > division:
            break
        run = candidate
    return scale_stable and len(run) >= n and ts - run[-1][0] >= t


@given(
    st.integers(0, 20),
    st.integers(1, 6),
    st.integers(0, 500),
    st.lists(
        st.tuples(st.integers(0, 120), st.one_of(st.none(), st.integers(-30, 30)), st.booleans()),
        max_size=60,
    ),
)
def test_filter_matches_the_rule_on_any_history(
    division: int, n: int, settle: int, steps: list[tuple[int, int | None, bool]]
) -> None:
    f = StabilityFilter(division, n, settle)
    history: list[tuple[int, int | None, bool]] = []
    now = 0
    for gap, weight, scale_stable in steps:
        now += gap
        history.append((now, weight, scale_stable))
        out = f.feed(now, r(weight, scale_stable))
        assert out.stable == reference(history, division, n, settle)
        assert out.weight_g == weight


# --- configuration ---------------------------------------------------------------------


def test_config_names_every_protocol() -> None:
    assert sorted(PROTOCOL_NAMES) == PROTOCOLS


def test_scale_from_config(tmp_path: Path) -> None:
    text = f"""
[scan_scale]
enabled = true
port = "{tmp_path / "tty"}"
protocol = "magellan"
parity = "E"
unit = "lb"
decimals = 2
"""
    config = parse_config_text(text)
    inbox = Inbox()
    scale = scale_from_config(config.sections["scan_scale"], Platform.SCAN, inbox.put)
    assert scale is not None and scale.protocol.name == "magellan"
    assert scale.port_settings.parity == "E" and scale.port_settings.bytesize == 7
    assert scale.protocol.units.unit.value == "lb" and scale.stability is not None
    assert scale.zero_before_trust
    bagging = config.sections["bagging_scale"]
    assert scale_from_config(bagging, Platform.BAGGING, inbox.put) is None  # disabled
    assert not bagging["require_zero_at_start"] and bagging["division_g"] == 10


def test_enabled_scale_needs_a_port() -> None:
    with pytest.raises(ConfigFileError) as caught:
        parse_config_text('[bagging_scale]\nenabled = true\nprotocol = "sics"\n')
    assert [str(p) for p in caught.value.problems] == [
        'bagging_scale.port: must be set when the scale is enabled, e.g. "/dev/ttyUSB0"'
    ]
