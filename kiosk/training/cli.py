"""``sco training run``: a training lane on a private broker, its scenarios scored, and the
trainer's result sheet written. ``--autoplay`` plays a trainee who handles every scenario
right (a demonstration); without it a person handles them on the tablet app, signed in with
the printed broker, keyring and PIN."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from kiosk.errors import KioskError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("training", help="attendant training on a simulated lane")
    verbs = parser.add_subparsers(dest="training_verb", required=True)
    run = verbs.add_parser("run", help="play training scenarios and score the trainee")
    run.add_argument("--scenarios", default="all",
                     help="comma-separated: age_check, non_scan, ticket_switch, "
                          "weight_mismatch, cancelled_sale (default all)")  # fmt: skip
    run.add_argument("--trainee", required=True, help="the trainee's id (on the sheet)")
    run.add_argument("--autoplay", action="store_true",
                     help="a scripted trainee acts through the tablet client")  # fmt: skip
    run.add_argument("--out", default="training-results", help="folder for the sheet")
    run.add_argument("--timeout", type=float, default=180.0,
                     help="seconds the trainee has for each scenario")  # fmt: skip
    run.set_defaults(func=cmd_training_run)


def cmd_training_run(args: argparse.Namespace) -> int:
    from kiosk.attendant.client import TabletClient
    from kiosk.attendant.keyring import unlock
    from kiosk.training.lanes import TrainingFloor
    from kiosk.training.runner import TrainingRun, parse_scenarios
    from kiosk.training.sheet import write_sheet
    from kiosk.training.trainee import ScriptedTrainee

    try:
        names = parse_scenarios(args.scenarios)
    except KioskError as err:
        print(f"sco training: {err}", file=sys.stderr)
        return 2
    floor = TrainingFloor(lanes=1, workdir=Path(tempfile.mkdtemp(prefix="opensco-training-")))
    tablet = None
    try:
        floor.start()
        hook = None
        if args.autoplay:
            signer = unlock(floor.keyring_dir, floor.attendant_id, floor.pin)
            tablet = TabletClient(floor.broker_url or "", floor.store, signer,
                                  tablet_id="training-autoplay")  # fmt: skip
            tablet.start()
            hook = ScriptedTrainee(tablet, "lane-01").handle
        else:
            print(
                "TRAINING lane-01 is up. On the tablet: sco attendant "
                f"--broker {floor.broker_url} --store {floor.store} "
                f"--keyring {floor.keyring_dir}\n  sign in as {floor.attendant_id}, "
                f"PIN {floor.pin}",
                flush=True,
            )
        run = TrainingRun(floor, args.trainee, names, on_alert=hook,
                          handle_timeout_s=args.timeout,
                          on_result=lambda r: print(f"  {r.title}: {r.verdict}, {r.score}",
                                                    flush=True))  # fmt: skip
        result = run.run()
    except KioskError as err:
        print(f"sco training: {err}", file=sys.stderr)
        return 1
    finally:
        if tablet is not None:
            tablet.stop()
        floor.stop()
    page, data = write_sheet(result, args.out)
    print(f"score {result.total} / {result.out_of}; sheet {page} and {data}")
    return 0
