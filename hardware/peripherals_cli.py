"""``sco printer``, ``sco light`` and ``sco payment``: try the peripherals by hand."""

from __future__ import annotations

import argparse
import dataclasses
import json
import queue
import sys
import threading
import time

from hardware.light_tower import LightState, LightTower
from hardware.payment import (
    PaymentOutcome,
    PaymentStatus,
    PaymentTerminalSimulator,
    SerialPaymentTerminal,
    SimMode,
)
from hardware.printer import ReceiptPrinter, TextEncoding
from kiosk.errors import KioskError


def cmd_printer_test(args: argparse.Namespace) -> int:
    from kiosk.core.settings import CoreSettings
    from kiosk.replay import DEFAULT_CATALOG, EXAMPLES_DIR, load_catalog_file, replay_lines

    demo = EXAMPLES_DIR / "sessions" / "plain-basket.jsonl"
    with demo.open(encoding="utf-8") as fh:
        result = replay_lines(fh, load_catalog_file(DEFAULT_CATALOG), CoreSettings())
    if not result.receipts:
        raise KioskError(f"{demo.name} completed no sale; nothing to print")
    printer = ReceiptPrinter.from_url(
        args.printer, encoding=args.encoding, width_chars=args.width, profile=args.profile
    )
    try:
        print(f"paper: {printer.paper_status().value}")
        printer.print_receipt(result.receipts[0], args.lang)
    finally:
        printer.close()
    print(f"printed the demo receipt ({args.lang}, {args.encoding}) on {args.printer}")
    return 0


def cmd_light_set(args: argparse.Namespace) -> int:
    tower = LightTower(args.port)
    try:
        tower.set_state(LightState(args.state))
        if args.state == LightState.ALERT:
            time.sleep(tower.buzz_s + 0.2)  # let the short beep end before we let go
    finally:
        tower.close()
    print(f"{args.port}: {args.state}")
    return 0


def cmd_payment_simulate(args: argparse.Namespace) -> int:
    sim = PaymentTerminalSimulator(args.link, mode=SimMode(args.mode))
    sim.start()
    print(f"simulated payment terminal on {sim.port} (mode {sim.mode.value})", flush=True)
    modes = ", ".join(m.value for m in SimMode)
    print(f"type a mode ({modes}) and Enter to change it; Ctrl-C to stop", flush=True)
    try:
        for line in sys.stdin:
            word = line.strip().lower()
            if word in {m.value for m in SimMode}:
                sim.mode = SimMode(word)
                print(f"mode: {word}", flush=True)
            elif word:
                print(f"unknown mode {word!r}; one of {modes}", flush=True)
        threading.Event().wait()  # stdin closed: keep serving until Ctrl-C
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


def cmd_payment_pay(args: argparse.Namespace) -> int:
    outcomes: queue.Queue[PaymentOutcome] = queue.Queue()
    reference = args.reference or f"cli-{time.strftime('%H%M%S')}"
    with SerialPaymentTerminal(args.port, outcomes.put, timeout_s=args.timeout) as terminal:
        terminal.start(args.amount, args.currency, reference)
        try:
            outcome = outcomes.get(timeout=args.timeout + 10)
        except queue.Empty:
            raise KioskError("the payment terminal client gave no outcome") from None
    print(json.dumps({"reference": reference, **dataclasses.asdict(outcome)}))
    return 0 if outcome.status is PaymentStatus.APPROVED else 1


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands to `sco`."""
    p = subparsers.add_parser("printer", help="receipt printer tools")
    sub = p.add_subparsers(dest="printer_command", metavar="ACTION", required=True)
    c = sub.add_parser("test", help="print the demo receipt")
    c.add_argument("--printer", required=True, help="usb:VID:PID, serial:PORT, network:HOST, …")
    c.add_argument("--lang", choices=("en", "zh"), default="en")
    c.add_argument("--encoding", choices=[e.value for e in TextEncoding], default="gb18030")
    c.add_argument(
        "--width",
        type=int,
        default=42,
        choices=range(32, 65),
        metavar="32-64",
        help="characters per line",
    )
    c.add_argument("--profile", help="python-escpos printer profile, e.g. TM-T88V")
    c.set_defaults(func=cmd_printer_test)

    p = subparsers.add_parser("light", help="status light tower tools")
    sub = p.add_subparsers(dest="light_command", metavar="ACTION", required=True)
    c = sub.add_parser("set", help="show one state on the tower")
    c.add_argument("--port", required=True, help="serial port or pyserial URL")
    c.add_argument("state", choices=[s.value for s in LightState])
    c.set_defaults(func=cmd_light_set)

    p = subparsers.add_parser("payment", help="payment terminal tools")
    sub = p.add_subparsers(dest="payment_command", metavar="ACTION", required=True)
    c = sub.add_parser("simulate", help="run a simulated terminal on a pty until Ctrl-C")
    c.add_argument("--link", required=True, help="path of the symlink to the pty")
    c.add_argument("--mode", choices=[m.value for m in SimMode], default="approve")
    c.set_defaults(func=cmd_payment_simulate)
    c = sub.add_parser("pay", help="take one payment and print its outcome")
    c.add_argument("--port", required=True, help="serial port or pyserial URL of the terminal")
    c.add_argument("--amount", type=int, required=True, help="amount in minor units (fen)")
    c.add_argument("--currency", default="CNY")
    c.add_argument("--reference", help="transaction reference (default: cli-HHMMSS)")
    c.add_argument("--timeout", type=float, default=90.0, help="seconds to wait")
    c.set_defaults(func=cmd_payment_pay)
