"""The Lane screen: a mirror of what one lane's shopper sees (the retained screen state,
``backend_client/screen_state.py``), with the actions that fit as signed commands.

Left, the mirror: the screen's name and language, the prompt the shopper reads, the cart
lines (tap one to choose it), totals and the buttons the shopper has. Right, the actions:
void the chosen line, approve or clear each open alert, message the shopper, cancel the
sale. Voiding and cancelling ask first. An age check is not approved from here: the ID must
be seen at the lane (the alert detail has the ID-check prompt for that).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kiosk.attendant.screens import words
from kiosk.attendant.screens.base import AttendantScreen
from kiosk.ui.widgets.base import TouchButton

if TYPE_CHECKING:
    from kiosk.attendant.app import AttendantApp
    from kiosk.attendant.floor import FloorState

VOID_REASON = "attendant void (lane screen)"
SCREEN_WORDS = {
    "attract": "Waiting for a shopper",
    "welcome": "Welcome",
    "bags": "Own bags?",
    "scanning": "Scanning",
    "produce": "Produce / weighing",
    "help": "Help page",
    "payment": "Payment",
    "receipt": "Receipt",
    "rating": "Rating",
    "thank_you": "Thank you",
    "intervention": "Wait for the attendant",
    "out_of_service": "Out of service",
}


def lane_screen_of(app: AttendantApp, kiosk_id: str) -> Mapping[str, Any] | None:
    """The lane's newest screen state from the app's client (None: none seen, or a client
    without remote assistance, such as an older floor double)."""
    getter = getattr(app.client, "lane_screen", None)
    return getter(kiosk_id) if getter is not None else None


def line_text(line: Mapping[str, Any], currency: str, exponent: int) -> str:
    name = str(line.get("name_en") or line.get("sku"))
    weight = line.get("weight_g")
    qty = f"{weight} g" if isinstance(weight, int) and weight else f"{line.get('quantity', 1)} ×"
    amount = words.money_text(int(line.get("amount_minor", 0)), currency, exponent)
    voided = " (voided)" if line.get("voided") else ""
    return f"#{line.get('line_id')}  {qty} {name}  {amount}{voided}"


def mirror_head(state: Mapping[str, Any]) -> str:
    screen = str(state.get("screen", ""))
    bits = [SCREEN_WORDS.get(screen, screen), f"language {state.get('language', '?')}"]
    if state.get("locked"):
        bits.append("locked")
    if state.get("out_of_service"):
        bits.append("out of service")
    payment = state.get("payment") or {}
    if payment.get("status") not in (None, "idle"):
        bits.append(f"payment {payment['status']}")
    return " · ".join(bits)


def totals_text(state: Mapping[str, Any]) -> str:
    cur, exp = str(state.get("currency", "")), int(state.get("currency_exponent", 2))
    total = words.money_text(int(state.get("total_minor", 0)), cur, exp)
    text = f"{state.get('item_count', 0)} items · total {total}"
    if state.get("savings_minor"):
        text += f" · savings {words.money_text(int(state['savings_minor']), cur, exp)}"
    return text


class TabletAssistScreen(AttendantScreen):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kiosk_id = ""
        self.back_to = "lanes"
        self.selected: int | None = None
        self.line_buttons: dict[int, TouchButton] = {}
        self.buttons: dict[str, TouchButton] = {}
        self.choices: list[TouchButton] = []
        self.state: Mapping[str, Any] | None = None
        self._shown: object = None

    def open(self, kiosk_id: str, back_to: str = "lanes") -> None:
        if kiosk_id != self.kiosk_id:
            self.selected = None
        self.kiosk_id, self.back_to = kiosk_id, back_to
        self._shown = None
        self.close_prompt()

    # --- painting ---------------------------------------------------------------------

    def show(self, floor: FloorState, app: AttendantApp) -> None:
        state = lane_screen_of(app, self.kiosk_id)
        lane = floor.lane(self.kiosk_id)
        online = lane.online if lane is not None else False
        key = (_without_time(state), self.selected, online)
        if key == self._shown:
            return
        self._shown = key
        self.state = state
        self.ids.title.text = f"Lane screen · {self.kiosk_id}"
        self.ids.link.text = "" if online else "Lane offline: the last screen it sent"
        if state is None:
            self.ids.head.text = "No screen state from this lane yet"
            self.ids.prompt_line.text = ""
            self.ids.message_line.text = ""
            self.ids.totals.text = ""
            self.ids.shopper_buttons.text = ""
            self.ids.lines.clear_widgets()
            self.line_buttons = {}
            self._build_actions(None, app)
            return
        if self.selected is not None and not _open_line(state, self.selected):
            self.selected = None  # voided or gone: nothing to act on
        self.ids.head.text = mirror_head(state)
        prompt = state.get("prompt") or {}
        self.ids.prompt_line.text = str(prompt.get("text", ""))
        message = state.get("message")
        self.ids.message_line.text = f"Your message: {message['text']}" if message else ""
        self.ids.totals.text = totals_text(state)
        shopper = ", ".join(str(b).replace("_", " ") for b in state.get("buttons", ()))
        self.ids.shopper_buttons.text = f"Shopper can press: {shopper or 'nothing'}"
        self._build_lines(state, app)
        self._build_actions(state, app)

    def _build_lines(self, state: Mapping[str, Any], app: AttendantApp) -> None:
        box = self.ids.lines
        box.clear_widgets()
        self.line_buttons = {}
        cur, exp = str(state.get("currency", "")), int(state.get("currency_exponent", 2))
        for line in state.get("lines", ()):
            line_id = int(line["line_id"])
            role = "primary" if line_id == self.selected else "secondary"
            btn = TouchButton(text=line_text(line, cur, exp), role=role, halign="left")
            btn.bind(size=lambda b, s: setattr(b, "text_size", (s[0] - app.pad, None)))
            btn.bind(on_release=lambda _b, lid=line_id: self.choose_line(lid, app))
            box.add_widget(btn)
            btn.disabled = bool(line.get("voided"))  # after add_widget: the parent resets it
            self.line_buttons[line_id] = btn
        if not self.line_buttons:
            from kiosk.ui.widgets.base import TLabel

            box.add_widget(TLabel(text="The cart is empty", color=app.c_muted))

    def choose_line(self, line_id: int, app: AttendantApp) -> None:
        self.selected = None if self.selected == line_id else line_id
        if app.floor is not None:
            self.show(app.floor, app)

    def _build_actions(self, state: Mapping[str, Any] | None, app: AttendantApp) -> None:
        grid = self.ids.actions
        grid.clear_widgets()
        self.buttons = {}
        kiosk = self.kiosk_id

        def add(name: str, label: str, role: str, action: Callable[[], object]) -> None:
            btn = TouchButton(text=label, role=role)
            btn.bind(on_release=lambda *_a: action())
            grid.add_widget(btn)
            self.buttons[name] = btn

        if state is not None:
            if self.selected is not None:
                add("void_item", f"Void line {self.selected}…", "warn",
                    lambda: self._confirm_void(app))  # fmt: skip
            for alert in state.get("alerts", ()):
                self._add_alert_actions(add, alert, app)
            if state.get("lane_state") not in ("idle", "completed", "cancelled", "suspended"):
                add("cancel_transaction", "Cancel sale…", "danger",
                    lambda: self._confirm_cancel(app))  # fmt: skip
        add("message", "Message shopper…", "secondary", lambda: self._ask_message(app))
        add("detail", "Lane detail", "secondary", lambda: app.open_lane(kiosk))

    def _add_alert_actions(
        self, add: Callable[..., None], alert: Mapping[str, Any], app: AttendantApp
    ) -> None:
        aid, kind, actions = str(alert["alert_id"]), str(alert["kind"]), alert.get("actions", ())
        reason = words.REASONS.get(kind, kind.replace("_", " "))
        if kind == "age_check":
            return  # the ID is checked at the lane (alert detail), never from a mirror
        if "approve" in actions:
            add(f"approve:{aid}", f"Approve: {reason}", "primary",
                lambda: app.send(self.kiosk_id, "approve", {"alert_id": aid}))  # fmt: skip
        if "clear" in actions:
            add(f"clear:{aid}", f"Clear: {reason}…", "ok",
                lambda: self._ask_clear_reason(aid, app))  # fmt: skip

    # --- prompts ----------------------------------------------------------------------

    def prompt(self, text: str, choices: list[tuple[str, str, Callable[[], object]]]) -> None:
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

    def _confirm_void(self, app: AttendantApp) -> None:
        line_id, state = self.selected, self.state
        if state is None or line_id is None:
            return
        line = _open_line(state, line_id)
        if line is None:
            return
        cur, exp = str(state.get("currency", "")), int(state.get("currency_exponent", 2))
        args = {"line_id": line_id, "reason": VOID_REASON}
        self.prompt(
            f"Void {line_text(line, cur, exp)} on {self.kiosk_id}?",
            [("Yes, void the line", "warn", lambda: app.send(self.kiosk_id, "void_item", args))],
        )

    def _confirm_cancel(self, app: AttendantApp) -> None:
        self.prompt(
            f"Cancel the whole sale on {self.kiosk_id}? Its items are not paid for.",
            [("Yes, cancel the sale", "danger",
              lambda: app.send(self.kiosk_id, "cancel_transaction", {}))],
        )  # fmt: skip

    def _ask_clear_reason(self, alert_id: str, app: AttendantApp) -> None:
        def clear(reason: str) -> Callable[[], object]:
            args = {"alert_id": alert_id, "reason": reason}
            return lambda: app.send(self.kiosk_id, "clear_alert", args)

        self.prompt("Why clear it?", [(r, "ok", clear(r)) for r in words.CLEAR_REASONS])

    def _ask_message(self, app: AttendantApp) -> None:
        def say(text: str) -> Callable[[], object]:
            return lambda: app.send(self.kiosk_id, "message_shopper", {"text": text})

        self.prompt("Show on the shopper's screen:",
                    [(t, "secondary", say(t)) for t in words.CANNED_MESSAGES])  # fmt: skip

    def go_back(self, app: AttendantApp) -> None:
        app.show_screen(self.back_to if self.back_to in ("lanes", "queue", "detail") else "lanes")


def open_assist(app: AttendantApp, kiosk_id: str, back_to: str = "lanes") -> None:
    """Show the Lane screen of ``kiosk_id`` (from the lane map or an alert's detail)."""
    app.sm.get_screen("assist").open(kiosk_id, back_to)
    app.show_screen("assist")


def _open_line(state: Mapping[str, Any], line_id: int) -> Mapping[str, Any] | None:
    return next((x for x in state.get("lines", ())
                 if x.get("line_id") == line_id and not x.get("voided")), None)  # fmt: skip


def _without_time(state: Mapping[str, Any] | None) -> object:
    if state is None:
        return None
    return {k: v for k, v in state.items() if k not in ("ts",)}
