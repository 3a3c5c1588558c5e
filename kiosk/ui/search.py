"""Find a product the way shoppers type: English words, Chinese characters, pinyin (full or
initials, "pg" for 苹果), or a PLU — without the alphabetical traps of a long list."""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.core.catalog import Catalog, Product, SoldBy

try:  # pypinyin is a declared dependency; a lane without it still searches by name
    from pypinyin import Style, lazy_pinyin

    HAVE_PINYIN = True
except ImportError:  # pragma: no cover - exercised only on a broken install
    HAVE_PINYIN = False


@dataclass(frozen=True)
class _Entry:
    product: Product
    words: tuple[str, ...]  # lowercase English words, Chinese name, full pinyin
    initials: str  # pinyin initials of the Chinese name, "fspg"


class ProductSearch:
    def __init__(self, catalog: Catalog) -> None:
        self.entries = [_entry(p) for p in catalog.products]

    def find(self, query: str, by_weight_first: bool = False, limit: int = 20) -> list[Product]:
        q = query.strip().lower()
        ranked: list[tuple[int, int, str, Product]] = []
        for e in self.entries:
            rank = _rank(e, q)
            if rank is None:
                continue
            weight_rank = 0 if (not by_weight_first or e.product.sold_by is SoldBy.WEIGHT) else 1
            ranked.append((weight_rank, rank, e.product.name_en.lower(), e.product))
        ranked.sort(key=lambda r: (r[0], r[1], r[2]))
        return [r[3] for r in ranked[:limit]]


def _entry(p: Product) -> _Entry:
    words = [w for w in p.name_en.lower().replace(",", " ").split() if w]
    initials = ""
    if p.name_zh:
        words.append(p.name_zh)
        if HAVE_PINYIN:
            han = [c for c in p.name_zh if "\u4e00" <= c <= "\u9fff"]
            full = lazy_pinyin("".join(han))
            words.append("".join(full))
            initials = "".join(lazy_pinyin("".join(han), style=Style.FIRST_LETTER))
    return _Entry(p, tuple(words), initials)


def _rank(e: _Entry, q: str) -> int | None:
    """0 exact PLU, 1 word prefix, 2 pinyin initials prefix, 3 substring; None: no match."""
    if not q:
        return 5
    p = e.product
    if p.plu and (q == p.plu or q == p.plu.lstrip("9")):
        return 0
    if any(w.startswith(q) for w in e.words):
        return 1
    if e.initials and e.initials.startswith(q):
        return 2
    if q in p.name_en.lower() or (p.name_zh and q in p.name_zh) or (p.plu and q in p.plu):
        return 3
    return None
