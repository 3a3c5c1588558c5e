"""Rendered scenarios: camera video and scale byte streams through the REAL adapters.

The generated suite writes core inputs directly; this subset proves the adapters produce
them. Each scenario plays a scene-renderer script (``models.scenes``) frame by frame:

- the frames go through the real ``VisionPipeline`` built as the lane builds it
  (``vision.worker.build_pipeline``: shipped detector, barcode cascade, tracker, zones,
  shipped produce classifier; identity against reference images rendered for each SKU),
  on a camera-only lane (``camera_scans = true``);
- the scene's world (what rests where, frame by frame) gives each scale's true load: items
  resting in the bagging zone at their catalog ``expected_weight_g``, bags ~30 g, produce
  on the produce scale; a pty ``ScaleSimulator`` per scale turns the load into a real
  protocol's bytes and the real ``SerialScale`` adapter (stability filter, change-only
  output) reads them, in real time, with idle stretches skipped on its clock;
- shopper start / own_bag / add_item / pay, the terminal's payment and ticks every 500 ms
  are added, everything is merged by time into ``<name>.jsonl`` + ``<name>.truth.json``
  (the contract's sidecar) + ``<name>.render.json`` (the render's own truth and figures).

``python -m kiosk.scenarios.rendered DIR [NAME ...]`` renders the subset and prints figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from hardware.scale.base import get_protocol
from hardware.scale.serial_adapter import SerialScale
from hardware.scale.simulator import ScaleSimulator
from hardware.scale.stability import StabilityFilter
from kiosk.config import parse_config_text
from kiosk.core.barcodes import normalize_gtin
from kiosk.core.catalog import Catalog
from kiosk.core.inputs import (
    BarcodeRead,
    Input,
    ItemTrack,
    PaymentResult,
    Platform,
    ShopperAction,
    Tick,
    WeightReading,
    input_to_dict,
)
from kiosk.core.settings import CoreSettings, SecuritySettings
from kiosk.errors import BarcodeError, KioskError
from kiosk.files import write_atomically
from kiosk.replay import DEFAULT_CATALOG, load_catalog_file, replay_lines
from models.scenes import BUILTIN_SCRIPTS, FrameTruth, parse_script
from models.scenes.catalog import product_by_code
from models.scenes.video import Player, Thing
from vision.types import Frame

TICK_MS = 500
START_MS = 1_000  # shopper start; the scales have been on since 0
CAMERA_MS = 2_000  # the first frame
PAY_AFTER_MS = 1_500  # after the last frame
BAG_WEIGHT_G = (26, 36)
PRODUCE_WEIGHT_G = (300, 1_200)
EACH_WITHOUT_WEIGHT_G = 220  # loose produce sold each (no expected weight in the catalog)
QUIET_S = 1.6  # a scale untouched this long has settled and said so: its clock may jump


@dataclass(frozen=True)
class RenderSpec:
    name: str
    script: str
    seed: int
    label: str
    description: str
    tags: tuple[str, ...] = ()
    expect_reasons: tuple[str, ...] = ()


SPECS: dict[str, RenderSpec] = {
    s.name: s
    for s in (
        RenderSpec("rendered-basket", BUILTIN_SCRIPTS["basket"], 1, "honest",
                   "bag put down, 4 items shown to the camera and bagged", ("own_bag", "camera")),
        RenderSpec("rendered-produce", BUILTIN_SCRIPTS["produce"], 2, "honest",
                   "bananas and apples weighed and picked, one pack scanned", ("produce",)),
        RenderSpec("rendered-hands", BUILTIN_SCRIPTS["hands"], 3, "honest",
                   "empty hands reach into the scan zone around one scanned item", ("hands",)),
        RenderSpec("rendered-nonscan", BUILTIN_SCRIPTS["nonscan"], 4, "non_scan",
                   "the chips are carried to the bag with their barcode hidden"),
        RenderSpec("rendered-switch", BUILTIN_SCRIPTS["switch"], 5, "ticket_switch",
                   "a baijiu bottle wears a chewing-gum barcode",
                   # +900 g nobody paid for, whatever the rule calls it, catches the switch
                   expect_reasons=("ticket_switch", "weight_mismatch", "unexpected_item",
                                   "non_scan")),
        RenderSpec("rendered-remove", BUILTIN_SCRIPTS["remove"], 6, "item_removed",
                   "a paid-for item is taken back out of the bag before paying"),
    )
}  # fmt: skip


@dataclass(frozen=True)
class ScaleRig:
    """One scale on the lane: the protocol it speaks and how it weighs."""

    platform: Platform
    protocol: str
    division_g: int
    noise_g: int
    settle_ms: int  # the simulated pan's settle time
    zero_before_trust: bool


RIGS = (
    # Noise within half a division: a settled load reads one value, or two a division apart.
    ScaleRig(Platform.BAGGING, "sics", 5, 2, 450, False),
    ScaleRig(Platform.SCAN, "toledo8217", 5, 2, 300, True),
)
ZONE_OF_PLATFORM = {Platform.BAGGING: "bagging", Platform.SCAN: "produce_scale"}


@dataclass
class RenderResult:
    name: str
    inputs_path: Path
    truth_path: Path
    render_s: float = 0.0  # rendering and vision
    scales_s: float = 0.0  # scale playback (real time, idle skipped)
    frames: int = 0
    vision_inputs: int = 0
    figures: dict[str, Any] = field(default_factory=dict)


# --- the scene's world -> true loads -------------------------------------------------------


class _Weights:
    """What each thing in the scene weighs, fixed per thing (seeded by scenario and track)."""

    def __init__(self, catalog: Catalog, seed: int) -> None:
        self.catalog = catalog
        self.seed = seed
        self._grams: dict[int, int] = {}

    def of(self, thing: Thing) -> int:
        if thing.track_id not in self._grams:
            rng = np.random.default_rng([self.seed, 7, thing.track_id])
            product = self.catalog.by_sku(thing.sku) if thing.sku else None
            if thing.cls == "bag" or product is None:
                grams = int(rng.integers(*BAG_WEIGHT_G))
            elif product.expected_weight_g is not None:
                grams = product.expected_weight_g
            elif product.sold_by.value == "weight":
                grams = int(rng.integers(*PRODUCE_WEIGHT_G))
            else:
                grams = EACH_WITHOUT_WEIGHT_G
            self._grams[thing.track_id] = grams
        return self._grams[thing.track_id]


def _loads(player: Player, weights: _Weights) -> dict[Platform, tuple[int, list[Thing]]]:
    """Per scale: the true load and the things on it (resting in its zone) right now."""
    lay = player.kit.layout
    out: dict[Platform, tuple[int, list[Thing]]] = {p: (0, []) for p in ZONE_OF_PLATFORM}
    for thing in (*player.bags, *player.resting):
        if thing.pose is None:
            continue
        zone = lay.zone_of(thing.pose[0], thing.pose[1])
        for platform, name in ZONE_OF_PLATFORM.items():
            if zone == name:
                grams, things = out[platform]
                out[platform] = (grams + weights.of(thing), [*things, thing])
    return out


# --- reference images for the identity check -----------------------------------------------


def write_references(
    directory: Path, skus: Iterable[str], *, with_photos: bool = True, per_sku: int = 4
) -> None:
    """Reference photos per SKU (``DIR/<sku>/*.png``, what ``[vision] references_dir``
    reads), enrolled as a store would with the lane's own camera: each pack shown over the
    scanner once in a scene of its own (its own seed: other hand, light, angle and wobble
    than the scenarios'), cropped at its true box while held in the scan zone."""
    for k, sku in enumerate(skus):
        product = product_by_code(sku)
        if not product.gtins:
            continue  # loose produce has no reference photos: the recogniser names it
        stage = Player(
            parse_script(f"scan({sku})"), 77_000 + k, with_photos=with_photos, check_decode=False
        )
        crops = []
        for image, truth in stage.frames():
            for o in truth.objects:
                held = o.cls == "item" and o.sku == product.sku and o.zone == "scan"
                if held and o.visible >= 0.8:
                    x1, y1, x2, y2 = o.box
                    crops.append(image[y1:y2, x1:x2])
        folder = directory / product.sku
        folder.mkdir(parents=True, exist_ok=True)
        picks = np.linspace(0, len(crops) - 1, min(per_sku, len(crops))).round().astype(int)
        for i, j in enumerate(picks):
            cv2.imwrite(str(folder / f"ref{i}.png"), crops[j])


# --- the scales: true loads -> protocol bytes -> the real adapter --------------------------


def play_scales(
    changes: Sequence[tuple[int, Platform, int]], end_ms: int, seed: int
) -> list[WeightReading]:
    """Drive one simulated scale per rig through ``changes`` (scenario ms, platform, grams;
    time order) and return what the real adapters delivered, stamped in scenario ms.

    Runs in real time; once every scale has been untouched for ``QUIET_S`` and has
    reported its settled load, the adapters' clock jumps to the next change (they emit
    nothing for an unchanged load anyway)."""
    got: list[WeightReading] = []
    lock = threading.Lock()
    skipped = [0.0]
    t0 = [0.0]
    unsettled = {rig.platform for rig in RIGS}  # changed, no stable reading since

    def clock() -> float:
        return time.monotonic() - t0[0] + skipped[0]

    def collect(reading: WeightReading) -> None:
        with lock:
            got.append(reading)
            if reading.stable:
                unsettled.discard(reading.platform)

    def quiet(since_s: float) -> bool:
        with lock:  # a scale that never settles (a change under one division) waits 5 s
            return since_s >= QUIET_S and (not unsettled or since_s >= 5.0)

    initial = {rig.platform: 0 for rig in RIGS}
    for ts_ms, platform, grams in changes:
        if ts_ms <= 0:
            initial[platform] = grams
    sims: dict[Platform, ScaleSimulator] = {}
    scales: list[SerialScale] = []
    try:
        for i, rig in enumerate(RIGS):
            sim = ScaleSimulator(
                get_protocol(rig.protocol),
                settle_ms=rig.settle_ms,
                noise_g=rig.noise_g,
                division_g=rig.division_g,
                seed=seed * 10 + i,
            ).start()
            sim.place(initial[rig.platform])
            sims[rig.platform] = sim
        time.sleep(max(r.settle_ms for r in RIGS) / 1000 + 0.1)  # on before the lane starts
        t0[0] = time.monotonic()
        for rig in RIGS:
            scale = SerialScale(
                sims[rig.platform].port_path,
                get_protocol(rig.protocol),
                rig.platform,
                poll_hz=10,
                on_reading=collect,
                clock=clock,
                stability=StabilityFilter(rig.division_g, 3, 200),
                zero_before_trust=rig.zero_before_trust,
            )
            scales.append(scale.start())
        last_change = time.monotonic()
        timeline: list[tuple[int, Platform | None, int]] = [c for c in changes if c[0] > 0]
        for ts_ms, where, grams in [*timeline, (end_ms, None, 0)]:
            while (now_ms := clock() * 1000) < ts_ms:
                if quiet(time.monotonic() - last_change):
                    skipped[0] += (ts_ms - now_ms) / 1000
                    break
                time.sleep(min(0.01, (ts_ms - now_ms) / 1000))
            if where is not None:
                with lock:
                    unsettled.add(where)
                sims[where].place(grams)
                last_change = time.monotonic()
    finally:
        for scale in scales:
            scale.stop()
        for sim in sims.values():
            sim.stop()
    with lock:
        return sorted(got, key=lambda r: r.ts_ms)


# --- one scenario -----------------------------------------------------------------------------


def _gtin(code: str) -> str | None:
    try:
        return normalize_gtin(code)
    except BarcodeError:
        return None


def _pipeline(workdir: Path, size: tuple[int, int], catalog: Catalog, refs: Path | None) -> Any:
    from vision.worker import build_pipeline

    config = parse_config_text(
        f"""
        [kiosk]
        data_dir = "{workdir / "data"}"
        [camera]
        enabled = true
        url = "folder:{workdir}"
        [vision]
        references_dir = "{refs or ""}"
        """
    )

    def sku_for_code(gtin: str) -> str | None:
        product = catalog.by_gtin(gtin)
        return product.sku if product is not None else None

    return build_pipeline(
        config.sections,
        workdir / "data",
        size,
        sku_for_code=sku_for_code,
        config=config,
        products=lambda: catalog,
    )


def render_scenario(
    spec: RenderSpec,
    out_dir: Path,
    *,
    catalog: Catalog | None = None,
    with_photos: bool = True,
    references: Path | None = None,
) -> RenderResult:
    """Render, run through the adapters, and write ``<name>.jsonl`` and its sidecars.

    ``references``: a ``references_dir`` (``write_references``) switches the identity check
    on, as ``[vision] references_dir`` does on a lane; without it (the lane's default) reads
    carry no identity score."""
    catalog = catalog or load_catalog_file(DEFAULT_CATALOG)
    out_dir.mkdir(parents=True, exist_ok=True)
    actions = parse_script(spec.script)
    result = RenderResult(
        spec.name, out_dir / f"{spec.name}.jsonl", out_dir / f"{spec.name}.truth.json"
    )
    weights = _Weights(catalog, spec.seed)
    camera: list[Input] = []
    shopper: list[Input] = []
    changes: list[tuple[int, Platform, int]] = []
    truths: list[FrameTruth] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="opensco-render-") as tmp:
        work = Path(tmp)
        player = Player(actions, spec.seed, with_photos=with_photos)
        pipeline = _pipeline(work, (player.W, player.H), catalog, references)
        last: dict[Platform, int] = {}
        on_scale: set[int] = set()
        on_produce_scale: list[tuple[int, frozenset[str]]] = []  # (ms, SKUs lying there)
        try:
            for image, truth in player.frames():
                ts_ms = CAMERA_MS + truth.ts_ms
                camera += pipeline.process(Frame(image, ts_ms, truth.index, f"render:{spec.name}"))
                truths.append(truth)
                loads = _loads(player, weights)
                for platform, (grams, _things) in loads.items():
                    if last.get(platform) != grams:
                        changes.append((0 if not truths[:-1] else ts_ms, platform, grams))
                        last[platform] = grams
                skus = frozenset(t.sku for t in loads[Platform.SCAN][1] if t.sku)
                if not on_produce_scale or on_produce_scale[-1][1] != skus:
                    on_produce_scale.append((ts_ms, skus))
                for thing in loads[Platform.SCAN][1]:
                    if thing.track_id not in on_scale and thing.sku:
                        on_scale.add(thing.track_id)  # the shopper picks it on the screen
                        product = catalog.by_sku(thing.sku)
                        args = (
                            {"plu": product.plu} if product and product.plu else {"sku": thing.sku}
                        )
                        shopper.append(ShopperAction(ts_ms + 600, "add_item", args))
                if truth.action >= 0 and actions[truth.action].kind == "bag_down":
                    span_start = not truths[:-1] or truths[-2].action != truth.action
                    if span_start:
                        shopper.append(ShopperAction(ts_ms, "own_bag", {}))
        finally:
            pipeline.close()
    result.render_s = time.perf_counter() - started
    result.frames = len(truths)
    result.vision_inputs = len(camera)
    last_frame_ms = CAMERA_MS + truths[-1].ts_ms
    pay_ms = last_frame_ms + PAY_AFTER_MS
    lift_ms = pay_ms + 3_000  # after the sale: the shopper takes the bags
    end_ms = lift_ms + 2_000
    changes.append((lift_ms, Platform.BAGGING, 0))
    started = time.perf_counter()
    readings = play_scales(changes, end_ms, spec.seed)
    result.scales_s = time.perf_counter() - started

    inputs: list[Input] = [ShopperAction(START_MS, "start", {"language": "en"})]
    inputs += camera + shopper + [r for r in readings if r.ts_ms >= 0]
    inputs.append(ShopperAction(pay_ms, "pay", {"method": "card"}))
    inputs += [Tick(t) for t in range(START_MS + TICK_MS, end_ms + 1, TICK_MS)]
    inputs.sort(key=_order)
    # The log is what the devices say, whatever the rules decide: the shopper pays what the
    # cart holds and lifts the bags (the generated suite does the same).
    due = _amount_due([json.dumps(input_to_dict(i)) for i in inputs], catalog)
    inputs.append(PaymentResult(pay_ms + 1_500, True, due, "card", "T1"))
    inputs.sort(key=_order)
    lines = [json.dumps(input_to_dict(i), ensure_ascii=False) for i in inputs]
    write_atomically(result.inputs_path, "\n".join(lines) + "\n")
    truth_doc = {
        "schema": "opensco.scenario/1",
        "name": spec.name,
        "label": spec.label,
        "honest": spec.label == "honest",
        "tags": ["rendered", *spec.tags],
        "settings": {"camera_scans": True},
        "expect_reasons": list(spec.expect_reasons),
        "description": f"{spec.description} (rendered: {spec.script}; seed {spec.seed})",
    }
    write_atomically(result.truth_path, json.dumps(truth_doc, indent=1) + "\n")
    result.figures = _figures(actions, truths, camera, readings, changes, on_produce_scale)
    render_doc = {
        "script": spec.script,
        "seed": spec.seed,
        "frames": len(truths),
        "fps": player.fps,
        "photos": player.kit.photos is not None,
        "camera_ms": CAMERA_MS,
        "true_loads": [[t, p.value, g] for t, p, g in changes],
        "figures": result.figures,
        "render_s": round(result.render_s, 2),
        "scales_s": round(result.scales_s, 2),
    }
    write_atomically(out_dir / f"{spec.name}.render.json", json.dumps(render_doc, indent=1) + "\n")
    return result


_PRIORITY = {"shopper": 0, "payment": 1, "tick": 3}


def _order(item: Input) -> tuple[int, int]:
    if isinstance(item, ShopperAction) and item.action == "start":
        return (item.ts_ms, -1)
    return (item.ts_ms, _PRIORITY.get(item.type.value, 2))


def _amount_due(lines: list[str], catalog: Catalog) -> int:
    """What the terminal is asked for: the core's own figure, with the mismatch rules off
    so a fraud they would stop still pays a realistic amount."""
    settings = CoreSettings(camera_scans=True, security=SecuritySettings(enabled=False))
    events = replay_lines(lines, catalog, settings).events
    for event in reversed(events):
        if event["type"] == "payment_requested":
            return int(event["amount_minor"])
    raise KioskError("the rendered sale never reached payment")


# --- how faithful the adapters were -------------------------------------------------------


def _load_at(changes: Sequence[tuple[int, Platform, int]], platform: Platform, ts: int) -> int:
    grams = 0
    for t, p, g in changes:
        if p is platform and t <= ts:
            grams = g
    return grams


def _figures(
    actions: list[Any],
    truths: list[FrameTruth],
    camera: list[Input],
    readings: list[WeightReading],
    changes: list[tuple[int, Platform, int]],
    on_produce_scale: list[tuple[int, frozenset[str]]],
) -> dict[str, Any]:
    shown = {}  # codes shown to the camera by scan-like actions
    for a in actions:
        if a.kind in ("scan", "switch"):
            fmt = product_by_code(a.barcode_sku or a.sku).barcode()
            if fmt:
                shown[_gtin(fmt[0]) or fmt[0]] = a.sku
    decodable = {_gtin(c) or c for t in truths for c in t.decodable_codes}
    read = {_gtin(i.data) or i.data for i in camera if isinstance(i, BarcodeRead)}
    bagged = sum(a.kind in ("scan", "switch", "skip_scan", "place_produce") for a in actions)
    into_bagging = {
        i.track_id
        for i in camera
        if isinstance(i, ItemTrack) and i.label == "item" and i.zone == "bagging"
    }
    out: dict[str, Any] = {
        "codes_shown": len(shown),
        "codes_decodable": len(decodable & set(shown)),
        "codes_read": len(read & set(shown)),
        "stray_reads": sorted(read - set(shown)),
        "items_bagged": bagged,
        "item_tracks_into_bagging": len(into_bagging),
        "identity": _identity_figures(actions, camera),
        "produce": _produce_figures(camera, on_produce_scale),
    }
    for platform in ZONE_OF_PLATFORM:
        stable = [r for r in readings if r.platform is platform and r.stable and r.ts_ms > 0]
        errors = [abs(r.weight_g - _load_at(changes, platform, r.ts_ms)) for r in stable]
        levels = _settled_levels(changes, platform)
        found = sum(
            any(
                t <= r.ts_ms < t_end and abs(r.weight_g - g) <= _rig(platform).division_g
                for r in stable
            )
            for t, t_end, g in levels
        )
        out[platform.value] = {
            "stable_readings": len(stable),
            "levels_expected": len(levels),
            "levels_found": found,
            "max_error_g": max(errors, default=0),
            "mean_error_g": round(sum(errors) / len(errors), 2) if errors else 0.0,
        }
    return out


def _identity_figures(actions: list[Any], camera: list[Input]) -> dict[str, list[float]]:
    """Identity scores at the reads, split by whether the pack wore its own code."""
    switched = set()
    for a in actions:
        if a.kind == "switch":
            switched.add(product_by_code(a.barcode_sku).sku)
    out: dict[str, list[float]] = {"honest": [], "switched": []}
    reads = {(i.ts_ms, i.track_id) for i in camera if isinstance(i, BarcodeRead)}
    for i in camera:
        if not isinstance(i, ItemTrack) or i.sku is None or i.identity_score is None:
            continue
        if (i.ts_ms, i.track_id) in reads:
            out["switched" if i.sku in switched else "honest"].append(round(i.identity_score, 3))
    return out


def _produce_figures(
    camera: list[Input], on_scale: list[tuple[int, frozenset[str]]]
) -> dict[str, int]:
    """Produce recogniser suggestions against what really lay on the produce scale."""
    out = {"suggestions": 0, "top1": 0, "in_top_k": 0, "nothing_there": 0}
    for i in camera:
        if not (isinstance(i, ItemTrack) and i.candidates):
            continue
        there = next((skus for t, skus in reversed(on_scale) if t <= i.ts_ms), frozenset())
        out["suggestions"] += 1
        out["nothing_there"] += not there
        out["top1"] += i.candidates[0][0] in there
        out["in_top_k"] += any(sku in there for sku, _ in i.candidates)
    return out


def _rig(platform: Platform) -> ScaleRig:
    return next(r for r in RIGS if r.platform is platform)


def _settled_levels(
    changes: Sequence[tuple[int, Platform, int]], platform: Platform, hold_ms: int = 1_000
) -> list[tuple[int, int, int]]:
    """(from, to, grams) of each load held at least ``hold_ms`` (long enough to settle)."""
    mine = [(t, g) for t, p, g in changes if p is platform]
    out = []
    for i, (t, g) in enumerate(mine):
        t_end = mine[i + 1][0] if i + 1 < len(mine) else t + 10 * hold_ms
        if t_end - max(t, 0) >= hold_ms:
            out.append((max(t, 0), t_end, g))
    return out


# --- the subset ---------------------------------------------------------------------------


def render_suite(
    out_dir: str | Path,
    names: Sequence[str] | None = None,
    *,
    with_photos: bool = True,
    identity: bool = False,
) -> list[Path]:
    """Render the named scenarios (default: all of ``SPECS``); returns the ``.jsonl`` paths."""
    results = render_results(out_dir, names, with_photos=with_photos, identity=identity)
    return [r.inputs_path for r in results]


def render_results(
    out_dir: str | Path,
    names: Sequence[str] | None = None,
    *,
    with_photos: bool = True,
    identity: bool = False,
) -> list[RenderResult]:
    """Render the named scenarios. ``identity=True`` enrols reference crops of every packaged
    catalog SKU first (about 0.7 s each) and scores reads against them."""
    unknown = [n for n in names or () if n not in SPECS]
    if unknown:
        raise KioskError(f"unknown rendered scenario(s) {unknown}; known: {', '.join(SPECS)}")
    catalog = load_catalog_file(DEFAULT_CATALOG)
    with tempfile.TemporaryDirectory(prefix="opensco-refs-") as tmp:
        references = None
        if identity:
            references = Path(tmp)
            skus = [p.sku for p in catalog if p.gtins]  # the whole store: a fair calibration
            write_references(references, skus, with_photos=with_photos)
        return [
            render_scenario(
                SPECS[n], Path(out_dir), catalog=catalog, with_photos=with_photos,
                references=references,
            )
            for n in (names or list(SPECS))
        ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kiosk.scenarios.rendered",
        description="Render scenarios as camera video and scale bytes through the real adapters.",
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("names", nargs="*", help=f"default: all of {', '.join(SPECS)}")
    parser.add_argument("--no-photos", action="store_true", help="procedural scenes only")
    parser.add_argument(
        "--identity",
        action="store_true",
        help="enrol reference crops per SKU and score reads against them (a lane with "
        "[vision] references_dir); off by default, as on a lane",
    )
    args = parser.parse_args(argv)
    try:
        results = render_results(
            args.out_dir,
            args.names or None,
            with_photos=not args.no_photos,
            identity=args.identity,
        )
    except KioskError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for r in results:
        print(json.dumps({
            "name": r.name, "frames": r.frames, "render_s": round(r.render_s, 2),
            "scales_s": round(r.scales_s, 2), "vision_inputs": r.vision_inputs, **r.figures,
        }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
