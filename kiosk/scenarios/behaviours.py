"""What shoppers do at the lane: honest habits and each kind of fraud, as Lane scripts.

Each behaviour moves physical things (items, hands, bags) and lets the Lane's devices
report them. A behaviour never asks what the checkout core would decide.
"""

from __future__ import annotations

from collections.abc import Sequence

from kiosk.core.catalog import Product
from kiosk.scenarios.lane_sim import Lane, SimulationError, by_weight

HEAVY_G = 2500  # shoppers leave these in the cart and press "skip bagging"

# Produce that look alike to a recogniser (and to a fraudster choosing a cheaper PLU).
LOOKALIKES: dict[str, tuple[str, ...]] = {
    "PRD-001": ("PRD-013",),
    "PRD-013": ("PRD-001",),
    "PRD-002": ("PRD-004", "PRD-005"),
    "PRD-004": ("PRD-002", "PRD-009"),
    "PRD-005": ("PRD-002", "PRD-012"),
    "PRD-003": ("PRD-009", "PRD-008"),
    "PRD-009": ("PRD-003",),
    "PRD-008": ("PRD-003",),
    "PRD-007": ("PRD-011", "PRD-010"),
    "PRD-010": ("PRD-007", "PRD-011"),
    "PRD-011": ("PRD-007", "PRD-010"),
    "PRD-012": ("PRD-007", "PRD-005"),
    "PRD-006": ("PRD-003",),
}
# Grams of a typical pick of each produce item (lo, hi).
PRODUCE_G: dict[str, tuple[int, int]] = {
    "PRD-001": (450, 1500),
    "PRD-013": (450, 1400),
    "PRD-002": (350, 1800),
    "PRD-003": (250, 900),
    "PRD-004": (300, 1200),
    "PRD-005": (400, 1800),
    "PRD-006": (700, 1700),
    "PRD-007": (500, 2200),
    "PRD-008": (250, 800),
    "PRD-009": (150, 600),
    "PRD-010": (60, 350),
    "PRD-011": (80, 400),
    "PRD-012": (250, 900),
}


def gap(lane: Lane) -> None:
    """The shopper reaches into the basket for the next item."""
    lane.wait(0.4, 2.8)


def maybe_spurious(lane: Lane) -> None:
    if lane.rng.random() < lane.profile.spurious:
        lane.spurious_track(lane.now + lane.ms(0.0, 1.5))


def present_item(
    lane: Lane,
    physical: Sequence[Product],
    *,
    code: Product | None,
    identity: str = "honest",
    route: str = "scan",
    bag: bool = True,
    tracked: bool | None = None,
    skip_bagging: bool = False,
    weights: Sequence[float] | None = None,
    must_see: bool = False,
) -> list[float]:
    """One presentation: pick, (scan), move, put down. Returns the true grams put down.

    ``code`` is what the scanner reads (None: no read); ``physical`` what is really in
    the hand (two for a stack). ``route``: "scan" passes the scan zone, "past" goes
    straight to the bagging area, "cart" never reaches the bagging area. ``must_see``:
    the camera follows it and scores its identity (a fraud that only vision can show).
    """
    rng, prof = lane.rng, lane.profile
    if must_see:
        tracked = True
    grams = list(weights) if weights is not None else [lane.weights.unit(p) for p in physical]
    if tracked is None:
        tracked = rng.random() >= prof.vision_miss
    # Two stacked items: the detector sometimes sees two boxes, usually one.
    tids = [lane.new_track_id()] if tracked else []
    if tracked and len(physical) > 1 and rng.random() < 0.45:
        tids.append(lane.new_track_id())
    t = lane.now
    if tids and route == "scan":
        for tid in tids:
            lane.track(t + rng.randint(0, 120), tid, "scan")
    elif tids and route == "past" and rng.random() < 0.4:
        lane.track(t, tids[0], "scan", confidence=rng.uniform(0.4, 0.7))  # a blur at the edge
    t_read = t + lane.ms(0.4, 1.3)
    if rng.random() < 0.35:  # the hand holding it is detected too
        hand = lane.new_track_id()
        lane.track(
            t + rng.randint(0, 200), hand, "scan", label="hand", confidence=rng.uniform(0.4, 0.9)
        )
        lane.track(t_read + lane.ms(0.4, 1.2), hand, "outside", label="hand", lost=True)
    sku, score = None, None
    if code is not None:
        if rng.random() < prof.scan_fail:  # first pass missed; the shopper turns the pack
            t_read += lane.ms(0.8, 2.2)
            lane.tags.add("scan_retry")
        lane.scanner_read(code, t_read)
        lane.lines.append(code)
        if tids and rng.random() < prof.camera_reads:
            lane.scanner_read(code, t_read + rng.randint(-150, 250), "camera", tids[0])
        sku, score = code.sku, lane.identity(identity, may_fail=not must_see)
        if tids:
            lane.track(t_read + rng.randint(80, 300), tids[0], "scan", sku=sku, identity=score)
        if rng.random() < 0.1:  # the pack rests on the scanner glass (a scale) a moment
            lane.produce.change(t_read - 200, grams[0], 0.3)
            lane.produce.change(t_read + 300, -grams[0], 0.25)
    elif route == "scan":
        t_read += lane.ms(0.5, 1.8)  # waves it over the scanner as if scanning
    if skip_bagging:
        lane.shopper("skip_bagging", t_read + lane.ms(1.0, 2.5))
    t_move = t_read + lane.ms(0.5, 1.6)
    if not bag:
        for tid in tids:
            lane.track(t_move + rng.randint(0, 400), tid, "outside", sku=sku, lost=True)
        lane.at_least(t_move + (2500 if skip_bagging else 0))
        return grams
    put = t_move + lane.ms(0.2, 0.6)
    for i, tid in enumerate(tids):
        if i == 0 and rng.random() < prof.track_break:  # id changes: identity is lost
            lane.track(t_move, tid, "scan", sku=sku, identity=score, lost=True)
            tids[i] = lane.new_track_id()
            lane.track(t_move + rng.randint(60, 200), tids[i], "bagging")
        else:
            lane.track(t_move + rng.randint(0, 150), tid, "bagging", sku=sku, identity=score)
    if rng.random() < prof.hand_on_place:
        lane.hand_in_bagging(put - rng.randint(50, 300))
    stable = lane.bagging.change(put, sum(grams))
    lane.on_bagging.extend((p.sku, g) for p, g in zip(physical, grams, strict=True))
    for tid in tids:  # the pack disappears into a bag
        lane.track(stable + lane.ms(0.3, 2.5), tid, "outside", lost=True)
    lane.at_least(stable)
    maybe_spurious(lane)
    return grams


