"""Scanning: the last item large, the cart, totals, and every way to get help or pay."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.ui.screens.base import BaseScreen
from kiosk.ui.strings import text
from kiosk.ui.viewmodel import ShopperState

if TYPE_CHECKING:
    from kiosk.ui.app import ShopperApp


class ScanningScreen(BaseScreen):
    def show(self, state: ShopperState, app: ShopperApp) -> None:
        ids, lang, money = self.ids, state.language, app.vm.money
        if state.nudge is not None:
            ids.nudge.show(text(state.nudge.key, lang))
        else:  # locked mid-sale: the shopper finishes, and is told the lane then closes
            ids.nudge.show(text("lane_closed", lang) if state.locked else None)
        if state.message is not None:  # the attendant's words outrank a nudge, for 8 s
            ids.nudge.show(f"{text('attendant_says', lang)} {state.message.text}", role="ok")
        ids.age.show(text("age_pending", lang) if state.age_pending else None, role="ok")
        s = state.suggestion
        ids.suggestion.hidden = s is None
        if s is not None:
            name = s.name_zh if lang == "zh" and s.name_zh else s.name_en
            ids.suggestion_text.text = f"{text('suggest_title', lang)}  {name}"
        last = state.last_item
        ids.last_name.text = last.name(lang) if last else ""
        ids.last_price.text = money(last.amount_minor) if last else ""
        ids.last_name.hidden = ids.last_price.hidden = last is None
        live = tuple(x for x in state.lines if not x.voided)
        ids.cart_empty.hidden = bool(state.lines)
        ids.cart.set_lines(state.lines, lang, money, app.vm.remove_item)
        ids.count.text = f"{text('items', lang)}: {state.item_count}"
        ids.savings.text = f"{text('savings', lang)}: {money(state.savings_minor)}"
        ids.savings.hidden = state.savings_minor <= 0
        ids.total.text = f"{text('total', lang)}: {money(state.total_minor)}"
        ids.pay_btn.disabled = not live
        if not live:
            self.choose_method(False)

    def choose_method(self, open_: bool) -> None:
        """Pay opens card / QR / cash on this screen: the core is asked to pay once a
        method is known, so the terminal gets the right request the first time."""
        self.ids.methods.hidden = not open_
        for wid in ("pay_btn", "produce_btn", "skip_btn", "bags_full_btn"):
            self.ids[wid].hidden = open_

    def pay(self, method: str) -> None:
        from kivy.app import App

        self.choose_method(False)
        App.get_running_app().vm.pay(method)
