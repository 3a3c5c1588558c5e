"""Replay labelled scenarios through the pure core and score what it said.

Only the public events count (``alert_raised``, ``lp_flagged``, ``mismatch_detected``,
``mismatch_resolved``), exactly as ``sco replay`` prints them, so a hidden suite scored by
replaying its files gives the same figures as this module.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kiosk.core.catalog import Catalog
from kiosk.core.inputs import AttendantCommand, input_from_dict
from kiosk.core.session import Checkout
from kiosk.core.settings import CoreSettings
from kiosk.scenarios.truth import (
    FRAUD_LABELS,
    SECURITY_REASONS,
    Scenario,
    apply_overrides,
    family,
)

# Classes that the bagging scale mostly has to catch (the x axis of the tolerance plot).
WEIGHT_CLASSES: tuple[str, ...] = ("weight_fraud", "item_removed", "stacked", "bag_abuse")
# none: inputs as recorded (what ``sco replay`` does); clear: an attendant clears each
# security alert the moment it is raised.
ATTENDANT_MODES: tuple[str, ...] = ("none", "clear")
# Called per applied input: (record, events as dicts, seconds the core took).
Timer = Callable[[dict[str, Any], list[dict[str, Any]], float], None]


@dataclass
class Outcome:
    """What the core did in one scenario, and how that scores against the truth."""

    name: str
    label: str
    honest: bool
    tags: list[str]
    interventions: list[str] = field(default_factory=list)  # security alert reasons
    flags: list[str] = field(default_factory=list)  # silent loss-prevention flags
    findings: list[str] = field(default_factory=list)  # "reason:action[->resolution]"
    nudges: int = 0  # security nudges (mismatch_detected action nudge)
    self_corrected: int = 0  # of those, resolved self_corrected
    caught: bool = False  # by an alert or a flag of its family
    caught_by_alert: bool = False
    completed: bool = False  # a transaction_completed happened
    rejected: int = 0  # input_rejected events
    error: str = ""  # the core raised while replaying (a bug: reported, never hidden)

    @property
    def missed(self) -> bool:
        return not self.honest and not self.caught

    def why(self) -> str:
        """A one-line account of what the core said, for the misses/false-alert lists."""
        parts = [f"core error: {self.error}"] if self.error else []
        if self.interventions:
            parts.append("alerts " + ",".join(self.interventions))
        if self.flags:
            parts.append("flags " + ",".join(self.flags))
        if self.findings:
            parts.append("findings " + ",".join(self.findings))
        return "; ".join(parts) or "no security finding"


def _reason(event: Mapping[str, Any]) -> str:
    return str(event.get("reason") or event.get("kind") or "")


def classify(
    truth: Mapping[str, Any], events: Iterable[Mapping[str, Any]], name: str = ""
) -> Outcome:
    """Score one scenario's events against its truth (pure: no replay here)."""
    label = str(truth["label"])
    out = Outcome(
        name=name or str(truth.get("name", "")),
        label=label,
        honest=bool(truth.get("honest", label == "honest")),
        tags=list(truth.get("tags", [])),
    )
    catches = family(truth)
    nudged: dict[str, str] = {}  # finding id -> reason
    resolutions: dict[str, str] = {}
    findings: list[tuple[str, str, str]] = []
    for ev in events:
        kind = ev.get("type")
        if kind == "alert_raised" and _reason(ev) in SECURITY_REASONS:
            out.interventions.append(_reason(ev))
            out.caught_by_alert |= _reason(ev) in catches
        elif kind == "lp_flagged" and _reason(ev) in SECURITY_REASONS:
            out.flags.append(_reason(ev))
        elif kind == "mismatch_detected":
            fid = str(ev.get("finding_id", ""))
            findings.append((fid, _reason(ev), str(ev.get("action", ""))))
            if ev.get("action") == "nudge":
                nudged[fid] = _reason(ev)
        elif kind == "mismatch_resolved":
            resolutions[str(ev.get("finding_id", ""))] = str(ev.get("resolution", ""))
        elif kind == "transaction_completed":
            out.completed = True
        elif kind == "input_rejected":
            out.rejected += 1
    out.caught = out.caught_by_alert or any(r in catches for r in out.flags)
    out.nudges = len(nudged)
    out.self_corrected = sum(1 for f in nudged if resolutions.get(f) == "self_corrected")
    for fid, reason, action in findings:
        res = resolutions.get(fid)
        out.findings.append(f"{reason}:{action}" + (f"->{res}" if res else ""))
    return out