def scan_item(lane: Lane, product: Product) -> None:
    """The honest scan-and-bag, heavy items left in the cart."""
    heavy = (product.expected_weight_g or 0) >= HEAVY_G
    if heavy and lane.rng.random() < 0.85:
        lane.tags.add("heavy_skip")
        present_item(
            lane,
            [product],
            code=product,
            bag=False,
            skip_bagging=True,
            tracked=lane.rng.random() < 0.5,
        )
    else:
        if (product.expected_weight_g or 999) <= 30:
            lane.tags.add("light_item")
        present_item(lane, [product], code=product)
    gap(lane)


def scan_several_then_bag(lane: Lane, products: Sequence[Product]) -> None:
    """Scans two or three items holding them, then puts them down together."""
    rng = lane.rng
    tids: list[int] = []
    grams = [lane.weights.unit(p) for p in products]
    for p in products:
        tid = lane.new_track_id() if rng.random() >= lane.profile.vision_miss else None
        if tid is not None:
            lane.track(lane.now, tid, "scan")
            tids.append(tid)
        t_read = lane.now + lane.ms(0.4, 1.2)
        lane.scanner_read(p, t_read)
        lane.lines.append(p)
        if tid is not None:
            lane.track(
                t_read + rng.randint(80, 300),
                tid,
                "scan",
                sku=p.sku,
                identity=lane.identity("honest"),
            )
        lane.at_least(t_read + lane.ms(0.5, 1.2))
    put = lane.now + lane.ms(0.5, 1.5)
    for tid in tids:
        lane.track(put - rng.randint(100, 400), tid, "bagging")
    if rng.random() < lane.profile.hand_on_place:
        lane.hand_in_bagging(put - 200)
    stable = lane.bagging.change(put, sum(grams))
    lane.on_bagging.extend((p.sku, g) for p, g in zip(products, grams, strict=True))
    for tid in tids:
        lane.track(stable + lane.ms(0.3, 2.5), tid, "outside", lost=True)
    lane.at_least(stable)
    lane.tags.add("batch_bagging")
    gap(lane)


