"""Vision pipeline benchmark: capacity, overhead over bare inference, gain over a naive
loop, and how soon a barcode is read once it becomes decodable.

    python bench/vision.py [--script basket] [--seed 1] [--threads 1] [--repeat 1]

Frames come from the scene renderer (models/scenes: a rendered 640x480 top-down lane with
scripted shoppers and per-frame truth), rendered into memory first so rendering is not
timed. Everything below runs in this one process on the same frames, so the ratios hold
on a noisy machine even when the absolute figures move:

- capacity: frames per second of the whole pipeline / 30 fps, over all frames and over
  the frames with an item in the scan zone (the busy case);
- overhead: pipeline ms per busy frame / one bare ``session.run`` of the same model;
- naive: detector on every full frame + pyzbar on every full frame (what a first version
  of a kiosk does), against ours;
- read latency: frames from the first frame where the item's code is decodable (truth)
  to the frame whose read event the pipeline emitted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
from pyzbar import pyzbar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiosk.core.barcodes import normalize_gtin
from kiosk.core.inputs import BarcodeRead
from vision.barcodes.cascade import BarcodeReader
from vision.barcodes.debounce import ReadDebouncer
from vision.detector import YoloOnnxDetector
from vision.motion import MotionGate
from vision.pipeline import PipelineSettings, VisionPipeline
from vision.tracker import IouTracker
from vision.types import Frame
from vision.worker import EXAMPLE_ZONES
from vision.zones import ZoneMap, ZoneWatcher

FPS = 30


def render(script: str, seed: int) -> tuple[list[Frame], object]:
    from models.scenes.script import BUILTIN_SCRIPTS
    from models.scenes.video import Player, parse_script

    text = BUILTIN_SCRIPTS.get(script, script)
    player = Player(parse_script(text), seed, fps=FPS)
    frames, truths = [], []
    for image, truth in player.frames():
        frames.append(Frame(image, truth.ts_ms, truth.index, "synthetic:"))
        truths.append(truth)
    return frames, truths


def load_detector(threads: int, int8: bool, model: str = "") -> YoloOnnxDetector:
    from models.registry import ModelRegistry

    if model:
        return YoloOnnxDetector(model, threads=threads, conf=0.35)
    with tempfile.TemporaryDirectory() as empty:
        path = ModelRegistry(empty).resolve("item-detector", variant="int8" if int8 else "fp32")
    return YoloOnnxDetector(path, threads=threads, conf=0.35)


def make_pipeline(
    detector: YoloOnnxDetector, size: tuple[int, int], detect_every: int = 1
) -> VisionPipeline:
    return VisionPipeline(
        motion=MotionGate(),
        tracker=IouTracker(frame_size=size),
        zones=ZoneWatcher(ZoneMap.load(EXAMPLE_ZONES), size),
        reader=BarcodeReader(budget_ms=25.0),
        debouncer=ReadDebouncer(800),
        detector=detector,
        settings=PipelineSettings(detect_every=detect_every),
    )


def busy(truth: object) -> bool:
    return any(o.cls == "item" and o.zone == "scan" for o in truth.objects)  # type: ignore[attr-defined]


def run_ours(
    detector: YoloOnnxDetector, frames: list[Frame], truths: list, detect_every: int = 1
) -> dict:
    pipeline = make_pipeline(detector, frames[0].size, detect_every)
    per_frame: list[float] = []
    reads: list[tuple[int, BarcodeRead]] = []
    for frame in frames:
        t0 = time.perf_counter()
        out = pipeline.process(frame)
        per_frame.append((time.perf_counter() - t0) * 1000)
        reads += [(frame.index, r) for r in out if isinstance(r, BarcodeRead)]
    busy_ms = [ms for ms, t in zip(per_frame, truths, strict=True) if busy(t)]
    return {
        "ms_all": statistics.fmean(per_frame),
        "ms_busy": statistics.fmean(busy_ms) if busy_ms else float("nan"),
        "busy_frames": len(busy_ms),
        "reads": reads,
        "stages": pipeline.times.per_frame(),
        "detector_runs": pipeline.times.detector_runs,
    }


def run_naive(detector: YoloOnnxDetector, frames: list[Frame]) -> float:
    times = []
    for frame in frames:
        t0 = time.perf_counter()
        detector.detect(frame.image)
        pyzbar.decode(cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY))
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.fmean(times)


def bare_inference(detector: YoloOnnxDetector, frames: list[Frame], n: int = 60) -> float:
    tensor, _ = detector.preprocess(frames[len(frames) // 2].image, None)
    detector.infer(tensor)  # warm-up
    t0 = time.perf_counter()
    for _ in range(n):
        detector.infer(tensor)
    return (time.perf_counter() - t0) * 1000 / n


def read_latency(truths: list, reads: list[tuple[int, BarcodeRead]]) -> tuple[list[int], int, int]:
    """Per presentation (an item track showing a code): frames from the first frame where
    the truth says zxing-cpp alone decodes it to our read (negative: our cascade read it
    earlier); presentations never decodable by truth count only if we read them."""
    seen: dict[tuple[int, str], list[int]] = {}  # (track, gtin) -> [first visible, first dec]
    for truth in truths:
        for o in truth.objects:
            if o.code and o.barcode_visible:
                entry = seen.setdefault((o.track_id, _gtin(o.code)), [truth.index, -1])
                if o.decodable and entry[1] < 0:
                    entry[1] = truth.index
    lat: list[int] = []
    used: set[int] = set()
    decodable = 0
    for (_, gtin), (first_visible, first_dec) in sorted(seen.items(), key=lambda kv: kv[1][0]):
        decodable += first_dec >= 0
        match = next(
            (
                (i, k)
                for k, (i, r) in enumerate(reads)
                if k not in used and i >= first_visible and _gtin(r.data) == gtin
            ),
            None,
        )
        if match is not None:
            used.add(match[1])
            if first_dec >= 0:
                lat.append(match[0] - first_dec)
    return lat, decodable, len(reads) - len(used)


def _gtin(data: str) -> str:
    try:
        return normalize_gtin(data)
    except ValueError:
        return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", default="basket")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--int8", action="store_true", help="the int8 detector")
    parser.add_argument("--model", default="", help="a detector .onnx (default: shipped)")
    parser.add_argument(
        "--detect-every", type=int, default=2, help="detector on every Nth moving frame"
    )
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    frames, truths = render(args.script, args.seed)
    print(
        f"rendered {len(frames)} frames of {frames[0].size[0]}x{frames[0].size[1]} "
        f"(script {args.script!r}, seed {args.seed}) in {time.perf_counter() - t0:.1f} s"
    )
    detector = load_detector(args.threads, args.int8, args.model)
    print(
        f"detector: {detector.card.name} {detector.card.version} {detector.variant}, "
        f"input {detector.input_w}x{detector.input_h}, {args.threads} thread(s), "
        f"detector on every {args.detect_every} moving frame(s)"
    )
    bare = bare_inference(detector, frames)
    ours = run_ours(detector, frames, truths, args.detect_every)
    naive = run_naive(detector, frames)
    lat, presentations, extra = read_latency(truths, ours["reads"])

    cap_all = 1000 / ours["ms_all"] / FPS
    cap_busy = 1000 / ours["ms_busy"] / FPS
    print()
    print(f"{'measure':44} {'value':>10}   target")
    rows = [
        ("bare inference, ms", f"{bare:.2f}", ""),
        ("pipeline, ms/frame (all frames)", f"{ours['ms_all']:.2f}", ""),
        (f"pipeline, ms/frame (item in scan zone, n={ours['busy_frames']})",
         f"{ours['ms_busy']:.2f}", ""),
        ("naive (full-frame detect + pyzbar), ms/frame", f"{naive:.2f}", ""),
        ("capacity / 30 fps, all frames", f"{cap_all:.2f}x", ""),
        ("capacity / 30 fps, item in scan zone", f"{cap_busy:.2f}x", ">= 1.5x"),
        ("pipeline (busy) / bare inference", f"{ours['ms_busy'] / bare:.2f}x", "<= 1.3x"),
        ("naive / pipeline (all frames)", f"{naive / ours['ms_all']:.2f}x", ">= 3x"),
        ("reads: presentations with a decodable frame", f"{presentations}", ""),
        ("reads: of those, read", f"{len(lat)}", ""),
        ("reads: extra (no matching presentation)", f"{extra}", "0"),
        ("frames from decodable to read, median", f"{statistics.median(lat) if lat else 'n/a'}",
         "<= 2"),
        ("frames from decodable to read, max", f"{max(lat) if lat else 'n/a'}", ""),
    ]  # fmt: skip
    for name, value, target in rows:
        print(f"{name:44} {value:>10}   {target}")
    stages = ", ".join(f"{k} {v:.2f}" for k, v in ours["stages"].items())
    print(f"\nms per frame by stage: {stages}; detector runs: {ours['detector_runs']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
