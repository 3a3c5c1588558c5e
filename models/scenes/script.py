"""Shopper scripts: the actions a scenario video plays, and the built-in scripts.

A script is a list of :class:`Action`; text form is ``scan(DRK-001); skip_scan(SNK-004)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kiosk.errors import KioskError
from models.scenes.catalog import product_by_code

ACTIONS = {
    # kind: (number of product arguments, what it shows)
    "scan": (1, "item from the bottom, barcode up over the scanner, into the bagging area"),
    "skip_scan": (1, "item carried to bagging with its barcode facing away"),
    "switch": (2, "an item of the first product wearing the second product's barcode"),
    "place_produce": (1, "loose produce set on the scale, then bagged"),
    "bag_down": (0, "a shopping bag put down on the bagging area"),
    "hand_only": (0, "an empty hand reaching into the scan zone"),
    "remove": (1, "an item taken back out of the bagging area"),
    "idle": (0, "nothing moves for a second"),
}

BUILTIN_SCRIPTS: dict[str, str] = {
    "basket": "bag_down; scan(DRK-003); scan(SNK-005); scan(PAN-008); scan(HOU-002)",
    "nonscan": "scan(DRK-001); skip_scan(SNK-004); scan(HOU-002)",
    "switch": "scan(DRK-004); switch(DRK-010, SNK-009); scan(SNK-010)",
    "produce": "place_produce(4011); place_produce(4131); scan(DRK-006)",
    "remove": "scan(SNK-007); scan(PAN-006); remove(SNK-007)",
    "hands": "hand_only; idle; scan(DRK-008); hand_only",
    "empty": "idle; idle; idle",
}

_CALL = re.compile(r"^\s*([a-z_]+)\s*(?:\(\s*([^()]*)\s*\))?\s*$")


@dataclass(frozen=True)
class Action:
    kind: str
    sku: str | None = None  # product shown (or taken)
    barcode_sku: str | None = None  # switch: the product whose code is printed on it

    def __post_init__(self) -> None:
        if self.kind not in ACTIONS:
            raise KioskError(f"unknown action {self.kind!r}; known: {', '.join(ACTIONS)}")
        need = ACTIONS[self.kind][0]
        got = (self.sku is not None) + (self.barcode_sku is not None)
        if got != need:
            raise KioskError(f"action {self.kind} takes {need} product argument(s), got {got}")
        for code in (self.sku, self.barcode_sku):
            if code is not None:
                product_by_code(code)  # raises on an unknown SKU/PLU/GTIN

    def __str__(self) -> str:
        args = [a for a in (self.sku, self.barcode_sku) if a is not None]
        return f"{self.kind}({', '.join(args)})" if args else self.kind


def scan(sku: str) -> Action:
    return Action("scan", sku)


def skip_scan(sku: str) -> Action:
    return Action("skip_scan", sku)


def switch(sku_shown: str, sku_barcode: str) -> Action:
    return Action("switch", sku_shown, sku_barcode)


def place_produce(plu: str) -> Action:
    return Action("place_produce", plu)


def remove(sku: str) -> Action:
    return Action("remove", sku)


bag_down = Action("bag_down")
hand_only = Action("hand_only")
idle = Action("idle")


def parse_script(text: str | list[Action] | list[str]) -> list[Action]:
    """A built-in script name, ``a(x); b`` text, or a list of actions or action strings."""
    if isinstance(text, list):
        out: list[Action] = []
        for a in text:
            out += [a] if isinstance(a, Action) else parse_script(str(a))
        return out
    text = BUILTIN_SCRIPTS.get(text.strip(), text)
    actions = []
    for part in (p for p in re.split(r"[;\n]", text) if p.strip()):
        m = _CALL.match(part)
        if not m:
            raise KioskError(
                f"cannot read action {part.strip()!r}; write e.g. scan(DRK-001) or bag_down, "
                f"or name a built-in script: {', '.join(BUILTIN_SCRIPTS)}"
            )
        args = [a.strip() for a in (m.group(2) or "").split(",") if a.strip()]
        if len(args) > 2:
            raise KioskError(f"too many arguments in {part.strip()!r}")
        if m.group(1) not in ACTIONS:
            raise KioskError(
                f"unknown action {m.group(1)!r}; actions: {', '.join(ACTIONS)}; "
                f"built-in scripts: {', '.join(BUILTIN_SCRIPTS)}"
            )
        actions.append(Action(m.group(1), *args))
    if not actions:
        raise KioskError("empty script")
    return actions