def candidates(lane: Lane, true_sku: str, k: int = 4) -> list[tuple[str, float]]:
    """Top-k of the produce recogniser: usually right, sometimes a look-alike first."""
    rng = lane.rng
    others = [s for s in PRODUCE_G if s != true_sku]
    alike = [s for s in LOOKALIKES.get(true_sku, ()) if s in PRODUCE_G]
    pool = alike + [s for s in rng.sample(others, len(others)) if s not in alike]
    top = rng.betavariate(6, 2)
    scores = [(true_sku, top)]
    rest = 1.0 - top
    for s in pool[: k - 1]:
        v = rest * rng.uniform(0.2, 0.7)
        rest -= v
        scores.append((s, v))
    if alike and rng.random() < 0.12:  # the look-alike wins this time
        a = next(i for i, (s, _) in enumerate(scores) if s == alike[0])
        scores[0], scores[a] = (true_sku, scores[a][1]), (alike[0], scores[0][1])
    return sorted(scores, key=lambda x: -x[1])


def weigh_produce(
    lane: Lane, real: Product, chosen: Product | None = None, via: str = "plu"
) -> None:
    """Produce on the produce scale, priced by weight; ``chosen`` is what the shopper
    enters (a cheaper look-alike in a produce switch). ``via``: plu | suggestion."""
    rng = lane.rng
    chosen = chosen or real
    lo, hi = PRODUCE_G.get(real.sku, (150, 1200))
    grams = rng.uniform(lo, hi) + 4.0  # the thin produce bag
    typed_first = via == "plu" and rng.random() < 0.35
    if typed_first:  # PLU keyed in, then the scale asked for
        lane.shopper("add_item", plu=chosen.plu)
        lane.wait(1.0, 2.5)
    # A switched PLU only shows on camera: a fraud no sensor sees is no detection miss.
    seen = chosen is not real or rng.random() >= lane.profile.vision_miss
    tid = lane.new_track_id() if seen else None
    t = lane.now
    if tid is not None:
        lane.track(t, tid, "scan")
    stable = lane.produce.change(t + 200, grams)
    cands = candidates(lane, real.sku)
    if tid is not None:
        lane.track(
            stable + rng.randint(100, 500),
            tid,
            "produce_scale",
            sku=cands[0][0],
            identity=None,
            candidates=cands,
        )
    lane.at_least(stable)
    lane.wait(1.2, 4.0)  # reads the screen, finds the item
    if not typed_first:
        if via == "suggestion" and any(s == chosen.sku for s, _ in cands):
            lane.tags.add("produce_suggest")
            lane.shopper("add_item", sku=chosen.sku)
        else:
            lane.tags.add("produce_plu")
            lane.shopper("add_item", plu=chosen.plu)
    lane.lines.append(chosen)
    lane.wait(0.6, 1.8)
    lifted = lane.produce.change(lane.now, -grams)
    if tid is not None:
        lane.track(lifted, tid, "bagging")
    put = lifted + lane.ms(0.4, 1.2)
    if rng.random() < lane.profile.hand_on_place:
        lane.hand_in_bagging(put - 150)
    stable = lane.put_on_bagging(real.sku, grams, put)
    if tid is not None:
        lane.track(stable + lane.ms(0.4, 2.0), tid, "outside", lost=True)
    lane.at_least(stable)
    lane.tags.add("produce")
    gap(lane)


def each_produce(lane: Lane, product: Product) -> None:
    """An each-priced produce item (avocado): PLU typed, bagged."""
    lane.shopper("add_item", plu=product.plu)
    lane.lines.append(product)
    lane.wait(0.8, 2.0)
    present_item(lane, [product], code=None, route="past")
    lane.tags.add("produce")
    gap(lane)


# --- honest incidents ---------------------------------------------------------------


def declare_bags(lane: Lane, count: int = 1) -> None:
    """ "I brought my own bag", then the bag(s) put down."""
    lane.shopper("own_bag")
    lane.wait(0.8, 2.0)
    for _ in range(count):
        grams = lane.rng.choice((lane.rng.uniform(6, 25), lane.rng.uniform(40, 190)))
        if lane.rng.random() < 0.7:
            tid = lane.new_track_id()
            lane.track(lane.now, tid, "bagging", label="bag")
            lane.track(lane.now + lane.ms(1.0, 3.0), tid, "outside", label="bag", lost=True)
        lane.at_least(lane.put_on_bagging("bag", grams, lane.now + 200))
        lane.wait(0.4, 1.5)
    lane.tags.add("own_bag")


def lean(lane: Lane) -> None:
    """Leans on the bagging area (or rests a forearm) and lets go."""
    rng = lane.rng
    visible = rng.random() < 0.75
    lane.tags.add("lean" if visible else "lean_no_hand")
    hold = rng.uniform(0.6, 3.5)
    if visible:
        lane.hand_in_bagging(lane.now - 100, (hold + 0.8, hold + 1.6))
    end = lane.bagging.wobble(lane.now, rng.uniform(150, 2500), hold, rng.random() < 0.5)
    lane.at_least(end)
    gap(lane)


