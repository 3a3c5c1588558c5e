"""``sco render dataset|video``: synthetic checkout data for training and scenario tests.

Rendering imports numpy/OpenCV/zxing-cpp only when a command runs, so ``sco --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's commands to ``sco``."""
    p = sub.add_parser("render", help="render synthetic checkout scenes (data set, videos)")
    rsub = p.add_subparsers(dest="render_command", metavar="WHAT", required=True)

    d = rsub.add_parser("dataset", help="a YOLO-format detection data set (item, hand, bag)")
    d.add_argument("out", type=Path, help="output folder (data.yaml is written in it)")
    d.add_argument("--train", type=int, default=1000, help="training images (1000)")
    d.add_argument("--val", type=int, default=200, help="validation images (200)")
    d.add_argument("--test", type=int, default=200, help="test images (200)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--imgsz", type=int, default=640, help="image width in pixels (640)")
    d.add_argument("--workers", type=int, default=1, help="rendering processes (1)")
    d.add_argument(
        "--no-photos", action="store_true", help="procedural items only (no grocery photos)"
    )
    d.set_defaults(func=cmd_dataset)

    v = rsub.add_parser("video", help="a labelled video of a scripted shopper")
    v.add_argument("out", type=Path, help="output video (.avi with MJPG, or .mp4)")
    v.add_argument(
        "--script",
        default="basket",
        help="built-in script name, or actions "
        "separated by ';' such as 'scan(DRK-001);skip_scan(SNK-004)' (basket)",
    )
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--fps", type=int, default=30)
    v.set_defaults(func=cmd_video)


def cmd_dataset(args: argparse.Namespace) -> int:
    from models.scenes.dataset import render_detection_dataset

    t0 = time.perf_counter()
    total = args.train + args.val + args.test
    kwargs = {"workers": args.workers} if args.workers != 1 else {}
    path = render_detection_dataset(
        args.out,
        n_train=args.train,
        n_val=args.val,
        n_test=args.test,
        seed=args.seed,
        imgsz=args.imgsz,
        with_photos=not args.no_photos,
        progress=True,
        **kwargs,
    )
    dt = time.perf_counter() - t0
    print(f"{total} images in {dt:.1f} s ({total / max(dt, 1e-9):.1f} images/s)", file=sys.stderr)
    print(path)
    return 0


def cmd_video(args: argparse.Namespace) -> int:
    from models.scenes.video import parse_script, render_scenario_video

    script = parse_script(args.script)
    t0 = time.perf_counter()
    truth = render_scenario_video(script, args.out, args.seed, fps=args.fps, progress=True)
    dt = time.perf_counter() - t0
    n = len(truth.frames)
    print(f"{n} frames in {dt:.1f} s ({n / max(dt, 1e-9):.1f} frames/s)", file=sys.stderr)
    print(args.out)
    print(truth.path)
    return 0
