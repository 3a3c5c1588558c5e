"""Scenario videos: a scripted shopper at the checkout, with per-frame ground truth.

Each action is a generator of frame plans (where the hand is, what it holds, which face is up)
that also changes the world (an item left in a bag, a bag put down). Every frame is composed
with the same id-map compositor as the data set, so the truth boxes are the visible pixels;
a barcode counts as decodable in a frame only when zxing-cpp actually reads it there.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from kiosk.errors import KioskError
from kiosk.files import write_atomically
from models.scenes.background import Lighting, render_background
from models.scenes.bags import render_bag
from models.scenes.catalog import product_by_code
from models.scenes.compose import (
    HAND_MIN_PIXELS,
    Layer,
    Scene,
    SceneObject,
    frame_mask,
    motion_blur,
    place,
)
from models.scenes.dataset import Kit, produce_item
from models.scenes.hands import HandStyle, make_hand
from models.scenes.packaging import PLAIN, Look, Sprite, render_package
from models.scenes.script import Action, parse_script
from models.scenes.truth import (
    ActionSpan,
    FrameTruth,
    GroundTruth,
    ObjectTruth,
    decodes,
    gtin14,
    quad_shown,
    sprite_reads,
)

__all__ = [
    "ActionSpan",
    "FrameTruth",
    "GroundTruth",
    "ObjectTruth",
    "Player",
    "gtin14",
    "iter_scenario_frames",
    "parse_script",
    "render_scenario_video",
]

Image = npt.NDArray[np.uint8]
LIFT = 1.7  # held packs are drawn at this scale: lifted towards the camera over the scanner
LIFTS = (1.7, 1.9, 2.1, 2.4)  # tried in turn until the printed code reads in a clean view
EXPOSURE = 0.6  # fraction of a frame interval the shutter is open (sets motion blur)
TAIL_FRAMES = 8
HAND_TRACK = 1000  # a hand's track id is this plus its action's index


@dataclass
class Thing:
    """A physical object with a track id: an item or a bag."""

    track_id: int
    cls: str
    front: Sprite
    back: Sprite | None = None  # the face with the barcode
    sku: str | None = None
    code: str | None = None  # payload printed on the back face
    pose: tuple[float, float, float, float] | None = None  # resting x, y, angle, scale
    in_bag: Thing | None = None
    opening: Sprite | None = None  # bags: where bagged items show
    layer: Layer | None = None  # cached resting layer
    lift: float = LIFT  # drawn at this scale; lying on the counter it is 1 / lift
    opening_clip: npt.NDArray[np.uint8] | None = None


@dataclass
class Plan:
    """One frame: the hand's grip point (None: no hand), the held thing and its pose."""

    grip: tuple[float, float] | None = None
    held: Thing | None = None
    angle: float = 0.0
    scale: float = 1.0
    back: bool = False
    blur: tuple[float, float] = (0.0, 0.0)


def _ease(t: float) -> float:
    return t * t * (3 - 2 * t)


def _path(p0, p1, n: int) -> list[tuple[float, float]]:
    """``n`` points from p0 (exclusive) to p1 (inclusive), eased in and out."""
    return [
        (p0[0] + (p1[0] - p0[0]) * _ease(i / n), p0[1] + (p1[1] - p0[1]) * _ease(i / n))
        for i in range(1, n + 1)
    ]