def purse(lane: Lane) -> None:
    """Puts a purse or phone on the bagging area and takes it back a little later."""
    rng = lane.rng
    grams = rng.uniform(120, 900)
    seen = rng.random() < 0.85
    tid = lane.new_track_id()
    if seen:
        lane.track(lane.now, tid, "bagging", label="bag", confidence=rng.uniform(0.5, 0.9))
    if rng.random() < 0.7:
        lane.hand_in_bagging(lane.now - 100)
    lane.at_least(lane.put_on_bagging("purse", grams, lane.now + 150))
    lane.wait(1.5, 7.0, paced=False)
    idx = next(i for i, (w, _) in enumerate(lane.on_bagging) if w == "purse")
    if rng.random() < 0.7:
        lane.hand_in_bagging(lane.now - 100)
    _, _, back = lane.take_from_bagging(idx, lane.now)
    if seen:
        lane.track(back + 200, tid, "outside", label="bag", lost=True)
    lane.at_least(back)
    lane.tags.add("purse")
    gap(lane)


def move_full_bags(lane: Lane) -> None:
    """Bags are full: tells the kiosk, lifts them into the cart one by one."""
    lane.shopper("remove_bags")
    lane.wait(0.8, 2.0)
    rng = lane.rng
    while lane.on_bagging:
        n = min(len(lane.on_bagging), rng.randint(2, 6))
        grams = sum(g for _, g in lane.on_bagging[:n])
        del lane.on_bagging[:n]
        if rng.random() < 0.8:
            lane.hand_in_bagging(lane.now - 100)
        lane.at_least(lane.bagging.change(lane.now, -grams))
        lane.wait(0.6, 2.0)
    lane.tags.add("bags_moved")
    if rng.random() < 0.4:
        declare_bags(lane)


def forgot_to_scan(lane: Lane, product: Product) -> None:
    """Puts an item down unscanned, notices (the screen says so) and scans it within ~3 s."""
    rng = lane.rng
    present_item(lane, [product], code=None, route=rng.choice(("scan", "past")))
    lane.wait(0.8, 2.6, paced=False)
    if rng.random() < 0.5:
        # Lifts it back out, scans it, puts it back.
        idx = len(lane.on_bagging) - 1
        if rng.random() < lane.profile.hand_on_place:
            lane.hand_in_bagging(lane.now - 100)
        _, grams, up = lane.take_from_bagging(idx, lane.now)
        lane.at_least(up)
        present_item(lane, [product], code=product, weights=[grams])
    else:  # scans it where it lies with the handheld scanner
        lane.scanner_read(product, lane.now)
        lane.lines.append(product)
    lane.tags.add("self_correct")
    gap(lane)


def void_by_attendant(lane: Lane) -> None:
    """Changes their mind about the last bagged item; the attendant voids it."""
    rng = lane.rng
    if not lane.lines:
        return
    line_id = len(lane.lines)
    product = lane.lines[-1]
    if by_weight(product) or product.expected_weight_g is None or not lane.on_bagging:
        return
    if lane.on_bagging[-1][0] != product.sku:
        return
    lane.shopper("remove_item", line_id=line_id)
    lane.wait(0.8, 2.0)
    if rng.random() < lane.profile.hand_on_place:
        lane.hand_in_bagging(lane.now - 100)
    lane.at_least(lane.take_from_bagging(len(lane.on_bagging) - 1, lane.now)[2])
    lane.wait(8.0, 30.0, paced=False)  # the attendant walks over
    lane.attendant("void_item", line_id=line_id)
    lane.tags.add("void")
    gap(lane)


def approve_age_if_needed(lane: Lane) -> None:
    if any(p.min_age for p in lane.lines):
        lane.wait(5.0, 20.0, paced=False)
        lane.attendant("approve_age")
        lane.tags.add("age")
        lane.wait(1.0, 3.0)


def pay_and_leave(lane: Lane, amount_for: object) -> None:
    """Pays by card; after the receipt, lifts the bags off."""
    if not callable(amount_for):
        raise SimulationError("amount_for must be callable")
    approve_age_if_needed(lane)
    method = lane.rng.choice(("card", "card", "qr"))
    lane.shopper("pay", method=method)
    amount = amount_for()
    lane.wait(3.0, 9.0, paced=False)
    ref = f"T{lane.rng.randint(1000, 99999)}"
    lane.emit(
        lane.now,
        {
            "type": "payment",
            "approved": True,
            "amount_minor": amount,
            "method": method,
            "reference": ref,
            "reason": "",
        },
    )
    lane.end_ms = lane.now
    lane.wait(1.5, 4.0)
    while lane.on_bagging:
        n = min(len(lane.on_bagging), lane.rng.randint(2, 8))
        grams = sum(g for _, g in lane.on_bagging[:n])
        del lane.on_bagging[:n]
        lane.at_least(lane.bagging.change(lane.now, -grams))
        lane.wait(0.5, 1.5)
    lane.end_ms = lane.now


