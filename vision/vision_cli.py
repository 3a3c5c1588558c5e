"""``sco vision run URL``: the lane's vision pipeline on any camera source, printing the
inputs it would hand the core as replay-format JSON lines (``sco replay`` reads them).

Technicians use it to check a camera and its zones; the scenario suite uses it to run
rendered videos through the real adapters.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from kiosk.core.inputs import input_to_dict
from kiosk.errors import KioskError


def cmd_vision_run(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from vision.camera import iter_frames
    from vision.worker import build_pipeline

    if args.config:
        config = load_config(args.config)
        sections, data_dir = config.sections, config.data_dir
    else:
        from kiosk.config import parse_config_text

        config = parse_config_text("")
        sections, data_dir = config.sections, args.data_dir
    vision = dict(sections["vision"])
    if args.model:
        vision["detector_model"] = args.model
    if args.zones:
        vision["zones_file"] = args.zones
    sections = {**sections, "vision": vision}
    sku_for_code = _catalog_lookup(args.catalog) if args.catalog else (lambda code: None)
    pipeline = None
    frames = 0
    started = time.perf_counter()
    try:
        for frame in iter_frames(args.url, limit=args.frames or None):
            if pipeline is None:
                pipeline = build_pipeline(
                    sections, data_dir, frame.size, sku_for_code=sku_for_code, config=config
                )
            for item in pipeline.process(frame):
                record = input_to_dict(item)
                print(json.dumps(record, ensure_ascii=False, sort_keys=True), flush=True)
            frames += 1
    except KioskError as err:
        print(f"sco vision run: {err}", file=sys.stderr)
        return 1
    finally:
        if pipeline is not None:
            pipeline.close()
    elapsed = time.perf_counter() - started
    if pipeline is not None:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in pipeline.times.per_frame().items())
        print(
            f"{frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.1f} fps); "
            f"ms per frame: {stages}",
            file=sys.stderr,
        )
    if frames == 0:
        print(f"sco vision run: no frames from {args.url}", file=sys.stderr)
        return 1
    return 0


def _catalog_lookup(path: str):  # type: ignore[no-untyped-def]
    from kiosk.replay import load_catalog_file

    catalog = load_catalog_file(Path(path))

    def lookup(gtin: str) -> str | None:
        product = catalog.by_gtin(gtin)
        return product.sku if product is not None else None

    return lookup


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    vision = sub.add_parser("vision", help="the camera pipeline: detection, tracks, barcodes")
    vsub = vision.add_subparsers(dest="vision_cmd", required=True)
    run = vsub.add_parser(
        "run",
        help="run the pipeline on a camera source; print the core inputs as JSON lines",
    )
    run.add_argument("url", help='camera source, e.g. "v4l2:0", a video file, "synthetic:"')
    run.add_argument("--config", help="a lane config (its [vision] section is used)")
    run.add_argument("--model", default="", help="detector .onnx (default: the active one)")
    run.add_argument("--zones", default="", help="zones JSON (default: examples/zones.json)")
    run.add_argument("--catalog", default="", help="catalog CSV, to name the SKU a read claims")
    run.add_argument("--frames", type=int, default=0, help="stop after N frames (0 = all)")
    run.add_argument(
        "--data-dir", default="/tmp/opensco-vision", help="where evidence goes without --config"
    )
    run.set_defaults(func=cmd_vision_run)
