"""The shopper app's pieces that need no window: which screen a state shows, the theme's
numbers, the QR code, the camera overlay, receipt rows, produce tiles, and that importing
the app needs neither a display nor the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.core.inputs import BarcodeRead, PaymentResult, Platform, ShopperAction, WeightReading
from kiosk.core.session import Checkout
from kiosk.core.settings import CoreSettings
from kiosk.errors import ConfigError
from kiosk.replay import load_catalog_file
from kiosk.ui import theme
from kiosk.ui.screens import SCREENS
from kiosk.ui.strings import money
from kiosk.ui.viewmodel import InterventionView, ShopperState
from tests.conftest import EXAMPLES, REPO
from vision.types import Box

UI = REPO / "kiosk" / "ui"


def test_out_of_service_beats_intervention_beats_the_screen() -> None:
    from kiosk.ui.app import visible_screen

    alert = InterventionView("a1", "non_scan", "high")
    state = ShopperState(screen="scanning", lane_state="shopping")
    assert visible_screen(state) == "scanning"
    assert visible_screen(replace(state, intervention=alert)) == "intervention"
    assert visible_screen(replace(state, intervention=alert, out_of_service="no camera")) == (
        "out_of_service"
    )
    # A lock closes an idle lane at once, but a shopper mid-sale finishes the sale.
    assert visible_screen(replace(state, locked=True)) == "scanning"
    assert visible_screen(ShopperState(screen="attract", locked=True)) == "out_of_service"
    assert visible_screen(ShopperState(screen="no-such-screen")) == "attract"


def test_every_screen_has_its_module_kv_file_and_class() -> None:
    import importlib

    from kiosk.ui.app import screen_class_name

    assert screen_class_name("thank_you") == "ThankYouScreen"
    for name in SCREENS:
        assert (UI / "screens" / f"{name}.kv").is_file(), name
        module = importlib.import_module(f"kiosk.ui.screens.{name}")
        assert hasattr(module, screen_class_name(name)), name
        rule = f"<{screen_class_name(name)}>"
        assert rule in (UI / "screens" / f"{name}.kv").read_text(encoding="utf-8"), name


def _luminance(c: tuple[float, float, float, float]) -> float:
    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(x) for x in c[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize(("high", "minimum"), [(False, 4.5), (True, 7.0)])
def test_every_text_colour_is_readable_on_its_background(high: bool, minimum: float) -> None:
    p = theme.palette(high)
    pairs = {
        "text": (p.fg, p.bg), "panel": (p.fg, p.panel), "muted": (p.muted, p.bg),
        "primary": (p.accent_fg, p.accent), "button": (p.button_fg, p.button),
        "warn": (p.warn_fg, p.warn), "danger": (p.danger_fg, p.danger), "ok": (p.ok_fg, p.ok),
    }  # fmt: skip
    low = {k: round(contrast(*v), 1) for k, v in pairs.items() if contrast(*v) < minimum}
    assert not low, f"WCAG contrast under {minimum}:1: {low}"


def test_touch_targets_are_at_least_48dp_and_large_text_is_larger() -> None:
    normal, large = theme.sizes(False), theme.sizes(True)
    assert normal.touch >= theme.MIN_TOUCH_DP and large.touch > normal.touch
    assert all(getattr(large, f) > getattr(normal, f) for f in ("text_s", "text_m", "text_xl"))
    with pytest.raises(ConfigError, match="48 dp"):
        theme.Sizes(16, 22, 30, 40, 60, touch=40, pad=16, gap=10)


def test_a_missing_cjk_font_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from kiosk import fonts

    monkeypatch.setattr(fonts, "CJK_FONT_CANDIDATES", (str(tmp_path / "none.ttc"),))
    monkeypatch.setattr(
        theme, "find_cjk_font", lambda: fonts.find_cjk_font((str(tmp_path / "none.ttc"),))
    )
    with pytest.raises(ConfigError, match="fonts-noto-cjk"):
        theme.register_font()


def test_the_receipt_qr_code_reads_back() -> None:
    from kiosk.ui.widgets.qr_image import qr_pixels

    url = "https://receipts.example.com/r/store-01/lane-01/42"
    img = qr_pixels(url, module_px=6)
    assert img.shape[2] == 3 and img.shape[0] == img.shape[1] and img.shape[0] % 6 == 0
    found, _pts, _ = cv2.QRCodeDetector().detectAndDecode(img)
    assert found == url
    with pytest.raises(ValueError, match="no text"):
        qr_pixels("")


def test_the_preview_draws_zones_and_track_boxes() -> None:
    from kiosk.ui.widgets.overlay import (
        TRACK_COLOUR,
        ZONE_COLOURS,
        PreviewFrame,
        PreviewTrack,
        draw_overlay,
    )

    frame = np.zeros((480, 640, 3), np.uint8)
    zones = {"bagging": [[0.55, 0.1], [0.95, 0.1], [0.95, 0.9], [0.55, 0.9]]}
    track = PreviewTrack(Box(100, 200, 200, 300), 7, "item")
    out = draw_overlay(PreviewFrame(frame, zones, [track]))
    assert frame.max() == 0  # the camera's frame is not drawn on
    assert tuple(out[240, round(0.55 * 640)]) == ZONE_COLOURS["bagging"]  # left edge, mid
    assert tuple(out[250, 100]) == TRACK_COLOUR and tuple(out[250, 150]) == (0, 0, 0)
    with pytest.raises(ValueError, match="uint8 BGR"):
        draw_overlay(PreviewFrame(np.zeros((10, 10), np.uint8)))


def test_receipt_rows_name_weights_and_quantities() -> None:
    from kiosk.ui.screens.receipt import receipt_rows

    catalog = load_catalog_file(EXAMPLES / "catalog.csv")
    co = Checkout(catalog, CoreSettings(camera_scans=False))
    t = 1_764_061_200_000
    co.apply(ShopperAction(t, "start", {"language": "zh"}))
    co.apply(WeightReading(t + 1000, Platform.SCAN, 1184, True))
    co.apply(ShopperAction(t + 2000, "add_item", {"plu": "4011"}))
    co.apply(WeightReading(t + 3000, Platform.SCAN, 0, True))
    co.apply(BarcodeRead(t + 4000, "6902974302088", "EAN13"))
    co.apply(ShopperAction(t + 5000, "pay", {"method": "card"}))
    events = co.apply(PaymentResult(t + 6000, True, co.amount_due(), "card", "T1"))
    receipt = next(e.data["receipt"] for e in events if e.type.value == "transaction_completed")
    rows = receipt_rows(receipt, "zh", money)
    assert rows == [("香蕉  1.184 kg", "¥8.26"), ("农夫山泉饮用天然水 550ml", "¥2.00")]
    assert receipt_rows(receipt, "en", money)[0][0] == "Bananas  1.184 kg"


def test_produce_tiles_use_a_picture_only_when_its_file_exists(tmp_path: Path) -> None:
    from kiosk.ui.screens.produce import resolve_image, tile_colour

    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "PRD-001.jpg").write_bytes(b"\xff\xd8")
    assert resolve_image("images/PRD-001.jpg", tmp_path) == tmp_path / "images" / "PRD-001.jpg"
    assert resolve_image("images/PRD-002.jpg", tmp_path) is None
    assert resolve_image(None, tmp_path) is None
    assert tile_colour("PRD-001") == tile_colour("PRD-001") != tile_colour("PRD-002")
    white = (1.0, 1.0, 1.0, 1.0)
    assert all(contrast(white, tile_colour(f"PRD-{i:03d}")) >= 4.5 for i in range(60))


def test_importing_the_app_needs_no_display_and_leaves_the_command_line_alone() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "KIVY_NO_ARGS")}
    code = "import sys; sys.argv = ['sco', '--help']; import kiosk.ui.app; print('imported')"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env,
        cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "imported"
