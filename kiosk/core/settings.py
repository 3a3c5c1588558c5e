"""Settings the pure core needs, filled from the ``[checkout]`` section of the config."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_EMBEDDED_RULES: tuple[str, ...] = ("21.....{NNDDD}", "23.....{NNNDD}")


@dataclass(frozen=True)
class CoreSettings:
    """Business rules of one lane. Times are integer milliseconds, money minor units."""

    kiosk_id: str = "lane-01"
    store_id: str = "store-01"
    # A fixed id per journal database, so event ids stay unique if a lane's disk is replaced.
    journal_id: str = "replay"
    currency: str = "CNY"
    currency_exponent: int = 2
    prices_include_tax: bool = True
    # Odoo-style in-store barcode patterns: prefix digits, '.' item code, {N..D..} value.
    embedded_rules: tuple[str, ...] = field(default=DEFAULT_EMBEDDED_RULES)
    embedded_price_verifier: bool = False
    # A repeat of the same code within this window is one physical scan (camera re-reads).
    same_code_timeout_ms: int = 800
    # Camera reads add items on a lane without a scanner; where a scanner does the scanning
    # they are evidence for the mismatch rules only (never a second copy of the item).
    camera_scans: bool = True
    void_requires_attendant: bool = True
    cancel_requires_attendant: bool = True
    # Items in the cart and no input for this long: the attendant is told.
    abandon_after_ms: int = 300_000
    # A session started without items goes back to the welcome screen after this long.
    reset_empty_after_ms: int = 60_000
    # The lightest stable produce weight the lane will sell.
    min_produce_weight_g: int = 5
    max_produce_weight_g: int = 15_000
    # Scans of unknown codes in a row before the attendant is called.
    unknown_scans_before_help: int = 3
