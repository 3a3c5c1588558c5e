"""Labelled scenarios on disk: ``<name>.jsonl`` (replay inputs) + ``<name>.truth.json``.

The truth sidecar says what really happened (``label``), which reason codes count as
catching it, and which core settings the lane ran with. Validation errors name the file
and the field, so a hand-written hidden suite fails loudly, not silently.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.core.inputs import input_from_dict
from kiosk.core.settings import CoreSettings, SecuritySettings
from kiosk.errors import InputFormatError, KioskError
from kiosk.files import write_atomically

SCHEMA = "opensco.scenario/1"
LABELS: tuple[str, ...] = (
    "honest",
    "non_scan",
    "ticket_switch",
    "weight_fraud",
    "item_removed",
    "stacked",
    "bag_abuse",
    "produce_switch",
)
FRAUD_LABELS = LABELS[1:]
SECURITY_REASONS: frozenset[str] = frozenset(
    {
        "non_scan",
        "unexpected_item",
        "weight_mismatch",
        "item_removed",
        "ticket_switch",
        "multiple_items",
        "bag_abuse",
        "produce_mismatch",
        "item_not_bagged",
        "hand_in_bagging_area",
    }
)
# Reasons that count as catching each fraud label when the truth names none.
DEFAULT_FAMILIES: dict[str, tuple[str, ...]] = {
    # An unscanned item bagged together with a scanned one shows as that one weighing too
    # much; put down while bags were declared, as a "bag" that is merchandise.
    "non_scan": ("non_scan", "unexpected_item", "multiple_items", "weight_mismatch", "bag_abuse"),
    # A dearer item under a cheap code may weigh like several of the cheap one.
    "ticket_switch": ("ticket_switch", "weight_mismatch", "multiple_items"),
    "weight_fraud": ("weight_mismatch", "unexpected_item", "ticket_switch", "multiple_items"),
    "item_removed": ("item_removed",),
    "stacked": ("multiple_items", "weight_mismatch", "unexpected_item", "non_scan"),
    "bag_abuse": ("bag_abuse", "unexpected_item", "weight_mismatch", "non_scan"),
    "produce_switch": ("produce_mismatch", "weight_mismatch"),
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_TRUTH_KEYS = frozenset(
    {"schema", "name", "label", "honest", "tags", "settings", "expect_reasons", "description"}
)


class ScenarioError(KioskError):
    """A scenario file or its truth sidecar is missing or malformed."""


@dataclass
class Scenario:
    name: str
    records: list[dict[str, Any]]
    truth: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return str(self.truth["label"])

    @property
    def honest(self) -> bool:
        return bool(self.truth.get("honest", self.label == "honest"))


def family(truth: Mapping[str, Any]) -> frozenset[str]:
    """Reason codes that count as catching this scenario (empty for honest ones)."""
    named = truth.get("expect_reasons") or ()
    if named:
        return frozenset(named)
    return frozenset(DEFAULT_FAMILIES.get(str(truth.get("label")), ()))


def validate_truth(truth: Any, where: str = "truth") -> dict[str, Any]:
    """Check a truth object; returns it with defaults filled. Raises ScenarioError."""
    if not isinstance(truth, dict):
        raise ScenarioError(f"{where}: must be a JSON object")
    unknown = set(truth) - _TRUTH_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if truth.get("schema") != SCHEMA:
        raise ScenarioError(f'{where}: "schema" must be "{SCHEMA}", got {truth.get("schema")!r}')
    name = truth.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ScenarioError(f'{where}: "name" must be letters, digits, ".", "_" or "-"')
    label = truth.get("label")
    if label not in LABELS:
        raise ScenarioError(f'{where}: "label" must be one of {", ".join(LABELS)}; got {label!r}')
    honest = truth.get("honest", label == "honest")
    if not isinstance(honest, bool) or honest != (label == "honest"):
        raise ScenarioError(f'{where}: "honest" must be true exactly when the label is honest')
    tags = truth.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ScenarioError(f'{where}: "tags" must be a list of text')
    reasons = truth.get("expect_reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise ScenarioError(f'{where}: "expect_reasons" must be a list of reason codes')
    bad = sorted(set(reasons) - SECURITY_REASONS)
    if bad:
        known = ", ".join(sorted(SECURITY_REASONS))
        raise ScenarioError(f"{where}: unknown reason code(s) {', '.join(bad)}; known: {known}")
    if not isinstance(truth.get("description", ""), str):
        raise ScenarioError(f'{where}: "description" must be text')
    settings = truth.get("settings", {})
    apply_overrides(CoreSettings(), settings, where)  # raises on a bad override
    return {
        **truth,
        "honest": honest,
        "tags": tags,
        "settings": settings,
        "expect_reasons": reasons,
        "description": truth.get("description", ""),
    }


def _coerce(value: Any, default: Any, where: str, key: str) -> Any:
    if isinstance(default, tuple):
        if not isinstance(value, list | tuple):
            raise ScenarioError(f"{where}: settings {key} must be a list")
        return tuple(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ScenarioError(f"{where}: settings {key} must be true or false")
        return value
    if (
        isinstance(default, float)
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        return float(value)
    if not isinstance(value, type(default)) or isinstance(value, bool):
        raise ScenarioError(
            f"{where}: settings {key} must be {type(default).__name__}, got {value!r}"
        )
    return value


def apply_overrides(base: CoreSettings, overrides: Any, where: str = "settings") -> CoreSettings:
    """CoreSettings with top-level fields and ``security`` fields replaced."""
    if not isinstance(overrides, Mapping):
        raise ScenarioError(f'{where}: "settings" must be an object')
    top = {f.name: f for f in dataclasses.fields(CoreSettings)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "security":
            if not isinstance(value, Mapping):
                raise ScenarioError(f'{where}: settings "security" must be an object')
            sec_fields = {f.name for f in dataclasses.fields(SecuritySettings)}
            sec: dict[str, Any] = {}
            for k, v in value.items():
                if k not in sec_fields:
                    raise ScenarioError(f"{where}: unknown setting security.{k}")
                sec[k] = _coerce(v, getattr(base.security, k), where, f"security.{k}")
            changes["security"] = dataclasses.replace(base.security, **sec)
        elif key in top:
            changes[key] = _coerce(value, getattr(base, key), where, key)
        else:
            raise ScenarioError(f"{where}: unknown setting {key}")
    return dataclasses.replace(base, **changes)


def _records(text: str, where: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            input_from_dict(obj)
        except json.JSONDecodeError as err:
            raise ScenarioError(f"{where}: line {lineno}: not valid JSON ({err.msg})") from None
        except InputFormatError as err:
            raise ScenarioError(f"{where}: line {lineno}: {err}") from None
        out.append(obj)
    return out


def load_scenario(path: str | Path) -> Scenario:
    """Load ``NAME.jsonl`` and its ``NAME.truth.json``."""
    path = Path(path)
    truth_path = path.with_name(path.name.removesuffix(".jsonl") + ".truth.json")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ScenarioError(f"{path}: cannot read: {err.strerror or err}") from None
    try:
        truth_raw = json.loads(truth_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no truth sidecar {truth_path.name}") from None
    except (OSError, ValueError) as err:
        raise ScenarioError(f"{truth_path}: cannot read: {err}") from None
    truth = validate_truth(truth_raw, str(truth_path))
    if truth["name"] != path.name.removesuffix(".jsonl"):
        raise ScenarioError(f"{truth_path}: name {truth['name']!r} differs from the file name")
    return Scenario(truth["name"], _records(text, str(path)), truth)


def load_suite(directory: str | Path) -> list[Scenario]:
    """Every scenario in a folder, by name. A truth file without its inputs is an error."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ScenarioError(f"{directory}: not a folder")
    inputs = sorted(directory.glob("*.jsonl"))
    orphans = {p.name.removesuffix(".truth.json") for p in directory.glob("*.truth.json")} - {
        p.name.removesuffix(".jsonl") for p in inputs
    }
    if orphans:
        raise ScenarioError(f"{directory}: truth without inputs: {', '.join(sorted(orphans))}")
    if not inputs:
        raise ScenarioError(f"{directory}: no scenarios (*.jsonl) found")
    return [load_scenario(p) for p in inputs]


def save_scenario(directory: str | Path, scenario: Scenario) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    truth = validate_truth({**scenario.truth, "name": scenario.name}, scenario.name)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in scenario.records)
    path = directory / f"{scenario.name}.jsonl"
    write_atomically(path, lines)
    text = json.dumps(truth, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    write_atomically(directory / f"{scenario.name}.truth.json", text)
    return path


def save_suite(directory: str | Path, scenarios: Iterable[Scenario]) -> int:
    count = 0
    for scenario in scenarios:
        save_scenario(directory, scenario)
        count += 1
    return count
