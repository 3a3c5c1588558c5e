"""``[security]``: the mismatch-detection rules of a lane (docs/mismatch.md), per store.

Defaults come from ``SecuritySettings`` itself so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kiosk.config_schema import Field, Section, register_section
from kiosk.core.security.findings import parse_policies
from kiosk.core.settings import SecuritySettings

_D = SecuritySettings()


def _check(values: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    try:
        parse_policies(tuple(values["policies"]))
    except ValueError as err:
        yield ("policies", str(err))
    if values["bag_min_g"] >= values["bag_max_g"]:
        yield ("bag_min_g", f"must be below bag_max_g ({values['bag_max_g']})")
    if values["identity_switch_below"] > values["identity_doubt_below"]:
        yield ("identity_switch_below", "must not be above identity_doubt_below")


SECURITY_SECTION = register_section(
    Section(
        "security",
        "mismatch detection: non-scans, switched barcodes, bagging-area weights",
        (
            Field("enabled", bool, _D.enabled, "run the mismatch rules on this lane"),
            Field("weight_tolerance_k", float, _D.weight_tolerance_k,
                  "how many standard deviations a bagged weight may be off",
                  minimum=1.0, maximum=10.0),
            Field("bagging_division_g", int, _D.bagging_division_g,
                  "grams per display step of the bagging scale", minimum=1, maximum=100),
            Field("weight_floor_divisions", int, _D.weight_floor_divisions,
                  "smallest tolerance, in bagging-scale steps", minimum=1, maximum=50),
            Field("learn_min_samples", int, _D.learn_min_samples,
                  "weighings of a product before its learned weight is trusted alone",
                  minimum=1, maximum=1000),
            Field("seed_sigma_fraction", float, _D.seed_sigma_fraction,
                  "spread assumed for a catalog weight without a tolerance, as a fraction",
                  minimum=0.001, maximum=0.5),
            Field("light_item_g", int, _D.light_item_g,
                  "items lighter than this need not register on the bagging scale",
                  minimum=0, maximum=500),
            Field("bag_min_g", int, _D.bag_min_g, "lightest own bag", minimum=0, maximum=1000),
            Field("bag_max_g", int, _D.bag_max_g, "heaviest own bag", minimum=1, maximum=2000),
            Field("max_bags", int, _D.max_bags, "own bags per declaration", minimum=1,
                  maximum=10),
            Field("skip_bagging_min_g", int, _D.skip_bagging_min_g,
                  "items at least this heavy may stay in the cart without limit",
                  minimum=0, maximum=100_000),
            Field("max_skips_per_session", int, _D.max_skips_per_session,
                  "lighter items a shopper may keep out of the bagging area per sale",
                  minimum=0, maximum=50),
            Field("place_timeout_ms", int, _D.place_timeout_ms,
                  "milliseconds after a scan before 'place the item' is shown",
                  minimum=1000, maximum=600_000),
            Field("read_before_ms", int, _D.read_before_ms,
                  "a read this long before an item reached the scan zone counts for it",
                  minimum=0, maximum=30_000),
            Field("read_after_ms", int, _D.read_after_ms,
                  "a read this long after an item entered the bagging area counts for it",
                  minimum=0, maximum=10_000),
            Field("min_track_confidence", float, _D.min_track_confidence,
                  "detector score below which a track is not trusted as an item",
                  minimum=0.0, maximum=1.0),
            Field("identity_switch_below", float, _D.identity_switch_below,
                  "identity score below which an item is taken as switched",
                  minimum=0.0, maximum=1.0),
            Field("identity_doubt_below", float, _D.identity_doubt_below,
                  "identity score below which a wrong weight makes it a switch",
                  minimum=0.0, maximum=1.0),
            Field("auto_id_min_score", float, _D.auto_id_min_score,
                  "identity score from which an unread item is offered for one tap",
                  minimum=0.0, maximum=1.0),
            Field("auto_id_after_ms", int, _D.auto_id_after_ms,
                  "milliseconds an unread item waits in the scan zone before the offer",
                  minimum=0, maximum=60_000),
            Field("produce_check_min_score", float, _D.produce_check_min_score,
                  "recogniser score from which a different typed PLU is questioned",
                  minimum=0.0, maximum=1.0),
            Field("produce_suggestions", int, _D.produce_suggestions,
                  "produce suggestions shown", minimum=1, maximum=12),
            Field("hand_window_ms", int, _D.hand_window_ms,
                  "a hand or bag seen this recently on the bagging area softens a weight "
                  "alert", minimum=0, maximum=10_000),
            Field("nudge_grace_ms", int, _D.nudge_grace_ms,
                  "milliseconds a shopper has to fix a nudge before the attendant is called",
                  minimum=0, maximum=120_000),
            Field("prompt_grace_ms", int, _D.prompt_grace_ms,
                  "grace for gentle prompts (hand or bag on the bagging area)",
                  minimum=0, maximum=300_000),
            Field("policies", list[str], _D.policies,
                  "reason:policy pairs; policies are nudge_then_alert, alert, flag, "
                  "nudge_then_flag, nudge, off"),
        ),
        checks=(_check,),
    )
)  # fmt: skip


def security_settings(values: Mapping[str, Any]) -> SecuritySettings:
    """The validated ``[security]`` table as the core's settings (lists become tuples)."""
    return SecuritySettings(**{**values, "policies": tuple(values["policies"])})
