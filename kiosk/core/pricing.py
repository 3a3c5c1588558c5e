"""Cart lines, promotions and tax, all in integer minor units.

Rounding is half-up on exact integer fractions, so a total never depends on float
representation. Tax is computed per line (after that line's share of any promotion) and
the receipt's tax per rate is the sum of its lines' taxes, so lines always add up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from kiosk.core.catalog import Product, Promotion, SoldBy


def div_round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, exactly."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    return sign * ((2 * abs(numerator) + denominator) // (2 * denominator))


def price_by_weight(price_per_kg_minor: int, weight_g: int) -> int:
    return div_round_half_up(price_per_kg_minor * weight_g, 1000)


@dataclass(frozen=True)
class CartLine:
    line_id: int
    sku: str
    name_en: str
    name_zh: str
    sold_by: SoldBy
    quantity: int  # items; 1 for weighed lines
    unit_price_minor: int  # per item, or per kg for weighed lines
    amount_minor: int  # before promotions
    tax_rate_bp: int
    code: str  # what was scanned or typed
    entry: str  # scan | plu | lookup | embedded
    weight_g: int | None = None
    min_age: int = 0
    voided: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "line_id": self.line_id,
            "sku": self.sku,
            "name_en": self.name_en,
            "name_zh": self.name_zh,
            "sold_by": self.sold_by.value,
            "quantity": self.quantity,
            "weight_g": self.weight_g,
            "unit_price_minor": self.unit_price_minor,
            "amount_minor": self.amount_minor,
            "tax_rate_bp": self.tax_rate_bp,
            "code": self.code,
            "entry": self.entry,
            "min_age": self.min_age,
        }

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> CartLine:
        return cls(
            line_id=obj["line_id"],
            sku=obj["sku"],
            name_en=obj["name_en"],
            name_zh=obj["name_zh"],
            sold_by=SoldBy(obj["sold_by"]),
            quantity=obj["quantity"],
            unit_price_minor=obj["unit_price_minor"],
            amount_minor=obj["amount_minor"],
            tax_rate_bp=obj["tax_rate_bp"],
            code=obj["code"],
            entry=obj["entry"],
            weight_g=obj.get("weight_g"),
            min_age=obj.get("min_age", 0),
        )


def line_for_product(
    line_id: int,
    product: Product,
    *,
    code: str,
    entry: str,
    quantity: int = 1,
    weight_g: int | None = None,
    price_minor: int | None = None,
) -> CartLine:
    """Price one line. An embedded price wins over the catalog price."""
    if price_minor is not None:
        amount = price_minor
    elif product.sold_by is SoldBy.WEIGHT:
        if weight_g is None:
            raise ValueError(f"{product.sku} is sold by weight and needs a weight")
        amount = price_by_weight(product.price_minor, weight_g)
    else:
        amount = product.price_minor * quantity
    return CartLine(
        line_id=line_id,
        sku=product.sku,
        name_en=product.name_en,
        name_zh=product.name_zh,
        sold_by=product.sold_by,
        quantity=quantity,
        unit_price_minor=product.price_minor,
        amount_minor=amount,
        tax_rate_bp=product.tax_rate_bp,
        code=code,
        entry=entry,
        weight_g=weight_g,
        min_age=product.min_age,
    )


@dataclass(frozen=True)
class PricedLine:
    line: CartLine
    discount_minor: int  # promotion share of this line, >= 0
    net_minor: int  # amount after discount (tax included if prices include tax)
    tax_minor: int
    promotion: str | None


@dataclass(frozen=True)
class Totals:
    lines: tuple[PricedLine, ...]
    item_count: int
    subtotal_minor: int  # before discounts
    discount_minor: int
    tax_minor: int
    total_minor: int  # what the shopper pays
    tax_by_rate: tuple[tuple[int, int, int], ...]  # (rate_bp, taxable_minor, tax_minor)

    def summary(self) -> dict[str, int]:
        return {
            "items": self.item_count,
            "subtotal_minor": self.subtotal_minor,
            "discount_minor": self.discount_minor,
            "tax_minor": self.tax_minor,
            "total_minor": self.total_minor,
        }


def _promotion_label(promo: Promotion, exponent: int) -> str:
    if promo.kind == "multibuy":
        return f"{promo.quantity} for {promo.price_minor / 10**exponent:.{exponent}f}"
    return f"{promo.percent}% off"


def _discounts(lines: Sequence[CartLine], promotions: Mapping[str, Promotion]) -> dict[int, int]:
    """Promotion discount per line id. A multi-buy saving lands on the line completing a group."""
    discounts: dict[int, int] = {}
    counted: dict[str, int] = {}
    seen: dict[str, list[CartLine]] = {}
    for line in lines:
        promo = promotions.get(line.sku)
        if promo is None or line.voided:
            continue
        if promo.kind == "percent":
            discounts[line.line_id] = div_round_half_up(line.amount_minor * promo.percent, 100)
        elif promo.kind == "multibuy" and line.sold_by is SoldBy.EACH and promo.quantity > 0:
            before = counted.get(line.sku, 0)
            after = before + line.quantity
            counted[line.sku] = after
            same_sku = seen.setdefault(line.sku, [])
            same_sku.append(line)
            groups = after // promo.quantity - before // promo.quantity
            saving = promo.quantity * line.unit_price_minor - promo.price_minor
            if groups and saving > 0:
                # A saving larger than the completing line (e.g. 3 for 5.00 on 3.00 items)
                # spills onto the earlier lines of the same item, never below zero.
                owed = groups * saving
                for prior in reversed(same_sku):
                    room = prior.amount_minor - discounts.get(prior.line_id, 0)
                    take = min(owed, max(room, 0))
                    if take:
                        discounts[prior.line_id] = discounts.get(prior.line_id, 0) + take
                        owed -= take
                    if not owed:
                        break
    return discounts


def compute_totals(
    lines: Sequence[CartLine],
    promotions: Mapping[str, Promotion],
    *,
    prices_include_tax: bool,
    currency_exponent: int = 2,
) -> Totals:
    active = [line for line in lines if not line.voided]
    discounts = _discounts(active, promotions)
    priced: list[PricedLine] = []
    by_rate: dict[int, list[int]] = {}
    for line in active:
        discount = min(discounts.get(line.line_id, 0), line.amount_minor)
        net = line.amount_minor - discount
        rate = line.tax_rate_bp
        if prices_include_tax:
            tax = div_round_half_up(net * rate, 10_000 + rate)
        else:
            tax = div_round_half_up(net * rate, 10_000)
        promo = promotions.get(line.sku)
        label = _promotion_label(promo, currency_exponent) if promo and discount else None
        priced.append(PricedLine(line, discount, net, tax, label))
        acc = by_rate.setdefault(rate, [0, 0])
        acc[0] += net
        acc[1] += tax
    subtotal = sum(p.line.amount_minor for p in priced)
    discount_total = sum(p.discount_minor for p in priced)
    tax_total = sum(p.tax_minor for p in priced)
    net_total = subtotal - discount_total
    return Totals(
        lines=tuple(priced),
        item_count=sum(p.line.quantity for p in priced),
        subtotal_minor=subtotal,
        discount_minor=discount_total,
        tax_minor=tax_total,
        total_minor=net_total if prices_include_tax else net_total + tax_total,
        tax_by_rate=tuple((rate, v[0], v[1]) for rate, v in sorted(by_rate.items())),
    )


def void_line(lines: Sequence[CartLine], line_id: int) -> list[CartLine]:
    return [replace(line, voided=True) if line.line_id == line_id else line for line in lines]
