"""Plain-text receipt from a ``transaction_completed`` receipt mapping (pure)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from kiosk.core.commands import iso_date

WIDTH = 42

_LABELS = {
    "en": {
        "title": "OpenSCO receipt",
        "txn": "Transaction",
        "subtotal": "Subtotal",
        "savings": "Savings",
        "total": "TOTAL",
        "tax": "incl. tax",
        "tax_excl": "Tax",
        "change": "Change",
        "paid": "Paid",
        "thanks": "Thank you for shopping with us",
    },
    "zh": {
        "title": "OpenSCO 购物小票",
        "txn": "交易号",
        "subtotal": "小计",
        "savings": "优惠",
        "total": "合计",
        "tax": "含税",
        "tax_excl": "税额",
        "change": "找零",
        "paid": "已付",
        "thanks": "谢谢惠顾",
    },
}


def format_money(minor: int, exponent: int = 2) -> str:
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exponent)
    return f"{sign}{whole}.{frac:0{exponent}d}" if exponent else f"{sign}{whole}"


def _width(text: str) -> int:
    # CJK characters take two columns on receipt printers and terminals.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _row(left: str, right: str) -> str:
    room = WIDTH - _width(right) - 1
    while _width(left) > room:
        left = left[:-1]
    return left + " " * (WIDTH - _width(left) - _width(right)) + right


def format_receipt(receipt: Mapping[str, Any], lang: str = "en") -> str:
    labels = _LABELS.get(lang, _LABELS["en"])
    exp = int(receipt["currency_exponent"])
    cur = str(receipt["currency"])

    def money(minor: int) -> str:
        return format_money(minor, exp)

    out = [
        labels["title"].center(WIDTH - (_width(labels["title"]) - len(labels["title"]))),
        f"{receipt['store_id']} / {receipt['kiosk_id']}   {iso_date(receipt['ended_ts_ms'])}",
        f"{labels['txn']} {receipt['txn_no']:06d}",
        "-" * WIDTH,
    ]
    for line in receipt["lines"]:
        name = line["name_zh"] if lang == "zh" and line["name_zh"] else line["name_en"]
        out.append(_row(name, money(line["amount_minor"])))
        if line["weight_g"] is not None and line["sold_by"] == "weight":
            detail = f"  {line['weight_g'] / 1000:.3f} kg @ {money(line['unit_price_minor'])}/kg"
            out.append(detail)
        elif line["quantity"] > 1:
            out.append(f"  {line['quantity']} x {money(line['unit_price_minor'])}")
        if line["discount_minor"]:
            out.append(
                _row(f"  {line['promotion'] or labels['savings']}", money(-line["discount_minor"]))
            )
    out.append("-" * WIDTH)
    out.append(_row(labels["subtotal"], money(receipt["subtotal_minor"])))
    if receipt["discount_minor"]:
        out.append(_row(labels["savings"], money(-receipt["discount_minor"])))
    tax_label = labels["tax"] if receipt["prices_include_tax"] else labels["tax_excl"]
    for tax in receipt["taxes"]:
        rate = f"{tax['rate_bp'] / 100:g}%"
        out.append(_row(f"  {tax_label} {rate}", money(tax["tax_minor"])))
    out.append(_row(f"{labels['total']} {cur}", money(receipt["total_minor"])))
    for payment in receipt["payments"]:
        out.append(_row(f"{labels['paid']} ({payment['method']})", money(payment["amount_minor"])))
    if receipt["change_minor"]:
        out.append(_row(labels["change"], money(receipt["change_minor"])))
    out.append("-" * WIDTH)
    out.append(labels["thanks"])
    return "\n".join(out) + "\n"
