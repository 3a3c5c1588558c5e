"""A scale calibration session: the real adapter on the lane's port, the technician's hands.

``ScaleCalibration`` finds the protocol (or takes the configured one), opens the port
through ``hardware.scale.serial_adapter.SerialScale`` exactly as the lane does, and runs
each check: it asks the technician to place or remove a weight through ``prompt`` (the CLI
waits for Enter, the app shows a dialog, a test places it on the simulator), reads settled
weights and hands them to the pure judges in ``calibration.scale_checks``.

A scale that does not answer or never settles gives a FAIL result that says so, never an
exception out of a check; bad arguments (a load over capacity) raise ``ValueError``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType

from calibration import scale_checks as checks
from calibration.results import CheckResult, Verdict
from calibration.scale_checks import NoiseFigures, Tolerance
from hardware.cli import probe_order
from hardware.scale.base import get_protocol
from hardware.scale.serial_adapter import ScaleState, SerialScale
from kiosk.core.inputs import Platform, WeightReading, WeightStatus

CENTER = "center"
CORNERS = ("front-left", "front-right", "back-left", "back-right")
PLATFORMS = ("bagging_scale", "scan_scale")


class Instruction(str):
    """What the technician must do, as text to show, with the request machine-readable:
    ``action`` is ``place`` (``load_g`` at ``position``), ``remove`` or ``watch`` (press
    Enter first, then place: the settle time is measured from the moment it lands)."""

    action: str
    load_g: int
    position: str

    def __new__(
        cls, text: str, action: str, load_g: int = 0, position: str = CENTER
    ) -> Instruction:
        self = super().__new__(cls, text)
        self.action, self.load_g, self.position = action, load_g, position
        return self


Prompt = Callable[[str], None]


def _already_done(instruction: str) -> None:
    """Default prompt: the load is assumed to be in place already."""


class ScaleCalibrationError(RuntimeError):
    """The scale did not answer, or its weight never settled."""


class ScaleCalibration:
    def __init__(
        self,
        port_url: str,
        platform: str = "bagging_scale",
        protocol: str | None = None,
        *,
        division_g: float | None = None,
        capacity_g: int | None = None,
        in_service: bool = False,
        prompt: Prompt = _already_done,
        poll_hz: float = 20.0,
        probe_timeout_s: float = 1.0,
        settle_timeout_s: float = 15.0,
        confirm_frames: int = 3,
    ) -> None:
        if platform not in PLATFORMS:
            raise ValueError(f"platform must be one of {', '.join(PLATFORMS)}, not {platform!r}")
        if protocol is not None:
            get_protocol(protocol)  # a clear ConfigError for an unknown name, before any I/O
        base = Tolerance.for_platform(platform, division_g, capacity_g)
        self.tolerance = Tolerance(base.division_g, base.capacity_g, in_service=in_service)
        self.port_url = port_url
        self.platform = platform
        self.protocol = protocol
        self.prompt = prompt
        self.poll_hz = poll_hz
        self.probe_timeout_s = probe_timeout_s
        self.settle_timeout_s = settle_timeout_s
        self.confirm_frames = max(1, confirm_frames)
        self.tried: list[str] = []
        self._scale: SerialScale | None = None
        self._detected: str | None = None
        self._adapter_lock = threading.Lock()  # the UI thread and the check worker both start it
        self._live: WeightReading | None = None  # the adapter's newest reading, any thread

    # --- life cycle ------------------------------------------------------------------

    def __enter__(self) -> ScaleCalibration:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._adapter_lock:
            scale, self._scale = self._scale, None
            self._live = None
        if scale is not None:
            scale.stop()

    def detect(self) -> str:
        """The protocol the scale speaks: the configured one if it answers, else the first
        that answers (polled protocols first, as ``sco scale probe`` does). Raises when
        none answers."""
        if self._detected is not None:
            return self._detected
        get_protocol("toledo8217")  # registers the built-in protocols
        self.tried = []
        for name in [self.protocol] if self.protocol else probe_order():
            self.tried.append(name)
            probe = SerialScale(
                self.port_url, get_protocol(name), poll_hz=10, zero_before_trust=False
            )
            if probe.read_once(timeout_s=self.probe_timeout_s).reading is not None:
                self._detected = name
                return name
        raise ScaleCalibrationError(
            f"no scale answered on {self.port_url} (tried {', '.join(self.tried)})"
        )

    def detect_check(self) -> CheckResult:
        try:
            name: str | None = self.detect()
        except ScaleCalibrationError:
            name = None
        return checks.detect_result(self.platform, name, self.tried, time.time())

    def _adapter(self) -> SerialScale:
        protocol = get_protocol(self.detect())  # outside the lock: it may take a while
        with self._adapter_lock:
            if self._scale is None:
                self._scale = SerialScale(
                    self.port_url,
                    protocol,
                    Platform(self.platform.removesuffix("_scale")),
                    poll_hz=self.poll_hz,
                    on_reading=self._on_reading,
                    zero_before_trust=False,  # the technician checks zero themselves
                ).start()
            return self._scale

    def _on_reading(self, reading: WeightReading) -> None:
        self._live = reading  # one reference swap: readers on other threads see old or new

    # --- the live readout (any thread, never blocks) -----------------------------------

    def live_reading(self) -> tuple[int, bool] | None:
        """The newest indicated weight and its stable flag, or None: before detection,
        before the first frame, or while the scale is offline. Starts the adapter's reader
        thread once the protocol is known (a thread start, not a wait), so the readout
        runs between checks too."""
        if self._detected is None:
            return None  # detection probes the port for seconds: never from the UI thread
        if self._scale is None:
            self._adapter()
        live = self._live
        if live is None or live.status is WeightStatus.OFFLINE:
            return None
        return live.weight_g, live.stable

    def live_g(self) -> int | None:
        """The newest indicated weight in grams (see ``live_reading``)."""
        live = self.live_reading()
        return None if live is None else live[0]

    # --- reading ---------------------------------------------------------------------

    def _next(self, deadline: float) -> tuple[float, int | None, bool]:
        """The next frame: (time, weight or None, stable). Raises past the deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise ScaleCalibrationError("timed out")
        result = self._adapter().read_once(timeout_s=min(left, 1.0))
        now = time.monotonic()
        if result.reading is None or result.state is ScaleState.UNAVAILABLE:
            if now >= deadline:
                raise ScaleCalibrationError(result.message or f"no answer on {self.port_url}")
            return now, None, False
        return now, result.reading.weight_g, result.reading.stable

    def read_settled(self, timeout_s: float | None = None) -> int:
        """One settled weight in grams: the scale says stable for ``confirm_frames`` frames
        in a row. The first two frames are skipped: they may predate the last prompt."""
        timeout = self.settle_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        skip, run = 2, 0
        last: int | None = None
        try:
            while True:
                _, weight, stable = self._next(deadline)
                if skip:
                    skip -= 1
                    continue
                run = run + 1 if stable and weight is not None else 0
                last = weight
                if run >= self.confirm_frames and weight is not None:
                    return weight
        except ScaleCalibrationError as err:
            seen = "" if last is None else f" (last reading {last} g)"
            raise ScaleCalibrationError(
                f"no stable weight on {self.port_url} within {timeout:.0f} s{seen}: {err}"
            ) from None

    def measure_noise(self, seconds: float = 2.0) -> NoiseFigures:
        """Stable readings of the load now on the pan for ``seconds``: their spread."""
        samples: list[int] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline or len(samples) < 2:
            _, weight, stable = self._next(deadline + self.settle_timeout_s)
            if stable and weight is not None:
                samples.append(weight)
        return NoiseFigures.from_readings(samples)

    def _ask(self, prompt: Prompt | None, instruction: Instruction) -> None:
        (prompt or self.prompt)(instruction)

    def _place(self, prompt: Prompt | None, load_g: int, position: str = CENTER) -> int:
        where = "in the centre of" if position == CENTER else f"on the {position} corner of"
        self._ask(
            prompt, Instruction(f"Place {load_g} g {where} the platter.", "place", load_g, position)
        )
        return self.read_settled()

    def _empty(self, prompt: Prompt | None) -> int:
        self._ask(prompt, Instruction("Empty the platter.", "remove"))
        return self.read_settled()

    def _failed(self, check: str, err: Exception) -> CheckResult:
        return CheckResult(check, self.platform, Verdict.FAIL, advice=str(err), ts=time.time())

    # --- checks ----------------------------------------------------------------------

    def zero_check(self, prompt: Prompt | None = None, readings: int = 3) -> CheckResult:
        try:
            values = [self._empty(prompt)]
            values += [self.read_settled() for _ in range(readings - 1)]
        except ScaleCalibrationError as err:
            return self._failed("scale.zero", err)
        return checks.zero_check(self.platform, values, self.tolerance, time.time())

    def span_check(self, test_g: int, prompt: Prompt | None = None) -> CheckResult:
        self._check_load(test_g)
        try:
            indicated = self._place(prompt, test_g)
            self._empty(prompt)
        except ScaleCalibrationError as err:
            return self._failed("scale.span", err)
        return checks.span_check(self.platform, test_g, indicated, self.tolerance, time.time())

    def linearity_check(self, loads_g: Sequence[int], prompt: Prompt | None = None) -> CheckResult:
        if not 2 <= len(loads_g) <= 10:
            raise ValueError("linearity needs 2 to 10 loads (3-5 is usual)")
        for load in loads_g:
            self._check_load(load)
        try:
            points = [(load, self._place(prompt, load)) for load in sorted(loads_g)]
            self._empty(prompt)
        except ScaleCalibrationError as err:
            return self._failed("scale.linearity", err)
        return checks.linearity_check(self.platform, points, self.tolerance, time.time())

    def repeatability_check(
        self, load_g: int, n: int = 3, prompt: Prompt | None = None
    ) -> CheckResult:
        self._check_load(load_g)
        if n < 2:
            raise ValueError("repeatability needs at least 2 placements")
        readings: list[int] = []
        try:
            for _ in range(n):
                readings.append(self._place(prompt, load_g))
                self._empty(prompt)  # lift it off each time: that is what is repeated
        except ScaleCalibrationError as err:
            return self._failed("scale.repeatability", err)
        return checks.repeatability_check(
            self.platform, load_g, readings, self.tolerance, time.time()
        )

    def eccentricity_check(
        self,
        load_g: int | None = None,
        corners: Iterable[str] = CORNERS,
        prompt: Prompt | None = None,
    ) -> CheckResult:
        """The load on each corner; R 76 uses about a third of capacity (the default)."""
        load = load_g or self.eccentricity_load_g()
        self._check_load(load)
        readings: dict[str, int] = {}
        try:
            for corner in corners:
                readings[corner] = self._place(prompt, load, corner)
            self._empty(prompt)
        except ScaleCalibrationError as err:
            return self._failed("scale.eccentricity", err)
        return checks.eccentricity_check(self.platform, load, readings, self.tolerance, time.time())

    def eccentricity_load_g(self) -> int:
        """A third of capacity, rounded down to a common test weight size (500 g steps)."""
        return max(500, self.tolerance.capacity_g // 3 // 500 * 500)

    def settle_check(
        self, load_g: int, prompt: Prompt | None = None, noise_s: float = 2.0, hold_s: float = 0.5
    ) -> CheckResult:
        """Time from the load landing to a steady stable weight, then the noise on it."""
        self._check_load(load_g)
        try:
            empty = self._empty(prompt)
            self._ask(prompt, Instruction(
                f"Press Enter, then place {load_g} g in the centre of the platter.",
                "watch", load_g,
            ))  # fmt: skip
            settle_ms = self._time_settle(empty, load_g, hold_s)
            noise = self.measure_noise(noise_s) if settle_ms is not None else None
            self._empty(prompt)
        except ScaleCalibrationError as err:
            return self._failed("scale.settle", err)
        if noise is None:
            noise = NoiseFigures(0, 0.0, 0.0, 0)
        return checks.settle_check(
            self.platform, load_g, settle_ms, noise, self.tolerance, self.poll_hz, time.time()
        )

    def _time_settle(self, empty_g: int, load_g: int, hold_s: float = 0.5) -> float | None:
        """Milliseconds from the first frame that shows the load arriving to the first of
        the stable frames that then last ``hold_s``; None if it never settles."""
        deadline = time.monotonic() + self.settle_timeout_s
        landed = stable_since = None
        threshold = max(2 * self.tolerance.division_g, load_g / 10)
        try:
            while True:
                now, weight, stable = self._next(deadline)
                if landed is None:
                    if weight is not None and abs(weight - empty_g) > threshold:
                        landed = now
                    continue
                if not (stable and weight is not None):
                    stable_since = None
                    continue
                stable_since = stable_since or now
                if now - stable_since >= hold_s:
                    return max(0.0, (stable_since - landed) * 1000)
        except ScaleCalibrationError:
            return None

    def run_all(
        self,
        test_g: int,
        loads_g: Sequence[int],
        prompt: Prompt | None = None,
        repeat_n: int = 3,
        eccentric_g: int | None = None,
        noise_s: float = 2.0,
    ) -> list[CheckResult]:
        """Every check in the order a technician works: detect, zero, span, linearity,
        repeatability, eccentricity, settle. Without a protocol, the rest is SKIPPED."""
        found = self.detect_check()
        results = [found]
        steps: list[tuple[str, Callable[[], CheckResult]]] = [
            ("scale.zero", lambda: self.zero_check(prompt)),
            ("scale.span", lambda: self.span_check(test_g, prompt)),
            ("scale.linearity", lambda: self.linearity_check(loads_g, prompt)),
            ("scale.repeatability", lambda: self.repeatability_check(test_g, repeat_n, prompt)),
            ("scale.eccentricity", lambda: self.eccentricity_check(eccentric_g, prompt=prompt)),
            ("scale.settle", lambda: self.settle_check(test_g, prompt, noise_s)),
        ]
        for check, step in steps:
            if found.verdict is Verdict.FAIL:
                results.append(CheckResult(check, self.platform, Verdict.SKIPPED,
                                           advice="no scale answered", ts=time.time()))  # fmt: skip
            else:
                results.append(step())
        return results

    def _check_load(self, load_g: int) -> None:
        if not 0 < load_g <= self.tolerance.capacity_g:
            raise ValueError(
                f"a test load must lie in 1..{self.tolerance.capacity_g} g (capacity), not {load_g}"
            )
