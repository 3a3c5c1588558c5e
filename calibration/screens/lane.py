"""The lane under calibration: which devices it has (from its configuration, or given), the
scale sessions and camera the app drives, and the record it saves at the end.

Detection runs on a worker at start (a scale that does not answer takes its protocol probe
timeouts); the start screen reads ``lines`` while it runs. A scale that cannot be found, or
a camera that gives no frame, becomes a SKIPPED result that says why, so the record shows
what was not checked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calibration.results import CheckResult, Verdict
from calibration.screens.flow import DEVICE_WORDS, TestWeights

logger = logging.getLogger(__name__)

SCALE_DEVICES = ("scan_scale", "bagging_scale")
CAMERA_FIRST_FRAME_S = 10.0


@dataclass
class LaneSetup:
    kiosk_id: str = "lane-01"
    store_id: str = "store-01"
    config: Any = None  # kiosk.config.KioskConfig, or None (defaults)
    config_path: Path | None = None
    data_dir: Path = Path("data")
    scale_ports: dict[str, str] = field(default_factory=dict)  # device -> port URL
    scale_protocols: dict[str, str] = field(default_factory=dict)  # device -> protocol name
    camera_url: str | None = None
    zones_path: Path | None = None
    weights: TestWeights = field(default_factory=TestWeights)

    @classmethod
    def from_config(
        cls,
        config_path: Path | None,
        *,
        scale_ports: dict[str, str] | None = None,
        camera_url: str | None = None,
        zones_path: Path | None = None,
    ) -> LaneSetup:
        """The lane's devices from its TOML (enabled scales, camera URL, zones file); the
        arguments override it. Raises ConfigError for a bad file."""
        from kiosk.config import load_config

        config = load_config(config_path)
        sections = config.sections
        ports: dict[str, str] = {}
        protocols: dict[str, str] = {}
        for device in SCALE_DEVICES:
            section = sections.get(device) or {}
            if section.get("enabled") and section.get("port"):
                ports[device] = str(section["port"])
                protocols[device] = str(section.get("protocol") or "")
        if scale_ports is not None:
            unknown = set(scale_ports) - set(SCALE_DEVICES)
            if unknown:
                raise ValueError(f"unknown scale {sorted(unknown)}; known: {SCALE_DEVICES}")
            ports = dict(scale_ports)
            protocols = {k: v for k, v in protocols.items() if k in ports}
        camera = sections.get("camera") or {}
        if camera_url is None and camera.get("enabled"):
            camera_url = str(camera.get("url") or "") or None
        zones_file = str((sections.get("vision") or {}).get("zones_file") or "")
        if zones_path is None and zones_file:
            zones_path = Path(zones_file)
        return cls(
            kiosk_id=config.kiosk_id, store_id=config.store_id, config=config,
            config_path=config_path, data_dir=Path(config.data_dir), scale_ports=ports,
            scale_protocols=protocols, camera_url=camera_url, zones_path=zones_path,
        )  # fmt: skip


class LaneDevices:
    """Scale sessions and the camera, opened on a worker; ``close`` lets them all go."""

    def __init__(self, setup: LaneSetup) -> None:
        self.setup = setup
        self.scales: dict[str, Any] = {}  # device -> calibration.scale_session.ScaleCalibration
        self.protocols: dict[str, str] = {}
        self.camera: Any = None  # vision.camera.Camera once it gave a frame
        self.frame: np.ndarray | None = None  # the newest camera frame
        self.frame_count = 0
        self.lines: list[str] = []  # what the start screen shows, one line per device
        self.done = threading.Event()
        self._missing: list[CheckResult] = []
        self._record: Any = None
        self.record_notes: list[str] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._detect, name="calibration-detect",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def missing(self) -> list[CheckResult]:
        return list(self._missing)

    def _say(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)

    def _skip(self, device: str, why: str) -> None:
        self._missing.append(CheckResult("lane.device", device, Verdict.SKIPPED, advice=why,
                                         ts=time.time()))  # fmt: skip

    def _detect(self) -> None:
        try:
            for device, port in self.setup.scale_ports.items():
                self._detect_scale(device, port)
            if not self.setup.scale_ports:
                self._say("Scales: none configured")
            self._open_camera()
        finally:
            self.done.set()

    def _detect_scale(self, device: str, port: str) -> None:
        words = DEVICE_WORDS.get(device, device)
        self._say(f"{words}: looking on {port} …")
        try:
            from calibration.scale_session import ScaleCalibration

            protocol_name = self.setup.scale_protocols.get(device) or None
            session = ScaleCalibration(port, platform=device, protocol=protocol_name)
            protocol = str(session.detect())
        except Exception as err:  # not found, port missing, permission: say which
            logger.warning("%s on %s: %s", device, port, err)
            self._say(f"{words}: NOT FOUND on {port} ({err})")
            self._skip(device, f"no {words} answered on {port}: {err}")
            return
        if self._closed:
            _close(session)
            return
        self.scales[device] = session
        self.protocols[device] = protocol
        self._say(f"{words}: {protocol} on {port}")

    def _open_camera(self) -> None:
        url = self.setup.camera_url
        if not url:
            self._say("Camera: none configured")
            return
        from vision.camera import Camera, redact_url

        self._say(f"Camera: opening {redact_url(url)} …")
        try:
            camera = Camera(url).start()
        except Exception as err:
            self._say(f"Camera: cannot open {redact_url(url)} ({err})")
            self._skip("camera", f"camera {redact_url(url)} cannot be opened: {err}")
            return
        frame = camera.latest(CAMERA_FIRST_FRAME_S)
        if frame is None or self._closed:
            camera.stop()
            if not self._closed:
                self._say(f"Camera: no frame from {redact_url(url)}")
                self._skip("camera", f"camera {redact_url(url)} gave no frame in "
                                     f"{CAMERA_FIRST_FRAME_S:g} s")  # fmt: skip
            return
        self.frame, self.frame_count = frame.image, 1
        self.camera = camera
        w, h = frame.size
        self._say(f"Camera: {w}x{h} from {redact_url(url)}")

    def poll(self) -> None:
        """UI tick: take the camera's newest frame, if a new one came."""
        if self.camera is not None:
            frame = self.camera.latest(0)
            if frame is not None:
                self.frame = frame.image
                self.frame_count += 1

    def camera_checks(self, zones: Any, frames_n: int = 20, timeout_s: float = 30.0
                      ) -> list[CheckResult]:  # fmt: skip
        """Worker thread: the single-frame checks on the newest frame, then the read rate of
        the test card's code over ``frames_n`` new frames (K's ``calibration.camera_checks``)."""
        from calibration import camera_checks as cc
        from calibration.test_card import CARD_GTIN

        if self.frame is None:
            raise RuntimeError("the camera has given no frame")
        results = cc.frame_checks(self.frame, zones)
        frames: list[np.ndarray] = []
        seen = self.frame_count
        deadline = time.monotonic() + timeout_s
        while len(frames) < frames_n and time.monotonic() < deadline and not self._closed:
            if self.frame_count != seen and self.frame is not None:
                seen = self.frame_count
                frames.append(self.frame)
            else:
                time.sleep(0.02)
        results.append(cc.read_rate(frames, CARD_GTIN))
        return results

    def live_reading(self, device: str) -> tuple[int, bool] | None:
        """The device's newest (grams, stable), or None (not found, not read yet, offline).
        Never blocks: the UI tick calls it."""
        session = self.scales.get(device)
        live = getattr(session, "live_reading", None)
        if live is None:
            return None
        try:
            value = live()
        except Exception:  # a port gone mid-session: the readout shows "—", the check says why
            logger.debug("live weight of %s unavailable", device, exc_info=True)
            return None
        return None if value is None else (int(value[0]), bool(value[1]))

    def live_g(self, device: str) -> int | None:
        live = self.live_reading(device)
        return None if live is None else live[0]

    def start_record(self, technician: str) -> None:
        """A new record for this session (R's ``calibration.record``); raises RecordError
        for a technician id it cannot take."""
        from calibration.record import CalibrationRecord

        self._record = CalibrationRecord.start(self.setup.config, technician)
        self.record_notes = []

    def remember(self, results: Iterable[CheckResult]) -> None:
        """Results as they come: a re-run of a check keeps the first run as ``before``."""
        if self._record is not None:
            self._record.extend(results)

    def save_record(self) -> Path:
        """Finish and save the record, write the lane's calibration summary and queue the
        ``calibration_recorded`` event in the lane's outbox; ``record_notes`` says what
        could not be done (a lane with a sale open refuses the outbox)."""
        from calibration.record import save_record, write_summary

        if self._record is None:
            raise RuntimeError("no session to record: start the calibration first")
        rec = self._record
        rec.finish()
        data_dir = self.setup.data_dir
        path = save_record(rec, data_dir)
        self.record_notes = [f"Record saved: {path}"]
        write_summary(rec, data_dir)
        try:
            from calibration.publish import queue_record

            seq = queue_record(rec, data_dir)
            save_record(rec, data_dir)  # again, with its outbox seq
            self.record_notes.append(f"Queued for the store as event {seq}")
        except Exception as err:  # lane busy, no journal yet: saved locally all the same
            logger.warning("record %s not queued: %s", rec.record_id, err)
            self.record_notes.append(f"Not queued for the store: {err}")
        return path

    def write_report(self) -> Path | None:
        if self._record is None:
            return None
        from calibration import report

        out = self.setup.data_dir / "calibration" / f"{self._record.record_id}.html"
        out.parent.mkdir(parents=True, exist_ok=True)
        writer = getattr(report, "write_report", None)
        if writer is not None:
            return Path(writer(self._record, out))
        from kiosk.files import write_atomically

        write_atomically(out, report.render_html(self._record))
        return out

    def close(self) -> None:
        self._closed = True
        for session in list(self.scales.values()):
            _close(session)
        self.scales = {}
        if self.camera is not None:
            self.camera.stop(timeout=2.0)
            self.camera = None


def _close(session: Any) -> None:
    for name in ("close", "stop"):
        fn = getattr(session, name, None)
        if fn is not None:
            try:
                fn()
            except Exception:
                logger.exception("scale session did not close cleanly")
            return
