"""Products, their codes and the CSV catalog format (see docs/catalog.md).

Pure: the caller reads the file and hands its text to :func:`load_catalog_csv`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from kiosk.core.barcodes import CodeKind, ParsedCode, is_valid_gtin, normalize_gtin
from kiosk.errors import BarcodeError, CatalogError

CATALOG_COLUMNS: tuple[str, ...] = (
    "sku",
    "name_en",
    "name_zh",
    "price",
    "sold_by",
    "tax_rate",
    "gtin",
    "plu",
    "store_code",
    "expected_weight_g",
    "weight_tolerance_g",
    "min_age",
    "category",
    "promotion",
    "images",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("sku", "name_en", "price", "sold_by")

T = TypeVar("T")

_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]*))?|\.([0-9]+)")
_INT = re.compile(r"[0-9]+")
_PLU = re.compile(r"[0-9]{4,5}")


class SoldBy(StrEnum):
    EACH = "each"
    WEIGHT = "weight"


def parse_decimal(text: str, places: int) -> int:
    """ "12.5" with places=2 -> 1250, with integer arithmetic only. ValueError on bad input."""
    m = _DECIMAL.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not a plain decimal number like 12.50")
    whole = m.group(1) or "0"
    frac = (m.group(2) or m.group(3) or "").rstrip("0")
    if len(frac) > places:
        raise ValueError(f"{text!r} has more than {places} decimal places")
    scale: int = 10**places
    return int(whole) * scale + int(frac.ljust(places, "0") or "0")


@dataclass(frozen=True)
class Promotion:
    kind: str  # "multibuy" (quantity for price_minor) or "percent" (percent off each unit)
    quantity: int = 0
    price_minor: int = 0
    percent: int = 0

    def __post_init__(self) -> None:
        if self.kind == "multibuy":
            if self.quantity < 2 or self.price_minor <= 0 or self.percent:
                raise CatalogError(
                    "a multibuy promotion needs a quantity of 2 or more and a price above 0"
                )
        elif self.kind == "percent":
            if not 1 <= self.percent <= 99 or self.quantity or self.price_minor:
                raise CatalogError("a percent promotion needs a percent from 1 to 99")
        else:
            raise CatalogError(f"promotion kind must be multibuy or percent, not {self.kind!r}")

    @staticmethod
    def parse(text: str, currency_exponent: int = 2) -> Promotion:
        """ "multibuy:3:5.00" (3 for 5.00) or "percent:10" (10 % off)."""
        parts = [p.strip() for p in text.strip().split(":")]
        kind = parts[0].lower()
        try:
            if kind == "multibuy" and len(parts) == 3 and _INT.fullmatch(parts[1]):
                price = parse_decimal(parts[2], currency_exponent)
                return Promotion("multibuy", quantity=int(parts[1]), price_minor=price)
            if kind == "percent" and len(parts) == 2 and _INT.fullmatch(parts[1]):
                return Promotion("percent", percent=int(parts[1]))
        except ValueError as err:
            raise CatalogError(f"promotion {text!r}: {err}") from err
        raise CatalogError(
            f"promotion {text!r}: expected 'multibuy:QTY:PRICE' (e.g. multibuy:3:5.00) "
            "or 'percent:N' (e.g. percent:10)"
        )


@dataclass(frozen=True)
class Product:
    sku: str
    name_en: str
    name_zh: str
    price_minor: int  # per item, or per kg when sold_by is WEIGHT
    sold_by: SoldBy
    tax_rate_bp: int  # basis points: 1300 = 13 %
    gtins: tuple[str, ...] = ()  # normalised GTIN-14
    plu: str | None = None
    store_code: str | None = None  # item reference in in-store embedded-price/weight labels
    expected_weight_g: int | None = None
    weight_tolerance_g: int | None = None
    min_age: int = 0
    category: str = ""
    promotion: Promotion | None = None
    image_paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Catches hand-built products too, not only CSV rows.
        where = f"product {self.sku!r}"
        if not self.sku.strip() or not self.name_en.strip():
            raise CatalogError(f"{where}: sku and name_en must not be empty")
        if self.price_minor < 0:
            raise CatalogError(f"{where}: price must not be negative")
        if not 0 <= self.tax_rate_bp <= 10_000:
            raise CatalogError(f"{where}: tax rate must be 0 to 100 %")
        for gtin in self.gtins:
            if len(gtin) != 14 or not is_valid_gtin(gtin):
                raise CatalogError(f"{where}: {gtin!r} is not a valid 14-digit GTIN")
        if self.plu is not None and _PLU.fullmatch(self.plu) is None:
            raise CatalogError(f"{where}: PLU {self.plu!r} must be 4 or 5 digits")
        if self.store_code is not None and _INT.fullmatch(self.store_code) is None:
            raise CatalogError(f"{where}: store code {self.store_code!r} must be digits")
        if self.weight_tolerance_g is not None and self.expected_weight_g is None:
            raise CatalogError(f"{where}: weight_tolerance_g needs expected_weight_g")
        for grams in (self.expected_weight_g, self.weight_tolerance_g):
            if grams is not None and grams < 0:
                raise CatalogError(f"{where}: weights must not be negative")
        if self.sold_by is SoldBy.WEIGHT and self.expected_weight_g is not None:
            raise CatalogError(f"{where}: items sold by weight have no expected weight")
        if self.sold_by is SoldBy.WEIGHT and self.promotion and self.promotion.kind == "multibuy":
            raise CatalogError(f"{where}: a multibuy cannot apply to items sold by weight")
        if not 0 <= self.min_age <= 99:
            raise CatalogError(f"{where}: min_age must be 0 to 99")

    def name(self, lang: str) -> str:
        return self.name_zh if lang.lower().startswith("zh") and self.name_zh else self.name_en


def _store_key(code: str) -> str:
    # Spreadsheets drop leading zeros, so "01234" on a label and "1234" in the file are one code.
    return code.lstrip("0") or "0"


class _DuplicateCode(CatalogError):
    """Two products share a code; ``position`` is the index of the second one."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


