"""Cart pricing: exact rounding, weighed prices, promotions and tax, by hand and by property."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.core.catalog import Catalog, Product, SoldBy, load_catalog_csv
from kiosk.core.pricing import (
    CartLine,
    Totals,
    compute_totals,
    div_round_half_up,
    line_for_product,
    price_by_weight,
    void_line,
)

CATALOG_CSV = """\
sku,name_en,name_zh,price,sold_by,tax_rate,plu,promotion
WATER,Water 550 ml,水,2.00,each,13,,
COLA,Cola can,可乐,3.00,each,13,,multibuy:3:8.00
DEAL,Deep deal soap,肥皂,3.00,each,13,,multibuy:3:5.00
NODEAL,Fake deal,假促销,2.00,each,13,,multibuy:2:5.00
COFFEE,Instant coffee,咖啡,32.90,each,13,,percent:15
CHIPS,Chips,薯片,7.50,each,13,,percent:10
RICE,Rice 5 kg,大米,39.90,each,9,,
BOOK,Book,书,45.00,each,0,,
BANANA,Bananas,香蕉,6.98,weight,9,4011,
KIWI,Kiwifruit,猕猴桃,15.80,weight,9,4030,percent:20
"""
CATALOG: Catalog = load_catalog_csv(CATALOG_CSV)
PROMOS = {p.sku: p.promotion for p in CATALOG.products if p.promotion}


def product(sku: str) -> Product:
    found = CATALOG.by_sku(sku)
    assert found is not None, sku
    return found


def cart(*items: tuple[Any, ...]) -> list[CartLine]:
    """Lines from (sku, quantity) for items sold each, (sku, 1, grams) for weighed ones."""
    lines = []
    for n, item in enumerate(items, start=1):
        p = product(item[0])
        if p.sold_by is SoldBy.WEIGHT:
            lines.append(line_for_product(n, p, code=p.sku, entry="plu", weight_g=item[2]))
        else:
            lines.append(line_for_product(n, p, code=p.sku, entry="scan", quantity=item[1]))
    return lines


def totals(lines: list[CartLine], *, inclusive: bool = True) -> Totals:
    return compute_totals(lines, PROMOS, prices_include_tax=inclusive)


def discounts_by_line(t: Totals) -> dict[int, int]:
    return {p.line.line_id: p.discount_minor for p in t.lines}


# --------------------------------------------------------------------------------------------
# Rounding and weighed prices


@pytest.mark.parametrize(
    ("num", "den", "expected"),
    [
        (0, 1, 0),
        (0, 7, 0),
        (10, 5, 2),
        (4, 10, 0),
        (5, 10, 1),  # exact half goes up
        (6, 10, 1),
        (15, 10, 2),
        (25, 10, 3),  # half up, not half even
        (1, 3, 0),
        (2, 3, 1),
        (7, 2, 4),
        (-4, 10, 0),
        (-5, 10, -1),  # half away from zero
        (-6, 10, -1),
        (-15, 10, -2),
        (-25, 10, -3),
        (-7, 2, -4),
        (-2, 3, -1),
        (10**30 + 5, 10, 10**29 + 1),  # exact for big integers, no float
    ],
)
def test_div_round_half_up(num: int, den: int, expected: int) -> None:
    assert div_round_half_up(num, den) == expected


@pytest.mark.parametrize("den", [0, -1, -10])
def test_div_round_half_up_rejects_non_positive_denominator(den: int) -> None:
    with pytest.raises(ValueError):
        div_round_half_up(5, den)


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6))
def test_div_round_half_up_is_nearest_and_symmetric(num: int, den: int) -> None:
    q = div_round_half_up(num, den)
    # Within half a unit of the exact quotient: |num - q*den| <= den/2.
    assert 2 * abs(num - q * den) <= den
    assert div_round_half_up(-num, den) == -q


@pytest.mark.parametrize(
    ("per_kg", "grams", "expected"),
    [
        (698, 1184, 826),  # 6.98/kg x 1.184 kg = 8.26432
        (998, 912, 910),  # 9.98/kg x 0.912 kg = 9.10176
        (1500, 333, 500),  # 4.995 -> 5.00 (exact half rounds up)
        (500, 1, 1),  # 0.005 -> 0.01
        (499, 1, 0),  # 0.00499 -> 0.00
        (6800, 1234, 8391),  # 68.00/kg x 1.234 kg = 83.912
        (698, 0, 0),
        (0, 2000, 0),
    ],
)
def test_price_by_weight(per_kg: int, grams: int, expected: int) -> None:
    assert price_by_weight(per_kg, grams) == expected


def test_weighed_line_needs_a_weight_and_an_embedded_price_wins() -> None:
    with pytest.raises(ValueError):
        line_for_product(1, product("BANANA"), code="4011", entry="plu")
    line = line_for_product(1, product("BANANA"), code="x", entry="embedded", price_minor=777)
    assert line.amount_minor == 777
    line = line_for_product(1, product("WATER"), code="x", entry="scan", quantity=4)
    assert (line.quantity, line.amount_minor) == (4, 800)


# --------------------------------------------------------------------------------------------
# Tax, by hand


@pytest.mark.parametrize(
    ("sku", "qty", "inclusive", "tax", "total"),
    [
        ("WATER", 5, False, 130, 1130),  # 10.00 + 13 % = 11.30
        ("RICE", 1, True, 329, 3990),  # 39.90 * 9/109 = 3.2945...
        ("RICE", 1, False, 359, 4349),  # 39.90 * 9 % = 3.591
        ("BOOK", 2, True, 0, 9000),  # zero-rated
        ("BOOK", 2, False, 0, 9000),
    ],
)
def test_tax_by_hand(sku: str, qty: int, inclusive: bool, tax: int, total: int) -> None:
    t = totals(cart((sku, qty)), inclusive=inclusive)
    assert (t.tax_minor, t.total_minor) == (tax, total)


def test_tax_included_in_1130_is_130() -> None:
    lines = [line_for_product(1, product("WATER"), code="w", entry="scan", price_minor=1130)]
    t = totals(lines, inclusive=True)
    assert (t.tax_minor, t.total_minor) == (130, 1130)


def test_exclusive_tax_exact_half_rounds_up() -> None:
    one_percent = load_catalog_csv("sku,name_en,price,sold_by,tax_rate\nX,x,0.50,each,1\n")
    line = line_for_product(1, one_percent.products[0], code="x", entry="scan")
    t = compute_totals([line], {}, prices_include_tax=False)
    assert (t.tax_minor, t.total_minor) == (1, 51)  # 0.50 * 1 % = 0.005 -> 0.01


def test_mixed_rates_tax_by_rate() -> None:
    # WATER 2 x 2.00 at 13 %, RICE 39.90 at 9 %, BOOK 45.00 at 0 %, prices include tax.
    t = totals(cart(("WATER", 2), ("RICE", 1), ("BOOK", 1)))
    # 4.00 * 13/113 = 0.4602 -> 0.46; 39.90 * 9/109 = 3.2945 -> 3.29
    assert t.tax_by_rate == ((0, 4500, 0), (900, 3990, 329), (1300, 400, 46))
    assert t.tax_minor == 375
    assert t.total_minor == 400 + 3990 + 4500
    assert t.item_count == 4


# --------------------------------------------------------------------------------------------
# Promotions


@pytest.mark.parametrize(
    ("quantities", "expected_discounts"),
    [
        # COLA: 3 for 8.00 at 3.00 each, so every completed group saves 1.00.
        ((1, 1, 1, 1, 1, 1, 1), {3: 100, 6: 100}),  # 7 units, one line each
        ((2, 2, 3), {2: 100, 3: 100}),  # 2 -> 4 (a group) -> 7 (another)
        ((1, 6), {2: 200}),  # one line completes two groups
        ((7,), {1: 200}),
        ((2,), {}),
        ((3, 3), {1: 100, 2: 100}),
    ],
)
def test_multibuy_lands_on_the_completing_line(
    quantities: tuple[int, ...], expected_discounts: dict[int, int]
) -> None:
    t = totals(cart(*(("COLA", q) for q in quantities)))
    got = {k: v for k, v in discounts_by_line(t).items() if v}
    assert got == expected_discounts
    units = sum(quantities)
    assert t.total_minor == units * 300 - (units // 3) * 100
    labelled = {p.line.line_id for p in t.lines if p.promotion}
    assert labelled == set(expected_discounts)
    assert all(p.promotion == "3 for 8.00" for p in t.lines if p.promotion)


def test_multibuy_counts_each_sku_separately_and_ignores_other_items() -> None:
    t = totals(cart(("COLA", 1), ("WATER", 1), ("COLA", 1), ("DEAL", 1), ("COLA", 1)))
    assert {k: v for k, v in discounts_by_line(t).items() if v} == {5: 100}


def test_voiding_a_line_moves_the_multibuy_group() -> None:
    lines = cart(("COLA", 1), ("COLA", 1), ("COLA", 1))
    lines = void_line(lines, 2)
    t = totals(lines)
    assert t.discount_minor == 0 and t.total_minor == 600
    lines.append(line_for_product(4, product("COLA"), code="c", entry="scan"))
    t = totals(lines)
    assert discounts_by_line(t) == {1: 0, 3: 0, 4: 100}
    assert t.total_minor == 800


def test_multibuy_saving_bigger_than_one_item_is_not_lost() -> None:
    # DEAL: 3 for 5.00 at 3.00 each saves 4.00, more than the 3.00 completing line.
    # The shopper must pay 5.00, and no line may go below zero.
    t = totals(cart(("DEAL", 1), ("DEAL", 1), ("DEAL", 1)))
    assert t.total_minor == 500
    assert t.discount_minor == 400
    assert discounts_by_line(t) == {1: 0, 2: 100, 3: 300}
    assert all(p.net_minor >= 0 for p in t.lines)


def test_multibuy_that_saves_nothing_gives_no_discount() -> None:
    # NODEAL: "2 for 5.00" on 2.00 items would cost more; it must not raise the price.
    t = totals(cart(("NODEAL", 1), ("NODEAL", 1)))
    assert (t.discount_minor, t.total_minor) == (0, 400)


@pytest.mark.parametrize(
    ("items", "discount", "net"),
    [
        ((("COFFEE", 1),), 494, 2796),  # 15 % of 32.90 = 4.935 -> 4.94
        ((("CHIPS", 1),), 75, 675),
        ((("CHIPS", 3),), 225, 2025),
        ((("KIWI", 1, 500),), 158, 632),  # 15.80/kg x 0.5 kg = 7.90; 20 % = 1.58
        ((("KIWI", 1, 333),), 105, 421),  # 5.2614 -> 5.26; 20 % = 1.052 -> 1.05
    ],
)
def test_percent_promotions(items: tuple[tuple[str, ...], ...], discount: int, net: int) -> None:
    t = totals(cart(*items))
    assert (t.discount_minor, t.total_minor) == (discount, net)
    assert t.subtotal_minor == net + discount


def test_tax_is_on_the_discounted_amount() -> None:
    t = totals(cart(("COFFEE", 1)))
    assert t.lines[0].tax_minor == 322  # 27.96 * 13/113 = 3.2166
    t = totals(cart(("COFFEE", 1)), inclusive=False)
    assert t.lines[0].tax_minor == 363  # 27.96 * 13 % = 3.6348
    assert t.total_minor == 2796 + 363


def test_voided_lines_do_not_count() -> None:
    lines = void_line(cart(("WATER", 1), ("RICE", 1)), 2)
    t = totals(lines)
    assert (t.item_count, t.subtotal_minor, t.total_minor) == (1, 200, 200)
    assert [p.line.line_id for p in t.lines] == [1]


# --------------------------------------------------------------------------------------------
# Properties over random carts

EACH_SKUS = [p.sku for p in CATALOG.products if p.sold_by is SoldBy.EACH]
WEIGHED_SKUS = [p.sku for p in CATALOG.products if p.sold_by is SoldBy.WEIGHT]


@st.composite
def carts(draw: st.DrawFn, skus: list[str] | None = None) -> list[CartLine]:
    n = draw(st.integers(0, 12))
    lines: list[CartLine] = []
    for line_id in range(1, n + 1):
        sku = draw(st.sampled_from(skus or EACH_SKUS + WEIGHED_SKUS))
        p = product(sku)
        embedded = skus is None and draw(st.booleans()) and draw(st.booleans())
        price = draw(st.integers(0, 50_000)) if embedded else None
        if p.sold_by is SoldBy.WEIGHT:
            grams = draw(st.integers(1, 20_000))
            line = line_for_product(
                line_id, p, code=sku, entry="plu", weight_g=grams, price_minor=price
            )
        else:
            qty = draw(st.integers(1, 9))
            line = line_for_product(
                line_id, p, code=sku, entry="scan", quantity=qty, price_minor=price
            )
        if skus is None and draw(st.integers(0, 5)) == 0:
            line = void_line([line], line_id)[0]
        lines.append(line)
    return lines


@settings(max_examples=300)
@given(carts(), st.booleans())
def test_totals_add_up(lines: list[CartLine], inclusive: bool) -> None:
    t = totals(lines, inclusive=inclusive)
    active = [x for x in lines if not x.voided]
    assert [p.line for p in t.lines] == active
    nets = sum(p.net_minor for p in t.lines)
    taxes = sum(p.tax_minor for p in t.lines)
    assert t.total_minor == (nets if inclusive else nets + taxes)
    assert t.tax_minor == taxes == sum(tax for _, _, tax in t.tax_by_rate)
    assert sum(taxable for _, taxable, _ in t.tax_by_rate) == nets
    assert t.subtotal_minor - t.discount_minor == nets
    assert t.item_count == sum(x.quantity for x in active)
    for p in t.lines:
        assert 0 <= p.discount_minor <= p.line.amount_minor
        assert p.net_minor == p.line.amount_minor - p.discount_minor
        assert 0 <= p.tax_minor <= p.net_minor
        rate = p.line.tax_rate_bp
        exact_den = 10_000 + rate if inclusive else 10_000
        assert 2 * abs(p.net_minor * rate - p.tax_minor * exact_den) <= exact_den


NO_MULTIBUY = [
    s for s in EACH_SKUS + WEIGHED_SKUS if not (PROMOS.get(s) and PROMOS[s].kind == "multibuy")
]


@settings(max_examples=200)
@given(carts(NO_MULTIBUY), st.booleans(), st.randoms(use_true_random=False))
def test_order_of_lines_does_not_matter_without_multibuy(
    lines: list[CartLine], inclusive: bool, rnd: random.Random
) -> None:
    shuffled = list(lines)
    rnd.shuffle(shuffled)
    a, b = totals(lines, inclusive=inclusive), totals(shuffled, inclusive=inclusive)
    assert a.summary() == b.summary()
    assert a.tax_by_rate == b.tax_by_rate
    assert sorted(a.lines, key=lambda p: p.line.line_id) == sorted(
        b.lines, key=lambda p: p.line.line_id
    )


@settings(max_examples=200)
@given(carts(["COLA", "DEAL", "NODEAL", "WATER"]), st.randoms(use_true_random=False))
def test_multibuy_total_matches_the_offer(lines: list[CartLine], rnd: random.Random) -> None:
    """n units of a '3 for P' item cost n*unit - (n // 3) * (3*unit - P), in any order."""
    expected = 0
    for sku in ("COLA", "DEAL", "NODEAL", "WATER"):
        p = product(sku)
        n = sum(x.quantity for x in lines if x.sku == sku)
        promo = PROMOS.get(sku)
        saving = max(promo.quantity * p.price_minor - promo.price_minor, 0) if promo else 0
        groups = n // promo.quantity if promo else 0
        expected += n * p.price_minor - groups * saving
    shuffled = list(lines)
    rnd.shuffle(shuffled)
    for order in (lines, shuffled):
        t = totals(order)
        assert t.total_minor == expected
        assert all(0 <= p.discount_minor <= p.line.amount_minor for p in t.lines)


def test_example_catalog_smoke() -> None:
    """The shipped catalog prices a mixed basket the same way (one smoke test)."""
    from kiosk.replay import DEFAULT_CATALOG, load_catalog_file

    catalog = load_catalog_file(DEFAULT_CATALOG)
    promos = {p.sku: p.promotion for p in catalog.products if p.promotion}
    cola, bananas = catalog.by_sku("DRK-003"), catalog.by_plu("4011")
    assert cola is not None and bananas is not None
    lines = [line_for_product(i, cola, code="c", entry="scan") for i in (1, 2, 3)]
    lines.append(line_for_product(4, bananas, code="4011", entry="plu", weight_g=1184))
    t = compute_totals(lines, promos, prices_include_tax=True)
    assert t.total_minor == 800 + 826  # 3 for 8.00, plus 6.98/kg x 1.184 kg