class Player:
    """Plays a script frame by frame; holds the world between actions."""

    def __init__(
        self,
        script: list[Action],
        seed: int,
        *,
        fps: int = 30,
        with_photos: bool = True,
        check_decode: bool = True,
    ) -> None:
        if fps <= 0:
            raise KioskError("fps must be > 0")
        self.script = script
        self.seed = seed
        self.fps = fps
        self.check_decode = check_decode
        self.kit = Kit.load(with_photos)
        lay = self.kit.layout
        self.W, self.H = lay.width, lay.height
        rng = np.random.default_rng([seed, 0xC0FFEE])
        self.background = render_background(rng, lay)
        # A scenario's camera is in focus: its scans must be readable at the scanner.
        self.lighting = Lighting.random(rng, self.W, self.H, defocus=False)
        light = rng.normal(0, 1, 2)
        self.light = light / max(float(np.linalg.norm(light)), 1e-6)
        self.bags: list[Thing] = []
        self.resting: list[Thing] = []
        self.next_track = 1
        self.spans: list[ActionSpan] = []
        self._static: tuple[Image, npt.NDArray[np.int32], dict[int, SceneObject]] | None = None
        sx1, sy1, sx2, sy2 = lay.rect("scan")
        self.scanner = ((sx1 + sx2) / 2, sy1 + 0.35 * (sy2 - sy1))
        if rng.random() < 0.6:  # most lanes start with a bag already out
            self._add_bag(rng, self._bag_spot(rng))

    # --- world -----------------------------------------------------------------------------

    def _track(self) -> int:
        self.next_track += 1
        return self.next_track - 1

    def _bag_spot(self, rng: np.random.Generator) -> tuple[float, float]:
        x1, y1, x2, y2 = self.kit.layout.rect("bagging")
        n = len(self.bags)
        return (x1 + (x2 - x1) * (0.5 + rng.uniform(-0.08, 0.08)),
                y1 + (y2 - y1) * ((0.3 + 0.45 * (n % 2)) + rng.uniform(-0.05, 0.05)))  # fmt: skip

    def _add_bag(self, rng: np.random.Generator, at: tuple[float, float]) -> Thing:
        bag = render_bag(rng, 0.95)
        thing = Thing(self._track(), "bag", bag.sprite, opening=Sprite(bag.sprite.bgr, bag.opening))
        thing.pose = (at[0], at[1], float(rng.uniform(-12, 12)), 1.0)
        self.bags.append(thing)
        self._static = None
        return thing

    def _item(self, rng: np.random.Generator, sku: str, barcode_sku: str | None = None) -> Thing:
        product = product_by_code(sku)
        if product.is_produce or (not product.gtins and not product.store_code):
            sprite = produce_item(product, rng, self.kit, LIFT)
            return Thing(self._track(), "item", sprite, None, product.sku)
        code_fmt = product_by_code(barcode_sku).barcode() if barcode_sku else product.barcode()
        look = PLAIN
        lib = self.kit.photos
        if lib is not None and lib.textures and product.key % 3 == 0:
            keys = sorted(lib.textures)  # the same photo on the product in every video
            look = Look(picture=lib.textures[keys[product.key % len(keys)]][0])
        state = rng.bit_generator.state
        for lift in LIFTS:
            # A shopper holds a small code closer: the lift is the first at which it reads.
            rng.bit_generator.state = state
            front = render_package(product, rng, back=False, scale=lift, look=look)
            rng.bit_generator.state = state  # same size and wobble for both faces
            back = render_package(product, rng, back=True, scale=lift, barcode=code_fmt,
                                  look=look)  # fmt: skip
            if back.barcode_quad is None or sprite_reads(back):
                break
        return Thing(self._track(), "item", front, back, product.sku, back.code, lift=lift)

    def _drop_spot(self, rng: np.random.Generator) -> tuple[tuple[float, float], Thing | None]:
        """Where the next item goes down: into a bag's opening, or on the platform."""
        if self.bags and rng.random() < 0.85:
            bag = self.bags[int(rng.integers(len(self.bags)))]
            assert bag.pose is not None
            return (bag.pose[0] + rng.normal(0, 10), bag.pose[1] + rng.normal(0, 8)), bag
        return self._bag_spot(rng), None

    def _rest(self, thing: Thing, at: tuple[float, float], angle: float, bag: Thing | None,
              back: bool = False) -> None:  # fmt: skip
        thing.pose = (at[0], at[1], angle, 1.0 / thing.lift if thing.cls == "item" else 1.0)
        thing.in_bag = bag
        thing.layer = None
        if back and thing.back is not None:
            thing.front, thing.back = thing.back, thing.front  # remember the face left up
        self.resting.append(thing)
        self._static = None

    def _pick(self, thing: Thing) -> None:
        self.resting.remove(thing)
        self._static = None

    # --- actions ---------------------------------------------------------------------------

    def _entry(self, rng: np.random.Generator, x: float) -> tuple[float, float]:
        return (float(np.clip(x + rng.normal(0, 30), 20, self.W - 20)), self.H + 120.0)

    def _carry(self, rng, thing: Thing, kind: str) -> Iterator[Plan]:
        """scan / switch / skip_scan: bottom edge -> (scanner) -> bagging area -> release."""
        scan_like = kind != "skip_scan"
        start = self._entry(rng, self.scanner[0] if scan_like else self.W * 0.48)
        angle = float(rng.uniform(-15, 15))
        show_back_early = scan_like and rng.random() < 0.5
        pts: list[tuple[tuple[float, float], bool, float]] = []
        pos = start
        if scan_like:
            approach = (self.scanner[0] + rng.normal(0, 10), self.scanner[1] + 90)
            pts += [(p, show_back_early, 0.8) for p in _path(pos, approach, 10)]
            glass = (self.scanner[0] + rng.normal(0, 8), self.scanner[1] + rng.normal(0, 6))
            pts += [(p, True, 1.0) for p in _path(approach, glass, 6)]
            for _ in range(int(rng.integers(8, 14))):  # held still over the window
                glass = (glass[0] + rng.normal(0, 1.5), glass[1] + rng.normal(0, 1.5))
                pts.append((glass, True, 1.0))
            pos = glass
        else:
            mid = (self.W * 0.5, self.H * 0.62)
            pts += [(p, False, 0.8) for p in _path(pos, mid, 10)]
            pos = mid
        drop, bag = self._drop_spot(rng)
        pts += [(p, scan_like and rng.random() < 0.7, 0.8) for p in _path(pos, drop, 14)]
        prev = start
        for p, back, scale in pts:
            yield self._plan(p, prev, thing, angle, scale, back)
            prev = p
        self._rest(thing, drop, angle + float(rng.normal(0, 10)), bag, back=pts[-1][1])
        yield from self._leave(rng, drop)

    def _plan(self, p, prev, thing, angle, scale, back) -> Plan:
        blur = ((p[0] - prev[0]) * EXPOSURE, (p[1] - prev[1]) * EXPOSURE)
        return Plan(p, thing, angle, scale, back, blur)

    def _leave(self, rng, at) -> Iterator[Plan]:
        end = (at[0] + rng.normal(30, 20), self.H + 140.0)
        prev = at
        for p in _path(at, end, 9):
            yield Plan(p, blur=((p[0] - prev[0]) * EXPOSURE, (p[1] - prev[1]) * EXPOSURE))
            prev = p

    def _reach(self, rng, to, n: int = 11) -> Iterator[Plan]:
        start = self._entry(rng, to[0])
        prev = start
        for p in _path(start, to, n):
            yield Plan(p, blur=((p[0] - prev[0]) * EXPOSURE, (p[1] - prev[1]) * EXPOSURE))
            prev = p

    def _produce(self, rng, thing: Thing) -> Iterator[Plan]:
        x1, y1, x2, y2 = self.kit.layout.rect("produce_scale")
        spot = ((x1 + x2) / 2 + rng.normal(0, 5), (y1 + y2) / 2 + rng.normal(0, 5))
        start = self._entry(rng, spot[0])
        prev = start
        for p in _path(start, spot, 12):
            yield self._plan(p, prev, thing, 0.0, 0.8, False)
            prev = p
        self._rest(thing, spot, float(rng.uniform(0, 360)), None)
        yield from self._leave(rng, spot)
        for _ in range(int(rng.integers(12, 20))):  # weighing
            yield Plan()
        yield from self._reach(rng, spot)
        self._pick(thing)
        drop, bag = self._drop_spot(rng)
        prev = spot
        for p in _path(spot, drop, 14):
            yield self._plan(p, prev, thing, 0.0, 0.8, False)
            prev = p
        self._rest(thing, drop, float(rng.uniform(0, 360)), bag)
        yield from self._leave(rng, drop)

    def actions(self, index: int, action: Action) -> Iterator[Plan]:
        rng = np.random.default_rng([self.seed, 1, index])
        kind = action.kind
        if kind in ("scan", "switch", "skip_scan"):
            assert action.sku is not None
            thing = self._item(rng, action.sku, action.barcode_sku)
            self._current = thing.track_id
            yield from self._carry(rng, thing, kind)
        elif kind == "place_produce":
            assert action.sku is not None
            thing = self._item(rng, action.sku)
            self._current = thing.track_id
            yield from self._produce(rng, thing)
        elif kind == "bag_down":
            spot = self._bag_spot(rng)
            bag = self._add_bag(rng, spot)
            self.bags.remove(bag)
            bag.cls = "bag"
            self._current = bag.track_id
            start = self._entry(rng, spot[0])
            prev = start
            for p in _path(start, spot, 14):
                yield self._plan(p, prev, bag, 0.0, 1.0, False)
                prev = p
            self.bags.append(bag)
            self._static = None
            yield from self._leave(rng, spot)
        elif kind == "hand_only":
            target = (self.scanner[0] + rng.normal(0, 20), self.scanner[1] + rng.normal(60, 20))
            yield from self._reach(rng, target)
            for _ in range(int(rng.integers(6, 12))):
                target = (target[0] + rng.normal(0, 3), target[1] + rng.normal(0, 3))
                yield Plan(target)
            yield from self._leave(rng, target)
        elif kind == "remove":
            assert action.sku is not None
            sku = product_by_code(action.sku).sku
            found = [t for t in self.resting if t.sku == sku]
            if found:
                thing = found[-1]
            else:  # not bagged earlier in the script: it was already there
                thing = self._item(rng, sku)
                drop, bag = self._drop_spot(rng)
                self._rest(thing, drop, float(rng.uniform(0, 360)), bag)
            self._current = thing.track_id
            assert thing.pose is not None
            at = (thing.pose[0], thing.pose[1])
            yield from self._reach(rng, at, 13)
            self._pick(thing)
            end = (at[0] - rng.uniform(40, 120), self.H + 160.0)
            prev = at
            for p in _path(at, end, 14):
                yield self._plan(p, prev, thing, float(thing.pose[2]), 0.8, False)
                prev = p
        else:  # idle
            for _ in range(self.fps):
                yield Plan()

    # --- drawing ---------------------------------------------------------------------------

    def _resting_layer(self, thing: Thing) -> Layer:
        if thing.layer is None:
            assert thing.pose is not None
            x, y, angle, scale = thing.pose
            thing.layer = place(thing.front, (x, y), angle, scale)
            if thing.opening is not None:
                op = place(thing.opening, (x, y), angle, scale)
                thing.opening_clip = frame_mask(op, self.W, self.H)
        return thing.layer

    def _static_scene(self) -> tuple[Image, npt.NDArray[np.int32], dict[int, SceneObject]]:
        """Background, bags and resting items: redrawn only when one of them changes."""
        if self._static is None:
            scene = Scene(self.background.copy())
            oid_of: dict[int, SceneObject] = {}
            for thing in self.bags:
                layer = self._resting_layer(thing)
                scene.shadow(layer, tuple(self.light * 6), 0.35, 11)
                oid_of[thing.track_id] = scene.new_object("bag", track=thing.track_id)
                scene.paste(layer, oid_of[thing.track_id])
            for thing in self.resting:
                layer = self._resting_layer(thing)
                obj = scene.new_object(thing.cls, track=thing.track_id, sku=thing.sku,
                                       code=thing.front.code, quad=layer.quad)  # fmt: skip
                if thing.in_bag is not None and thing.in_bag.opening_clip is not None:
                    scene.paste(layer, obj, clip=thing.in_bag.opening_clip, gain=0.65)
                else:
                    scene.shadow(layer, tuple(self.light * 4), 0.3, 7)
                    scene.paste(layer, obj)
            self._static = (scene.image, scene.ids, scene.objects)
        return self._static

    def render(self, plan: Plan, hand_rng_seed: list[int], style: HandStyle | None,
               entry_x: float | None) -> Scene:  # fmt: skip
        image, ids, objects = self._static_scene()
        scene = Scene(image.copy())
        scene.ids = ids.copy()
        scene.objects = {k: SceneObject(v.oid, v.cls, v.drawn, v.bbox, dict(v.meta))
                         for k, v in objects.items()}  # fmt: skip
        if plan.grip is None:
            return scene
        held_layer = None
        if plan.held is not None:
            t = plan.held
            sprite = t.back if (plan.back and t.back is not None) else t.front
            held_layer = place(sprite, plan.grip, plan.angle, plan.scale, plan.blur)
        corners = held_layer.corners if held_layer is not None else None
        hand = make_hand(np.random.default_rng(hand_rng_seed), (self.W, self.H), plan.grip,
                         entry_x=entry_x, item_corners=corners, style=style)  # fmt: skip
        speed = max(abs(plan.blur[0]), abs(plan.blur[1]))
        for part in (hand.arm, hand.palm, hand.fingers):
            if part is not None and speed >= 1.5:
                motion_blur(part, plan.blur)
        scene.shadow(hand.arm, tuple(self.light * 10), 0.3, 15)
        scene.paste(hand.arm, scene.new_object(None))
        hobj = scene.new_object(
            "hand",
            track=HAND_TRACK + hand_rng_seed[-1],
            min_visible=0.0,
            min_pixels=HAND_MIN_PIXELS,
        )
        scene.paste(hand.palm, hobj)
        if held_layer is not None and plan.held is not None:
            t = plan.held
            scene.shadow(held_layer, tuple(self.light * 14), 0.35, 17)
            code = (t.back if plan.back and t.back is not None else t.front).code
            obj = scene.new_object(t.cls, track=t.track_id, sku=t.sku, code=code,
                                   quad=held_layer.quad)  # fmt: skip
            scene.paste(held_layer, obj)
        if hand.fingers is not None:
            scene.paste(hand.fingers, hobj)
        return scene

    def truth(self, scene: Scene, image: Image, index: int, action: int) -> FrameTruth:
        lay = self.kit.layout
        ft = FrameTruth(index, round(index * 1000 / self.fps), action)
        for lab in scene.labels():
            x1, y1, x2, y2 = lab.box
            meta = lab.meta
            code = meta.get("code")
            o = ObjectTruth(
                int(meta.get("track", 0)),  # type: ignore[call-overload]
                lab.cls,
                lab.box,
                lay.zone_of((x1 + x2) / 2, (y1 + y2) / 2),
                round(lab.visible, 3),
                meta.get("sku"),  # type: ignore[arg-type]
                code if isinstance(code, str) else None,
            )
            quad = meta.get("quad")
            if o.code and isinstance(quad, np.ndarray):
                shown = quad_shown(scene, lab.oid, quad)
                o.barcode_visible = shown >= 0.85
                # A partly covered symbol may still read (the cover may be a quiet zone).
                if shown >= 0.4 and self.check_decode:
                    o.decodable = decodes(image, quad, o.code)
            ft.objects.append(o)
        return ft

    def frames(self) -> Iterator[tuple[Image, FrameTruth]]:
        index = 0
        for a_i, action in enumerate(self.script):
            first = index
            self._current: int | None = None
            style = HandStyle.random(np.random.default_rng([self.seed, 2, a_i]))
            entry_x: float | None = None
            for plan in self.actions(a_i, action):
                if plan.grip is not None and entry_x is None:
                    entry_x = float(np.clip(plan.grip[0] + (a_i % 3 - 1) * 40, 0, self.W))
                scene = self.render(plan, [self.seed, 3, a_i], style, entry_x)
                frame_rng = np.random.default_rng([self.seed, 4, index])
                image = self.lighting.apply(scene.image, frame_rng)
                yield image, self.truth(scene, image, index, a_i)
                index += 1
            self.spans.append(
                ActionSpan(a_i, str(action), action.kind, action.sku, action.barcode_sku,
                           first, index - 1, self._current)
            )  # fmt: skip
        for _ in range(TAIL_FRAMES):
            scene = self.render(Plan(), [self.seed, 3, -1], None, None)
            image = self.lighting.apply(scene.image, np.random.default_rng([self.seed, 4, index]))
            yield image, self.truth(scene, image, index, -1)
            index += 1


