"""GS1 code parsing: GTINs, UPC-E, PLUs, in-store embedded labels and GS1 element strings.

Pure functions only. Every failure is a :class:`~kiosk.errors.BarcodeError` whose message a
shop assistant can read ("check digit should be 7, got 3").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from kiosk.core.settings import DEFAULT_EMBEDDED_RULES
from kiosk.errors import BarcodeError

__all__ = [
    "DEFAULT_RULES",
    "GS",
    "BarcodeError",
    "CodeKind",
    "EmbeddedRule",
    "ParsedCode",
    "expand_upce",
    "gtin_check_digit",
    "is_ifps_plu",
    "is_valid_gtin",
    "normalize_gtin",
    "parse_code",
    "parse_embedded_rule",
    "parse_embedded_rules",
    "parse_gs1_element_string",
    "price_verifier_digit",
]

GS = "\x1d"  # FNC1 as transmitted by scanners between variable-length AIs

# Only ASCII digits: str.isdigit() accepts "²" and Arabic-Indic digits, which int() mishandles.
_DIGITS = re.compile(r"[0-9]+")
_GTIN_LENGTHS = (8, 12, 13, 14)
# AIM symbology identifiers that announce GS1 content: DataBar, GS1-128, DataMatrix, QR.
_GS1_AIM_IDS = ("]e0", "]C1", "]d2", "]Q3")
# Scanner symbology names (pyzbar, zxing, vendor drivers) normalised by _symbology_key.
_GS1_SYMBOLOGIES = frozenset(
    {"DATABAR", "DATABAREXP", "DATABAREXPANDED", "RSS14", "RSSEXPANDED", "GS1128", "CODE128"}
    | {"GS1DATABAR", "GS1DATAMATRIX", "GS1QRCODE", "EAN128", "UCCEAN128"}
)
_IFPS_RANGES = ((3000, 4999), (83000, 84999), (93000, 94999))


class CodeKind(StrEnum):
    GTIN = "gtin"
    PLU = "plu"
    EMBEDDED = "embedded"
    GS1 = "gs1"


@dataclass(frozen=True)
class ParsedCode:
    kind: CodeKind
    raw: str
    gtin: str | None = None  # 14-digit normalised GTIN (kinds gtin and gs1)
    plu: str | None = None  # as scanned/typed, e.g. "4011" or "94011"
    organic: bool = False  # 9-prefixed 5-digit PLU
    item_code: str | None = None  # embedded: the retailer item reference digits
    rule_prefix: str | None = None  # embedded: the prefix of the rule that matched
    price_minor: int | None = None  # embedded price, or GS1 AI 392x
    weight_g: int | None = None  # embedded weight, or GS1 AI 310x / 320x, rounded half up
    batch: str | None = None  # AI 10
    expiry: str | None = None  # AI 17 as "YYYY-MM-DD"


def _is_digits(text: str) -> bool:
    return _DIGITS.fullmatch(text) is not None


def _div_round_half_up(num: int, den: int) -> int:
    """Integer division of non-negative numbers, rounding half up (no floats near money)."""
    return (2 * num + den) // (2 * den)


def _symbology_key(symbology: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", symbology.upper())


# --------------------------------------------------------------------------------------------
# GTIN check digits, UPC-E and normalisation


def gtin_check_digit(body: str) -> int:
    """GS1 mod-10 check digit over ``body`` (the digits without the check digit)."""
    if not body or not _is_digits(body):
        raise BarcodeError(f"a check digit needs digits only, got {body!r}")
    # Weights 3,1,3,... counted from the rightmost body digit, whatever the length.
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _check_gtin(code: str, what: str = "GTIN") -> None:
    expected = gtin_check_digit(code[:-1])
    if int(code[-1]) != expected:
        raise BarcodeError(
            f"{what} {code}: check digit should be {expected}, got {code[-1]} "
            "(misread or mistyped code)"
        )


def is_valid_gtin(code: str) -> bool:
    """True for 8, 12, 13 or 14 ASCII digits with a correct check digit. Never raises."""
    if len(code) not in _GTIN_LENGTHS or not _is_digits(code):
        return False
    return gtin_check_digit(code[:-1]) == int(code[-1])


def expand_upce(code: str) -> str:
    """8-digit UPC-E (number system 0/1, six digits, check digit) -> 12-digit UPC-A."""
    if len(code) != 8 or not _is_digits(code):
        raise BarcodeError(f"a UPC-E code has 8 digits, got {code!r}")
    ns, d, check = code[0], code[1:7], code[7]
    if ns not in "01":
        raise BarcodeError(f"UPC-E {code}: number system must be 0 or 1, got {ns}")
    last = d[5]
    # The sixth digit says where the zeros removed by zero suppression go.
    if last in "012":
        body = ns + d[0:2] + last + "0000" + d[2:5]
    elif last == "3":
        body = ns + d[0:3] + "00000" + d[3:5]
    elif last == "4":
        body = ns + d[0:4] + "00000" + d[4]
    else:
        body = ns + d[0:5] + "0000" + last
    upca = body + check
    _check_gtin(upca, "UPC-E")
    return upca


def normalize_gtin(code: str, symbology: str = "") -> str:
    """Any EAN-13, EAN-8, UPC-A, UPC-E or GTIN-14 -> 14-digit GTIN with a checked check digit."""
    code = code.strip()
    if not _is_digits(code):
        raise BarcodeError(f"a GTIN has digits only, got {code!r}")
    key = _symbology_key(symbology)
    if len(code) == 8:
        if key == "UPCE" or (
            key not in ("EAN8", "GTIN8")
            and code[0] in "01"
            and not is_valid_gtin(code)
            and _upce_fits(code)
        ):
            return "00" + expand_upce(code)
        _check_gtin(code, "EAN-8")
        return code.zfill(14)
    if len(code) in (12, 13, 14):
        _check_gtin(code, {12: "UPC-A", 13: "EAN-13", 14: "GTIN-14"}[len(code)])
        return code.zfill(14)
    raise BarcodeError(f"a GTIN has 8, 12, 13 or 14 digits, got {len(code)}: {code}")


def _upce_fits(code: str) -> bool:
    try:
        expand_upce(code)
    except BarcodeError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# PLU


def is_ifps_plu(plu: str) -> bool:
    """True for codes in the IFPS ranges (3000-4999, 83000-84999, organic 93000-94999)."""
    if not _is_digits(plu) or len(plu) not in (4, 5):
        return False
    value = int(plu)
    return any(lo <= value <= hi for lo, hi in _IFPS_RANGES) and len(plu) == len(str(value))


# --------------------------------------------------------------------------------------------
# Embedded (restricted circulation) labels


@dataclass(frozen=True)
class EmbeddedRule:
    """One Odoo-style in-store label layout over the 12 digits of an EAN-13 before its check."""

    pattern: str  # e.g. "21.....{NNDDD}"
    prefix: str  # the leading literal digits, e.g. "21"
    kind: str  # "weight" (kg) or "price" (currency units)
    item_positions: tuple[int, ...]  # indexes of the '.' digits forming the item code
    value_start: int  # index of the first {N..D..} digit
    integer_digits: int
    decimals: int
    verifier: bool = False  # the digit before the value is a GS1 price/weight verifier

    @property
    def value_digits(self) -> int:
        return self.integer_digits + self.decimals

    @property
    def literals(self) -> tuple[tuple[int, str], ...]:
        return tuple((i, c) for i, c in enumerate(self._expanded()) if c.isdigit())

    def _expanded(self) -> str:
        return re.sub(r"[{}]", "", self.pattern.split(":", 1)[-1])

    def matches(self, ean13: str) -> bool:
        return len(ean13) == 13 and all(ean13[i] == c for i, c in self.literals)


_RULE_RE = re.compile(r"(?:(weight|price):)?([0-9.]*)\{(N*)(D*)\}([0-9.]*)")


def parse_embedded_rule(
    pattern: str, *, kind: str | None = None, verifier: bool = False
) -> EmbeddedRule:
    """Parse "21.....{NNDDD}" (optionally "weight:"/"price:" first) into a rule.

    Without an explicit kind, 3 decimals means kilograms (a weight) and anything else a price,
    which is how the Odoo defaults 21 (weight) and 23 (price) are written.
    """
    m = _RULE_RE.fullmatch(pattern.strip())
    if m is None:
        raise BarcodeError(
            f"embedded rule {pattern!r}: expected digits and '.', then one {{N..D..}} group"
        )
    tag, head, ints, decs, tail = m.groups()
    if kind is not None and tag is not None and kind != tag:
        raise BarcodeError(f"embedded rule {pattern!r}: says {tag!r} but kind={kind!r} was given")
    kind = kind or tag or ("weight" if len(decs) == 3 else "price")
    if kind not in ("weight", "price"):
        raise BarcodeError(f"embedded rule {pattern!r}: kind must be weight or price, not {kind!r}")
    prefix = re.match(r"[0-9]*", head)
    assert prefix is not None  # the pattern always matches, possibly empty
    if not prefix.group().startswith(("2", "02")):
        raise BarcodeError(
            f"embedded rule {pattern!r}: must start with a restricted-circulation prefix "
            "(02 or 20-29), the only codes that carry in-store data"
        )
    value_len = len(ints) + len(decs)
    if value_len == 0:
        raise BarcodeError(f"embedded rule {pattern!r}: the {{}} value group is empty")
    # The 13th digit is the EAN-13 check digit, so a layout covers at most 12.
    if len(head) + value_len + len(tail) > 12:
        raise BarcodeError(f"embedded rule {pattern!r}: longer than the 12 digits before a check")
    items = [i for i, c in enumerate(head) if c == "."] + [
        len(head) + value_len + i for i, c in enumerate(tail) if c == "."
    ]
    if verifier:
        if value_len not in (4, 5):
            raise BarcodeError(
                f"embedded rule {pattern!r}: a verifier digit covers 4 or 5 value digits, "
                f"not {value_len}"
            )
        if not head.endswith("."):
            raise BarcodeError(
                f"embedded rule {pattern!r}: the digit before the value must be a '.' "
                "to hold the verifier"
            )
        items.remove(len(head) - 1)
    return EmbeddedRule(
        pattern=pattern.strip(),
        prefix=prefix.group(),
        kind=kind,
        item_positions=tuple(items),
        value_start=len(head),
        integer_digits=len(ints),
        decimals=len(decs),
        verifier=verifier,
    )


def parse_embedded_rules(
    patterns: Sequence[str], *, verifier: bool = False
) -> tuple[EmbeddedRule, ...]:
    return tuple(parse_embedded_rule(p, verifier=verifier) for p in patterns)


DEFAULT_RULES: tuple[EmbeddedRule, ...] = parse_embedded_rules(DEFAULT_EMBEDDED_RULES)

# GS1 General Specifications 7.9.3: products for the weighting factors 2-, 3, 5+ and 5-.
_W2M = (0, 2, 4, 6, 8, 9, 1, 3, 5, 7)
_W3 = (0, 3, 6, 9, 2, 5, 8, 1, 4, 7)
_W5P = (0, 5, 1, 6, 2, 7, 3, 8, 4, 9)
_W5M = (0, 5, 9, 4, 8, 3, 7, 2, 6, 1)


def price_verifier_digit(value: str) -> int:
    """GS1 price/weight verifier digit for a 4- or 5-digit value field."""
    if not _is_digits(value) or len(value) not in (4, 5):
        raise BarcodeError(f"a price verifier covers 4 or 5 digits, got {value!r}")
    d = [int(c) for c in value]
    if len(d) == 4:
        total = _W2M[d[0]] + _W2M[d[1]] + _W3[d[2]] + _W5M[d[3]]
        return total * 3 % 10
    total = _W5P[d[0]] + _W2M[d[1]] + _W5M[d[2]] + _W5P[d[3]] + _W2M[d[4]]
    # The verifier is the digit whose 5- product brings the sum to a multiple of ten.
    return _W5M.index((10 - total % 10) % 10)


def _apply_rule(rule: EmbeddedRule, ean13: str, gtin: str, raw: str, exp: int) -> ParsedCode:
    value_text = ean13[rule.value_start : rule.value_start + rule.value_digits]
    if rule.verifier:
        expected = price_verifier_digit(value_text)
        got = ean13[rule.value_start - 1]
        if int(got) != expected:
            raise BarcodeError(
                f"in-store label {ean13}: {rule.kind} verifier digit should be {expected}, "
                f"got {got} (misprinted or misread label)"
            )
    value = int(value_text)
    item_code = "".join(ean13[i] for i in rule.item_positions)
    weight = price = None
    if rule.kind == "weight":
        weight = _div_round_half_up(value * 1000, 10**rule.decimals)
    else:
        price = _div_round_half_up(value * 10**exp, 10**rule.decimals)
    return ParsedCode(
        CodeKind.EMBEDDED,
        raw,
        gtin=gtin,
        item_code=item_code,
        rule_prefix=rule.prefix,
        price_minor=price,
        weight_g=weight,
    )


def _is_restricted(ean13: str) -> bool:
    return ean13.startswith("02") or ean13[0] == "2"


# --------------------------------------------------------------------------------------------
# GS1 element strings


@dataclass(frozen=True)
class _AI:
    length: int  # data length; for variable-length AIs the maximum
    fixed: bool
    numeric: bool
    prefix_len: int = 0  # 393x: leading ISO 4217 currency digits


# Keys are AIs; "310" etc. stand for the 4-digit AI family with a decimals digit after.
_AIS: dict[str, _AI] = {
    "00": _AI(18, True, True),
    "01": _AI(14, True, True),
    "02": _AI(14, True, True),
    "10": _AI(20, False, False),
    "11": _AI(6, True, True),
    "12": _AI(6, True, True),
    "13": _AI(6, True, True),
    "15": _AI(6, True, True),
    "16": _AI(6, True, True),
    "17": _AI(6, True, True),
    "20": _AI(2, True, True),
    "21": _AI(20, False, False),
    "22": _AI(20, False, False),
    "30": _AI(8, False, True),
    "37": _AI(8, False, True),
    "240": _AI(30, False, False),
    "241": _AI(30, False, False),
    "254": _AI(20, False, False),
    "422": _AI(3, False, True),
    "310": _AI(6, True, True),
    "320": _AI(6, True, True),
    "392": _AI(15, False, True),
    "393": _AI(18, False, True, prefix_len=3),
}
_FAMILY_DECIMALS = {"310": 5, "320": 5, "392": 9, "393": 9}
_DATE_AIS = ("11", "12", "13", "15", "16", "17")
# GS1 character set 82, the only characters allowed in alphanumeric AI data.
_CSET82 = re.compile(r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]+")


def _lookup_ai(data: str, pos: int) -> tuple[str, _AI]:
    for size in (2, 3):
        key = data[pos : pos + size]
        if key in _AIS:
            if key in _FAMILY_DECIMALS:
                digit = data[pos + 3 : pos + 4]
                if not _is_digits(digit) or int(digit) > _FAMILY_DECIMALS[key]:
                    raise BarcodeError(f"GS1 code: unknown application identifier ({key}{digit})")
                return key + digit, _AIS[key]
            return key, _AIS[key]
    raise BarcodeError(f"GS1 code: unknown application identifier starting {data[pos : pos + 4]!r}")


def _spec_for(ai: str) -> _AI:
    spec = _AIS.get(ai) or (_AIS.get(ai[:3]) if len(ai) == 4 else None)
    if spec is None or (len(ai) == 4 and int(ai[3]) > _FAMILY_DECIMALS.get(ai[:3], -1)):
        raise BarcodeError(f"GS1 code: unknown application identifier ({ai})")
    if len(ai) == 3 and ai in _FAMILY_DECIMALS:
        raise BarcodeError(f"GS1 code: ({ai}) needs a decimals digit, e.g. ({ai}2)")
    return spec


def _check_value(ai: str, spec: _AI, value: str) -> None:
    if spec.fixed and len(value) != spec.length:
        raise BarcodeError(f"GS1 code: ({ai}) needs {spec.length} characters, got {len(value)}")
    if not spec.fixed and not spec.prefix_len < len(value) <= spec.length:
        raise BarcodeError(
            f"GS1 code: ({ai}) needs {spec.prefix_len + 1} to {spec.length} characters, "
            f"got {len(value)}"
        )
    if spec.numeric and not _is_digits(value):
        raise BarcodeError(f"GS1 code: ({ai}) must be digits, got {value!r}")
    if not spec.numeric and _CSET82.fullmatch(value) is None:
        raise BarcodeError(f"GS1 code: ({ai}) has characters GS1 does not allow: {value!r}")
    if ai in ("01", "02", "00"):
        _check_gtin(value, "SSCC" if ai == "00" else "GTIN")
    if ai in _DATE_AIS:
        _gs1_date(value, ai)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _gs1_date(value: str, ai: str) -> str:
    """YYMMDD -> YYYY-MM-DD; day 00 means the last day of the month."""
    # The century is taken as 20YY: a pure core has no clock for GS1's sliding window.
    year, month, day = 2000 + int(value[:2]), int(value[2:4]), int(value[4:6])
    if not 1 <= month <= 12:
        raise BarcodeError(f"GS1 code: ({ai}) date {value} has month {month:02d}")
    last = _days_in_month(year, month)
    if day == 0:
        day = last
    if day > last:
        raise BarcodeError(f"GS1 code: ({ai}) date {value} has day {day:02d}")
    return f"{year:04d}-{month:02d}-{day:02d}"


def _strip_aim(data: str) -> str:
    for aim in _GS1_AIM_IDS:
        if data.startswith(aim):
            return data[len(aim) :]
    return data


def parse_gs1_element_string(data: str) -> dict[str, str]:
    """AIs of "(01)...(3103)..." or a raw string with FNC1 as GS, as {ai: value}."""
    text = _strip_aim(data.strip())
    if not text:
        raise BarcodeError("GS1 code: no data")
    pairs: list[tuple[str, str]] = []
    if text.startswith("("):
        # Human-readable form; GS1 character set 82 has no spaces, so spaces are layout.
        text = re.sub(r"\s+", "", text)
        for m in re.finditer(r"\(([^()]*)\)([^()]*)|(.+?)", text):
            if m.group(3) is not None or not _is_digits(m.group(1)):
                raise BarcodeError(f"GS1 code: cannot read {text!r} as (AI)value pairs")
            pairs.append((m.group(1), m.group(2)))
    else:
        pos = 0
        while pos < len(text):
            if text[pos] == GS:
                pos += 1  # a separator after a fixed-length AI is redundant but harmless
                continue
            ai, spec = _lookup_ai(text, pos)
            pos += len(ai)
            if spec.fixed:
                value = text[pos : pos + spec.length]
            else:
                end = text.find(GS, pos)
                value = text[pos : end if end >= 0 else len(text)]
            pos += len(value)
            pairs.append((ai, value))
    result: dict[str, str] = {}
    for ai, value in pairs:
        spec = _spec_for(ai)
        _check_value(ai, spec, value)
        if result.setdefault(ai, value) != value:
            raise BarcodeError(f"GS1 code: ({ai}) appears twice with different values")
    return result


def _gs1_weight_g(ais: dict[str, str]) -> int | None:
    for ai, value in ais.items():
        if ai[:3] == "310":
            return _div_round_half_up(int(value) * 1000, 10 ** int(ai[3]))
        if ai[:3] == "320":
            # 1 lb = 453.59237 g exactly.
            return _div_round_half_up(int(value) * 45_359_237, 10 ** int(ai[3]) * 100_000)
    return None


def _gs1_price(ais: dict[str, str], exp: int) -> int | None:
    # 393x carries its own ISO currency, which the lane cannot convert, so only 392x counts.
    for ai, value in ais.items():
        if ai[:3] == "392":
            return _div_round_half_up(int(value) * 10**exp, 10 ** int(ai[3]))
    return None


def _parse_gs1(raw: str, data: str, exp: int) -> ParsedCode:
    ais = parse_gs1_element_string(data)
    gtin = ais.get("01")
    if gtin is None:
        raise BarcodeError("GS1 code has no product number (AI 01); it cannot be sold")
    expiry = ais.get("17")
    return ParsedCode(
        CodeKind.GS1,
        raw,
        gtin=gtin,
        price_minor=_gs1_price(ais, exp),
        weight_g=_gs1_weight_g(ais),
        batch=ais.get("10"),
        expiry=_gs1_date(expiry, "17") if expiry is not None else None,
    )


# --------------------------------------------------------------------------------------------
# Entry point


def _parse_plain(
    raw: str, code: str, symbology: str, rules: Sequence[EmbeddedRule], exp: int
) -> ParsedCode:
    if len(code) in (4, 5):
        return ParsedCode(CodeKind.PLU, raw, plu=code, organic=len(code) == 5 and code[0] == "9")
    gtin = normalize_gtin(code, symbology)
    ean13 = gtin[1:]
    if gtin[0] == "0" and _is_restricted(ean13):
        for rule in rules:
            if rule.matches(ean13):
                return _apply_rule(rule, ean13, gtin, raw, exp)
    return ParsedCode(CodeKind.GTIN, raw, gtin=gtin)


def parse_code(
    raw: str,
    *,
    symbology: str = "",
    rules: Sequence[EmbeddedRule] = DEFAULT_RULES,
    currency_exponent: int = 2,
) -> ParsedCode:
    """Classify and decode one scanned or typed code; raises only BarcodeError."""
    if currency_exponent < 0:
        raise BarcodeError(f"currency exponent must be 0 or more, got {currency_exponent}")
    code = raw.strip()
    if not code:
        raise BarcodeError("empty code")
    key = _symbology_key(symbology)
    # "]E0"/"]E4" are AIM identifiers for EAN/UPC: the digits follow.
    if re.match(r"\]E[0-4]", code):
        if code[2] == "4" and not key:
            key = "EAN8"
        code = code[3:]
        if not code:
            raise BarcodeError("empty code after the symbology identifier")
    elif code.startswith(("(", "]")) or GS in code:
        return _parse_gs1(raw, code, currency_exponent)
    plain = _is_digits(code)
    if key in _GS1_SYMBOLOGIES or (plain and len(code) > 14 and code[:2] in ("01", "02")):
        # DataBar/GS1-128 readers may send bare AI content; a plain GTIN falls back below.
        try:
            return _parse_gs1(raw, code, currency_exponent)
        except BarcodeError:
            if not (plain and len(code) in (4, 5, *_GTIN_LENGTHS)):
                raise
    if not plain:
        raise BarcodeError(f"not a product code: {code!r} has characters other than digits")
    if len(code) not in (4, 5, *_GTIN_LENGTHS):
        raise BarcodeError(
            f"not a product code: {len(code)} digits (PLUs have 4 or 5, barcodes 8, 12, 13 or 14)"
        )
    return _parse_plain(raw, code, key, rules, currency_exponent)
