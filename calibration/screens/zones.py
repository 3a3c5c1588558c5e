"""The camera's live view with the zones over it; drag a corner to move it, Save writes the
normalised zones file ``vision.zones`` reads (checked by loading it back)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from calibration.results import CheckResult, Verdict
from calibration.screens.base import CalScreen
from calibration.screens.zone_doc import ZoneDoc
from vision.zones import ZoneError, ZoneMap

if TYPE_CHECKING:
    from calibration.app import CalibrationApp
    from calibration.screens.flow import Step


class ZonesScreen(CalScreen):
    doc: ZoneDoc | None = None

    def enter(self, step: Step | None, app: CalibrationApp) -> None:
        path = app.setup.zones_path
        self.ids.path.text = f"Zones file: {path}" if path else "Zones file: not configured"
        if self.doc is None:
            try:
                self.doc = ZoneDoc.load(path)
            except ZoneError as err:  # keep the bad file; start from the default layout
                self.doc = ZoneDoc.load(None)
                self.doc.path = path
                self.say(f"{err} — showing the default layout; Save replaces the file.")
            else:
                self.say("" if path and path.exists() else "No zones yet: the default layout "
                         "is shown; move its corners and Save.")  # fmt: skip
        self.ids.editor.doc = self.doc
        self.ids.editor.redraw()
        self.tick(app)

    def zone_map(self, path: Path | None) -> ZoneMap | None:
        """The zones the camera checks judge against: the saved file, else what is on
        screen (not yet saved), else None."""
        if path is not None and path.exists():
            try:
                return ZoneMap.load(path)
            except ZoneError:
                pass
        return self.doc.zone_map() if self.doc is not None else None

    def say(self, text: str) -> None:
        self.ids.notice.text = text

    def save(self, app: CalibrationApp) -> bool:
        step = app.step
        if self.doc is None or step is None:
            return False
        try:
            path = self.doc.save(app.setup.zones_path)
        except (ZoneError, OSError) as err:
            self.say(f"Not saved: {err}")
            return False
        self.say(f"Saved {len(self.doc.zones)} zones to {path}")
        figures = {"zones": sorted(self.doc.zones), "vertices_moved": int(self.ids.editor.moves),
                   "file": str(path)}  # fmt: skip
        app.add_results(step, [CheckResult("camera.zones", "camera", Verdict.PASS,
                                           figures=figures, ts=time.time())])  # fmt: skip
        return True

    def reload(self, app: CalibrationApp) -> None:
        self.doc = None
        self.enter(app.step, app)

    def show_prompt(self, text: str) -> None:
        self.say(text)

    def show_results(self, results: list[CheckResult], error: str) -> None:
        del results, error

    def tick(self, app: CalibrationApp) -> None:
        editor = self.ids.editor
        if app.devices.frame is not None and editor.frames_shown < app.devices.frame_count:
            editor.show_frame(app.devices.frame)
            editor.frames_shown = app.devices.frame_count
        if editor.notice:
            self.say(editor.notice)
        dirty = self.doc is not None and self.doc.dirty
        self.ids.save.text = "Save zones" + (" *" if dirty else "")
