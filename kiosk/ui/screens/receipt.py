"""Receipt: the lines and totals on screen, a QR code for the e-receipt, and Print."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiosk.ui.screens.base import BaseScreen
from kiosk.ui.strings import grams, text
from kiosk.ui.viewmodel import ShopperState
from kiosk.ui.widgets.base import TLabel

if TYPE_CHECKING:
    from kiosk.ui.app import ShopperApp


def receipt_rows(receipt: dict[str, Any], lang: str, money: Any) -> list[tuple[str, str]]:
    """(left, right) rows of what the shopper bought, as the screen lists them."""
    rows: list[tuple[str, str]] = []
    for line in receipt.get("lines", []):
        if line.get("voided"):
            continue
        name = line.get("name_zh") if lang == "zh" and line.get("name_zh") else line["name_en"]
        if line.get("weight_g") is not None and line.get("sold_by") == "weight":
            name = f"{name}  {grams(int(line['weight_g']))}"
        elif int(line.get("quantity", 1)) > 1:
            name = f"{name}  × {line['quantity']}"
        rows.append((name, money(int(line["amount_minor"]))))
    return rows


class ReceiptScreen(BaseScreen):
    def show(self, state: ShopperState, app: ShopperApp) -> None:
        receipt, lang, money = state.receipt or {}, state.language, app.vm.money
        grid = self.ids.lines
        grid.clear_widgets()
        for left, right in receipt_rows(receipt, lang, money):
            grid.add_widget(TLabel(text=left))
            grid.add_widget(TLabel(text=right, halign="right"))
        total = int(receipt.get("total_minor", state.total_minor))
        self.ids.total.text = f"{text('total', lang)}: {money(total)}"
        saved = int(receipt.get("discount_minor", 0))
        self.ids.savings.text = f"{text('savings', lang)}: {money(saved)}"
        self.ids.savings.hidden = saved <= 0
        self.ids.qr.set_text(state.receipt_qr)
        self.ids.print_btn.hidden = app.print_receipt is None
