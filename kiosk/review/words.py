"""Flag evidence, timeline events and receipts in words a loss-prevention reviewer reads.

Pure functions over the JSON the kiosk sent, so the review screens stay thin and these are
testable without a window. Unknown keys are still shown (as "key: value") rather than
dropped: a reviewer must see everything the kiosk recorded, even fields added later.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from kiosk.core.receipt import format_receipt

REASONS: dict[str, str] = {
    "non_scan": "Item bagged without a scan",
    "ticket_switch": "Barcode of a different product",
    "produce_mismatch": "Produce keyed as a cheaper kind",
    "weight_mismatch": "Weight does not match the item",
    "multiple_items": "More than one item for one scan",
    "item_removed": "Item taken from the bagging area",
    "bag_abuse": "Goods declared as a bag",
    "unexpected_payment": "Paid with unresolved findings",
    "age_check": "Age-restricted item",
}
LABELS: dict[str, str] = {
    "confirmed_loss": "Confirmed loss",
    "false_alarm": "False alarm",
    "unlabelled": "Not reviewed",
}
EVENT_WORDS: dict[str, str] = {
    "session_started": "Session started",
    "item_added": "Item added",
    "item_voided": "Item removed from the sale",
    "quantity_changed": "Quantity changed",
    "weight_requested": "Weight requested",
    "alert_raised": "Alert raised",
    "alert_cleared": "Alert cleared",
    "mismatch_detected": "Mismatch seen",
    "mismatch_resolved": "Mismatch resolved",
    "lp_flagged": "Flagged for review",
    "nudge_shown": "Shopper nudged",
    "payment_requested": "Payment requested",
    "payment_approved": "Payment approved",
    "payment_declined": "Payment declined",
    "transaction_completed": "Sale completed",
    "transaction_cancelled": "Sale cancelled",
    "bag_accepted": "Bag accepted",
    "bagging_skipped": "Bagging skipped",
    "item_suggested": "Camera suggested an item",
    "produce_suggested": "Camera suggested produce",
    "state_changed": "Lane state",
    "device_status": "Device",
    "input_rejected": "Input rejected",
}
# Evidence keys with their own sentence below; the rest are listed plainly.
_HANDLED = {
    "anchor_g",
    "settled_g",
    "delta_g",
    "tolerance_g",
    "unexplained_g",
    "expected",
    "likely_lines",
    "track_id",
    "label",
    "sku",
    "identity_score",
    "snapshots",
    "clutter",
    "scan_zone_ms",
    "bagging_ms",
    "unpaid_track",
    "typed_sku",
    "seen_sku",
    "seen_score",
    "price_per_kg_typed",
    "price_per_kg_seen",
    "bag_declared",
    "detail",
}


def reason_words(reason: str) -> str:
    return REASONS.get(reason, reason.replace("_", " ").capitalize())


def label_words(label: str | None) -> str:
    return LABELS[label or "unlabelled"] if (label or "unlabelled") in LABELS else str(label)


def clock_time(ts: float) -> str:
    """Local date and time, to the second (what a reviewer compares with CCTV)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _grams(value: Any) -> str:
    return f"{int(value):+d} g" if isinstance(value, int | float) else str(value)


def _ms_time(value: Any) -> str:
    if not isinstance(value, int | float) or value <= 0:
        return str(value)
    return time.strftime("%H:%M:%S", time.localtime(value / 1000)) + f".{int(value) % 1000 // 100}"


def _money_per_kg(minor: Any) -> str:
    return f"¥{minor / 100:.2f}/kg" if isinstance(minor, int | float) else str(minor)


