"""``sco decode [--json] IMAGE...``: decode barcodes in still images with the camera's cascade.

One line per image, in the order given. With --json:
``{"path": ..., "codes": [{"text": ..., "symbology": ..., "gtin": ...}]}``, ``path`` exactly as
given; an unreadable file gives ``{"path": ..., "codes": [], "error": "..."}``. Exit status 0,
or 1 when any file could not be read (every file is still tried).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vision.barcodes.cascade import BarcodeReader, still_reader
from vision.types import BarcodeHit

UNREADABLE = 1


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's commands to ``sco``."""
    p = sub.add_parser("decode", help="decode barcodes in image files (validated, GTIN-14)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--debug", action="store_true", help="also print which pass read each code")
    p.set_defaults(func=cmd_decode)


def load_image(path: str) -> np.ndarray:
    """The image at ``path`` as BGR; raises OSError with a readable reason."""
    p = Path(path)
    if not p.exists():
        raise OSError("no such file")
    if p.is_dir():
        raise OSError("is a directory")
    data = np.fromfile(p, np.uint8)  # imread cannot report why it failed; read bytes first
    if data.size == 0:
        raise OSError("empty file")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise OSError("not an image OpenCV can decode")
    return image


def _code(hit: BarcodeHit, debug: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"text": hit.text, "symbology": hit.symbology, "gtin": hit.gtin}
    if debug:
        out["decoder"] = hit.decoder
        if hit.box is not None:
            out["box"] = [round(v, 1) for v in (hit.box.x1, hit.box.y1, hit.box.x2, hit.box.y2)]
    return out


def decode_file(reader: BarcodeReader, path: str, debug: bool = False) -> dict[str, Any]:
    try:
        image = load_image(path)
    except (OSError, ValueError, cv2.error) as err:
        return {"path": path, "codes": [], "error": str(err) or type(err).__name__}
    return {"path": path, "codes": [_code(h, debug) for h in reader.decode(image)]}


def _human(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"{result['path']}: ERROR: {result['error']}"
    if not result["codes"]:
        return f"{result['path']}: no code"
    parts = []
    for c in result["codes"]:
        text = c["text"].replace("\x1d", "<GS>")
        gtin = f" GTIN {c['gtin']}" if c["gtin"] else ""
        via = f" via {c['decoder']}" if "decoder" in c else ""
        parts.append(f"{c['symbology']} {text}{gtin}{via}")
    return f"{result['path']}: " + "; ".join(parts)


def _emit(line: str, result: dict[str, Any]) -> None:
    try:
        print(line, flush=True)
    except UnicodeEncodeError:
        # A file name that is not valid in the terminal's encoding (undecodable bytes
        # arrive as surrogates): JSON's \u escapes still carry it.
        print(json.dumps(result, ensure_ascii=True), flush=True)


def cmd_decode(args: argparse.Namespace) -> int:
    reader = still_reader()
    status = 0
    for path in args.images:
        result = decode_file(reader, path, args.debug)
        if "error" in result:
            status = UNREADABLE
        _emit(json.dumps(result, ensure_ascii=False) if args.json else _human(result), result)
    if status:
        print("sco decode: some files could not be read", file=sys.stderr)
    return status
