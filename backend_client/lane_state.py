"""The retained lane-state summary (``schemas/lanestate.json``) a kiosk publishes for tablets.

Built on the engine thread from the checkout itself plus the events of each batch, so a
sale recovered from the journal after a crash is summarised correctly from the first
publish. Pure: no I/O, no clock (times come from the core's inputs); ``Lane`` publishes.
Events stay the record; this is what a tablet that (re)joins needs to see at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from backend_client.contract import LANESTATE_SCHEMA
from kiosk.core.alerts import AlertKind
from kiosk.core.events import Event, EventType
from kiosk.core.inputs import ms_to_seconds

OOS_REASON_MAX = 500


class LaneStateSummary:
    """Folds a lane's state; ``update`` returns a new payload only when something changed."""

    def __init__(self, kiosk_id: str, store_id: str, currency: str) -> None:
        self.kiosk_id = kiosk_id
        self.store_id = store_id
        self.currency = currency
        self._since_ms: int | None = None
        self._oos_reason: str | None = None
        self._last: dict[str, Any] | None = None

    def set_out_of_service(self, reason: str | None) -> None:
        self._oos_reason = reason[:OOS_REASON_MAX] if reason else None

    def update(self, checkout: Any, events: Iterable[Event] = ()) -> dict[str, Any] | None:
        """The summary after ``events`` were applied to ``checkout`` (a ``Checkout``), or
        None when it equals the last one but for its time stamp."""
        for event in events:
            if event.type is EventType.STATE_CHANGED:
                self._since_ms = event.ts_ms
        if self._since_ms is None:  # first summary (maybe of a recovered sale): from now
            self._since_ms = checkout.now_ms
        body = self._body(checkout)
        if self._last is not None and _without_time(self._last) == _without_time(body):
            return None
        self._last = body
        return body

    def current(self) -> dict[str, Any] | None:
        """The last summary returned (republished after every CONNACK)."""
        return self._last

    def _body(self, co: Any) -> dict[str, Any]:
        totals = co.totals() if co.session_open else None
        alerts = [_alert(a) for a in co.alerts.open_alerts()]
        body: dict[str, Any] = {
            "schema": LANESTATE_SCHEMA,
            "kiosk_id": self.kiosk_id,
            "store_id": self.store_id,
            "ts": ms_to_seconds(co.now_ms),
            "seq": co.seq,
            "state": co.state.value,
            "since_ts": ms_to_seconds(self._since_ms or co.now_ms),
            "locked": bool(co.locked),
            "out_of_service": self._oos_reason is not None,
            "session_id": co.session_id if co.session_open else None,
            "items": totals.item_count if totals is not None else 0,
            "total_minor": totals.total_minor if totals is not None else 0,
            "currency": self.currency,
            "age_check_pending": bool(co.age_pending),
            "help_requested": co.alerts.find(AlertKind.HELP) is not None,
            "open_alerts": alerts,
            # A training lane (docs/training.md): tablets mark it TRAINING everywhere.
            "training": bool(co.settings.training),
        }
        if self._oos_reason is not None:
            body["oos_reason"] = self._oos_reason
        return body


def _alert(alert: Any) -> dict[str, Any]:
    out: dict[str, Any] = alert.to_dict()
    out["raised_ts"] = ms_to_seconds(alert.ts_ms)
    snaps = alert.evidence.get("snapshots") if isinstance(alert.evidence, Mapping) else None
    if isinstance(snaps, list) and snaps:
        out["snap_ids"] = [s for s in snaps if isinstance(s, str)]
    return out


def _without_time(body: Mapping[str, Any]) -> dict[str, Any]:
    # A tick moves ts and seq only through events that change nothing a tablet shows.
    return {k: v for k, v in body.items() if k not in ("ts", "seq")}


def encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