def scenario_settings(
    scenario: Scenario, base: CoreSettings, extra: Mapping[str, Any] | None = None
) -> CoreSettings:
    """The lane's settings: base (config or defaults), the truth's overrides, then extra."""
    settings = apply_overrides(base, scenario.truth.get("settings", {}), scenario.name)
    return apply_overrides(settings, extra, "extra settings") if extra else settings


def replay_scenario(
    scenario: Scenario,
    catalog: Catalog,
    settings: CoreSettings,
    timer: Timer | None = None,
    attendant: str = "none",
) -> list[dict[str, Any]]:
    """Apply every record to a fresh pure core; returns the events as ``sco replay``
    writes them. ``attendant="clear"`` models an attendant who clears each security alert
    at once, so the scripted shopper's later inputs are not rejected by a stopped lane
    (a script cannot wait for the attendant the way a shopper would)."""
    if attendant not in ATTENDANT_MODES:
        raise ValueError(f"attendant must be one of {', '.join(ATTENDANT_MODES)}")
    core = Checkout(catalog, settings)
    events: list[dict[str, Any]] = []
    for record in scenario.records:
        item = input_from_dict(record)
        t0 = time.perf_counter()
        produced = core.apply(item)
        took = time.perf_counter() - t0
        dicts = [e.to_dict() for e in produced]
        if timer is not None:
            timer(record, dicts, took)
        events.extend(dicts)
        if attendant == "clear":
            for ev in dicts:
                if ev["type"] == "alert_raised" and _reason(ev) in SECURITY_REASONS:
                    clear = AttendantCommand(
                        core.now_ms, "clear", "eval-attendant", {"alert_id": ev["alert_id"]}
                    )
                    events.extend(e.to_dict() for e in core.apply(clear))
    return events


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def _per_100(num: float, den: float) -> float | None:
    return round(100.0 * num / den, 3) if den else None


def kpis(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The suite's figures; a recall is None when the suite has no scenario of that label."""
    honest = [o for o in outcomes if o.honest]
    frauds = [o for o in outcomes if not o.honest]
    out: dict[str, Any] = {"scenarios": len(outcomes), "honest": len(honest), "frauds": len(frauds)}
    for label in FRAUD_LABELS:
        group = [o for o in frauds if o.label == label]
        out[f"{label}_recall"] = _ratio(sum(o.caught for o in group), len(group))
    for label in FRAUD_LABELS:
        group = [o for o in frauds if o.label == label]
        out[f"{label}_alert_recall"] = _ratio(sum(o.caught_by_alert for o in group), len(group))
    weight = [o for o in frauds if o.label in WEIGHT_CLASSES]
    out["weight_classes_recall"] = _ratio(sum(o.caught for o in weight), len(weight))
    out["fraud_recall"] = _ratio(sum(o.caught for o in frauds), len(frauds))
    out["fraud_alert_recall"] = _ratio(sum(o.caught_by_alert for o in frauds), len(frauds))
    false_alerts = sum(len(o.interventions) for o in honest)
    out["false_interventions_per_100_honest"] = _per_100(false_alerts, len(honest))
    out["honest_stopped_per_100"] = _per_100(
        sum(bool(o.interventions) for o in honest), len(honest)
    )
    out["false_flags_per_100_honest"] = _per_100(sum(len(o.flags) for o in honest), len(honest))
    nudges = sum(o.nudges for o in outcomes)
    out["nudge_self_correction"] = _ratio(sum(o.self_corrected for o in outcomes), nudges)
    out["honest_nudges_per_100"] = _per_100(sum(o.nudges for o in honest), len(honest))
    by_reason = Counter(r for o in honest for r in o.interventions)
    out["false_interventions_by_reason"] = dict(sorted(by_reason.items()))
    out["honest_not_completed"] = sum(not o.completed for o in honest)
    out["core_errors"] = sum(bool(o.error) for o in outcomes)
    return out


@dataclass
class Report:
    outcomes: list[Outcome]
    kpis: dict[str, Any]

    @property
    def misses(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.missed]

    @property
    def false_interventions(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.honest and o.interventions]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.kpis,
            "misses": [{"name": o.name, "label": o.label, "why": o.why()} for o in self.misses],
            "false_interventions": [
                {"name": o.name, "reasons": o.interventions, "tags": o.tags}
                for o in self.false_interventions
            ],
        }


