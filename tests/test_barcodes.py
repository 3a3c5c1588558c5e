"""GS1 code parsing: table-driven real-world cases plus property tests."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.core.barcodes import (
    DEFAULT_RULES,
    GS,
    CodeKind,
    EmbeddedRule,
    expand_upce,
    gtin_check_digit,
    is_ifps_plu,
    is_valid_gtin,
    normalize_gtin,
    parse_code,
    parse_embedded_rule,
    parse_embedded_rules,
    parse_gs1_element_string,
    price_verifier_digit,
)
from kiosk.errors import BarcodeError


def with_check(body: str) -> str:
    return body + str(gtin_check_digit(body))


# --------------------------------------------------------------------------------------------
# Check digits, UPC-E, normalisation


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("400638133393", 1),  # EAN-13, Stabilo
        ("03600029145", 2),  # UPC-A
        ("9638507", 4),  # EAN-8
        ("950110153000", 3),  # GS1 example GTIN-13
        ("1690297430208", 5),  # GTIN-14 with packaging indicator 1
    ],
)
def test_gtin_check_digit(body: str, check: int) -> None:
    assert gtin_check_digit(body) == check


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("4006381333931", True),
        ("036000291452", True),
        ("96385074", True),
        ("00036000291452", True),
        ("4006381333932", False),
        ("036000291453", False),
        ("400638133393", False),  # 12 digits but wrong check as UPC-A
        ("40063813339311", False),
        ("4006381333", False),
        ("40063813339a1", False),
        ("", False),
        ("٤٠٠٦٣٨١٣٣٣٩٣١", False),  # Arabic-Indic digits are not barcode digits
    ],
)
def test_is_valid_gtin(code: str, valid: bool) -> None:
    assert is_valid_gtin(code) is valid


@pytest.mark.parametrize(
    ("upce", "upca"),
    [
        ("04252614", "042100005264"),  # last digit 1: manufacturer 042100
        ("01234565", "012345000065"),  # last digit 5..9
        ("01234133", "012300000413"),  # last digit 3
        ("01234747", "012340000077"),  # last digit 4
        ("02212308", "022000001238"),
    ],
)
def test_expand_upce(upce: str, upca: str) -> None:
    assert expand_upce(upce) == upca
    assert is_valid_gtin(upca)


@pytest.mark.parametrize("bad", ["04252615", "24252614", "0425261", "0425261x"])
def test_expand_upce_rejects(bad: str) -> None:
    with pytest.raises(BarcodeError):
        expand_upce(bad)


@pytest.mark.parametrize(
    ("code", "symbology", "gtin14"),
    [
        ("4006381333931", "EAN13", "04006381333931"),
        ("036000291452", "UPCA", "00036000291452"),
        ("96385074", "EAN8", "00000096385074"),
        ("04252614", "UPCE", "00042100005264"),
        ("04252614", "", "00042100005264"),  # check digit only fits UPC-E
        ("96385074", "", "00000096385074"),
        ("16902974302085", "", "16902974302085"),
        (" 4006381333931 ", "", "04006381333931"),
    ],
)
def test_normalize_gtin(code: str, symbology: str, gtin14: str) -> None:
    assert normalize_gtin(code, symbology) == gtin14


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("4006381333932", "check digit should be 1, got 2"),
        ("400638133393", "check digit should be"),
        ("123456789", "8, 12, 13 or 14 digits"),
        ("96385074", "UPC-E"),  # forced UPC-E: number system 9 is not allowed
    ],
)
def test_normalize_gtin_errors(code: str, message: str) -> None:
    symbology = "UPCE" if message == "UPC-E" else ""
    with pytest.raises(BarcodeError, match=message):
        normalize_gtin(code, symbology)


# --------------------------------------------------------------------------------------------
# parse_code: GTINs and PLUs


@pytest.mark.parametrize(
    ("raw", "symbology", "gtin"),
    [
        ("4006381333931", "", "04006381333931"),
        ("036000291452", "", "00036000291452"),
        ("0036000291452", "EAN13", "00036000291452"),  # UPC-A read as EAN-13
        ("04252614", "UPCE", "00042100005264"),
        ("96385074", "EAN8", "00000096385074"),
        ("]E04006381333931", "", "04006381333931"),  # AIM identifier for EAN-13
        ("]E496385074", "", "00000096385074"),
        ("09501101530003", "DATABAR", "09501101530003"),  # reader sent the bare GTIN
        (
            with_check("251234567890"),
            "",
            "0" + with_check("251234567890"),
        ),  # restricted prefix, no rule matches
    ],
)
def test_parse_gtin(raw: str, symbology: str, gtin: str) -> None:
    code = parse_code(raw, symbology=symbology)
    assert code.kind is CodeKind.GTIN
    assert code.gtin == gtin
    assert code.raw == raw


@pytest.mark.parametrize(
    ("raw", "organic", "ifps"),
    [
        ("4011", False, True),
        ("4131", False, True),
        ("94011", True, True),
        ("84011", False, True),
        ("3000", False, True),
        ("1234", False, False),  # retailer PLU
        ("5000", False, False),
        ("90001", True, False),
        ("  4062\n", False, True),
    ],
)
def test_parse_plu(raw: str, organic: bool, ifps: bool) -> None:
    code = parse_code(raw)
    assert code.kind is CodeKind.PLU
    assert code.plu == raw.strip()
    assert code.organic is organic
    assert is_ifps_plu(code.plu) is ifps


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("4006381333932", "check digit should be 1, got 2"),
        ("ABC123", "other than digits"),
        ("123", "3 digits"),
        ("1234567", "7 digits"),
        ("123456789012345", "digits"),
        ("4006381333931x", "other than digits"),
        ("04252615", "check digit"),
    ],
)
def test_parse_code_errors(raw: str, message: str) -> None:
    with pytest.raises(BarcodeError, match=message):
        parse_code(raw)


# --------------------------------------------------------------------------------------------
# Embedded in-store labels


def test_default_rules() -> None:
    weight, price = DEFAULT_RULES
    assert (weight.prefix, weight.kind, weight.decimals) == ("21", "weight", 3)
    assert weight.integer_digits == 2
    assert (price.prefix, price.kind, price.integer_digits, price.decimals) == ("23", "price", 3, 2)
    assert weight.item_positions == (2, 3, 4, 5, 6)
    assert weight.value_start == 7


@pytest.mark.parametrize(
    ("body", "item", "weight_g", "price_minor"),
    [
        ("211000101234", "10001", 1234, None),  # 1.234 kg of item 10001
        ("210000200500", "00002", 500, None),
        ("219999999999", "99999", 99999, None),
        ("231000301299", "10003", None, 1299),  # 12.99
        ("230000100001", "00001", None, 1),
    ],
)
def test_embedded_default_rules(
    body: str, item: str, weight_g: int | None, price_minor: int | None
) -> None:
    code = parse_code(with_check(body))
    assert code.kind is CodeKind.EMBEDDED
    assert code.item_code == item
    assert code.rule_prefix == body[:2]
    assert code.weight_g == weight_g
    assert code.price_minor == price_minor
    assert code.gtin == "0" + with_check(body)


def test_embedded_price_uses_currency_exponent() -> None:
    # 012.99 with 2 decimals in a currency without minor units (exponent 0) rounds half up.
    assert parse_code(with_check("231000301299"), currency_exponent=0).price_minor == 13
    assert parse_code(with_check("231000301299"), currency_exponent=3).price_minor == 12990


def test_embedded_upca_number_system_2() -> None:
    rules = parse_embedded_rules(["02.....{NNNDD}"])
    code = parse_code(with_check("21234501999"), rules=rules)  # 12-digit UPC-A "2 12345 01999"
    assert code.kind is CodeKind.EMBEDDED
    assert (code.item_code, code.price_minor) == ("12345", 1999)


@pytest.mark.parametrize(
    ("value", "verifier"),
    [("2875", 9), ("14685", 6), ("0000", 0), ("00000", 0), ("01234", None)],
)
def test_price_verifier_digit(value: str, verifier: int | None) -> None:
    # 2875 -> 9 and 14685 -> 6 are the worked examples of the GS1 General Specifications.
    if verifier is None:
        digit = price_verifier_digit(value)
        assert 0 <= digit <= 9
    else:
        assert price_verifier_digit(value) == verifier


def test_embedded_verifier() -> None:
    rule = parse_embedded_rule("23.....{NNNDD}", verifier=True)
    assert rule.item_positions == (2, 3, 4, 5)
    good = with_check("231234" + "6" + "14685")
    code = parse_code(good, rules=[rule])
    assert (code.item_code, code.price_minor) == ("1234", 14685)
    bad = with_check("231234" + "5" + "14685")
    with pytest.raises(BarcodeError, match="verifier digit should be 6, got 5"):
        parse_code(bad, rules=[rule])


def test_embedded_four_digit_verifier() -> None:
    rule = parse_embedded_rule("20......{NNDD}", verifier=True)
    code = parse_code(with_check("2012345" + "9" + "2875"), rules=[rule])
    assert (code.kind, code.item_code, code.price_minor) == (CodeKind.EMBEDDED, "12345", 2875)


@pytest.mark.parametrize(
    ("pattern", "kwargs", "kind"),
    [
        ("21.....{NNDDD}", {}, "weight"),
        ("23.....{NNNDD}", {}, "price"),
        ("price:28.....{NNDDD}", {}, "price"),
        ("weight:29.....{NNNDD}", {}, "weight"),
        ("27.....{NNNNN}", {"kind": "weight"}, "weight"),
    ],
)
def test_parse_embedded_rule_kind(pattern: str, kwargs: dict[str, str], kind: str) -> None:
    assert parse_embedded_rule(pattern, **kwargs).kind == kind


@pytest.mark.parametrize(
    ("pattern", "kwargs"),
    [
        ("21.....NNDDD", {}),  # no braces
        ("21......{NNDDD}", {}),  # 13 digits: no room for the check digit
        ("40.....{NNDDD}", {}),  # not a restricted-circulation prefix
        (".....{NNDDD}", {}),
        ("21.....{}", {}),
        ("21.....{NNDDD}", {"kind": "volume"}),
        ("21.....{NNNDDD}", {"verifier": True}),  # 6 value digits: no verifier rule
        ("21{NNDDD}.....", {"verifier": True}),  # nothing before the value to hold it
    ],
)
def test_parse_embedded_rule_rejects(pattern: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(BarcodeError):
        parse_embedded_rule(pattern, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# GS1 element strings (DataBar, GS1-128)


HUMAN = "(01)09501101530003(3103)001234(17)250200(10)AB-12"
RAW = "0109501101530003" + "3103001234" + "17250200" + "10AB-12"


@pytest.mark.parametrize(
    "data",
    [
        HUMAN,
        RAW,
        "]e0" + RAW,
        "]C1" + RAW,
        GS + RAW,
        "(01) 09501101530003 (3103) 001234 (17)250200",
    ],
)
def test_gs1_element_string_forms(data: str) -> None:
    ais = parse_gs1_element_string(data)
    assert ais["01"] == "09501101530003"
    assert (ais["3103"], ais["17"]) == ("001234", "250200")
    assert ais.get("10", "AB-12") == "AB-12"


def test_gs1_variable_length_needs_separator() -> None:
    raw = "0109501101530003" + "10LOT1" + GS + "3922499" + GS + "21SER9"
    assert parse_gs1_element_string(raw) == {
        "01": "09501101530003",
        "10": "LOT1",
        "3922": "499",
        "21": "SER9",
    }


@pytest.mark.parametrize(
    ("data", "field", "value"),
    [
        (HUMAN, "weight_g", 1234),
        (HUMAN, "expiry", "2025-02-28"),  # day 00: last day of the month
        ("(01)09501101530003(17)240200", "expiry", "2024-02-29"),  # leap year
        ("(01)09501101530003(17)261231", "expiry", "2026-12-31"),
        (HUMAN, "batch", "AB-12"),
        (HUMAN, "gtin", "09501101530003"),
        ("(01)09501101530003(3102)001234", "weight_g", 12340),
        ("(01)09501101530003(3105)001235", "weight_g", 12),  # 12.35 g rounds down
        ("(01)09501101530003(3105)001250", "weight_g", 13),  # 12.5 g rounds half up
        ("(01)09501101530003(3202)000100", "weight_g", 454),  # 1.00 lb
        ("(01)09501101530003(3922)1299", "price_minor", 1299),
        ("(01)09501101530003(3923)12995", "price_minor", 1300),
        ("(01)09501101530003(3931)15612995", "price_minor", None),  # other currency ignored
    ],
)
def test_parse_gs1_fields(data: str, field: str, value: object) -> None:
    code = parse_code(data)
    assert code.kind is CodeKind.GS1
    assert getattr(code, field) == value


@pytest.mark.parametrize(
    ("data", "symbology"),
    [
        ("0109501101530003", "DATABAR"),
        ("0109501101530003" + "3103001234", "DATABAR_EXP"),
        ("0109501101530003" + "3103001234", "GS1_128"),
        ("0109501101530003", "CODE128"),
        ("0109501101530003" + "17250200", ""),  # bare AI digits still read as GS1
    ],
)
def test_parse_gs1_by_symbology(data: str, symbology: str) -> None:
    code = parse_code(data, symbology=symbology)
    assert code.kind is CodeKind.GS1
    assert code.gtin == "09501101530003"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("(01)09501101530004", "check digit should be 3, got 4"),
        ("(01)0950110153000", "needs 14 characters"),
        ("(99)123", "unknown application identifier"),
        ("(3106)001234", "unknown application identifier"),
        ("(310)001234", "decimals digit"),
        ("(01)09501101530003(17)251301", "month 13"),
        ("(01)09501101530003(17)250230", "day 30"),
        ("(01)09501101530003(10)", "1 to 20"),
        ("(01)09501101530003(10)ABCDEFGHIJKLMNOPQRSTU", "1 to 20"),
        ("(01)09501101530003(10)ÄÖ", "characters GS1 does not allow"),
        ("(10)LOT1", "no product number"),
        ("(01)09501101530003(01)09501101530010", "twice"),
        ("01095011015300031", "unknown application identifier"),
        ("]C1", "no data"),
        ("(01", "cannot read"),
    ],
)
def test_parse_gs1_errors(data: str, message: str) -> None:
    with pytest.raises(BarcodeError, match=message):
        parse_code(data)


# --------------------------------------------------------------------------------------------
# Properties

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


@given(
    st.sampled_from([7, 11, 12, 13]).flatmap(
        lambda n: st.text("0123456789", min_size=n, max_size=n)
    )
)
def test_check_digit_validates_and_detects_single_errors(body: str) -> None:
    code = with_check(body)
    assert is_valid_gtin(code)
    for i, old in enumerate(code):
        for new in "0123456789":
            if new != old:
                assert not is_valid_gtin(code[:i] + new + code[i + 1 :])


@given(
    st.sampled_from([7, 11, 12, 13]).flatmap(
        lambda n: st.text("0123456789", min_size=n, max_size=n)
    )
)
def test_normalize_is_idempotent_and_keeps_check(body: str) -> None:
    code = with_check(body)
    gtin = normalize_gtin(code)
    assert len(gtin) == 14
    assert is_valid_gtin(gtin)
    assert gtin.endswith(code)
    assert normalize_gtin(gtin) == gtin


@given(st.sampled_from("01"), st.text("0123456789", min_size=6, max_size=6))
def test_upce_normalizes_to_valid_gtin(ns: str, six: str) -> None:
    body = ns + six
    check = next(c for c in "0123456789" if _expands(body + c))
    gtin = normalize_gtin(body + check, "UPCE")
    assert is_valid_gtin(gtin)
    assert normalize_gtin(gtin) == gtin


def _expands(code: str) -> bool:
    try:
        expand_upce(code)
    except BarcodeError:
        return False
    return True


SYMBOLOGIES = st.sampled_from(["", "EAN13", "EAN8", "UPCA", "UPCE", "DATABAR", "CODE128", "QR"])


@given(st.text(), SYMBOLOGIES)
def test_parse_code_only_raises_barcode_error(text: str, symbology: str) -> None:
    with contextlib.suppress(BarcodeError):
        parse_code(text, symbology=symbology)


@given(st.text(alphabet="0123456789()]eCdQ\x1d310AB ", max_size=40), SYMBOLOGIES)
def test_parse_code_only_raises_barcode_error_near_gs1(text: str, symbology: str) -> None:
    with contextlib.suppress(BarcodeError):
        parse_code(text, symbology=symbology)


ROUND_TRIP_RULES = [
    *DEFAULT_RULES,
    *parse_embedded_rules(list(r.pattern for r in DEFAULT_RULES), verifier=True),
    parse_embedded_rule("02.....{NNNDD}"),
    parse_embedded_rule("20......{NNDD}", verifier=True),
    parse_embedded_rule("2.{NNNN}...", kind="price"),
    parse_embedded_rule("weight:28.....{NNNDD}"),
]


def _build(rule: EmbeddedRule, item: str, value: int, filler: str) -> str:
    body = list(filler)
    for i, c in enumerate(rule.pattern.split(":")[-1].replace("{", "").replace("}", "")):
        if c.isdigit():
            body[i] = c
    for i, c in zip(rule.item_positions, item, strict=True):
        body[i] = c
    value_text = str(value).zfill(rule.value_digits)
    body[rule.value_start : rule.value_start + rule.value_digits] = value_text
    if rule.verifier:
        body[rule.value_start - 1] = str(price_verifier_digit(value_text))
    return with_check("".join(body))


@given(st.sampled_from(ROUND_TRIP_RULES), st.data())
def test_embedded_round_trip(rule: EmbeddedRule, data: st.DataObject) -> None:
    n = len(rule.item_positions)
    item = data.draw(st.text("0123456789", min_size=n, max_size=n))
    value = data.draw(st.integers(0, 10**rule.value_digits - 1))
    filler = data.draw(st.text("0123456789", min_size=12, max_size=12))
    code = parse_code(_build(rule, item, value, filler), rules=[rule])
    assert code.kind is CodeKind.EMBEDDED
    assert code.item_code == item
    assert code.rule_prefix == rule.prefix
    scaled = (2 * value * (1000 if rule.kind == "weight" else 100) + 10**rule.decimals) // (
        2 * 10**rule.decimals
    )
    if rule.kind == "weight":
        assert (code.weight_g, code.price_minor) == (scaled, None)
    else:
        assert (code.price_minor, code.weight_g) == (scaled, None)
