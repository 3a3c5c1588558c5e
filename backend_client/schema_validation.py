"""JSON Schema checks for every MQTT payload the kiosk sends or accepts.

The schemas (draft 2020-12) ship as package data in ``backend_client/schemas`` and are the
machine-readable half of ``docs/mqtt.md``; ``docs/asyncapi.yaml`` points at the same files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

SCHEMA_KINDS = (
    "event",
    "status",
    "tele",
    "command",
    "cmdresp",
    "snapshot_meta",
    "lanestate",
    "claim",
    "screen",
)
SNAPSHOT_MAX_BYTES = 256 * 1024  # a JPEG bigger than this is never published
SNAPSHOT_CONTENT_TYPE = "image/jpeg"
_JPEG_MAGIC = b"\xff\xd8\xff"
_MAX_PROBLEMS = 20  # enough to fix a payload; a hostile one must not flood the log


def schema(kind: str) -> dict[str, Any]:
    """The parsed schema for one payload kind (a copy: callers may not edit the cache)."""
    copy: dict[str, Any] = json.loads(json.dumps(_load(kind)))
    return copy


@cache
def _load(kind: str) -> dict[str, Any]:
    if kind not in SCHEMA_KINDS:
        raise ValueError(f"unknown payload kind {kind!r}; known: {', '.join(SCHEMA_KINDS)}")
    text = resources.files("backend_client").joinpath("schemas", f"{kind}.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(_load(kind))


def validate(kind: str, obj: Any) -> list[str]:
    """Problems with ``obj`` as a ``kind`` payload, in words; empty when it is valid."""
    errors = sorted(_validator(kind).iter_errors(obj), key=lambda e: list(e.absolute_path))
    problems = []
    for err in errors[:_MAX_PROBLEMS]:
        where = "/".join(str(p) for p in err.absolute_path)
        problems.append(f"{where or '(top)'}: {_short(err.message)}")
    if len(errors) > _MAX_PROBLEMS:
        problems.append(f"... and {len(errors) - _MAX_PROBLEMS} more")
    return problems


def validate_snapshot(jpeg: bytes, user_properties: Mapping[str, str]) -> list[str]:
    """Check a snapshot message: its user properties, its size, its hash and its magic."""
    problems = validate("snapshot_meta", dict(user_properties))
    if len(jpeg) > SNAPSHOT_MAX_BYTES:
        problems.append(f"snapshot is {len(jpeg)} bytes; the limit is {SNAPSHOT_MAX_BYTES}")
    if not jpeg.startswith(_JPEG_MAGIC):
        problems.append("snapshot payload is not a JPEG (no FF D8 FF start)")
    size = user_properties.get("size_bytes")
    if size is not None and size != str(len(jpeg)):
        problems.append(f"size_bytes says {size} but the payload has {len(jpeg)} bytes")
    digest = user_properties.get("sha256")
    if digest is not None and digest != hashlib.sha256(jpeg).hexdigest():
        problems.append("sha256 does not match the payload")
    return problems


def _short(message: str) -> str:
    # jsonschema quotes the whole offending value; a 4 MiB catalog must not land in a log.
    return message if len(message) <= 200 else message[:197] + "..."
