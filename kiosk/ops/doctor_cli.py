"""``sco doctor --config FILE [--json] [--bundle FILE]``: is this lane healthy, and if not,
what to do. Exit codes: 0 healthy, 1 warnings, 2 failures (and bad arguments)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from kiosk.errors import KioskError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``sco doctor`` to ``sco``."""
    p = sub.add_parser("doctor", help="check the lane's devices, broker, certificates, models, "
                       "disk, clock, config and journal; say what to do")  # fmt: skip
    p.add_argument("--config", required=True, help="the lane's TOML config")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--bundle", metavar="FILE", help="also write a redacted support bundle (.tar.gz, or .zip)"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds each device may take to answer (5)",
    )
    p.add_argument(
        "--journal-rows",
        type=int,
        default=200,
        metavar="N",
        help="recent journal inputs and events in the bundle (200)",
    )
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from kiosk.ops.doctor import run_doctor

    if args.timeout <= 0 or args.journal_rows < 0:
        print("sco doctor: --timeout must be above 0 and --journal-rows at least 0",
              file=sys.stderr)  # fmt: skip
        return 2
    if not args.verbose:
        # Reconnect notices of a camera being probed are the camera check's fact, not noise.
        logging.getLogger("vision").setLevel(logging.ERROR)
    report = run_doctor(args.config, timeout_s=args.timeout)
    bundle = None
    if args.bundle:
        from kiosk.ops.bundle import make_bundle

        try:
            bundle = make_bundle(report, args.bundle, journal_rows=args.journal_rows)
        except OSError as err:
            raise KioskError(
                f"cannot write the bundle {args.bundle}: {err.strerror or err}"
            ) from err
    if args.json:
        body = report.to_dict()
        if bundle:
            body["bundle"] = {"path": str(bundle.path), "files": list(bundle.files),
                              "redacted": bundle.redacted}  # fmt: skip
        print(json.dumps(body, ensure_ascii=False, sort_keys=True))
    else:
        print(report.text())
        if bundle:
            masked = sum(bundle.redacted.values())
            print(f"support bundle: {bundle.path} ({len(bundle.files)} files, {masked} values "
                  "masked; see its MANIFEST.txt)")  # fmt: skip
    return report.exit_code
