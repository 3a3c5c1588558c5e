"""Settings the pure core needs, filled from the ``[checkout]`` section of the config."""

from __future__ import annotations

from dataclasses import dataclass, field

# What happens when a rule finds something, per reason: "nudge_then_alert" (private prompt
# first, attendant if not corrected in time), "alert" (attendant at once), "flag" (silent
# loss-prevention review), "nudge_then_flag", "nudge" (prompt only) or "off".
DEFAULT_POLICIES: tuple[str, ...] = (
    "non_scan:nudge_then_alert",
    "unexpected_item:nudge_then_alert",
    "weight_mismatch:nudge_then_alert",
    "item_removed:nudge_then_alert",
    "ticket_switch:nudge_then_alert",
    "multiple_items:nudge_then_alert",
    "bag_abuse:nudge_then_alert",
    "produce_mismatch:nudge_then_flag",
    "item_not_bagged:nudge",
)

DEFAULT_EMBEDDED_RULES: tuple[str, ...] = ("21.....{NNDDD}", "23.....{NNNDD}")


@dataclass(frozen=True)
class SecuritySettings:
    """Mismatch-detection rules (``[security]``): grams, milliseconds, scores in [0, 1]."""

    enabled: bool = True
    # Weight tolerance: max(floor, k * sqrt(sum item variances + 2 * scale variance)).
    weight_tolerance_k: float = 3.0
    bagging_division_g: int = 5  # e of the bagging scale: its noise and resolution
    weight_floor_divisions: int = 3  # never tighter than 3 e
    # Until a SKU has this many learned samples its catalog figures are blended in.
    learn_min_samples: int = 8
    # Until learned, a catalog weight's sigma is its tolerance, and at least this fraction.
    seed_sigma_fraction: float = 0.03
    light_item_g: int = 20  # lighter items need not register on the bagging scale
    bag_min_g: int = 5
    bag_max_g: int = 250
    max_bags: int = 4
    skip_bagging_min_g: int = 2500  # heavier items may stay in the cart without an attendant
    max_skips_per_session: int = 3
    # A scanned item not seen on the bagging scale this long after its scan gets a prompt.
    place_timeout_ms: int = 15_000
    # Vision: a read counts for an item if it came this long before it reached the scan
    # zone, or up to this long after it entered the bagging area.
    read_before_ms: int = 3_000
    read_after_ms: int = 1_500
    min_track_confidence: float = 0.4
    identity_switch_below: float = 0.25  # item clearly unlike the scanned SKU
    identity_doubt_below: float = 0.45  # unlike it: a switch if the weight also disagrees
    auto_id_min_score: float = 0.8
    auto_id_after_ms: int = 2_500
    produce_check_min_score: float = 0.5
    produce_suggestions: int = 4
    hand_window_ms: int = 1_500  # a hand/bag seen this recently in the bagging area
    # Escalation: a nudge not corrected within the grace becomes its policy's next step.
    nudge_grace_ms: int = 8_000
    prompt_grace_ms: int = 12_000  # gentler prompts (a hand or bag on the bagging area)
    policies: tuple[str, ...] = field(default=DEFAULT_POLICIES)


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
    # Training mode (docs/training.md): every event says so (``training: true``) and no
    # receiver counts it as a sale or a loss-prevention flag.
    training: bool = False
    security: SecuritySettings = field(default_factory=SecuritySettings)
