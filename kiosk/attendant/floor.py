"""The attendant's view of the store floor: a pure fold of MQTT messages into ``FloorState``.

Inputs are the decoded JSON bodies of the kiosk topics (status, state, evt/#, cmdresp) and of
the attendant claim topics; time is always passed in, never read, so a test replays any
interleaving exactly. Bad payloads of any kind are counted and ignored: one broken kiosk must
not blank the floor. ``TabletClient`` owns a ``Floor`` and serialises calls into it.

Display-state rules (first that holds wins), see docs/attendant.md:
offline > out_of_service > alert (blocking alert open, or core in intervention) > age_check >
needs_help (help or any non-blocking alert) > payment > shopping > locked (idle but locked) >
idle. A locked lane still finishing a sale shows that sale; ``LaneView.locked`` says locked.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

LANE_STATES = (
    "idle",
    "shopping",
    "needs_help",
    "alert",
    "age_check",
    "payment",
    "locked",
    "out_of_service",
    "offline",
)
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}
COMMAND_HISTORY = 50
COMMAND_ANSWER_S = 35.0  # commands expire after 30 s at the kiosk; a little slack for the answer
SEEN_EVENT_IDS = 2000  # dedupe window for QoS 1 redeliveries
CLOSED_STATES = frozenset({"idle", "completed", "cancelled", "suspended"})


@dataclass(frozen=True)
class AlertView:
    kiosk_id: str
    alert_id: str
    kind: str
    reason: str
    severity: str  # low | medium | high
    blocking: bool
    raised_ts: float
    detail: str
    line_id: int | None
    evidence: Mapping[str, Any]
    actions: tuple[str, ...]
    snap_ids: tuple[str, ...]
    claimed_by: str | None = None
    claimed_ts: float | None = None
    training: bool = False  # raised on a training lane: practice, marked TRAINING

    @property
    def key(self) -> str:
        return f"{self.kiosk_id}/{self.alert_id}"

    def waiting_s(self, now: float) -> float:
        return max(0.0, now - self.raised_ts)


@dataclass(frozen=True)
class LaneView:
    kiosk_id: str
    online: bool
    display_state: str  # one of LANE_STATES
    core_state: str
    since_ts: float  # when the display state began (oldest relevant alert, else core state)
    locked: bool
    out_of_service: bool
    session_id: str | None
    items: int
    total_minor: int
    currency: str
    alert_keys: tuple[str, ...]
    last_seen_ts: float
    training: bool = False  # the lane runs in training mode (docs/training.md)

    def waiting_s(self, now: float) -> float:
        return max(0.0, now - self.since_ts)


@dataclass(frozen=True)
class CommandView:
    command_id: str
    kiosk_id: str
    action: str
    args: Mapping[str, Any]
    sent_ts: float
    status: str  # "sent" | "accepted" | "refused" | "no_answer"
    code: str = ""
    message: str = ""


@dataclass(frozen=True)
class FloorState:
    store_id: str
    attendant_id: str
    connected: bool
    now: float
    lanes: tuple[LaneView, ...] = ()  # by kiosk id
    alerts: tuple[AlertView, ...] = ()  # most urgent first
    commands: tuple[CommandView, ...] = ()  # newest first, last 50

    def lane(self, kiosk_id: str) -> LaneView | None:
        return next((x for x in self.lanes if x.kiosk_id == kiosk_id), None)

    def alert(self, key: str) -> AlertView | None:
        return next((a for a in self.alerts if a.key == key), None)


@dataclass(frozen=True)
class Claim:
    kiosk_id: str
    alert_id: str
    attendant_id: str
    tablet_id: str
    ts: float

    def beats(self, other: Claim) -> bool:
        """First claim by ts wins, ties by attendant id (then tablet id): a total order, so
        every tablet that has seen the same claims agrees on the winner."""
        return (self.ts, self.attendant_id, self.tablet_id) < (
            other.ts,
            other.attendant_id,
            other.tablet_id,
        )

    def to_payload(self) -> dict[str, Any]:
        return {
            "schema": "opensco.claim/1",
            "kiosk_id": self.kiosk_id,
            "alert_id": self.alert_id,
            "attendant_id": self.attendant_id,
            "tablet_id": self.tablet_id,
            "ts": self.ts,
        }


def urgency_key(alert: AlertView) -> tuple[int, int, int, float, str]:
    """Blocking high-severity first, then by severity, blocking before not, longest waiting."""
    rank = SEVERITY_RANK.get(alert.severity, 1)
    top = 0 if alert.blocking and rank == 2 else 1
    return (top, -rank, 0 if alert.blocking else 1, alert.raised_ts, alert.key)


@dataclass
class _Lane:
    kiosk_id: str
    online: bool = False
    status_ts: float = 0.0
    last_seen_ts: float = 0.0
    state_known: bool = False
    state_ts: float = 0.0
    seq: int = 0
    core_state: str = "idle"
    since_ts: float = 0.0
    locked: bool = False
    out_of_service: bool = False
    session_id: str | None = None
    items: int = 0
    total_minor: int = 0
    currency: str = ""
    age_pending: bool = False
    help_requested: bool = False
    training: bool = False
    alerts: dict[str, AlertView] = field(default_factory=dict)


class PayloadError(ValueError):
    """A message body that does not have the shape the contract says."""


def _str(body: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise PayloadError(f"{key!r} must be a string, got {value!r}")
    return value


def _num(body: Mapping[str, Any], key: str, default: float | None = None) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"{key!r} must be a number, got {value!r}")
    return float(value)


def _int(body: Mapping[str, Any], key: str, default: int | None = None) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"{key!r} must be an integer, got {value!r}")
    return value


def _bool(body: Mapping[str, Any], key: str, default: bool | None = None) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise PayloadError(f"{key!r} must be true or false, got {value!r}")
    return value


def alert_from_dict(kiosk_id: str, body: Mapping[str, Any], raised_ts: float) -> AlertView:
    """An alert object as in alert_raised data / the lane state's open_alerts."""
    if not isinstance(body, Mapping):
        raise PayloadError(f"alert must be an object, got {body!r}")
    evidence = body.get("evidence") or {}
    if not isinstance(evidence, Mapping):
        raise PayloadError("alert evidence must be an object")
    snaps = body.get("snap_ids") or evidence.get("snapshots") or ()
    actions = body.get("actions") or ()
    line_id = body.get("line_id")
    if line_id is not None and (isinstance(line_id, bool) or not isinstance(line_id, int)):
        raise PayloadError(f"line_id must be an integer or null, got {line_id!r}")
    kind = _str(body, "kind")
    severity = body.get("severity", "medium")
    return AlertView(
        kiosk_id=kiosk_id,
        alert_id=_str(body, "alert_id"),
        kind=kind,
        reason=_str(body, "reason", kind),
        severity=severity if severity in SEVERITY_RANK else "medium",
        blocking=_bool(body, "blocking", False),
        raised_ts=_num(body, "raised_ts", raised_ts),
        detail=str(body.get("detail") or ""),
        line_id=line_id,
        evidence=dict(evidence),
        actions=tuple(str(a) for a in actions if isinstance(a, str)),
        snap_ids=tuple(str(s) for s in snaps if isinstance(s, str)),
    )


