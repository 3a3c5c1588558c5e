"""A scripted trainee for ``sco training run --autoplay`` and the tests: acts through the real
tablet client (``TabletClient``: signed commands on the broker), only on what its tablet
shows, like a person with the attendant app would."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from kiosk.attendant.client import TabletClient
from kiosk.attendant.floor import AlertView
from kiosk.errors import KioskError
from kiosk.training.scoring import ScenarioSpec

# Per scenario, the commands a trainee who knows the job sends: (action, extra args).
# "{line}" in args is the alert's line id; every command also names the alert.
RIGHT_HANDLING: dict[str, tuple[tuple[str, Mapping[str, Any]], ...]] = {
    "age_check": (("approve_age", {}),),
    "non_scan": (("clear_alert", {"reason": "item scanned"}),),
    "ticket_switch": (("void_item", {"line_id": "{line}", "reason": "switched barcode"}),
                      ("clear_alert", {"reason": "real item scanned"})),
    "weight_mismatch": (("clear_alert", {"reason": "extra item scanned"}),),
    "cancelled_sale": (("approve", {}),),
}  # fmt: skip


class ScriptedTrainee:
    def __init__(
        self,
        client: TabletClient,
        kiosk_id: str,
        plan: Mapping[str, tuple[tuple[str, Mapping[str, Any]], ...]] | None = None,
        *,
        think_s: float = 0.5,
    ) -> None:
        self.client = client
        self.kiosk_id = kiosk_id
        self.plan = dict(RIGHT_HANDLING if plan is None else plan)
        self.think_s = think_s  # a person reads the alert before acting
        self.sent: list[str] = []

    def handle(self, spec: ScenarioSpec, alert: Mapping[str, Any]) -> None:
        """Called when the lane raised the scenario's alert: wait for it on the tablet,
        claim it, then send the planned commands one by one."""
        view = self._wait_alert(str(alert["alert_id"]))
        self.client.claim(self.kiosk_id, view.alert_id)
        time.sleep(self.think_s)
        for action, extra in self.plan.get(spec.name, ()):
            args: dict[str, Any] = {"alert_id": view.alert_id}
            for key, value in extra.items():
                args[key] = view.line_id if value == "{line}" else value
            if action in ("void_item",):
                args.pop("alert_id")
            self.sent.append(self.client.send(self.kiosk_id, action, args))
            time.sleep(self.think_s)

    def _wait_alert(self, alert_id: str, timeout_s: float = 30.0) -> AlertView:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for view in self.client.snapshot().alerts:
                if view.kiosk_id == self.kiosk_id and view.alert_id == alert_id:
                    return view
            time.sleep(0.05)
        raise KioskError(f"alert {alert_id} never reached the trainee's tablet")
