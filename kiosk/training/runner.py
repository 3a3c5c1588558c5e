"""One training run: scenarios played one after another on a training lane, the trainee's
signed commands watched on the broker, each scenario scored (``kiosk.training.scoring``).

The trainee acts through the real tablet (the app, or ``TabletClient`` in a script); the
runner never acts for them. If a scenario is not handled in time, the trainer's hand (an
attendant command put straight into the lane, ``attendant_id`` "trainer") cancels the sale
so the next scenario starts on an idle lane.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from backend_client.client import BrokerUrl
from backend_client.contract import TopicTree
from kiosk.core.inputs import AttendantCommand
from kiosk.errors import KioskError
from kiosk.training.lanes import TrainingFloor, TrainingLane
from kiosk.training.scoring import (
    SCENARIOS,
    ScenarioResult,
    ScenarioSpec,
    TraineeCommand,
    TrainingResult,
    score_scenario,
)

logger = logging.getLogger(__name__)

TRAINER_ID = "trainer"
_SESSION_ENDS = ("transaction_completed", "transaction_cancelled", "transaction_suspended")


def parse_scenarios(text: str) -> list[str]:
    """``"age_check,non_scan"`` or ``"all"`` → scenario names; an unknown name is an error."""
    names = list(SCENARIOS) if text.strip() in ("", "all") else [
        n.strip().replace("-", "_") for n in text.split(",") if n.strip()
    ]  # fmt: skip
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise KioskError(
            f"unknown training scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    return names


class CommandWatcher:
    """Every signed command sent to one lane, as the broker carries it (MQTT 5)."""

    def __init__(self, broker: str, store: str, kiosk_id: str) -> None:
        self.url = BrokerUrl.parse(broker)
        self.topic = TopicTree(store, kiosk_id).cmd()
        self.commands: list[TraineeCommand] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"training-{kiosk_id}", protocol=mqtt.MQTTv5
        )
        self.client.on_connect = lambda c, *_a: c.subscribe(self.topic, qos=1)
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_message = self._on_message

    def start(self, timeout_s: float = 20.0) -> None:
        self.client.connect_async(self.url.host, self.url.port)
        self.client.loop_start()
        if not self._subscribed.wait(timeout_s):
            raise KioskError(f"training: could not watch commands on {self.url}")

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
            issuer = body.get("issuer") or {}
            cmd = TraineeCommand(
                time.time(), str(body["action"]), dict(body.get("args") or {}),
                str(issuer.get("id", "")) if isinstance(issuer, dict) else "",
            )  # fmt: skip
        except (ValueError, KeyError, TypeError, AttributeError):
            logger.warning("training: unreadable command on %s ignored", msg.topic)
            return
        with self._lock:
            self.commands.append(cmd)

    def between(self, start: float, end: float) -> list[TraineeCommand]:
        with self._lock:
            return [c for c in self.commands if start <= c.ts <= end]


# Called when a scenario's alert is on the tablet: (scenario, the alert event's data).
AlertHook = Callable[[ScenarioSpec, dict[str, Any]], None]


class TrainingRun:
    def __init__(
        self,
        floor: TrainingFloor,
        trainee: str,
        scenarios: Sequence[str],
        *,
        kiosk_id: str = "lane-01",
        handle_timeout_s: float = 120.0,
        on_alert: AlertHook | None = None,
        on_result: Callable[[ScenarioResult], None] | None = None,
    ) -> None:
        self.floor = floor
        self.trainee = trainee
        self.names = list(scenarios)
        self.kiosk_id = kiosk_id
        self.handle_timeout_s = handle_timeout_s
        self.on_alert = on_alert
        self.on_result = on_result
        self.watcher: CommandWatcher | None = None

    def run(self) -> TrainingResult:
        if self.floor.broker_url is None:
            raise KioskError("start the training floor first")
        if not self.floor.wait_linked():
            raise KioskError("the training lane did not connect to the broker")
        self.watcher = CommandWatcher(self.floor.broker_url, self.floor.store, self.kiosk_id)
        self.watcher.start()
        started = datetime.now(UTC).isoformat(timespec="seconds")
        results: list[ScenarioResult] = []
        try:
            for name in self.names:
                result = self._play(SCENARIOS[name], self.floor.lane(self.kiosk_id))
                results.append(result)
                if self.on_result is not None:
                    self.on_result(result)
        finally:
            self.watcher.stop()
        return TrainingResult(self.trainee, self.kiosk_id, started, results)

    def _play(self, spec: ScenarioSpec, sim: TrainingLane) -> ScenarioResult:
        assert self.watcher is not None
        mark, start = len(sim.events), time.time()
        self.floor.run_in_background(getattr(sim, f"play_{spec.name}"), spec.name)
        alert = _wait(lambda: _first(sim, mark, "alert_raised", kind=spec.alert_kind), 60.0)
        if alert is None:
            logger.error("training: the lane never raised %s", spec.alert_kind)
        else:
            if self.on_alert is not None:
                self.floor.run_in_background(lambda: self.on_alert(spec, alert), "trainee")  # type: ignore[misc]
            handled = _wait(
                lambda: (
                    _first(sim, mark, "alert_cleared", alert_id=alert["alert_id"])
                    or _session_over(sim, mark)
                ),
                self.handle_timeout_s,
            )
            if handled is not None and not _session_over(sim, mark):
                self.floor.run_in_background(getattr(sim, f"follow_{spec.name}"), "follow-up")
            _wait(lambda: _session_over(sim, mark), 30.0)
        if not _session_over(sim, mark):
            # The trainer's hand: the next scenario needs an idle lane.
            sim.put(AttendantCommand(sim.now(), "cancel_transaction", TRAINER_ID))
            _wait(lambda: _session_over(sim, mark), 10.0)
        time.sleep(0.5)  # a command the trainee sent just now still belongs to this scenario
        events = [e.to_dict() for e in sim.events[mark:]]
        commands = [c for c in self.watcher.between(start, time.time())
                    if c.attendant_id != TRAINER_ID]  # fmt: skip
        return score_scenario(spec, events, commands)


def _first(sim: TrainingLane, mark: int, event_type: str, **match: Any) -> dict[str, Any] | None:
    for event in list(sim.events[mark:]):
        if event.type.value == event_type and all(event.data.get(k) == v for k, v in match.items()):
            return dict(event.to_dict())
    return None


def _session_over(sim: TrainingLane, mark: int) -> dict[str, Any] | None:
    for kind in _SESSION_ENDS:
        if (found := _first(sim, mark, kind)) is not None:
            return found
    return None


def _wait(probe: Callable[[], Any], timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (found := probe()) is not None:
            return found
        time.sleep(0.05)
    return None