# --- frauds -------------------------------------------------------------------------


def non_scan(lane: Lane, product: Product, variant: str) -> str:
    """An item into the bagging area with no read. Variants: hidden (barcode covered while
    'scanning'), past (carried around the scanner), vision_missed (only the weight shows
    it), light (too light for the scale: only vision shows it)."""
    if variant == "hidden":
        present_item(lane, [product], code=None, route="scan")
        return f"{product.sku} waved over the scanner with the barcode covered"
    if variant == "past":
        present_item(lane, [product], code=None, route="past")
        return f"{product.sku} carried past the scanner into the bagging area"
    if variant == "vision_missed":
        present_item(
            lane, [product], code=None, route=lane.rng.choice(("scan", "past")), tracked=False
        )
        return f"{product.sku} not scanned; the camera lost it, only the weight shows it"
    present_item(lane, [product], code=None, route="scan", tracked=True)
    return f"light {product.sku} not scanned; too light for the scale, only vision shows it"


def ticket_switch(lane: Lane, dear: Product, cheap: Product, variant: str) -> str:
    """The cheap item's barcode on the dear item. Variants: different_weight,
    similar_weight (only the identity score tells), identity_missing (only the weight)."""
    kind = {"similar_weight": "similar_switch", "identity_missing": "none"}.get(variant, "switch")
    # With similar weights only the identity can tell: the camera must have seen it.
    present_item(lane, [dear], code=cheap, identity=kind, must_see=variant == "similar_weight")
    return f"{dear.sku} scanned with the barcode of {cheap.sku} ({variant})"


def weight_fraud(lane: Lane, cheap: Product, dear: Product, variant: str) -> str:
    """Scan cheap, bag dear: the scanned item goes back in the basket, a dearer one is put
    in the bagging area instead (seen by the camera or not)."""
    present_item(lane, [cheap], code=cheap, bag=False)
    lane.wait(0.3, 1.2)
    present_item(
        lane, [dear], code=None, route="past", tracked=False if variant == "swap_unseen" else None
    )
    return f"{cheap.sku} scanned, {dear.sku} bagged instead ({variant})"


def item_removed(lane: Lane, first: Product) -> str:
    """A scanned item taken back out of the bagging area and kept, unpaid-for at the end.
    ``first`` is scanned and bagged first when the bagging area holds no item yet."""
    rng = lane.rng
    goods = [i for i, (w, _) in enumerate(lane.on_bagging) if w not in ("bag", "purse")]
    if not goods:
        present_item(lane, [first], code=first)
        gap(lane)
        goods = [len(lane.on_bagging) - 1]
    idx = rng.choice(goods)
    if rng.random() < 0.6:
        lane.hand_in_bagging(lane.now - 100, (0.8, 2.0))
    what, _, up = lane.take_from_bagging(idx, lane.now)
    if rng.random() >= lane.profile.vision_miss + 0.15:
        tid = lane.new_track_id()
        lane.track(lane.now + 100, tid, "bagging")
        lane.track(up + lane.ms(0.3, 1.0), tid, "outside", lost=True)
    lane.at_least(up)
    gap(lane)
    return f"{what} taken back out of the bagging area before paying"


def stacked(lane: Lane, top: Product, under: Product, variant: str) -> str:
    """Two items presented as one: only the top one is read."""
    present_item(lane, [top, under], code=top)
    gap(lane)
    return f"{under.sku} held under {top.sku}, one read ({variant})"


def bag_abuse(lane: Lane, item: Product) -> str:
    """'I brought my own bag' and an unscanned item put down instead of a bag."""
    lane.shopper("own_bag")
    lane.wait(0.8, 2.0)
    present_item(lane, [item], code=None, route="past", must_see=True)  # a bag's weight
    gap(lane)
    return f"own bag declared, {item.sku} put down instead"


def produce_switch(lane: Lane, real: Product, typed: Product) -> str:
    weigh_produce(lane, real, chosen=typed, via="plu")
    return f"{real.sku} on the produce scale, PLU {typed.plu} ({typed.sku}) typed"
