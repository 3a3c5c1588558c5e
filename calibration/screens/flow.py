"""The guided session's steps and the worker thread that runs a check without freezing the
screen. Kivy-free except for ``Clock`` (thread safe), so the order of steps and the prompt
hand-shake can be reasoned about apart from the widgets.

A scale check blocks: it waits for settled readings and, between them, for the technician
to place a weight. The check runs on a worker; its ``prompt(text)`` callback shows the text
on the screen and blocks the worker until the technician taps "Done" (``confirm``) or leaves
the step (``cancel``, which ends the check with :class:`StepCancelled`).
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from calibration.results import CheckResult

logger = logging.getLogger(__name__)

Prompt = Callable[[str], None]
Action = Callable[[Prompt], "CheckResult | Sequence[CheckResult]"]

DEVICE_WORDS = {
    "bagging_scale": "bagging scale",
    "scan_scale": "scan scale",
    "camera": "camera",
}


class StepCancelled(Exception):
    """The technician left the step while its check waited for them."""


@dataclass(frozen=True)
class TestWeights:
    """The technician's weight set, in grams (a common 1/2/5 kg + 500 g kit by default)."""

    span_g: int = 2000
    linearity_g: tuple[int, ...] = (500, 1000, 2000, 5000)
    repeat_g: int = 2000
    repeat_n: int = 5
    corner_g: int = 1000
    corners: tuple[str, ...] = ("front-left", "front-right", "back-left", "back-right")
    settle_g: int = 2000


@dataclass(frozen=True)
class Step:
    key: str  # unique in a session, e.g. "bagging_scale.span"
    screen: str  # "scale", "zones" or "checks"
    device: str
    title: str
    instruction: str
    action: Action | None = None
    plot: bool = False  # the result's series are worth a plot (linearity)
    meta: dict[str, Any] = field(default_factory=dict)


def kg(grams: int) -> str:
    return f"{grams / 1000:g} kg" if grams >= 1000 else f"{grams} g"


def call_check(method: Callable[..., Any], *args: Any, prompt: Prompt) -> Any:
    """Call a session method, handing it ``prompt`` when it takes one."""
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        params = {}
    if "prompt" in params:
        return method(*args, prompt=prompt)
    return method(*args)


def scale_steps(device: str, session: Any, w: TestWeights) -> list[Step]:
    """The checks of one scale, in the order a technician works: empty pan first, then the
    test weights from small to large, corners, and the settle time last."""
    dev = DEVICE_WORDS.get(device, device)
    steps = [
        Step(f"{device}.zero", "scale", device, "Zero",
             f"Empty the {dev} and keep it clear, then tap Start.",
             lambda p: call_check(session.zero_check, prompt=p)),
        Step(f"{device}.span", "scale", device, "Span",
             f"Place the {kg(w.span_g)} test weight on the {dev}.",
             lambda p: call_check(session.span_check, w.span_g, prompt=p),
             meta={"load_g": w.span_g}),
        Step(f"{device}.linearity", "scale", device, "Linearity",
             f"Have the {', '.join(kg(g) for g in w.linearity_g)} weights ready for the {dev};"
             " place each one when asked.",
             lambda p: call_check(session.linearity_check, list(w.linearity_g), prompt=p),
             plot=True),
        Step(f"{device}.repeatability", "scale", device, "Repeatability",
             f"Place and lift the {kg(w.repeat_g)} weight {w.repeat_n} times, when asked.",
             lambda p: call_check(session.repeatability_check, w.repeat_g, w.repeat_n,
                                  prompt=p)),
        Step(f"{device}.eccentricity", "scale", device, "Eccentric load",
             f"Place the {kg(w.corner_g)} weight on each corner of the {dev}, when asked.",
             lambda p: call_check(session.eccentricity_check, w.corner_g, w.corners, prompt=p)),
        Step(f"{device}.settle", "scale", device, "Settle time and noise",
             f"Place the {kg(w.settle_g)} weight on the {dev} when asked; the tool times how"
             " long the reading takes to settle and measures the noise.",
             lambda p: call_check(session.settle_check, w.settle_g, prompt=p)),
    ]  # fmt: skip
    return steps


def camera_steps(checks: Action) -> list[Step]:
    return [
        Step("camera.zones", "zones", "camera", "Zones",
             "Drag a corner of a zone to move it; Save writes the zones file."),
        Step("camera.checks", "checks", "camera", "Camera checks",
             "Lay the printed test card flat in the scan zone (and the four corner markers on"
             " the scan zone's corners for the alignment check), then tap Run checks.",
             checks),
    ]  # fmt: skip


def as_results(value: Any) -> list[CheckResult]:
    if isinstance(value, CheckResult):
        return [value]
    return [r for r in (value or []) if isinstance(r, CheckResult)]


class StepRunner:
    """Runs one step's action at a time on a daemon thread. ``on_prompt(text)`` and
    ``on_done(step, results, error)`` are called on the UI thread through ``schedule``
    (Kivy's ``Clock.schedule_once`` in the app: thread safe)."""

    def __init__(
        self,
        on_prompt: Callable[[str], None],
        on_done: Callable[[Step, list[CheckResult], str], None],
        schedule: Callable[[Callable[[], None]], None],
    ) -> None:
        self._on_prompt, self._on_done, self._schedule = on_prompt, on_done, schedule
        self._ack = threading.Event()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.waiting = False  # a prompt waits for the technician
        self.prompt_text = ""

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, step: Step) -> bool:
        if self.busy or step.action is None:
            return False
        self._ack.clear()
        self._cancel.clear()
        self._thread = threading.Thread(
            target=self._run, args=(step,), name=f"calibration {step.key}", daemon=True
        )
        self._thread.start()
        return True

    def prompt(self, text: str) -> None:
        """The check's callback (worker thread): show ``text``, wait for Done."""
        if self._cancel.is_set():
            raise StepCancelled(text)
        self._ack.clear()
        self.prompt_text, self.waiting = text, True
        self._schedule(lambda: self._on_prompt(text))
        while not self._ack.wait(0.1):
            if self._cancel.is_set():
                self.waiting = False
                raise StepCancelled(text)
        self.waiting = False

    def confirm(self) -> None:
        self._ack.set()

    def cancel(self, join_s: float = 0.0) -> None:
        self._cancel.set()
        if join_s and self._thread is not None:
            self._thread.join(join_s)

    def _run(self, step: Step) -> None:
        results: list[CheckResult] = []
        error = ""
        try:
            assert step.action is not None
            results = as_results(step.action(self.prompt))
            if not results:
                error = "the check returned no result"
        except StepCancelled:
            error = "cancelled"
        except Exception as err:  # a device error must reach the screen, not kill the app
            logger.exception("step %s failed", step.key)
            error = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        self.waiting = False
        self._schedule(lambda: self._on_done(step, results, error))
