"""Timestamped inputs to the checkout core and their public JSON form.

Every input carries ``ts_ms``: Unix time in integer milliseconds, stamped by the adapter
that produced it. The core never reads a clock, so a session is a pure function of its
inputs. The JSON form (``docs/replay-format.md``) writes time as seconds (``"t"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kiosk.errors import InputFormatError


class InputType(StrEnum):
    BARCODE = "barcode"
    WEIGHT = "weight"
    TRACK = "track"
    SHOPPER = "shopper"
    ATTENDANT = "attendant"
    PAYMENT = "payment"
    TICK = "tick"


class Platform(StrEnum):
    """Which scale a weight reading comes from."""

    SCAN = "scan"  # the produce scale under the scanner
    BAGGING = "bagging"  # the security scale in the bagging area


class WeightStatus(StrEnum):
    OK = "ok"
    UNDER_ZERO = "under_zero"
    OVER_CAPACITY = "over_capacity"
    OFFLINE = "offline"  # asleep, unplugged or not answering


@dataclass(frozen=True)
class BarcodeRead:
    ts_ms: int
    data: str
    symbology: str = ""
    source: str = "scanner"  # scanner | camera | scanner_scale | attendant
    track_id: int | None = None  # camera reads: the vision track the code was seen on
    type: InputType = field(default=InputType.BARCODE, init=False)


@dataclass(frozen=True)
class WeightReading:
    ts_ms: int
    platform: Platform
    weight_g: int
    stable: bool
    status: WeightStatus = WeightStatus.OK
    type: InputType = field(default=InputType.WEIGHT, init=False)


@dataclass(frozen=True)
class ItemTrack:
    """A vision track update: an object followed across frames."""

    ts_ms: int
    track_id: int
    label: str  # detector class: item, hand, or a produce category
    zone: str  # scan | bagging | produce_scale | outside
    confidence: float = 0.0
    sku: str | None = None  # identity from recognition, if any
    lost: bool = False  # the track ended
    # How well the item looks like ``sku`` (0 unlike .. 1 alike), from its reference images;
    # None when no check was possible (no references, item not seen well enough).
    identity_score: float | None = None
    snapshot_id: str | None = None  # evidence frame kept by the vision snapshot store
    # Top-k of the produce recogniser for an item on the produce scale: (sku, score), best
    # first; ``sku`` is then the top-1.
    candidates: tuple[tuple[str, float], ...] = ()
    type: InputType = field(default=InputType.TRACK, init=False)


@dataclass(frozen=True)
class ShopperAction:
    ts_ms: int
    action: str
    args: Mapping[str, Any] = field(default_factory=dict)
    type: InputType = field(default=InputType.SHOPPER, init=False)


@dataclass(frozen=True)
class AttendantCommand:
    ts_ms: int
    command: str
    attendant_id: str = ""
    args: Mapping[str, Any] = field(default_factory=dict)
    type: InputType = field(default=InputType.ATTENDANT, init=False)


@dataclass(frozen=True)
class PaymentResult:
    """The payment terminal's answer. Never carries card data, only its reference."""

    ts_ms: int
    approved: bool
    amount_minor: int
    method: str = "card"
    reference: str = ""
    reason: str = ""
    type: InputType = field(default=InputType.PAYMENT, init=False)


@dataclass(frozen=True)
class Tick:
    ts_ms: int
    type: InputType = field(default=InputType.TICK, init=False)


Input = (
    BarcodeRead
    | WeightReading
    | ItemTrack
    | ShopperAction
    | AttendantCommand
    | PaymentResult
    | Tick
)


# --- JSON codec (pure: dicts in, dicts out; json.loads happens in the caller) ---------


