"""Payment: the amount, what the terminal is doing, and a way out or a retry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.ui.screens.base import BaseScreen
from kiosk.ui.strings import text
from kiosk.ui.viewmodel import ShopperState

if TYPE_CHECKING:
    from kiosk.ui.app import ShopperApp


class PaymentScreen(BaseScreen):
    def show(self, state: ShopperState, app: ShopperApp) -> None:
        p, lang, ids = state.payment, state.language, self.ids
        ids.amount.text = app.vm.money(p.amount_minor or state.total_minor)
        ids.method.text = text(p.method, lang)
        status = {
            "waiting": text("payment_follow", lang),
            "declined": text("payment_declined", lang) + (f" ({p.reason})" if p.reason else ""),
            "approved": text("payment_approved", lang),
        }.get(p.status, "")
        ids.status.text = status
        ids.status_panel.role = {"declined": "danger", "approved": "ok"}.get(p.status, "panel")
        ids.status.color = {"declined": app.c_danger_fg, "approved": app.c_ok_fg}.get(
            p.status, app.c_fg
        )
        declined = p.status == "declined"
        ids.retry.hidden = not declined
        ids.others.hidden = not declined  # another method after a decline
        ids.back.hidden = p.status == "approved"
        self.method = p.method

    method = "card"
