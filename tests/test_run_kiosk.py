"""`sco run` kiosk mode in a real Kivy window (Xvfb): a required device that is missing
shows the out-of-service screen with the reason; the lane comes back when the device does;
close requests are swallowed and only the attendant PIN leaves, after wrong PINs are
refused and counted. The last test starts the real `sco run` as a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hardware.scale.base import get_protocol
from hardware.scale.simulator import ScaleSimulator
from kiosk.config import parse_config_text
from kiosk.ui.pin import make_pin_hash
from tests.conftest import EXAMPLES, SCO

pytestmark = pytest.mark.slow

PIN = "2580"


def _need_display() -> None:
    if not os.environ.get("DISPLAY"):
        if os.environ.get("OPENSCO_REQUIRE_SERVICES") == "1":
            pytest.fail("DISPLAY is not set: Xvfb should be running (OPENSCO_REQUIRE_SERVICES=1)")
        pytest.skip("no DISPLAY (run under xvfb-run)")


def shots_dir(tmp: Path) -> Path:
    """Where screenshots go: ``$OPENSCO_UI_SCREENSHOTS`` when set (kept), else a tmp dir."""
    keep = os.environ.get("OPENSCO_UI_SCREENSHOTS")
    return Path(keep) if keep else tmp


def config_text(tmp: Path, port: Path, pin_hash: str) -> str:
    return (
        f'[kiosk]\ndata_dir = "{tmp / "data"}"\n'
        f'[catalog]\npath = "{EXAMPLES / "catalog.csv"}"\n'
        f'[kiosk_ui]\nattendant_pin_hash = "{pin_hash}"\nrequired = ["bagging_scale", "disk"]\n'
        "pin_max_tries = 3\nprobe_timeout_s = 1.5\nrecheck_s = 1\npreview = false\n"
        f'[bagging_scale]\nenabled = true\nport = "{port}"\nprotocol = "toledo8217"\n'
    )


class Kiosk:
    """KioskMode with its app in an embedded event loop; leaving is recorded, not obeyed
    (the window is shared with the other tests of this process)."""

    def __init__(self, tmp: Path) -> None:
        from kiosk.ui.kiosk_mode import KioskMode

        self.port = tmp / "ttyBAGGING"  # a link the scale simulator creates later
        config = parse_config_text(
            config_text(tmp, self.port, make_pin_hash(PIN, iterations=1000)), "kiosk.toml"
        )
        self.left: list[float] = []
        self.mode = KioskMode(config, fullscreen=False, on_exit=lambda: self.left.append(1))
        self.report = self.mode.prepare()
        self.app = self.mode.make_app()
        self.app.start_embedded()
        self.now = [1000.0]
        self.mode.guard.clock = lambda: self.now[0]  # lockouts end when the test says so

    def wait(self, predicate: Any, what: str, timeout_s: float = 20.0) -> None:
        assert self.app.pump(predicate, timeout_s=timeout_s), f"never happened: {what}"
        self.app.pump(frames=2)

    def tap(self, widget: Any) -> None:
        from kiosk.ui.widgets.base import tap

        tap(widget)
        self.app.pump(frames=2)

    def type_pin(self, pin: str) -> None:
        pad = self.mode.exit.popup
        for key in [*pin, "OK"]:
            self.tap(pad.keys[key])

    def close(self) -> None:
        from kivy.core.window import Window

        # Not app.stop(): that closes the window the other UI tests of this process share.
        # dispatch, not on_stop(): kv's `app` proxy lets go of this app only on the event,
        # else the next app's kv rules would still call this one.
        self.app.dispatch("on_stop")
        Window.remove_widget(self.app.root)
        self.mode.close()


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiosk]:
    _need_display()
    os.environ.setdefault("KIVY_HOME", str(tmp_path_factory.mktemp("kivy-home")))
    k = Kiosk(tmp_path_factory.mktemp("kiosk"))
    yield k
    k.close()


def test_a_missing_required_device_shows_out_of_service_with_the_reason(
    kiosk: Kiosk, tmp_path: Path
) -> None:
    import cv2

    from kiosk.ui.strings import text

    kiosk.wait(lambda: kiosk.app.sm.current == "out_of_service", "the out-of-service screen")
    screen = kiosk.app.screen()
    assert screen.ids.title.text == text("out_of_service", "en")
    reason = screen.ids.reason.text
    assert "bagging scale: failed" in reason and str(kiosk.port) in reason, reason
    assert "does not exist" in reason and "disk" not in reason
    assert not screen.ids.reason.hidden and screen.ids.reason.opacity > 0
    shot = cv2.imread(str(kiosk.app.screenshot(shots_dir(tmp_path) / "kiosk_out_of_service.png")))
    assert shot is not None and float(shot.std()) > 5.0  # drawn, not a blank window
    # A shopper's tap does not start a sale on an out-of-service lane.
    kiosk.tap(screen)
    assert kiosk.app.sm.current == "out_of_service"


def test_close_requests_are_swallowed_and_only_the_pin_leaves(kiosk: Kiosk, tmp_path: Path) -> None:
    from kivy.core.window import Window

    assert Window.dispatch("on_request_close") is True  # the window stays
    pad = kiosk.mode.exit.popup
    assert pad is not None and pad.parent is not None, "the PIN pad opened"
    kiosk.app.pump(frames=2)
    assert kiosk.mode.exit.swallowed == 1
    kiosk.type_pin("1111")
    assert pad.status.text == "wrong PIN (1 of 3)" and not kiosk.left
    kiosk.app.screenshot(shots_dir(tmp_path) / "kiosk_pin_pad.png")
    assert pad.display.text == ""  # the typed digits are gone
    pad.press("9")
    assert pad.display.text == "\u2022"  # a dot, never the digit
    pad.press("C")
    kiosk.type_pin("2222")
    kiosk.type_pin("3333")
    assert "too many wrong PINs" in pad.status.text
    kiosk.type_pin(PIN)  # right, but the pad is locked
    assert not kiosk.left and pad.parent is not None
    assert kiosk.mode.guard.total_wrong == 3
    kiosk.now[0] += 61
    kiosk.type_pin(PIN)
    assert kiosk.left == [1]
    kiosk.wait(lambda: pad.parent is None, "the pad closed")


def test_escape_f1_and_corner_taps_open_the_pad_not_anything_else(kiosk: Kiosk) -> None:
    from kivy.base import EventLoop
    from kivy.core.window import Window
    from kivy.metrics import dp

    from kiosk.ui.widgets.base import _Touch

    assert Window.dispatch("on_keyboard", 282, 0, "", []) is True  # F1: no settings panel
    assert kiosk.mode.exit.popup.parent is None
    assert Window.dispatch("on_keyboard", 27, 0, "", []) is True  # Escape
    kiosk.app.pump(frames=2)
    pad = kiosk.mode.exit.popup
    assert pad.parent is not None
    kiosk.tap(pad.cancel)
    kiosk.wait(lambda: pad.parent is None, "the pad closed")
    for _ in range(5):  # the attendant's five taps in the top-left corner
        touch = _Touch(dp(20), Window.height - dp(20))
        EventLoop._dispatch_input("begin", touch)
        EventLoop._dispatch_input("end", touch)
        kiosk.app.pump(frames=1)
    again = kiosk.mode.exit.popup
    assert again is not pad and again.parent is not None
    kiosk.tap(again.cancel)
    kiosk.wait(lambda: again.parent is None, "the pad closed")


def test_the_lane_comes_back_when_the_device_is_plugged_in(kiosk: Kiosk) -> None:
    with ScaleSimulator(get_protocol("toledo8217"), kiosk.port, settle_ms=0, noise_g=0):
        kiosk.wait(lambda: kiosk.app.sm.current == "attract", "back in service", 40.0)
        assert kiosk.mode.reason() is None and kiosk.app.vm.snapshot().out_of_service is None


def test_sco_run_in_a_real_window_reports_and_stops_on_sigterm(tmp_path: Path) -> None:
    _need_display()
    conf = tmp_path / "kiosk.toml"
    conf.write_text(config_text(tmp_path, tmp_path / "ttyNONE", ""), encoding="utf-8")
    env = {**os.environ, "KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1",
           "KIVY_HOME": str(tmp_path / "kivy-home"), "KIVY_CLIPBOARD": "sdl2"}  # fmt: skip
    proc = subprocess.Popen([*SCO, "run", "--config", str(conf), "--windowed"], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        report: dict[str, Any] = {}
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith('{"type": "probes"'):
                report = json.loads(line)
                break
        assert report and not report["ok"]
        assert "bagging scale: failed" in report["out_of_service"]
        time.sleep(3)  # give it time to open its window; what follows does not depend on it
        assert proc.poll() is None, "sco run kept running with a device missing"
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert '"left_by": "signal"' in err
