"""One alert (or one lane): its snapshot, evidence in words, and the actions it offers as
buttons. Actions that need a second look (approve age, clear, cancel, message) open a prompt
first: the ID check's cut-off date, a reason list, a confirmation, canned texts."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kiosk.attendant.screens import words
from kiosk.attendant.screens.assist import open_assist
from kiosk.attendant.screens.base import AttendantScreen
from kiosk.ui.widgets.base import TouchButton

if TYPE_CHECKING:
    from kiosk.attendant.app import AttendantApp
    from kiosk.attendant.floor import AlertView, FloorState, LaneView


class TabletDetailScreen(AttendantScreen):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kiosk_id = ""
        self.alert_key: str | None = None
        self.buttons: dict[str, TouchButton] = {}
        self.choices: list[TouchButton] = []
        self.alert: AlertView | None = None
        self._layout: object = None
        self._snap: str | None = None
        self._app: AttendantApp | None = None

    def open(self, kiosk_id: str, alert_key: str | None) -> None:
        self.kiosk_id, self.alert_key = kiosk_id, alert_key
        self._layout = None
        self._snap = None
        self.close_prompt()

    # --- painting ---------------------------------------------------------------------

    def show(self, floor: FloorState, app: AttendantApp) -> None:
        self._app = app
        lane = floor.lane(self.kiosk_id)
        alert = floor.alert(self.alert_key) if self.alert_key else None
        self.alert = alert
        if alert is not None:
            self.ids.title.text = f"{words.reason_text(alert)} · {alert.kiosk_id}"
            self.ids.evidence.text = "\n".join(words.evidence_lines(alert))
        elif self.alert_key:
            self.ids.title.text = f"Alert closed · {self.kiosk_id}"
            self.ids.evidence.text = "The lane closed this alert."
        else:
            self.ids.title.text = f"Lane {self.kiosk_id}"
            self.ids.evidence.text = "No open alert on this lane."
        self.ids.lane_info.text = _lane_line(lane, app.now())
        if lane is not None and lane.training:  # a practice alert on a training lane
            self.ids.title.text = f"{words.TRAINING_MARK} · {self.ids.title.text}"
        self._show_snapshot(alert, app)
        self.refresh(app.now())
        layout = (
            alert.actions if alert else None,
            alert.claimed_by if alert else None,
            lane.locked if lane else None,
            lane.online if lane else None,
        )
        if layout != self._layout:
            self._layout = layout
            self._build_actions(alert, lane, app)

    def refresh(self, now: float) -> None:
        alert = self.alert
        if alert is None:
            self.ids.info.text = ""
            return
        claimed = f"claimed by {alert.claimed_by}" if alert.claimed_by else "not claimed"
        self.ids.info.text = (
            f"{alert.severity} severity{' · blocks the lane' if alert.blocking else ''} · "
            f"waiting {words.duration_text(alert.waiting_s(now))} · {claimed}"
        )

    def _show_snapshot(self, alert: AlertView | None, app: AttendantApp) -> None:
        snap = alert.snap_ids[0] if alert and alert.snap_ids else None
        if snap == self._snap and (snap is None or self.ids.snapshot.texture is not None):
            return
        self._snap = snap
        texture = _texture(app.image(snap)) if snap else None
        self.ids.snapshot.texture = texture
        self.ids.no_image.text = "" if texture is not None else "No image"

    def _build_actions(
        self, alert: AlertView | None, lane: LaneView | None, app: AttendantApp
    ) -> None:
        grid = self.ids.actions
        grid.clear_widgets()
        self.buttons = {}
        kiosk = self.kiosk_id

        def add(name: str, label: str, role: str, action: Callable[[], object]) -> None:
            btn = TouchButton(text=label, role=role)
            btn.bind(on_release=lambda *_a: action())
            grid.add_widget(btn)
            self.buttons[name] = btn

        if alert is not None:
            mine = alert.claimed_by == app.attendant_id
            if mine:
                add("claim", "Release", "secondary", lambda: app.release(alert))
            else:
                label = "Claim" if not alert.claimed_by else f"Take over from {alert.claimed_by}"
                add("claim", label, "primary", lambda: app.claim(alert))
            for name in alert.actions:
                self._add_alert_action(add, name, alert, app)
        if "cancel_transaction" not in self.buttons and lane is not None and lane.session_id:
            add("cancel_transaction", "Cancel sale…", "danger",
                lambda: self._confirm_cancel(kiosk, app))  # fmt: skip
        if lane is not None:
            if lane.locked:
                add("lock", "Unlock lane", "secondary",
                    lambda: app.send(kiosk, "unlock_lane", {}))  # fmt: skip
            else:
                add("lock", "Lock lane", "secondary",
                    lambda: app.send(kiosk, "lock_lane", {}))  # fmt: skip
            add("message", "Message shopper…", "secondary", lambda: self._ask_message(kiosk, app))
            add("assist", "Lane screen", "secondary", lambda: open_assist(app, kiosk, "detail"))

    def _add_alert_action(
        self, add: Callable[..., None], name: str, alert: AlertView, app: AttendantApp
    ) -> None:
        kiosk, aid = alert.kiosk_id, alert.alert_id
        if name == "approve" and alert.kind == "age_check":
            add("approve", "Approve age…", "primary", lambda: self._ask_id_check(alert, app))
        elif name == "approve":
            add("approve", "Approve", "primary",
                lambda: app.send(kiosk, "approve", {"alert_id": aid}))  # fmt: skip
        elif name == "reject":
            add("reject", "Reject", "danger",
                lambda: app.send(kiosk, "reject", {"alert_id": aid}))  # fmt: skip
        elif name == "clear":
            add("clear", "Clear…", "ok", lambda: self._ask_clear_reason(alert, app))
        elif name == "void_item" and alert.line_id is not None:
            void = {"line_id": alert.line_id, "reason": "attendant void"}
            add("void_item", f"Void line {alert.line_id}", "warn",
                lambda: app.send(kiosk, "void_item", void))  # fmt: skip
        elif name == "cancel_transaction":
            add("cancel_transaction", "Cancel sale…", "danger",
                lambda: self._confirm_cancel(kiosk, app))  # fmt: skip
        elif name == "suspend_transaction":
            add("suspend_transaction", "Suspend sale", "secondary",
                lambda: app.send(kiosk, "suspend_transaction", {}))  # fmt: skip

    # --- prompts ----------------------------------------------------------------------

    def prompt(self, text: str, choices: list[tuple[str, str, Callable[[], object]]]) -> None:
        """Show ``text`` with one button per choice (label, role, what it does) and Back."""
        self.ids.prompt_text.text = text
        box = self.ids.choices
        box.clear_widgets()
        self.choices = []
        for label, role, action in [*choices, ("Back", "secondary", lambda: None)]:
            btn = TouchButton(text=label, role=role)
            btn.bind(on_release=lambda _b, act=action: self._choose(act))
            box.add_widget(btn)
            self.choices.append(btn)
        self.ids.prompt.hidden = False
        self.ids.actions.disabled = True

    def _choose(self, action: Callable[[], object]) -> None:
        self.close_prompt()
        action()

    def close_prompt(self) -> None:
        self.ids.prompt.hidden = True
        self.ids.actions.disabled = False
        self.ids.choices.clear_widgets()
        self.choices = []

    def choice(self, label_start: str) -> TouchButton:
        return next(b for b in self.choices if b.text.startswith(label_start))

    def _ask_id_check(self, alert: AlertView, app: AttendantApp) -> None:
        args = {"alert_id": alert.alert_id}
        self.prompt(
            words.id_prompt_text(app.now(), words.min_age_of(alert)),
            [("ID checked: approve", "primary",
              lambda: app.send(alert.kiosk_id, "approve_age", args))],
        )  # fmt: skip

    def _ask_clear_reason(self, alert: AlertView, app: AttendantApp) -> None:
        def clear(reason: str) -> Callable[[], object]:
            args = {"alert_id": alert.alert_id, "reason": reason}
            return lambda: app.send(alert.kiosk_id, "clear_alert", args)

        self.prompt("Why clear it?", [(r, "ok", clear(r)) for r in words.CLEAR_REASONS])

    def _confirm_cancel(self, kiosk: str, app: AttendantApp) -> None:
        self.prompt(
            f"Cancel the whole sale on {kiosk}? Its items are not paid for.",
            [("Yes, cancel the sale", "danger",
              lambda: app.send(kiosk, "cancel_transaction", {}))],
        )  # fmt: skip

    def _ask_message(self, kiosk: str, app: AttendantApp) -> None:
        def say(text: str) -> Callable[[], object]:
            return lambda: app.send(kiosk, "message_shopper", {"text": text})

        self.prompt("Show on the shopper's screen:",
                    [(t, "secondary", say(t)) for t in words.CANNED_MESSAGES])  # fmt: skip


def _lane_line(lane: LaneView | None, now: float) -> str:
    if lane is None:
        return "Lane not seen yet"
    basket = f"{lane.items} items, {words.money_text(lane.total_minor, lane.currency)}"
    state = words.state_text(lane)
    if lane.since_ts > 0:
        state += f" for {words.duration_text(lane.waiting_s(now))}"
    flags = " · locked" if lane.locked else ""
    return f"{lane.kiosk_id}: {state} · {basket}{flags}"


def _texture(data: bytes | None) -> Any:
    """A JPEG (or PNG) snapshot as a Kivy texture; None when missing or unreadable."""
    if not data:
        return None
    from kivy.core.image import Image as CoreImage

    kind = "png" if data[:4] == b"\x89PNG" else "jpg"
    try:
        return CoreImage(io.BytesIO(data), ext=kind).texture
    except Exception:  # a broken image must not break the screen
        return None