class Floor:
    """Mutable fold: messages in, ``FloorState`` out. Not thread-safe (the client locks)."""

    def __init__(self, store_id: str, attendant_id: str, *, now: float = 0.0) -> None:
        self.store_id = store_id
        self.attendant_id = attendant_id
        self.connected = False
        self.now = now
        self.errors = 0
        self.last_error = ""
        self._lanes: dict[str, _Lane] = {}
        self._claims: dict[str, Claim] = {}
        self._commands: OrderedDict[str, CommandView] = OrderedDict()
        self._seen_events: OrderedDict[str, None] = OrderedDict()
        self._known_alerts: set[str] = set()
        self._new_alerts: list[str] = []
        self._stale_claims: set[tuple[str, str]] = set()

    # --- inputs ---------------------------------------------------------------------------

    def set_connected(self, connected: bool, now: float) -> None:
        self.connected = connected
        self._advance(now)

    def on_status(self, kiosk_id: str, payload: Any, now: float) -> bool:
        """Retained birth (online: true) or Last Will / shutdown (online: false)."""
        self._advance(now)
        return self._guard(self._status, kiosk_id, payload, now)

    def on_state(self, kiosk_id: str, payload: Any, now: float) -> bool:
        """Retained lane-state summary: replaces what events built up so far."""
        self._advance(now)
        return self._guard(self._state, kiosk_id, payload, now)

    def on_event(self, kiosk_id: str, payload: Any, now: float) -> bool:
        self._advance(now)
        return self._guard(self._event, kiosk_id, payload, now)

    def on_claim(self, kiosk_id: str, alert_id: str, payload: Any, now: float) -> bool:
        """A retained claim (dict) or its release (None / empty payload)."""
        self._advance(now)
        return self._guard(self._claim, kiosk_id, alert_id, payload)

    def on_cmdresp(self, kiosk_id: str, payload: Any, now: float) -> bool:
        self._advance(now)
        return self._guard(self._cmdresp, kiosk_id, payload)

    def command_sent(
        self,
        command_id: str,
        kiosk_id: str,
        action: str,
        args: Mapping[str, Any] | None,
        now: float,
    ) -> None:
        self._advance(now)
        self._commands[command_id] = CommandView(
            command_id, kiosk_id, action, dict(args or {}), now, "sent"
        )
        while len(self._commands) > COMMAND_HISTORY:
            self._commands.popitem(last=False)

    def tick(self, now: float) -> None:
        """Commands with no answer within the expiry window become ``no_answer``."""
        self._advance(now)
        for cid, cmd in list(self._commands.items()):
            if cmd.status == "sent" and self.now - cmd.sent_ts > COMMAND_ANSWER_S:
                self._commands[cid] = replace(
                    cmd, status="no_answer", code="no_answer", message="no answer from the lane"
                )

    # --- outputs for the client -----------------------------------------------------------

    def take_new_alerts(self) -> list[AlertView]:
        """Alerts seen for the first time since the last call (for the chime)."""
        keys, self._new_alerts = self._new_alerts, []
        state = {a.key: a for a in self._alert_views()}
        return [state[k] for k in keys if k in state]

    def take_stale_claims(self) -> list[tuple[str, str]]:
        """Claims on alerts this floor saw cleared: the client releases them on the broker."""
        out = sorted(self._stale_claims)
        self._stale_claims.clear()
        return out

    def claim_of(self, kiosk_id: str, alert_id: str) -> Claim | None:
        return self._claims.get(f"{kiosk_id}/{alert_id}")

    def snapshot(self) -> FloorState:
        alerts = self._alert_views()
        lanes = tuple(self._lane_view(self._lanes[k]) for k in sorted(self._lanes))
        commands = tuple(reversed(self._commands.values()))
        return FloorState(
            self.store_id, self.attendant_id, self.connected, self.now, lanes, alerts, commands
        )

    # --- folding ----------------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        self.now = max(self.now, now)  # a clock stepping back must not make waits negative

    def _guard(self, fn: Any, *args: Any) -> bool:
        try:
            fn(*args)
        except (PayloadError, KeyError, TypeError, ValueError, AttributeError) as err:
            self.errors += 1
            self.last_error = f"{fn.__name__.strip('_')} from {args[0]}: {err}"[:300]
            return False
        return True

    def _lane(self, kiosk_id: str, body: Any = None) -> _Lane:
        if not isinstance(kiosk_id, str) or not kiosk_id:
            raise PayloadError("empty kiosk id")
        if body is not None:
            if not isinstance(body, Mapping):
                raise PayloadError(f"payload must be a JSON object, got {type(body).__name__}")
            if body.get("kiosk_id", kiosk_id) != kiosk_id:
                raise PayloadError(f"payload names kiosk {body.get('kiosk_id')!r}")
            if body.get("store_id", self.store_id) != self.store_id:
                raise PayloadError(f"payload names store {body.get('store_id')!r}")
        lane = self._lanes.get(kiosk_id)
        if lane is None:
            lane = self._lanes[kiosk_id] = _Lane(kiosk_id)
        return lane

    def _status(self, kiosk_id: str, body: Any, now: float) -> None:
        if not body:  # an empty retained payload deletes the kiosk from the floor
            self._lanes.pop(kiosk_id, None)
            return
        lane = self._lane(kiosk_id, body)
        online = _bool(body, "online")
        lane.online = online
        lane.status_ts = _num(body, "ts", now)  # the Last Will carries no ts
        lane.last_seen_ts = max(lane.last_seen_ts, now) if online else lane.last_seen_ts

    def _state(self, kiosk_id: str, body: Any, now: float) -> None:
        lane = self._lane(kiosk_id, body)
        raw_alerts = body.get("open_alerts") or []
        if not isinstance(raw_alerts, list):
            raise PayloadError("open_alerts must be a list")
        ts = _num(body, "ts")
        alerts = [alert_from_dict(kiosk_id, a, ts) for a in raw_alerts]
        items, total = _int(body, "items", 0), _int(body, "total_minor", 0)
        core = _str(body, "state")
        sid = body.get("session_id")
        training = _bool(body, "training", False)  # absent from older lanes
        # All parsed: now apply, so a bad payload changes nothing.
        lane.state_known = True
        lane.state_ts, lane.seq = ts, _int(body, "seq", 0)
        lane.core_state, lane.since_ts = core, _num(body, "since_ts", ts)
        lane.locked = _bool(body, "locked", False)
        lane.out_of_service = _bool(body, "out_of_service", False)
        lane.session_id = sid if isinstance(sid, str) else None
        lane.items, lane.total_minor = items, total
        lane.currency = str(body.get("currency") or lane.currency)
        lane.age_pending = _bool(body, "age_check_pending", False)
        lane.help_requested = _bool(body, "help_requested", False)
        lane.training = training
        lane.last_seen_ts = max(lane.last_seen_ts, now)
        for gone in set(lane.alerts) - {a.alert_id for a in alerts}:
            self._alert_gone(kiosk_id, gone)
        lane.alerts = {}
        for alert in alerts:
            self._add_alert(lane, alert)
        # Claims older than this state on alerts it does not list belong to closed alerts.
        for claim in list(self._claims.values()):
            if claim.kiosk_id == kiosk_id and claim.alert_id not in lane.alerts and claim.ts <= ts:
                self._stale_claims.add((kiosk_id, claim.alert_id))

    def _event(self, kiosk_id: str, body: Any, now: float) -> None:
        lane = self._lane(kiosk_id, body)
        etype, ts = _str(body, "type"), _num(body, "ts")
        seq = _int(body, "seq", 0)
        event_id = body.get("event_id")
        if isinstance(event_id, str):
            if event_id in self._seen_events:
                return
            self._seen_events[event_id] = None
            while len(self._seen_events) > SEEN_EVENT_IDS:
                self._seen_events.popitem(last=False)
        lane.last_seen_ts = max(lane.last_seen_ts, now)
        if body.get("training") is True:  # every event of a training lane says so
            lane.training = True
        if lane.state_known and 0 < seq <= lane.seq:
            return  # already in the lane state we hold
        lane.seq = max(lane.seq, seq)
        if etype == "session_started":
            for alert_id in list(lane.alerts):
                self._alert_gone(kiosk_id, alert_id)
            lane.alerts.clear()
            sid = body.get("session_id")
            lane.session_id = sid if isinstance(sid, str) else None
            lane.items = lane.total_minor = 0
            lane.age_pending = lane.help_requested = False
        elif etype == "state_changed":
            lane.core_state, lane.since_ts = _str(body, "to_state"), ts
            if lane.core_state in CLOSED_STATES:
                lane.age_pending = lane.help_requested = False
        elif etype == "alert_raised":
            self._add_alert(lane, alert_from_dict(kiosk_id, body, ts))
        elif etype == "alert_cleared":
            alert_id = _str(body, "alert_id")
            lane.alerts.pop(alert_id, None)
            self._alert_gone(kiosk_id, alert_id)
            if body.get("kind") == "help":
                lane.help_requested = False
        elif etype == "age_approval_requested":
            lane.age_pending = True
        elif etype in ("age_approved", "age_rejected"):
            lane.age_pending = False
        elif etype == "help_requested":
            lane.help_requested = True
        elif etype == "lane_locked":
            lane.locked = True
        elif etype == "lane_unlocked":
            lane.locked = False

    def _add_alert(self, lane: _Lane, alert: AlertView) -> None:
        lane.alerts[alert.alert_id] = alert
        if alert.key not in self._known_alerts:
            self._known_alerts.add(alert.key)
            self._new_alerts.append(alert.key)

    def _alert_gone(self, kiosk_id: str, alert_id: str) -> None:
        key = f"{kiosk_id}/{alert_id}"
        if key in self._claims:
            self._stale_claims.add((kiosk_id, alert_id))
        self._new_alerts = [k for k in self._new_alerts if k != key]

    def _claim(self, kiosk_id: str, alert_id: str, body: Any) -> None:
        key = f"{kiosk_id}/{alert_id}"
        if not body:
            self._claims.pop(key, None)
            return
        if not isinstance(body, Mapping):
            raise PayloadError("claim must be a JSON object")
        if body.get("kiosk_id") != kiosk_id or body.get("alert_id") != alert_id:
            raise PayloadError("claim body does not match its topic")
        who, tablet = _str(body, "attendant_id"), _str(body, "tablet_id")
        claim = Claim(kiosk_id, alert_id, who, tablet, _num(body, "ts"))
        held = self._claims.get(key)
        if held is None or claim.beats(held) or held == claim:
            self._claims[key] = claim
        lane = self._lanes.get(kiosk_id)
        closed = lane is not None and lane.state_known and alert_id not in lane.alerts
        if closed and lane is not None and claim.ts <= lane.state_ts:
            self._stale_claims.add((kiosk_id, alert_id))

    def _cmdresp(self, kiosk_id: str, body: Any) -> None:
        if not isinstance(body, Mapping):
            raise PayloadError("cmdresp must be a JSON object")
        cid = body.get("command_id")
        cmd = self._commands.get(cid) if isinstance(cid, str) else None
        if cmd is None or cmd.kiosk_id != kiosk_id:
            return  # another tablet's command, or one that fell out of the history
        accepted = _bool(body, "accepted")
        self._commands[cmd.command_id] = replace(
            cmd,
            status="accepted" if accepted else "refused",
            code=str(body.get("code") or ""),
            message=str(body.get("message") or ""),
        )

    # --- views ------------------------------------------------------------------------------

    def _alert_views(self) -> tuple[AlertView, ...]:
        out = []
        for lane in self._lanes.values():
            for alert in lane.alerts.values():
                claim = self._claims.get(alert.key)
                if claim is not None:
                    alert = replace(alert, claimed_by=claim.attendant_id, claimed_ts=claim.ts)
                if lane.training:
                    alert = replace(alert, training=True)
                out.append(alert)
        return tuple(sorted(out, key=urgency_key))

    def _lane_view(self, lane: _Lane) -> LaneView:
        alerts = sorted(lane.alerts.values(), key=urgency_key)
        display, since = self._display(lane, alerts)
        return LaneView(
            kiosk_id=lane.kiosk_id,
            online=lane.online,
            display_state=display,
            core_state=lane.core_state,
            since_ts=since,
            locked=lane.locked,
            out_of_service=lane.out_of_service,
            session_id=lane.session_id,
            items=lane.items,
            total_minor=lane.total_minor,
            currency=lane.currency,
            alert_keys=tuple(a.key for a in alerts),
            last_seen_ts=lane.last_seen_ts,
            training=lane.training,
        )

    @staticmethod
    def _display(lane: _Lane, alerts: list[AlertView]) -> tuple[str, float]:
        def oldest(chosen: list[AlertView]) -> float:
            return min((a.raised_ts for a in chosen), default=lane.since_ts)

        if not lane.online:
            return "offline", lane.status_ts or lane.last_seen_ts
        if lane.out_of_service:
            return "out_of_service", lane.since_ts
        blocking = [a for a in alerts if a.blocking]
        if blocking or lane.core_state == "intervention":
            return "alert", oldest(blocking)
        age = [a for a in alerts if a.kind == "age_check"]
        if age or lane.age_pending:
            return "age_check", oldest(age)
        if alerts or lane.help_requested:
            return "needs_help", oldest(alerts)
        if lane.core_state == "payment":
            return "payment", lane.since_ts
        if lane.core_state == "shopping":
            return "shopping", lane.since_ts
        if lane.locked:
            return "locked", lane.since_ts
        return "idle", lane.since_ts