class Catalog:
    """An immutable product list with indexes by every code a product can be scanned as."""

    def __init__(self, products: Iterable[Product]) -> None:
        self.products: tuple[Product, ...] = tuple(products)
        self._sku: dict[str, Product] = {}
        self._gtin: dict[str, Product] = {}
        self._plu: dict[str, Product] = {}
        self._store: dict[str, Product] = {}
        for position, p in enumerate(self.products):
            keys = [(self._sku, p.sku, "sku")]
            keys += [(self._gtin, gtin, "gtin") for gtin in p.gtins]
            if p.plu is not None:
                keys.append((self._plu, p.plu, "plu"))
            if p.store_code is not None:
                keys.append((self._store, _store_key(p.store_code), "store_code"))
            for index, key, what in keys:
                other = index.setdefault(key, p)
                if other is not p:
                    raise _DuplicateCode(
                        f"duplicate {what} {key!r}: used by both {other.sku!r} and {p.sku!r}",
                        position,
                    )

    def __len__(self) -> int:
        return len(self.products)

    def __iter__(self) -> Iterator[Product]:
        return iter(self.products)

    def by_sku(self, sku: str) -> Product | None:
        return self._sku.get(sku)

    def by_gtin(self, gtin14: str) -> Product | None:
        if len(gtin14) != 14:
            try:
                gtin14 = normalize_gtin(gtin14)
            except BarcodeError:
                return None
        return self._gtin.get(gtin14)

    def by_plu(self, plu: str) -> Product | None:
        found = self._plu.get(plu)
        if found is None and len(plu) == 5 and plu[0] == "9":
            # An organic code the store does not list separately sells as the conventional item.
            found = self._plu.get(plu[1:])
        return found

    def by_store_code(self, code: str) -> Product | None:
        return self._store.get(_store_key(code))

    def lookup(self, code: ParsedCode) -> Product | None:
        if code.kind in (CodeKind.GTIN, CodeKind.GS1) and code.gtin is not None:
            return self.by_gtin(code.gtin)
        if code.kind is CodeKind.PLU and code.plu is not None:
            return self.by_plu(code.plu)
        if code.kind is CodeKind.EMBEDDED and code.item_code is not None:
            return self.by_store_code(code.item_code)
        return None

    def search(self, text: str, lang: str = "en", limit: int = 20) -> list[Product]:
        """Case-insensitive substring search; exact code hits first, then name prefixes.

        A blank query lists the catalog in file order, for a browse screen.
        """
        needle = text.strip().casefold()
        if not needle:
            return list(self.products[: max(limit, 0)])
        ranked: list[tuple[int, int, Product]] = []
        for order, p in enumerate(self.products):
            codes = (p.sku.casefold(), p.plu or "")
            names = (p.name(lang).casefold(), p.name_en.casefold(), p.name_zh.casefold())
            if needle in codes:
                rank = 0
            elif names[0].startswith(needle):
                rank = 1
            elif any(needle in s for s in (*names, *codes)):
                rank = 2
            else:
                continue
            ranked.append((rank, order, p))
        ranked.sort(key=lambda r: (r[0], r[1]))
        return [p for _, _, p in ranked[: max(limit, 0)]]


# --------------------------------------------------------------------------------------------
# CSV


class _RowError(Exception):
    """A bad cell; _product adds the line number and column name."""


class _CellError(CatalogError):
    """A bad cell, already naming its line and column."""


def _opt_int(text: str) -> int | None:
    if not text:
        return None
    if _INT.fullmatch(text) is None:
        raise _RowError(f"{text!r} is not a whole number")
    return int(text)


