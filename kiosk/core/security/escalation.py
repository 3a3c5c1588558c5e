"""From a finding to what people see: a private nudge, an attendant alert or a silent flag.

A nudge is shown at once (the same input that completed the evidence emits it), and the
shopper gets ``nudge_grace_ms`` to put things right before the attendant is called. Gentle
prompts (a hand or a bag on the bagging area) wait with no deadline until the clutter is
gone, then count as an ordinary nudge. Every step is an event, so the journal shows
"nudged, then self-corrected" as well as "nudged, then escalated".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.core.alerts import AlertKind
from kiosk.core.events import EventType
from kiosk.core.security.findings import (
    ACTIONS,
    NUDGES,
    Finding,
    Policy,
    Reason,
    parse_policies,
)
from kiosk.core.settings import SecuritySettings

if TYPE_CHECKING:
    from kiosk.core.session import Checkout

NUDGE_POLICIES = frozenset({Policy.NUDGE_THEN_ALERT, Policy.NUDGE_THEN_FLAG, Policy.NUDGE})


class Escalator:
    def __init__(self, settings: SecuritySettings) -> None:
        self.settings = settings
        self.policies = parse_policies(settings.policies)
        self.open: dict[str, Finding] = {}
        self._counter = 0

    def new_id(self, co: Checkout) -> str:
        self._counter += 1
        return f"F{co.txn_no}-{self._counter}"

    def open_findings(self) -> list[Finding]:
        return list(self.open.values())

    def by_alert(self, alert_id: str) -> Finding | None:
        return next((f for f in self.open.values() if f.alert_id == alert_id), None)

    # --- reporting ----------------------------------------------------------------------

    def policy(self, finding: Finding) -> Policy:
        store = self.policies[finding.reason]
        if store is Policy.OFF or finding.policy is None:
            return store
        return finding.policy

    def report(self, co: Checkout, finding: Finding, prompt: bool = False) -> None:
        policy = self.policy(finding)
        if policy is Policy.OFF:
            return
        self.open[finding.finding_id] = finding
        if prompt:
            finding.action = "prompt"
        elif policy in NUDGE_POLICIES:
            finding.action = "nudge"
        elif policy is Policy.ALERT:
            finding.action = "alert"
        else:
            finding.action = "flag"
        co.emit(EventType.MISMATCH_DETECTED, action=finding.action, **finding.summary())
        if finding.action == "prompt":
            co.emit(
                EventType.NUDGE_SHOWN,
                nudge=NUDGES[Reason.HAND_IN_BAGGING_AREA],
                finding_id=finding.finding_id,
                reason=Reason.HAND_IN_BAGGING_AREA.value,
            )
            finding.deadline_ms = None  # until the bagging area is clear
        elif finding.action == "nudge":
            self._nudge(co, finding)
        else:
            self.escalate(co, finding)

    def _nudge(self, co: Checkout, finding: Finding) -> None:
        co.emit(
            EventType.NUDGE_SHOWN,
            nudge=NUDGES[finding.reason],
            finding_id=finding.finding_id,
            reason=finding.reason.value,
        )
        if self.policy(finding) is Policy.NUDGE:
            finding.deadline_ms = None  # a nudge-only reason never calls anyone
        else:
            finding.deadline_ms = co.now_ms + self.settings.nudge_grace_ms

    def clutter_gone(self, co: Checkout, finding: Finding) -> None:
        """A prompt's hand or bag left: now it is an ordinary, timed nudge."""
        finding.action = "nudge"
        self._nudge(co, finding)

    def escalate(self, co: Checkout, finding: Finding) -> None:
        if finding.escalated:
            return
        finding.escalated = True
        finding.deadline_ms = None
        policy = self.policy(finding)
        if policy in (Policy.ALERT, Policy.NUDGE_THEN_ALERT):
            alert = co.raise_alert(
                AlertKind(finding.reason.value),
                finding.line_id,
                _detail(finding),
                severity=finding.severity.value,
                evidence=dict(finding.evidence),
                actions=ACTIONS[finding.reason],
                finding_id=finding.finding_id,
            )
            finding.alert_id = alert.alert_id
            return
        # A flag is the end of the road: loss prevention reviews it later.
        co.emit(EventType.LP_FLAGGED, **finding.summary())
        self.open.pop(finding.finding_id, None)

    def due(self, co: Checkout) -> None:
        for finding in list(self.open.values()):
            if finding.deadline_ms is not None and co.now_ms >= finding.deadline_ms:
                self.escalate(co, finding)

    def escalate_waiting(self, co: Checkout) -> None:
        """Before payment: nothing may still be waiting for the shopper to fix it."""
        for finding in list(self.open.values()):
            if finding.escalated or finding.action not in ("nudge", "prompt"):
                continue
            if self.policy(finding) is Policy.NUDGE:
                continue
            self.escalate(co, finding)

    def resolve(self, co: Checkout, finding: Finding, resolution: str) -> None:
        if self.open.pop(finding.finding_id, None) is None:
            return
        co.emit(
            EventType.MISMATCH_RESOLVED,
            finding_id=finding.finding_id,
            reason=finding.reason.value,
            resolution=resolution,
        )


def _detail(finding: Finding) -> str:
    ev = finding.evidence
    delta, score = ev.get("delta_g"), ev.get("identity_score")
    if isinstance(delta, int):
        return f"{finding.reason.value}: {delta:+d} g on the bagging scale"
    if isinstance(score, float):
        return f"{finding.reason.value}: looks {score:.2f} like {ev.get('sku')}"
    return finding.reason.value
