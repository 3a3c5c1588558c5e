"""Catalog products as the renderer sees them: what to print on a pack and which code to print.

Read from ``examples/catalog.csv`` (the same file the kiosk replays with), so a barcode drawn in
a scene decodes to a GTIN the core knows. Each product gets a packaging kind and a design that
depend only on its SKU, so the same product looks the same in every scene and video.
"""

from __future__ import annotations

import csv
import functools
import zlib
from dataclasses import dataclass
from pathlib import Path

from kiosk.core.barcodes import gtin_check_digit, is_valid_gtin
from kiosk.errors import KioskError

CATALOG_FILE = Path(__file__).resolve().parents[2] / "examples" / "catalog.csv"

# Packaging kinds a category may use; the SKU's hash picks one so a product keeps its kind.
KINDS_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    "drinks": ("bottle", "can", "carton", "bottle"),
    "dairy": ("carton", "cup", "carton"),
    "alcohol": ("can", "bottle"),
    "noodles": ("cup", "pouch"),
    "snacks": ("pouch", "box", "can", "box"),
    "pantry": ("bottle", "box", "pouch", "jar"),
    "grain": ("sack", "bottle"),
    "chilled": ("tray", "box"),
    "frozen": ("pouch", "box"),
    "household": ("box", "box", "pouch"),
    "produce": ("produce",),
    "deli": ("tray",),
}


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: str
    price: str
    gtins: tuple[str, ...]
    plu: str
    store_code: str

    @property
    def key(self) -> int:
        """A stable number from the SKU (Python's hash() is salted per process)."""
        return zlib.crc32(self.sku.encode())

    @property
    def kind(self) -> str:
        kinds = KINDS_BY_CATEGORY.get(self.category, ("box", "pouch", "bottle"))
        if "pack" in self.name.lower() and self.category == "drinks":
            return "case"
        return kinds[self.key % len(kinds)]

    @property
    def is_produce(self) -> bool:
        return bool(self.plu) and not self.gtins

    def barcode(self) -> tuple[str, str] | None:
        """(payload, zxing format name) printed on the pack, or None (loose produce)."""
        if self.gtins:
            code = self.gtins[0]
            fmt = {8: "EAN8", 12: "UPCA", 13: "EAN13", 14: "ITF"}.get(len(code))
            if fmt == "EAN8" and not is_valid_gtin(code):
                fmt = "UPCE"  # an 8-digit UPC-E (number system, 6 digits, check)
            return (code, fmt) if fmt else None
        if self.store_code:
            # An in-store price label: 21 + item code + price in cents (rule "21.....{NNDDD}").
            cents = round(float(self.price or "0") * 100) % 100000
            body = f"21{int(self.store_code) % 100000:05d}{cents:05d}"
            return body + str(gtin_check_digit(body)), "EAN13"
        return None


def _gtins(field: str) -> tuple[str, ...]:
    return tuple(g.strip() for g in field.split("|") if g.strip().isdigit())


@functools.lru_cache(maxsize=4)
def load_products(path: Path = CATALOG_FILE) -> tuple[Product, ...]:
    """Every product of the catalog, in file order."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise KioskError(f"cannot read catalog {path}: {exc}") from exc
    products = []
    for row in rows:
        try:
            products.append(
                Product(
                    sku=row["sku"].strip(),
                    name=row["name_en"].strip(),
                    category=(row.get("category") or "").strip(),
                    price=(row.get("price") or "0").strip(),
                    gtins=_gtins(row.get("gtin") or ""),
                    plu=(row.get("plu") or "").strip(),
                    store_code=(row.get("store_code") or "").strip(),
                )
            )
        except (KeyError, AttributeError) as exc:
            raise KioskError(f"catalog {path}: row without sku/name_en: {row}") from exc
    if not products:
        raise KioskError(f"catalog {path} has no products")
    return tuple(products)


def product_by_code(code: str, products: tuple[Product, ...] | None = None) -> Product:
    """A product by SKU, PLU or one of its GTINs."""
    for p in products or load_products():
        if code in (p.sku, p.plu) or code in p.gtins:
            return p
    raise KioskError(f"no catalog product with SKU, PLU or GTIN {code!r}")