def _matching(text: str, pattern: re.Pattern[str], rule: str) -> str | None:
    if text and pattern.fullmatch(text) is None:
        raise _RowError(f"{text!r} {rule}")
    return text or None


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split("|") if part.strip()]


def _gtins(text: str) -> tuple[str, ...]:
    result: list[str] = []
    for part in _split(text):
        try:
            gtin = normalize_gtin(part)
        except BarcodeError as err:
            raise _RowError(str(err)) from err
        if gtin in result:
            raise _RowError(f"{part!r} is listed twice")
        result.append(gtin)
    return tuple(result)


def _images(text: str) -> tuple[str, ...]:
    paths = _split(text)
    for path in paths:
        # Paths are relative to the catalog so a catalog folder can be copied between lanes.
        if path.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", path):
            raise _RowError(f"{path!r} must be a relative path")
        if ".." in re.split(r"[/\\]", path):
            raise _RowError(f"{path!r} must not climb out with '..'")
    return tuple(paths)


def _decimal(text: str, places: int) -> int:
    try:
        return parse_decimal(text.removesuffix("%"), places)
    except ValueError as err:
        raise _RowError(str(err)) from err


def _sold_by(text: str) -> SoldBy:
    try:
        return SoldBy(text.lower())
    except ValueError:
        raise _RowError(f"{text!r} must be 'each' or 'weight'") from None


def _promotion(text: str, exp: int) -> Promotion | None:
    if not text:
        return None
    try:
        return Promotion.parse(text, exp)
    except CatalogError as err:
        raise _RowError(str(err)) from err


def _required(text: str) -> str:
    if not text:
        raise _RowError("must not be empty")
    return text


def _product(cells: dict[str, str], line: int, exp: int) -> Product:
    def col(name: str, parse: Callable[[str], T]) -> T:
        try:
            return parse(cells.get(name, ""))
        except _RowError as err:
            raise _CellError(f"catalog line {line}, column {name!r}: {err}") from None

    try:
        return Product(
            sku=col("sku", _required),
            name_en=col("name_en", _required),
            name_zh=col("name_zh", str),
            price_minor=col("price", lambda t: _decimal(_required(t), exp)),
            sold_by=col("sold_by", _sold_by),
            tax_rate_bp=col("tax_rate", lambda t: _decimal(t, 2) if t else 0),
            gtins=col("gtin", _gtins),
            plu=col("plu", lambda t: _matching(t, _PLU, "must be 4 or 5 digits")),
            store_code=col("store_code", lambda t: _matching(t, _INT, "must be digits")),
            expected_weight_g=col("expected_weight_g", _opt_int),
            weight_tolerance_g=col("weight_tolerance_g", _opt_int),
            min_age=col("min_age", lambda t: _opt_int(t) or 0),
            category=col("category", str),
            promotion=col("promotion", lambda t: _promotion(t, exp)),
            image_paths=col("images", _images),
        )
    except _CellError:
        raise
    except CatalogError as err:
        # Checks in Product span several columns, so they name the line only.
        raise CatalogError(f"catalog line {line}: {err}") from None


def load_catalog_csv(text: str, *, currency_exponent: int = 2) -> Catalog:
    """Parse catalog CSV text (UTF-8, optional BOM). Blank lines and '#' lines are skipped."""
    reader = csv.reader(text.removeprefix("\ufeff").splitlines())
    header: list[str] | None = None
    products: list[Product] = []
    lines: list[int] = []
    try:
        for row in reader:
            line = reader.line_num
            if not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
                continue
            cells = [c.strip() for c in row]
            if header is None:
                header = _header(cells, line)
                continue
            if len(cells) > len(header) and any(cells[len(header) :]):
                raise CatalogError(
                    f"catalog line {line}: {len(cells)} cells but the header has {len(header)}"
                )
            products.append(
                _product(dict(zip(header, cells, strict=False)), line, currency_exponent)
            )
            lines.append(line)
    except csv.Error as err:
        raise CatalogError(f"catalog line {reader.line_num}: {err}") from None
    if header is None:
        raise CatalogError("catalog is empty: no header line")
    try:
        return Catalog(products)
    except _DuplicateCode as err:
        raise CatalogError(f"catalog line {lines[err.position]}: {err}") from None


def _header(cells: list[str], line: int) -> list[str]:
    names = [c.lower() for c in cells]
    for name in names:
        if name not in CATALOG_COLUMNS:
            raise CatalogError(
                f"catalog line {line}: unknown column {name!r}; known: {', '.join(CATALOG_COLUMNS)}"
            )
        if names.count(name) > 1:
            raise CatalogError(f"catalog line {line}: column {name!r} appears twice")
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise CatalogError(f"catalog line {line}: missing required column(s) {', '.join(missing)}")
    return names
