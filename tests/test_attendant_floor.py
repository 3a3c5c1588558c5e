"""The attendant's floor model: every message kind folded in, display states, urgency
ordering, claims that converge, cleared alerts that drop, and the Last Will."""

from __future__ import annotations

from typing import Any

from kiosk.attendant.floor import LANE_STATES, Floor

T = 1_764_070_000.0
SID = "5c1d6b0e-8a37-5f0e-9d1a-0c2b3a4d5e6f"


def birth(kiosk: str = "lane-01") -> dict[str, Any]:
    return {"online": True, "kiosk_id": kiosk, "store_id": "store-01", "ts": T}


def alert(alert_id: str, kind: str, *, blocking: bool, severity: str = "medium",
          raised: float = T) -> dict[str, Any]:  # fmt: skip
    return {"alert_id": alert_id, "kind": kind, "reason": kind, "blocking": blocking,
            "line_id": None, "detail": "", "severity": severity, "actions": ["clear"],
            "evidence": {"snapshots": ["snap-1"]}, "raised_ts": raised}  # fmt: skip


def state(kiosk: str = "lane-01", *, core: str = "shopping", seq: int = 10, ts: float = T,
          alerts: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    body = {"schema": "opensco.lanestate/1", "kiosk_id": kiosk, "store_id": "store-01",
            "ts": ts, "seq": seq, "state": core, "since_ts": ts - 30, "locked": False,
            "out_of_service": False, "session_id": SID, "items": 2, "total_minor": 990,
            "currency": "CNY", "age_check_pending": False, "help_requested": False,
            "open_alerts": alerts or []}  # fmt: skip
    body.update(extra)
    return body


def event(etype: str, seq: int, ts: float = T, **data: Any) -> dict[str, Any]:
    return {"event_id": f"e-{seq}", "type": etype, "ts": ts, "seq": seq, "session_id": SID,
            "kiosk_id": "lane-01", "store_id": "store-01", **data}  # fmt: skip


def claim(alert_id: str, who: str, ts: float, tablet: str = "tablet-01") -> dict[str, Any]:
    return {"schema": "opensco.claim/1", "kiosk_id": "lane-01", "alert_id": alert_id,
            "attendant_id": who, "tablet_id": tablet, "ts": ts}  # fmt: skip


def floor_with_lane(**state_kw: Any) -> Floor:
    floor = Floor("store-01", "att-07")
    floor.on_status("lane-01", birth(), T)
    floor.on_state("lane-01", state(**state_kw), T)
    return floor


def display(floor: Floor, kiosk: str = "lane-01") -> str:
    lane = floor.snapshot().lane(kiosk)
    assert lane is not None
    assert lane.display_state in LANE_STATES
    return lane.display_state


def test_display_states_follow_the_rules() -> None:
    assert display(floor_with_lane(core="idle")) == "idle"
    assert display(floor_with_lane(core="shopping")) == "shopping"
    assert display(floor_with_lane(core="payment")) == "payment"
    assert display(floor_with_lane(core="idle", locked=True)) == "locked"
    # Locked mid-sale: the sale still shows; the flag says locked.
    mid = floor_with_lane(core="shopping", locked=True)
    assert display(mid) == "shopping" and mid.snapshot().lanes[0].locked
    help_alert = alert("A1-1", "help", blocking=False, severity="low")
    assert display(floor_with_lane(alerts=[help_alert], help_requested=True)) == "needs_help"
    age = alert("A1-2", "age_check", blocking=False)
    assert display(floor_with_lane(alerts=[help_alert, age], age_check_pending=True)) == (
        "age_check"
    )
    blocking = alert("A1-3", "non_scan", blocking=True, severity="high")
    assert display(floor_with_lane(core="intervention", alerts=[age, blocking])) == "alert"
    oos = floor_with_lane(core="intervention", alerts=[blocking], out_of_service=True)
    assert display(oos) == "out_of_service"


def test_last_will_makes_the_lane_offline_and_birth_brings_it_back() -> None:
    floor = floor_with_lane(core="intervention", alerts=[alert("A1-3", "non_scan", blocking=True)])
    floor.on_status("lane-01", {"online": False, "kiosk_id": "lane-01", "reason": "lost"}, T + 5)
    lane = floor.snapshot().lane("lane-01")
    assert lane is not None and lane.display_state == "offline" and not lane.online
    # The open alert is still open: an attendant must still walk there.
    assert [a.alert_id for a in floor.snapshot().alerts] == ["A1-3"]
    floor.on_status("lane-01", birth(), T + 9)
    assert display(floor) == "alert"


def test_alerts_are_ordered_most_urgent_first() -> None:
    floor = Floor("store-01", "att-07")
    floor.on_status("lane-01", birth(), T)
    floor.on_status("lane-02", birth("lane-02"), T)
    floor.on_state("lane-01", state(alerts=[
        alert("A1-1", "help", blocking=False, severity="low", raised=T - 100),
        alert("A1-2", "age_check", blocking=False, severity="medium", raised=T - 50),
        alert("A1-3", "weight_mismatch", blocking=True, severity="medium", raised=T - 10),
    ]), T)  # fmt: skip
    floor.on_state("lane-02", state("lane-02", alerts=[
        alert("A4-1", "non_scan", blocking=True, severity="high", raised=T - 5),
        alert("A4-2", "ticket_switch", blocking=True, severity="high", raised=T - 20),
    ]), T)  # fmt: skip
    order = [a.key for a in floor.snapshot().alerts]
    assert order == ["lane-02/A4-2", "lane-02/A4-1", "lane-01/A1-3", "lane-01/A1-2",
                     "lane-01/A1-1"]  # fmt: skip
    first = floor.snapshot().alerts[0]
    assert first.waiting_s(T) == 20 and first.snap_ids == ("snap-1",)
    lane = floor.snapshot().lane("lane-01")
    assert lane is not None and lane.waiting_s(T) == 10  # since its blocking alert


def test_events_after_the_state_raise_and_clear_alerts_once() -> None:
    floor = floor_with_lane(seq=10)
    raised = event("alert_raised", 11, **alert("A1-5", "non_scan", blocking=True))
    assert floor.on_event("lane-01", raised, T + 1)
    assert floor.on_event("lane-01", raised, T + 1)  # QoS 1 redelivery: no second alert
    assert [a.key for a in floor.take_new_alerts()] == ["lane-01/A1-5"]
    assert display(floor) == "alert"
    # An event the state already covered is not applied twice.
    floor.on_event("lane-01", event("alert_raised", 9, **alert("A1-0", "help", blocking=False)), T)
    assert [a.alert_id for a in floor.snapshot().alerts] == ["A1-5"]
    floor.on_event("lane-01", event("alert_cleared", 12, alert_id="A1-5", kind="non_scan"), T + 2)
    assert floor.snapshot().alerts == () and display(floor) == "shopping"
    assert floor.take_new_alerts() == []


def test_a_newer_state_drops_cleared_alerts() -> None:
    floor = floor_with_lane(alerts=[alert("A1-1", "help", blocking=False)])
    assert len(floor.snapshot().alerts) == 1
    floor.on_state("lane-01", state(seq=14, ts=T + 3), T + 3)
    assert floor.snapshot().alerts == ()
    lane = floor.snapshot().lane("lane-01")
    assert lane is not None and lane.alert_keys == ()


def test_claims_converge_first_by_ts_then_by_attendant() -> None:
    """Two tablets see the two claims in opposite orders and agree on the winner."""
    blocking = [alert("A1-3", "non_scan", blocking=True)]
    one, two = floor_with_lane(alerts=blocking), floor_with_lane(alerts=blocking)
    early, late = claim("A1-3", "att-09", T + 1, "tablet-02"), claim("A1-3", "att-07", T + 2)
    one.on_claim("lane-01", "A1-3", early, T + 2)
    one.on_claim("lane-01", "A1-3", late, T + 2)
    two.on_claim("lane-01", "A1-3", late, T + 2)
    two.on_claim("lane-01", "A1-3", early, T + 2)
    for floor in (one, two):
        (view,) = floor.snapshot().alerts
        assert (view.claimed_by, view.claimed_ts) == ("att-09", T + 1)
    tie_a, tie_b = claim("A1-3", "att-02", T + 5), claim("A1-3", "att-01", T + 5, "tablet-02")
    three = floor_with_lane(alerts=blocking)
    three.on_claim("lane-01", "A1-3", tie_a, T + 5)
    three.on_claim("lane-01", "A1-3", tie_b, T + 5)
    assert three.snapshot().alerts[0].claimed_by == "att-01"
    three.on_claim("lane-01", "A1-3", None, T + 6)  # released
    assert three.snapshot().alerts[0].claimed_by is None


def test_claims_on_cleared_alerts_are_handed_back_for_release() -> None:
    floor = floor_with_lane(seq=10, alerts=[alert("A1-3", "non_scan", blocking=True)])
    floor.on_claim("lane-01", "A1-3", claim("A1-3", "att-07", T + 1), T + 1)
    assert floor.take_stale_claims() == []
    floor.on_event("lane-01", event("alert_cleared", 11, alert_id="A1-3", kind="x"), T + 2)
    assert floor.take_stale_claims() == [("lane-01", "A1-3")]
    # A retained claim older than the lane state that no longer lists the alert.
    floor.on_claim("lane-01", "A0-9", claim("A0-9", "att-07", T - 500), T + 3)
    assert floor.take_stale_claims() == [("lane-01", "A0-9")]
    # A fresh claim on an alert this tablet has not heard of yet is left alone.
    floor.on_claim("lane-01", "A1-4", claim("A1-4", "att-07", T + 60), T + 3)
    assert floor.take_stale_claims() == []


def test_commands_get_answers_or_time_out() -> None:
    floor = floor_with_lane()
    floor.command_sent("c-1", "lane-01", "approve_age", {}, T)
    floor.command_sent("c-2", "lane-01", "clear_alert", {"alert_id": "A1-1"}, T + 1)
    floor.command_sent("c-3", "lane-01", "lock_lane", {}, T + 2)
    floor.on_cmdresp("lane-01", {"command_id": "c-1", "accepted": True, "code": "ok",
                                 "message": "accepted"}, T + 1)  # fmt: skip
    floor.on_cmdresp("lane-01", {"command_id": "c-2", "accepted": False,
                                 "code": "bad_signature", "message": "no"}, T + 2)  # fmt: skip
    floor.on_cmdresp("lane-02", {"command_id": "c-3", "accepted": True}, T + 2)  # wrong lane
    floor.on_cmdresp("lane-01", {"command_id": "other-tablet", "accepted": True}, T + 2)
    floor.tick(T + 100)
    by_id = {c.command_id: c for c in floor.snapshot().commands}
    assert [c.command_id for c in floor.snapshot().commands] == ["c-3", "c-2", "c-1"]
    assert by_id["c-1"].status == "accepted"
    assert (by_id["c-2"].status, by_id["c-2"].code) == ("refused", "bad_signature")
    assert by_id["c-3"].status == "no_answer"


def test_bad_payloads_are_counted_and_change_nothing() -> None:
    floor = floor_with_lane(alerts=[alert("A1-1", "help", blocking=False)])
    before = floor.snapshot()
    bad: list[tuple[str, Any]] = [
        ("state", b"\x00not json"),
        ("state", [1, 2]),
        ("state", {**state(), "open_alerts": [{"alert_id": 5}]}),
        ("state", {**state(), "items": "3"}),
        ("state", {**state(), "kiosk_id": "lane-09"}),
        ("state", {**state(), "store_id": "store-99"}),
        ("event", {"type": "alert_raised", "ts": T, "seq": 99}),  # no alert id
        ("event", "nonsense"),
        ("status", {"online": "yes"}),
    ]
    for kind, payload in bad:
        fn = {"state": floor.on_state, "event": floor.on_event, "status": floor.on_status}[kind]
        assert fn("lane-01", payload, T) is False, payload
    assert floor.on_claim("lane-01", "A1-1", {"kiosk_id": "lane-02"}, T) is False
    assert floor.on_cmdresp("lane-01", "x", T) is False
    assert floor.errors == len(bad) + 2 and floor.last_error
    after = floor.snapshot()
    assert after.lanes == before.lanes and after.alerts == before.alerts


def test_an_old_clock_never_makes_waits_negative() -> None:
    floor = floor_with_lane(alerts=[alert("A1-1", "help", blocking=False, raised=T + 50)])
    assert floor.snapshot().alerts[0].waiting_s(T) == 0.0
    floor.tick(T - 100)
    assert floor.snapshot().now == T
