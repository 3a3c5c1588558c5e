"""What each training scenario expects of the trainee, and the score of what they did.

Pure: the inputs are the lane's events (dicts as published, ``ts`` in seconds) and the signed
commands the trainee sent (seen on the broker), so a sheet can be recomputed from a saved run.

Scoring (per scenario, out of 100): nothing when the alert was not handled with an expected
action; otherwise 60 for the right action plus up to 40 for speed (full within the target
time, none at four times it), less 15 per wrong and 5 per unnecessary action.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

RIGHT_POINTS = 60
SPEED_POINTS = 40
WRONG_PENALTY = 15
UNNECESSARY_PENALTY = 5
# Commands that never change a sale: saying something to the shopper is always fine.
NEUTRAL_ACTIONS = frozenset({"message"})


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    title: str
    alert_kind: str  # the alert the lane raises for it
    expected: tuple[str, ...]  # actions that handle it right (the first non-neutral decides)
    guidance: str  # what the trainer's sheet says the right handling is
    target_s: float = 30.0  # cleared within this: full speed points
    # Actions that must come before the resolving one (a switched barcode: void the line).
    requires_first: tuple[str, ...] = ()
    reason_expected: bool = False  # a "clear" should say why (e.g. "item scanned")


SCENARIOS: dict[str, ScenarioSpec] = {
    s.name: s
    for s in (
        ScenarioSpec(
            "age_check", "Age check", "age_check", ("approve_age", "approve"),
            "Go to the lane, check the shopper's ID when the tablet prompts for it, then "
            "approve the age check.",
        ),
        ScenarioSpec(
            "non_scan", "Non-scan", "non_scan", ("clear_alert", "void_item"),
            "Look at the snapshot, have the item scanned and clear the alert with the reason "
            "\"item scanned\" (or void it).", reason_expected=True,
        ),
        ScenarioSpec(
            "ticket_switch", "Switched barcode", "ticket_switch", ("clear_alert", "approve"),
            "The barcode scanned belongs to a cheaper item: void that line, have the real item "
            "scanned, then clear the alert.", requires_first=("void_item",),
        ),
        ScenarioSpec(
            "weight_mismatch", "Weight mismatch", "weight_mismatch", ("clear_alert",),
            "The bag weighs more than what was scanned: check the bag, have the extra item "
            "scanned, then clear the alert. The scanned item is right: do not void it.",
            reason_expected=True,
        ),
        ScenarioSpec(
            "cancelled_sale", "Cancelled sale", "cancel_request",
            ("approve", "cancel_transaction"),
            "The shopper wants to leave without buying: approve the cancel request.",
        ),
    )
}  # fmt: skip


@dataclass(frozen=True)
class TraineeCommand:
    ts: float  # seconds, the same clock as the lane's events
    action: str
    args: Mapping[str, Any]
    attendant_id: str


@dataclass
class ScenarioResult:
    name: str
    title: str
    verdict: str  # "right" | "wrong" | "missed"
    score: int
    time_to_clear_s: float | None
    target_s: float
    actions: list[str]
    wrong_actions: list[str] = field(default_factory=list)
    unnecessary_actions: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    guidance: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _describe(cmd: TraineeCommand) -> str:
    reason = cmd.args.get("reason")
    return f"{cmd.action} ({reason})" if isinstance(reason, str) and reason else cmd.action


def speed_points(seconds: float, target_s: float) -> int:
    if seconds <= target_s:
        return SPEED_POINTS
    late = min(1.0, (seconds - target_s) / (3 * target_s))
    return round(SPEED_POINTS * (1 - late))


def score_scenario(
    spec: ScenarioSpec, events: Sequence[Mapping[str, Any]], commands: Sequence[TraineeCommand]
) -> ScenarioResult:
    """Score one scenario from its lane events and the trainee's commands in its window."""
    raised = next(
        (e for e in events if e.get("type") == "alert_raised" and e.get("kind") == spec.alert_kind),
        None,
    )
    result = ScenarioResult(
        spec.name, spec.title, "missed", 0, None, spec.target_s,
        [_describe(c) for c in commands], guidance=spec.guidance,
    )  # fmt: skip
    if raised is None:
        result.remarks.append(f"the lane never raised a {spec.alert_kind} alert")
        return result
    alert_id, raised_ts = raised.get("alert_id"), float(raised.get("ts", 0))
    cleared = next(
        (e for e in events if e.get("type") == "alert_cleared" and e.get("alert_id") == alert_id),
        None,
    )
    refused = [e for e in events if e.get("type") == "input_rejected" and e.get("command")]
    acting = [c for c in commands if c.action not in NEUTRAL_ACTIONS and c.ts >= raised_ts - 1]
    # The deciding action: the first expected one; anything before it that is not a
    # required first step is wrong; anything after the alert is gone is unnecessary.
    done_at = float(cleared["ts"]) if cleared is not None else None
    decided: TraineeCommand | None = None
    steps_done: set[str] = set()
    for cmd in acting:
        if decided is not None or (done_at is not None and cmd.ts > done_at + 0.5):
            result.unnecessary_actions.append(_describe(cmd))
        elif cmd.action in spec.expected and all(s in steps_done for s in spec.requires_first):
            decided = cmd
        elif cmd.action in spec.requires_first and cmd.action not in steps_done:
            steps_done.add(cmd.action)
        else:
            result.wrong_actions.append(_describe(cmd))
    for rejection in refused:
        result.remarks.append(f"the lane refused {rejection.get('command')}: "
                              f"{rejection.get('reason')}")  # fmt: skip
    resolution = str(cleared.get("resolution")) if cleared is not None else ""
    if cleared is None or resolution == "session ended":
        result.remarks.append("the alert was not cleared by the trainee")
    if done_at is not None and resolution != "session ended":
        result.time_to_clear_s = round(max(0.0, done_at - raised_ts), 1)
    if decided is None or cleared is None or resolution == "session ended":
        result.verdict = "wrong" if result.wrong_actions or decided is not None else "missed"
        if spec.requires_first and not steps_done and cleared is not None:
            result.remarks.append(f"{' and '.join(spec.requires_first)} was needed first")
        return result
    if spec.reason_expected and decided.action == "clear_alert" and not decided.args.get("reason"):
        result.unnecessary_actions.append("clear without a reason")
    result.verdict = "right"
    points = RIGHT_POINTS + speed_points(result.time_to_clear_s or 0.0, spec.target_s)
    points -= WRONG_PENALTY * len(result.wrong_actions)
    points -= UNNECESSARY_PENALTY * len(result.unnecessary_actions)
    result.score = max(0, points)
    return result


@dataclass
class TrainingResult:
    trainee: str
    lane: str
    started: str  # ISO time, for the trainer's records
    scenarios: list[ScenarioResult]

    @property
    def total(self) -> int:
        return sum(s.score for s in self.scenarios)

    @property
    def out_of(self) -> int:
        return 100 * len(self.scenarios)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "opensco.training_sheet/1",
            "training": True,
            "trainee": self.trainee,
            "lane": self.lane,
            "started": self.started,
            "total": self.total,
            "out_of": self.out_of,
            "right": sum(s.verdict == "right" for s in self.scenarios),
            "scenarios": [s.to_dict() for s in self.scenarios],
        }