def seconds_to_ms(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputFormatError(f'"t" must be a number of seconds, got {value!r}')
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        raise InputFormatError(f'"t" must be a finite, non-negative number, got {value!r}')
    return round(value * 1000)


def ms_to_seconds(ts_ms: int) -> float | int:
    # Whole seconds print as integers so logs stay readable and byte-stable.
    return ts_ms // 1000 if ts_ms % 1000 == 0 else ts_ms / 1000


def _take(
    obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any = ...
) -> Any:
    if key not in obj:
        if default is ...:
            raise InputFormatError(f'missing field "{key}"')
        return default
    value = obj[key]
    # bool is an int in Python; a JSON true must not pass as a weight.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise InputFormatError(f'field "{key}" must be {_kind_name(kind)}, got {value!r}')
    if not isinstance(value, kind):
        raise InputFormatError(f'field "{key}" must be {_kind_name(kind)}, got {value!r}')
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {
        str: "text",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        dict: "an object",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


_ALLOWED_KEYS: dict[InputType, frozenset[str]] = {
    InputType.BARCODE: frozenset({"data", "symbology", "source", "track_id"}),
    InputType.WEIGHT: frozenset({"platform", "weight_g", "stable", "status"}),
    InputType.TRACK: frozenset(
        {
            "track_id",
            "label",
            "zone",
            "confidence",
            "sku",
            "lost",
            "identity_score",
            "snapshot_id",
            "candidates",
        }
    ),
    InputType.SHOPPER: frozenset({"action", "args"}),
    InputType.ATTENDANT: frozenset({"command", "attendant_id", "args"}),
    InputType.PAYMENT: frozenset({"approved", "amount_minor", "method", "reference", "reason"}),
    InputType.TICK: frozenset(),
}


def _optional_score(obj: Mapping[str, Any]) -> float | None:
    value = _take(obj, "identity_score", (int, float, type(None)), None)
    if value is None:
        return None
    score = float(value)
    if not 0.0 <= score <= 1.0:
        raise InputFormatError(f"identity_score must lie in [0, 1]; got {value!r}")
    return score


def _candidates(obj: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    raw = _take(obj, "candidates", list, [])
    out: list[tuple[str, float]] = []
    for entry in raw:
        if not isinstance(entry, Mapping) or set(entry) - {"sku", "score"}:
            raise InputFormatError('each candidate must be {"sku": text, "score": 0..1}')
        sku = _take(entry, "sku", str)
        score = float(_take(entry, "score", (int, float)))
        if not sku or not 0.0 <= score <= 1.0:
            raise InputFormatError(f"bad candidate {dict(entry)!r}: sku empty or score not 0..1")
        out.append((sku, score))
    return tuple(out)


def input_from_dict(obj: Mapping[str, Any]) -> Input:
    """Decode one input record; raises InputFormatError saying what is wrong."""
    if not isinstance(obj, Mapping):
        raise InputFormatError("an input must be a JSON object")
    try:
        kind = InputType(_take(obj, "type", str))
    except ValueError:
        known = ", ".join(t.value for t in InputType)
        raise InputFormatError(f"unknown input type {obj.get('type')!r}; known: {known}") from None
    ts_ms = seconds_to_ms(obj.get("t", obj.get("ts")))
    extra = set(obj) - _ALLOWED_KEYS[kind] - {"type", "t", "ts"}
    if extra:
        raise InputFormatError(f"unknown field(s) for {kind.value}: {', '.join(sorted(extra))}")
    if kind is InputType.BARCODE:
        data = _take(obj, "data", str)
        if not data.strip():
            raise InputFormatError("barcode data is empty")
        return BarcodeRead(
            ts_ms,
            data,
            _take(obj, "symbology", str, ""),
            _take(obj, "source", str, "scanner"),
            _take(obj, "track_id", (int, type(None)), None),
        )
    if kind is InputType.WEIGHT:
        try:
            platform = Platform(_take(obj, "platform", str))
            status = WeightStatus(_take(obj, "status", str, "ok"))
        except ValueError as err:
            raise InputFormatError(str(err)) from None
        return WeightReading(
            ts_ms, platform, _take(obj, "weight_g", int), _take(obj, "stable", bool), status
        )
    if kind is InputType.TRACK:
        return ItemTrack(
            ts_ms,
            _take(obj, "track_id", int),
            _take(obj, "label", str),
            _take(obj, "zone", str),
            float(_take(obj, "confidence", (int, float), 0.0)),
            _take(obj, "sku", (str, type(None)), None),
            _take(obj, "lost", bool, False),
            _optional_score(obj),
            _take(obj, "snapshot_id", (str, type(None)), None),
            _candidates(obj),
        )
    if kind is InputType.SHOPPER:
        return ShopperAction(ts_ms, _take(obj, "action", str), dict(_take(obj, "args", dict, {})))
    if kind is InputType.ATTENDANT:
        return AttendantCommand(
            ts_ms,
            _take(obj, "command", str),
            _take(obj, "attendant_id", str, ""),
            dict(_take(obj, "args", dict, {})),
        )
    if kind is InputType.PAYMENT:
        return PaymentResult(
            ts_ms,
            _take(obj, "approved", bool),
            _take(obj, "amount_minor", int),
            _take(obj, "method", str, "card"),
            _take(obj, "reference", str, ""),
            _take(obj, "reason", str, ""),
        )
    return Tick(ts_ms)


def input_to_dict(item: Input) -> dict[str, Any]:
    """The inverse of input_from_dict (journal rows and replay logs use it)."""
    out: dict[str, Any] = {"t": ms_to_seconds(item.ts_ms), "type": item.type.value}
    if isinstance(item, BarcodeRead):
        out.update(data=item.data, symbology=item.symbology, source=item.source)
        if item.track_id is not None:  # optional fields stay out of older logs' shape
            out["track_id"] = item.track_id
    elif isinstance(item, WeightReading):
        out.update(
            platform=item.platform.value,
            weight_g=item.weight_g,
            stable=item.stable,
            status=item.status.value,
        )
    elif isinstance(item, ItemTrack):
        out.update(
            track_id=item.track_id,
            label=item.label,
            zone=item.zone,
            confidence=item.confidence,
            sku=item.sku,
            lost=item.lost,
        )
        if item.identity_score is not None:
            out["identity_score"] = item.identity_score
        if item.snapshot_id is not None:
            out["snapshot_id"] = item.snapshot_id
        if item.candidates:
            out["candidates"] = [{"sku": k, "score": v} for k, v in item.candidates]
    elif isinstance(item, ShopperAction):
        out.update(action=item.action, args=dict(item.args))
    elif isinstance(item, AttendantCommand):
        out.update(command=item.command, attendant_id=item.attendant_id, args=dict(item.args))
    elif isinstance(item, PaymentResult):
        out.update(
            approved=item.approved,
            amount_minor=item.amount_minor,
            method=item.method,
            reference=item.reference,
            reason=item.reason,
        )
    return out
