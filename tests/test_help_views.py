"""The troubleshooting KB where people are: the tablet's Help screen (top bar) and the
calibration app's Help beside a failing check, in real Kivy windows, in English and Chinese.
``OPENSCO_HELP_SHOTS=DIR`` keeps the screenshots."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from kiosk.help import lookup
from tests.test_attendant_app import Tablet, _need_display, floor  # noqa: F401 (fixture)
from tests.test_calibration_app import TECHNICIAN, Lane


def keep(path: Path) -> None:
    folder = os.environ.get("OPENSCO_HELP_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)


def test_the_tablets_help_screen_shows_kb_entries_in_both_languages(floor, tmp_path: Path) -> None:  # noqa: F811
    _need_display()
    tablet = Tablet(floor, tmp_path)
    try:
        tablet.sign_in()
        tablet.tap(tablet.app.shell.ids.nav_help)
        assert tablet.app.sm.current == "help"
        screen = tablet.app.screen("help")
        titles = [b.text for b in reversed(screen.ids.entries.children)]
        assert "Camera" in titles and "Payment terminal" in titles and len(titles) >= 20
        camera = next(b for b in screen.ids.entries.children if b.text == "Camera")
        tablet.tap(camera)
        assert screen.selected == "camera"
        assert "sco camera probe URL" in screen.ids.body.text
        keep(tablet.shot("help-kb-en"))
        tablet.tap(screen.ids.lang_zh)
        assert "摄像头" in screen.ids.body.text and "谁来处理" in screen.ids.body.text
        assert any(b.text == "支付终端" for b in screen.ids.entries.children)
        keep(tablet.shot("help-kb-zh"))
    finally:
        tablet.close()


def test_calibration_help_opens_the_entry_for_a_failing_camera_check(tmp_path: Path) -> None:
    from calibration.results import Verdict

    _need_display()
    lane = Lane(tmp_path / "lane", scale=False, blur_sigma=3.0)
    try:
        app, drv = lane.app, lane.driver
        drv.start(TECHNICIAN)
        drv.tap(app.screen("zones").ids.next)
        results = {r.check: r for r in drv.checks_step()}
        assert results["camera.sharpness"].verdict is Verdict.FAIL
        cards = app.screen("checks").ids.results.children
        failing = next(c for c in cards if c.verdict == "fail")
        passing = [c for c in cards if c.verdict == "pass"]
        assert failing.help_id == "camera" and all(not c.help_id for c in passing)
        failing.parent.parent.scroll_to(failing, animate=False)  # the card may be below the fold
        app.pump(frames=3)
        drv.tap(failing.ids.help)
        from kivy.core.window import Window

        popup = failing.popup
        assert popup in Window.children, "the help popup is not on the screen"
        entry = lookup("camera", "en")
        assert entry is not None and entry.title in popup.body.text
        app.pump(frames=3)
        keep(app.screenshot(tmp_path / "calibration-help-en.png"))
        popup.set_lang("zh")
        assert "摄像头" in popup.body.text
        app.pump(frames=3)
        keep(app.screenshot(tmp_path / "calibration-help-zh.png"))
        drv.tap(popup.close_button)
        app.pump(frames=3)
        assert popup not in Window.children
    finally:
        lane.close()
