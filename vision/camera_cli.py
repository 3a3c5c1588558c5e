"""``sco camera probe|snapshot``: check a camera URL the way the lane would open it.

Exit codes: 0 frames came, 1 no frames (the reason is printed), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from kiosk.errors import CameraError
from kiosk.files import write_atomically

NO_FRAMES = 1


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's commands to ``sco``."""
    p = sub.add_parser("camera", help="cameras: probe a source URL, take a snapshot")
    csub = p.add_subparsers(dest="camera_command", metavar="ACTION", required=True)

    b = csub.add_parser("probe", help="open a camera URL, read frames, print size, fps, drops")
    b.add_argument("url", help="0 | v4l2:/dev/video0 | file:clip.mp4 | folder:DIR | rtsp://...")
    b.add_argument("--frames", type=int, default=60, help="frames to read (60)")
    b.add_argument("--timeout", type=float, default=15.0, help="seconds to wait at most (15)")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.set_defaults(func=cmd_probe)

    s = csub.add_parser("snapshot", help="save one frame from a camera URL as an image")
    s.add_argument("url")
    s.add_argument("out", help="output image (.jpg or .png)")
    s.add_argument("--skip", type=int, default=0, help="frames to discard first (auto-exposure)")
    s.set_defaults(func=cmd_snapshot)


def probe(url: str, frames: int, timeout_s: float) -> dict[str, Any]:
    """Run ``url`` through a real :class:`Camera` and report what a consumer got."""
    from vision.camera import Camera, redact_url

    result: dict[str, Any] = {"url": redact_url(url), "ok": False, "errors": []}
    first = threading.Event()
    errors: list[str] = result["errors"]

    def on_state(connected: bool, reason: str) -> None:
        if reason and reason != "end of source":
            errors.append(reason)
        first.set()

    try:
        camera = Camera(url, on_state=on_state, reconnect_s=1.0)
    except CameraError as err:
        errors.append(str(err))
        return result
    got = 0
    size: tuple[int, int] | None = None
    start = time.monotonic()
    deadline = start + timeout_s
    first_ts = last_ts = 0.0
    camera.start()
    try:
        # A source that fails before its first frame fails fast: no point waiting out the timeout.
        first.wait(timeout_s)
        while got < frames and time.monotonic() < deadline:
            if not camera.stats.connected and not camera.stats.frames and errors:
                break
            frame = camera.latest(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
            if frame is None:
                if camera.ended:
                    break
                continue
            last_ts = time.monotonic()
            if got == 0:
                first_ts = last_ts
            got += 1
            size = frame.size
    finally:
        camera.stop()
    stats = camera.stats
    span = last_ts - first_ts
    result.update(
        ok=got > 0,
        frames=got,
        width=size[0] if size else None,
        height=size[1] if size else None,
        # What the source delivered (sliding window) and what this reader got.
        source_fps=round(stats.fps, 2),
        read_fps=round((got - 1) / span, 2) if got > 1 and span > 0 else 0.0,
        captured=stats.frames,
        dropped=stats.dropped,
        reconnects=stats.reconnects,
        ended=camera.ended,
        seconds=round(time.monotonic() - start, 3),
    )
    return result


def cmd_probe(args: argparse.Namespace) -> int:
    if args.frames < 1:
        print("sco camera probe: --frames must be at least 1", file=sys.stderr)
        return 2
    r = probe(args.url, args.frames, args.timeout)
    if args.json:
        print(json.dumps(r, sort_keys=True))
    elif r["ok"]:
        print(f"camera: {r['url']}")
        print(f"size: {r['width']}x{r['height']}")
        print(
            f"frames: {r['frames']} read at {r['read_fps']} fps; source {r['source_fps']} fps; "
            f"captured {r['captured']}, dropped {r['dropped']}, reconnects {r['reconnects']}"
            + (" (source ended)" if r["ended"] else "")
        )
        print("errors: " + ("; ".join(r["errors"]) or "none"))
    if not r["ok"]:
        why = r["errors"][-1] if r["errors"] else f"no frame within {args.timeout:g} s"
        print(f"sco camera probe: no frames from {r['url']}: {why}", file=sys.stderr)
        return NO_FRAMES
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    import cv2

    from vision.camera import iter_frames, redact_url

    out = Path(args.out)
    ext = out.suffix.lower() or ".jpg"
    if ext not in (".jpg", ".jpeg", ".png", ".bmp", ".webp"):
        print(f"sco camera snapshot: cannot write {ext} images; use .jpg or .png", file=sys.stderr)
        return 2
    frame = None
    try:
        for got in iter_frames(args.url, limit=max(0, args.skip) + 1):
            frame = got
    except CameraError as err:
        print(f"sco camera snapshot: {err}", file=sys.stderr)
        return NO_FRAMES
    if frame is None:
        print(f"sco camera snapshot: {redact_url(args.url)} gave no frame", file=sys.stderr)
        return NO_FRAMES
    ok, data = cv2.imencode(ext, frame.image)
    if not ok:
        print(f"sco camera snapshot: could not encode {ext}", file=sys.stderr)
        return 2
    try:
        write_atomically(out, data.tobytes())
    except OSError as err:
        print(f"sco camera snapshot: cannot write {out}: {err.strerror or err}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({frame.size[0]}x{frame.size[1]}, frame {frame.index})")
    return 0
