"""Catalog model and CSV import, against the shipped example catalog and bad rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.core.barcodes import CodeKind, ParsedCode, gtin_check_digit, is_valid_gtin, parse_code
from kiosk.core.catalog import (
    CATALOG_COLUMNS,
    Catalog,
    Product,
    Promotion,
    SoldBy,
    load_catalog_csv,
    parse_decimal,
)
from kiosk.errors import CatalogError, ConfigError

EXAMPLE = Path(__file__).parents[1] / "examples" / "catalog.csv"
HEADER = "sku,name_en,name_zh,price,sold_by,tax_rate,gtin,plu,store_code"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog_csv(EXAMPLE.read_text(encoding="utf-8"))


def csv_of(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def product(**overrides: object) -> Product:
    fields: dict[str, object] = {
        "sku": "X",
        "name_en": "Thing",
        "name_zh": "东西",
        "price_minor": 100,
        "sold_by": SoldBy.EACH,
        "tax_rate_bp": 1300,
    }
    fields.update(overrides)
    return Product(**fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# The example catalog


def test_example_catalog_size_and_codes(catalog: Catalog) -> None:
    assert len(catalog) >= 45
    gtins = [g for p in catalog.products for g in p.gtins]
    assert len(gtins) >= 35
    assert all(len(g) == 14 and is_valid_gtin(g) for g in gtins)
    assert sum(p.sold_by is SoldBy.WEIGHT and p.plu is not None for p in catalog) >= 8
    assert sum(p.min_age >= 18 for p in catalog) >= 2
    assert sum(p.store_code is not None for p in catalog) >= 2
    assert {p.promotion.kind for p in catalog if p.promotion} == {"multibuy", "percent"}
    assert {p.tax_rate_bp for p in catalog} == {900, 1300}
    assert all(p.name_zh for p in catalog)
    assert all(p.image_paths == (f"images/{p.sku}.jpg",) for p in catalog)


def test_example_packaged_goods_have_weights(catalog: Catalog) -> None:
    for p in catalog:
        if p.gtins:
            assert p.expected_weight_g and p.weight_tolerance_g, p.sku


@pytest.mark.parametrize(
    ("raw", "symbology", "sku"),
    [
        ("4006381333931", "EAN13", "HOU-003"),
        ("6902974302088", "", "DRK-001"),
        ("16902974302085", "", "DRK-002"),  # 24-pack GTIN-14
        ("049000028911", "UPCA", "DRK-003"),  # second GTIN of the Coca-Cola can
        ("0049000028911", "EAN13", "DRK-003"),
        ("69149733", "EAN8", "SNK-006"),
        ("02212308", "UPCE", "SNK-009"),
        ("02212308", "", "SNK-009"),
        ("4011", "", "PRD-001"),
        ("94011", "", "PRD-013"),  # organic listed separately: exact match wins
        ("94131", "", "PRD-002"),  # organic Fuji not listed: falls back to 4131
        ("(01)06901035603102(17)261200", "", "DRK-009"),
    ],
)
def test_lookup_scanned_codes(catalog: Catalog, raw: str, symbology: str, sku: str) -> None:
    found = catalog.lookup(parse_code(raw, symbology=symbology))
    assert found is not None
    assert found.sku == sku


def test_lookup_embedded_labels(catalog: Catalog) -> None:
    body = "21" + "10001" + "01234"  # roast duck, 1.234 kg
    code = parse_code(body + str(gtin_check_digit(body)))
    assert code.kind is CodeKind.EMBEDDED
    duck = catalog.lookup(code)
    assert duck is not None and duck.sku == "DLI-001"
    assert duck.price_minor * code.weight_g // 1000 == 8391  # 68.00/kg x 1.234 kg, floored
    body = "23" + "10003" + "04550"  # sushi platter labelled 45.50
    label = catalog.lookup(parse_code(body + str(gtin_check_digit(body))))
    assert label is not None and label.sku == "DLI-003"


def test_lookup_misses(catalog: Catalog) -> None:
    assert catalog.lookup(parse_code("4006381333948")) is None
    assert catalog.lookup(parse_code("4999")) is None
    assert catalog.by_plu("94999") is None
    assert catalog.by_plu("4011") is not catalog.by_plu("94011")
    assert catalog.by_sku("NOPE") is None
    assert catalog.by_gtin("not a gtin") is None
    assert catalog.lookup(ParsedCode(CodeKind.GTIN, "x")) is None


def test_by_gtin_accepts_short_forms(catalog: Catalog) -> None:
    assert catalog.by_gtin("4006381333931") is catalog.by_gtin("04006381333931")


def test_store_code_ignores_leading_zeros() -> None:
    cat = Catalog([product(sku="A", store_code="1234", sold_by=SoldBy.WEIGHT)])
    assert cat.by_store_code("01234") is cat.by_store_code("1234") is not None


@pytest.mark.parametrize(
    ("text", "lang", "first"),
    [
        ("banana", "en", "PRD-001"),
        ("BANANA", "en", "PRD-001"),
        ("香蕉", "zh", "PRD-001"),
        ("4131", "en", "PRD-002"),
        ("prd-003", "en", "PRD-003"),
        ("有机", "zh", "PRD-013"),
    ],
)
def test_search(catalog: Catalog, text: str, lang: str, first: str) -> None:
    hits = catalog.search(text, lang)
    assert hits and hits[0].sku == first


def test_search_ranks_and_limits(catalog: Catalog) -> None:
    hits = catalog.search("banana")
    assert [p.sku for p in hits] == ["PRD-001", "PRD-013"]
    assert len(catalog.search("a", limit=3)) == 3
    assert catalog.search("") == list(catalog.products[:20])
    assert catalog.search("zzzz-nothing") == []


def test_product_name_by_language(catalog: Catalog) -> None:
    banana = catalog.by_plu("4011")
    assert banana is not None
    assert (banana.name("en"), banana.name("zh"), banana.name("zh-CN")) == (
        "Bananas",
        "香蕉",
        "香蕉",
    )
    assert product(name_zh="").name("zh") == "Thing"


def test_columns_documented_order() -> None:
    assert CATALOG_COLUMNS[:5] == ("sku", "name_en", "name_zh", "price", "sold_by")
    assert EXAMPLE.read_text(encoding="utf-8").splitlines()[0] == ",".join(CATALOG_COLUMNS)


# --------------------------------------------------------------------------------------------
# CSV parsing


def test_minimal_csv_with_bom_comments_and_blank_lines() -> None:
    text = "\ufeffsku,name_en,price,sold_by\n# comment\n\nA,Apple,1.5,each\nB,Beef,58,WEIGHT\n"
    cat = load_catalog_csv(text)
    a, b = cat.products
    assert (a.price_minor, a.sold_by, a.tax_rate_bp, a.name_zh, a.gtins) == (
        150,
        SoldBy.EACH,
        0,
        "",
        (),
    )
    assert (b.price_minor, b.sold_by) == (5800, SoldBy.WEIGHT)


def test_cells_are_converted() -> None:
    header = ",".join(CATALOG_COLUMNS)
    row = (
        "S1, Soap ,香皂,12.50,each,9.5,036000291452|04252614,,,120,5,18,home,"
        "percent:10,a.jpg|img/b.jpg"
    )
    p = load_catalog_csv(csv_of(row, header=header)).products[0]
    assert p.name_en == "Soap"
    assert p.price_minor == 1250
    assert p.tax_rate_bp == 950
    assert p.gtins == ("00036000291452", "00042100005264")
    assert (p.expected_weight_g, p.weight_tolerance_g, p.min_age) == (120, 5, 18)
    assert p.promotion == Promotion("percent", percent=10)
    assert p.image_paths == ("a.jpg", "img/b.jpg")


def test_currency_exponent() -> None:
    text = csv_of("A,Apple,,100,each,,,,", header=HEADER)
    assert load_catalog_csv(text, currency_exponent=0).products[0].price_minor == 100
    text = csv_of("A,Apple,,12.5,each,,,,")
    with pytest.raises(CatalogError, match="decimal places"):
        load_catalog_csv(text, currency_exponent=0)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("A,Apple,,abc,each,13,,,", "line 2, column 'price'"),
        ("A,Apple,,-1,each,13,,,", "line 2, column 'price'"),
        ("A,Apple,,1.005,each,13,,,", "more than 2 decimal places"),
        ("A,Apple,,,each,13,,,", "column 'price': must not be empty"),
        (",Apple,,1,each,13,,,", "column 'sku': must not be empty"),
        ("A,,,1,each,13,,,", "column 'name_en'"),
        ("A,Apple,,1,box,13,,,", "column 'sold_by': 'box' must be 'each' or 'weight'"),
        ("A,Apple,,1,each,13%%,,,", "column 'tax_rate'"),
        ("A,Apple,,1,each,101,,,", "line 2: .*tax rate"),
        ("A,Apple,,1,each,13,4006381333932,,", "column 'gtin'.*should be 1, got 2"),
        ("A,Apple,,1,each,13,4006381333931|04006381333931,,", "listed twice"),
        ("A,Apple,,1,each,13,4.00638E+12,,", "column 'gtin'"),
        ("A,Apple,,1,each,13,,401,", "column 'plu': '401' must be 4 or 5 digits"),
        ("A,Apple,,1,each,13,,,12a", "column 'store_code': '12a' must be digits"),
        ("A,Apple,,1,each,13,,,,extra", "10 cells but the header has 9"),
    ],
)
def test_bad_rows_name_line_and_column(row: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        load_catalog_csv(csv_of(row))


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        ("sku,name_en,price,sold_by,colour", "A,Apple,1,each,red", "unknown column 'colour'"),
        ("sku,name_en,price", "A,Apple,1", "missing required column.*sold_by"),
        ("sku,name_en,price,sold_by,price", "A,Apple,1,each,2", "'price' appears twice"),
        ("sku,name_en,price,sold_by,weight_tolerance_g", "A,B,1,each,5", "expected_weight_g"),
        ("sku,name_en,price,sold_by,expected_weight_g", "A,B,1,weight,500", "sold by weight"),
        ("sku,name_en,price,sold_by,expected_weight_g", "A,B,1,each,1.5", "whole number"),
        ("sku,name_en,price,sold_by,min_age", "A,B,1,each,150", "min_age"),
        ("sku,name_en,price,sold_by,promotion", "A,B,1,each,bogof", "column 'promotion'"),
        ("sku,name_en,price,sold_by,promotion", "A,B,1,weight,multibuy:2:3", "by weight"),
        ("sku,name_en,price,sold_by,images", "A,B,1,each,/etc/passwd", "relative path"),
        ("sku,name_en,price,sold_by,images", "A,B,1,each,../x.jpg", "'..'"),
        ("sku,name_en,price,sold_by,images", "A,B,1,each,C:\\x.jpg", "relative path"),
    ],
)
def test_bad_headers_and_cells(header: str, row: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        load_catalog_csv(csv_of(row, header=header))


def test_error_line_numbers_count_blank_and_comment_lines() -> None:
    text = "sku,name_en,price,sold_by\n\n# note\nA,Apple,1,each\nB,Bread,x,each\n"
    with pytest.raises(CatalogError, match="line 5, column 'price'"):
        load_catalog_csv(text)


def test_empty_catalog_is_an_error() -> None:
    with pytest.raises(CatalogError, match="empty"):
        load_catalog_csv("\n# only a comment\n")


def test_catalog_error_is_a_config_error() -> None:
    assert issubclass(CatalogError, ConfigError)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["A,Apple,,1,each,13,,,", "A,Other,,1,each,13,,,"], "line 3: duplicate sku 'A'"),
        (
            ["A,Apple,,1,each,13,4006381333931,,", "B,Pen,,1,each,13,04006381333931,,"],
            "line 3: duplicate gtin '04006381333931'.*'A' and 'B'",
        ),
        (["A,Apple,,1,weight,9,,4011,", "B,Banana,,1,weight,9,,4011,"], "duplicate plu '4011'"),
        (["A,Duck,,1,weight,9,,,01234", "B,Pork,,1,weight,9,,,1234"], "duplicate store_code"),
    ],
)
def test_duplicate_codes_rejected(rows: list[str], message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        load_catalog_csv(csv_of(*rows))


def test_duplicate_codes_rejected_without_csv() -> None:
    with pytest.raises(CatalogError, match="duplicate gtin"):
        Catalog(
            [
                product(sku="A", gtins=("04006381333931",)),
                product(sku="B", gtins=("04006381333931",)),
            ]
        )


def test_product_rejects_unnormalised_gtin() -> None:
    with pytest.raises(CatalogError, match="14-digit GTIN"):
        product(gtins=("4006381333931",))


# --------------------------------------------------------------------------------------------
# Promotions and decimals


@pytest.mark.parametrize(
    ("text", "exp", "promotion"),
    [
        ("multibuy:3:5.00", 2, Promotion("multibuy", quantity=3, price_minor=500)),
        ("multibuy:2:8", 2, Promotion("multibuy", quantity=2, price_minor=800)),
        (" MULTIBUY : 3 : 5.5 ", 2, Promotion("multibuy", quantity=3, price_minor=550)),
        ("multibuy:3:500", 0, Promotion("multibuy", quantity=3, price_minor=500)),
        ("percent:10", 2, Promotion("percent", percent=10)),
        ("percent:99", 2, Promotion("percent", percent=99)),
    ],
)
def test_promotion_parse(text: str, exp: int, promotion: Promotion) -> None:
    assert Promotion.parse(text, exp) == promotion


@pytest.mark.parametrize(
    "text",
    [
        "",
        "bogof",
        "multibuy:1:5.00",
        "multibuy:3",
        "multibuy:3:0",
        "multibuy:x:5",
        "multibuy:3:5.001",
        "multibuy:3:-5",
        "percent:0",
        "percent:100",
        "percent:12.5",
        "percent:10:2",
    ],
)
def test_promotion_parse_rejects(text: str) -> None:
    with pytest.raises(CatalogError):
        Promotion.parse(text)


@pytest.mark.parametrize(
    ("text", "places", "value"),
    [
        ("12.50", 2, 1250),
        ("12.5", 2, 1250),
        ("12", 2, 1200),
        (".5", 2, 50),
        ("3.", 2, 300),
        ("9.5", 2, 950),
        ("12.500", 2, 1250),
        ("7", 0, 7),
        ("0.001", 3, 1),
    ],
)
def test_parse_decimal(text: str, places: int, value: int) -> None:
    assert parse_decimal(text, places) == value


@pytest.mark.parametrize("text", ["", "1,5", "1.2.3", "-1", "1e3", "١٢", "12.345", " . "])
def test_parse_decimal_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_decimal(text, 2)