def describe_evidence(evidence: Mapping[str, Any]) -> list[str]:
    """One sentence per fact the kiosk recorded, weights first, then the camera."""
    e, out = evidence, []
    if "delta_g" in e:
        line = f"Bagging scale changed by {_grams(e['delta_g'])}"
        if "anchor_g" in e and "settled_g" in e:
            line += f" (from {e['anchor_g']} g to {e['settled_g']} g)"
        if "tolerance_g" in e:
            line += f", tolerance ±{e['tolerance_g']} g"
        out.append(line)
    if "unexplained_g" in e:
        out.append(f"Weight no sold item explains: {_grams(e['unexplained_g'])}")
    if "expected" in e:
        expected = e["expected"]
        out.append(
            "Expected on the scale: " + (", ".join(map(str, expected)) if expected else "nothing")
        )
    if e.get("likely_lines"):
        out.append("Likely receipt lines: " + ", ".join(map(str, e["likely_lines"])))
    if e.get("bag_declared"):
        out.append("The shopper had declared a bag")
    if "typed_sku" in e or "seen_sku" in e:
        out.append(
            f"Keyed as {e.get('typed_sku')} ({_money_per_kg(e.get('price_per_kg_typed'))}), "
            f"camera saw {e.get('seen_sku')} ({_money_per_kg(e.get('price_per_kg_seen'))})"
            + (
                f" with score {e['seen_score']:.2f}"
                if isinstance(e.get("seen_score"), float)
                else ""
            )
        )
    if "track_id" in e or "label" in e:
        what = e.get("label") or "object"
        sku = e.get("sku")
        ident = f"identified as {sku}" if sku else "not identified as a product"
        score = e.get("identity_score")
        if sku and isinstance(score, int | float):
            ident += f" (score {score:.2f})"
        out.append(f"Camera tracked {what} #{e.get('track_id')}, {ident}")
    if e.get("unpaid_track") is not None:
        out.append(f"Track #{e['unpaid_track']} was never paid for")
    if e.get("scan_zone_ms"):
        out.append(f"Seen in the scan zone at {_ms_time(e['scan_zone_ms'])}")
    if e.get("bagging_ms"):
        out.append(f"Seen in the bagging area at {_ms_time(e['bagging_ms'])}")
    if e.get("clutter"):
        seen = ", ".join(
            f"{c.get('label', '?')} #{c.get('track_id', '?')}"
            for c in e["clutter"]
            if isinstance(c, Mapping)
        )
        out.append(f"Also in view: {seen}")
    if e.get("detail"):
        out.append(f"Detail: {e['detail']}")
    for key in sorted(set(e) - _HANDLED):
        out.append(f"{key.replace('_', ' ').capitalize()}: {e[key]}")
    return out or ["No evidence recorded"]


def describe_event(event: Mapping[str, Any]) -> str:
    """A one-line summary of a timeline event."""
    kind = str(event.get("type", "?"))
    words = EVENT_WORDS.get(kind, kind.replace("_", " ").capitalize())
    line = event.get("line")
    if isinstance(line, Mapping) and line.get("name_en"):
        words += f": {line['name_en']}"
        if line.get("weight_g"):
            words += f" ({line['weight_g']} g)"
    elif event.get("reason"):
        words += f": {reason_words(str(event['reason']))}"
    elif kind == "state_changed" and event.get("to_state"):
        words += f": {event.get('from_state')} → {event['to_state']}"
    elif kind == "device_status" and event.get("device"):
        words += f": {event['device']} {event.get('status', '')}".rstrip()
    elif kind == "nudge_shown" and event.get("nudge"):
        words += f": {str(event['nudge']).replace('_', ' ')}"
    return words


def timeline_lines(
    timeline: Sequence[Mapping[str, Any]], flagged_ts: float, flag_id: str
) -> list[str]:
    """Each event as "+12.3 s  Item added: Bananas", the flagged one marked with ">"."""
    out = []
    for ev in timeline:
        ts = ev.get("ts")
        offset = f"{ts - flagged_ts:+7.1f} s" if isinstance(ts, int | float) else "   ?    "
        mark = ">" if ev.get("event_id") == flag_id else " "
        out.append(f"{mark} {offset}  {describe_event(ev)}")
    return out


def weight_lines(weights: Sequence[Mapping[str, Any]], flagged_ts: float) -> list[str]:
    """Each gram figure set as "+3.2 s  Mismatch seen: delta +83 g, settled 1045 g"."""
    out = []
    for w in weights:
        ts = w.get("ts")
        offset = f"{ts - flagged_ts:+7.1f} s" if isinstance(ts, int | float) else "   ?    "
        kind = str(w.get("type") or "")
        what = "The flag" if kind == "flag" else EVENT_WORDS.get(kind, kind.replace("_", " "))
        grams = ", ".join(
            f"{k[:-2].replace('_', ' ')} {v} g" for k, v in w.items() if k.endswith("_g")
        )
        out.append(f"{offset}  {what}: {grams or '-'}")
    return out


def receipt_text(receipt: Mapping[str, Any] | None) -> str:
    if not receipt:
        return "No receipt: the sale was not completed."
    try:
        return format_receipt(receipt, "en")
    except (KeyError, TypeError, ValueError) as err:  # an older kiosk's receipt: show raw
        return f"(receipt in an unexpected form: {err})\n" + "\n".join(
            f"{k}: {v}" for k, v in receipt.items()
        )
