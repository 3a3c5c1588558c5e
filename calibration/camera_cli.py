"""``sco calibrate camera check|card|read-rate|align``: the camera checks on a camera URL.

    sco calibrate camera card OUT.pdf [--module-mm 0.33]
    sco calibrate camera check URL [--zones FILE] [--json] [--results FILE]
    sco calibrate camera read-rate URL --code GTIN --count N [--every K] [--json] [--results FILE]
    sco calibrate camera align URL --zones FILE [--zone scan] [--json] [--results FILE]

``--results FILE`` appends each result as a JSON line, as the scale commands do, so that
``sco calibrate record save --results FILE`` makes a record of a command-line session.

URL is any camera source ``vision.camera`` knows (v4l2:0, a file, a folder, synthetic:...).
Exit codes: 0 every check passed or warned, 1 a check failed (or no frames), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Generator
from typing import Any

from calibration.results import CheckResult, Verdict, overall
from kiosk.errors import CameraError, ConfigError

FAILED = 1
BAD_ARGS = 2


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``camera`` and its actions under ``sco calibrate``."""
    p = sub.add_parser("camera", help="camera: sharpness, exposure, glare, px/module, zones")
    csub = p.add_subparsers(dest="camera_action", metavar="ACTION", required=True)

    c = csub.add_parser("card", help="write the printable test card (PDF, A4, true scale)")
    c.add_argument("out", help="output .pdf")
    c.add_argument("--module-mm", type=float, default=0.33, help="EAN-13 module width (0.33)")
    c.set_defaults(func=cmd_card)

    k = csub.add_parser("check", help="sharpness, exposure, glare, px/module (and alignment)")
    _common(k)
    k.add_argument("--zones", help="zones JSON (opensco.zones/1); default: the whole frame")
    k.add_argument("--skip", type=int, default=5, help="frames to discard first (5)")
    k.set_defaults(func=cmd_check)

    r = csub.add_parser("read-rate", help="present a code N times: frames that read it / N")
    _common(r)
    r.add_argument("--code", required=True, help="the GTIN presented (8-14 digits)")
    r.add_argument("--count", type=int, default=50, help="frames to try (50)")
    r.add_argument("--every", type=int, default=1, help="use every K-th frame (1)")
    r.add_argument("--budget-ms", type=float, default=None, help="per-frame decode budget")
    r.set_defaults(func=cmd_read_rate)

    a = csub.add_parser("align", help="corner markers on the zone vs the zones file")
    _common(a)
    a.add_argument("--zones", required=True, help="zones JSON (opensco.zones/1)")
    a.add_argument("--zone", default="scan", help="zone whose corners hold the markers (scan)")
    a.add_argument("--skip", type=int, default=5, help="frames to discard first (5)")
    a.set_defaults(func=cmd_align)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", help="camera URL: v4l2:0 | file:still.png | folder:DIR | synthetic:...")
    p.add_argument("--module-mm", type=float, default=0.33, help="the card's module (0.33)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument(
        "--results",
        metavar="FILE",
        help="also append the results to FILE (JSON lines) for `sco calibrate record save`",
    )


def _layout(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from calibration.test_card import CardLayout

    return CardLayout(module_mm=args.module_mm)


def _frames(url: str, skip: int, limit: int, every: int = 1) -> Generator[Any, None, None]:
    """Frames from ``url``: ``skip`` discarded (auto-exposure settling), then every
    ``every``-th up to ``limit``. A still image gives its one frame even with ``skip``."""
    from vision.camera import iter_frames

    last = None
    got = 0
    for i, frame in enumerate(iter_frames(url)):
        last = frame.image
        if i < skip or (i - skip) % max(1, every):
            continue
        yield frame.image
        got += 1
        if got >= limit:
            return
    if got == 0 and last is not None:
        yield last


def _report(results: list[CheckResult], args: argparse.Namespace) -> int:
    if args.results:
        from calibration.record import append_results

        try:
            append_results(args.results, results)
        except OSError as err:  # the checks ran: show them, then say what was not kept
            _show(results, args.json)
            return _error(
                args.camera_action,
                f"cannot append to {args.results}: {err.strerror or err}",
                FAILED,
            )
    return _show(results, args.json)


def _show(results: list[CheckResult], as_json: bool) -> int:
    verdict = overall(results)
    if as_json:
        body = {"verdict": verdict.value, "results": [r.to_json() for r in results]}
        print(json.dumps(body, sort_keys=True))
    else:
        for r in results:
            shown = {k: v for k, v in r.figures.items() if not isinstance(v, dict | list)}
            figures = ", ".join(f"{k}={v}" for k, v in shown.items())
            print(f"{r.verdict.value.upper():7} {r.check}" + (f": {figures}" if figures else ""))
            if r.advice:
                print(f"        {r.advice}")
        print(f"overall: {verdict.value.upper()}")
    return FAILED if verdict is Verdict.FAIL else 0


def _error(action: str, message: str, code: int) -> int:
    print(f"sco calibrate camera {action}: {message}", file=sys.stderr)
    return code


def _zones(path: str | None):  # type: ignore[no-untyped-def]
    from vision.zones import ZoneMap

    return ZoneMap.load(path) if path else None


def _one_frame(url: str, skip: int):  # type: ignore[no-untyped-def]
    frames = _frames(url, max(0, skip), 1)
    try:
        frame = next(frames, None)
    finally:
        frames.close()  # releases the camera now, not whenever the generator is collected
    if frame is None:
        raise CameraError(f"no frame from {url}")
    return frame


def cmd_card(args: argparse.Namespace) -> int:
    from calibration.test_card import CardLayout, write_card_pdf

    if not str(args.out).lower().endswith(".pdf"):
        return _error("card", "the output must be a .pdf file", BAD_ARGS)
    try:
        layout = CardLayout(module_mm=args.module_mm)
        path = write_card_pdf(args.out, layout)
    except ValueError as err:
        return _error("card", str(err), BAD_ARGS)
    except OSError as err:
        return _error("card", f"cannot write {args.out}: {err.strerror or err}", BAD_ARGS)
    print(f"wrote {path}: print at actual size (100 %); the ruler must measure 100 mm")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from calibration.camera_checks import frame_checks

    try:
        layout = _layout(args)
        zones = _zones(args.zones)
        frame = _one_frame(args.url, args.skip)
    except (ValueError, ConfigError) as err:
        return _error("check", str(err), BAD_ARGS)
    except CameraError as err:
        return _error("check", str(err), FAILED)
    return _report(frame_checks(frame, zones, layout), args)


def cmd_read_rate(args: argparse.Namespace) -> int:
    from calibration.camera_checks import normalise_code, read_rate

    if args.count < 1 or args.every < 1:
        return _error("read-rate", "--count and --every must be at least 1", BAD_ARGS)
    try:
        normalise_code(args.code)
        frames = list(_frames(args.url, 0, args.count, args.every))
    except ValueError as err:
        return _error("read-rate", str(err), BAD_ARGS)
    except CameraError as err:
        return _error("read-rate", str(err), FAILED)
    return _report([read_rate(frames, args.code, budget_ms=args.budget_ms)], args)


def cmd_align(args: argparse.Namespace) -> int:
    from calibration.camera_checks import zone_alignment

    try:
        zones = _zones(args.zones)
        frame = _one_frame(args.url, args.skip)
        result = zone_alignment(frame, zones, args.zone)
    except (ValueError, ConfigError) as err:
        return _error("align", str(err), BAD_ARGS)
    except CameraError as err:
        return _error("align", str(err), FAILED)
    return _report([result], args)