def evaluate(
    scenarios: Sequence[Scenario],
    catalog: Catalog,
    base: CoreSettings | None = None,
    extra: Mapping[str, Any] | None = None,
    timer: Timer | None = None,
    attendant: str = "none",
) -> Report:
    """Replay and score every scenario; ``extra`` overrides settings on top of the truth's
    (the tolerance sweep sets ``{"security": {"weight_tolerance_k": k}}``)."""
    base = base or CoreSettings()
    outcomes = []
    for sc in scenarios:
        settings = scenario_settings(sc, base, extra)
        try:
            events = replay_scenario(sc, catalog, settings, timer, attendant)
        except Exception as err:  # one broken replay must not hide the rest
            outcome = classify(sc.truth, [], sc.name)
            outcome.error = f"{type(err).__name__}: {err}"
            outcomes.append(outcome)
            continue
        outcomes.append(classify(sc.truth, events, sc.name))
    return Report(outcomes, kpis(outcomes))


def sweep(
    scenarios: Sequence[Scenario],
    catalog: Catalog,
    ks: Sequence[float],
    base: CoreSettings | None = None,
    attendant: str = "none",
) -> list[dict[str, Any]]:
    """KPIs as ``security.weight_tolerance_k`` varies (for the tolerance plot)."""
    points = []
    for k in ks:
        extra = {"security": {"weight_tolerance_k": float(k)}}
        rep = evaluate(scenarios, catalog, base, extra, attendant=attendant)
        points.append(
            {
                "k": float(k),
                "fraud_recall": rep.kpis["fraud_recall"],
                "weight_classes_recall": rep.kpis["weight_classes_recall"],
                "false_interventions_per_100_honest": rep.kpis[
                    "false_interventions_per_100_honest"
                ],
            }
        )
    return points


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def format_table(report: Report, max_list: int = 25) -> str:
    """A readable summary: per-label recall, honest-shopper figures, misses, false alerts."""
    k = report.kpis
    lines = [f"{'label':<16}{'n':>5}{'caught':>8}{'recall':>9}{'alert-only':>12}"]
    for label in FRAUD_LABELS:
        group = [o for o in report.outcomes if o.label == label]
        if not group:
            continue
        caught = sum(o.caught for o in group)
        lines.append(
            f"{label:<16}{len(group):>5}{caught:>8}{_fmt(k[label + '_recall']):>9}"
            f"{_fmt(k[label + '_alert_recall']):>12}"
        )
    lines.append(
        f"{'all frauds':<16}{k['frauds']:>5}{sum(o.caught for o in report.outcomes):>8}"
        f"{_fmt(k['fraud_recall']):>9}{_fmt(k['fraud_alert_recall']):>12}"
    )
    lines.append("")
    lines.append(
        f"honest {k['honest']}: false interventions per 100 "
        f"{_fmt(k['false_interventions_per_100_honest'])} "
        f"(shoppers stopped per 100 {_fmt(k['honest_stopped_per_100'])}), "
        f"false flags per 100 {_fmt(k['false_flags_per_100_honest'])}, "
        f"nudges per 100 {_fmt(k['honest_nudges_per_100'])}"
    )
    lines.append(
        f"nudge self-correction {_fmt(k['nudge_self_correction'])}; "
        f"honest sessions not completed {k['honest_not_completed']}; "
        f"core errors {k['core_errors']}"
    )
    errors = [o for o in report.outcomes if o.error]
    for o in errors[:max_list]:
        lines.append(f"  core error in {o.name}: {o.error}")

    def miss(o: Outcome) -> str:
        return f"{o.label}: {o.why()}"

    def stop(o: Outcome) -> str:
        return f"{','.join(o.interventions)} [{','.join(o.tags)}]"

    listed: list[tuple[str, list[Outcome], Callable[[Outcome], str]]] = [
        ("misses", report.misses, miss),
        ("false interventions", report.false_interventions, stop),
    ]
    for title, items, text in listed:
        lines.append(f"{title} ({len(items)}):")
        for o in items[:max_list]:
            lines.append(f"  {o.name}: {text(o)}")
        if len(items) > max_list:
            lines.append(f"  ... and {len(items) - max_list} more")
    return "\n".join(lines)