def iter_scenario_frames(
    script: list[Action] | list[str] | str,
    seed: int = 0,
    *,
    fps: int = 30,
    with_photos: bool = True,
    check_decode: bool = True,
) -> Iterator[tuple[Image, FrameTruth]]:
    """Yield (BGR frame, its ground truth) for a script, without writing anything."""
    player = Player(parse_script(script), seed, fps=fps, with_photos=with_photos,
                    check_decode=check_decode)  # fmt: skip
    yield from player.frames()


def _writer(out_path: Path, fps: int, size: tuple[int, int]) -> cv2.VideoWriter:
    suffix = out_path.suffix.lower()
    codecs = {".avi": ("MJPG", "XVID"), ".mp4": ("mp4v", "avc1"), ".mkv": ("MJPG", "XVID")}
    if suffix not in codecs:
        raise KioskError(f"video must be .avi, .mp4 or .mkv, not {out_path.name!r}")
    for fourcc in codecs[suffix]:
        w = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
        if w.isOpened():
            return w
        w.release()
    raise KioskError(f"OpenCV cannot write {suffix} video here (tried {', '.join(codecs[suffix])})")


def render_scenario_video(
    script: list[Action] | list[str] | str,
    out_path: Path,
    seed: int = 0,
    fps: int = 30,
    *,
    with_photos: bool = True,
    progress: bool = False,
) -> GroundTruth:
    """Write the video (MJPG .avi or mp4v .mp4) and ``<name>.truth.json`` next to it."""
    actions = parse_script(script)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    player = Player(actions, seed, fps=fps, with_photos=with_photos)
    writer = _writer(out_path, fps, (player.W, player.H))
    frames: list[FrameTruth] = []
    try:
        for image, ft in player.frames():
            writer.write(image)
            frames.append(ft)
            if progress and len(frames) % 30 == 0:
                print(f"frame {len(frames)} (action {ft.action + 1}/{len(actions)})",
                      file=sys.stderr, flush=True)  # fmt: skip
    finally:
        writer.release()
    truth = GroundTruth([str(a) for a in actions], seed, fps, player.W, player.H, frames,
                        player.spans, out_path.name)  # fmt: skip
    json_path = out_path.with_name(out_path.stem + ".truth.json")
    write_atomically(json_path, json.dumps(truth.to_dict(), separators=(",", ":")) + "\n")
    truth.path = json_path
    return truth
