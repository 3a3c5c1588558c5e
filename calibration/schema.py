"""The calibration record's JSON Schema: ``$defs/calibration_record`` of the event schema
(``backend_client/schemas/event.json``), so the file on the lane and the ``record`` of a
``calibration_recorded`` event are checked by the same rules."""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from backend_client.schema_validation import schema

_MAX_PROBLEMS = 20


@cache
def _validator() -> Draft202012Validator:
    defs = schema("event")["$defs"]
    return Draft202012Validator({"$ref": "#/$defs/calibration_record", "$defs": defs})


def record_problems(obj: Any) -> list[str]:
    """What is wrong with ``obj`` as a calibration record, in words; empty when valid."""
    errors = sorted(_validator().iter_errors(obj), key=lambda e: list(e.absolute_path))
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message[:200]}"
        for e in errors[:_MAX_PROBLEMS]
    ]
