"""`sco scale read|probe|simulate`: a technician's tools for serial scales.

Exit codes: 0 done, 2 bad arguments or configuration, 3 no scale / no stable weight.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

import hardware.scale.config  # noqa: F401  (registers [scan_scale]/[bagging_scale] for sco config)
from hardware.scale.base import SCALE_PROTOCOLS, ScaleReading, get_protocol
from hardware.scale.config import PROTOCOL_NAMES
from hardware.scale.serial_adapter import ReadResult, ScaleState, SerialScale
from hardware.scale.simulator import COMMANDS, ScaleSimulator

NO_SCALE = 3


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands to `sco`."""
    p = subparsers.add_parser("scale", help="serial scales: read, probe, simulate")
    sub = p.add_subparsers(dest="scale_command", metavar="ACTION", required=True)

    r = sub.add_parser("read", help="print one reading from a scale")
    r.add_argument("--port", required=True, help="serial port or URL (socket://, rfc2217://)")
    r.add_argument("--protocol", required=True, help=f"one of {', '.join(PROTOCOL_NAMES)}")
    r.add_argument("--stable", action="store_true", help="wait for a stable weight")
    r.add_argument("--json", action="store_true", help="print a JSON object")
    r.add_argument("--timeout", type=float, help="seconds to wait (default 2, or 5 with --stable)")
    r.set_defaults(func=cmd_read)

    b = sub.add_parser("probe", help="find which protocol the scale on a port speaks")
    b.add_argument("--port", required=True, help="serial port or URL")
    b.add_argument("--timeout", type=float, default=1.0, help="seconds per protocol (1)")
    b.set_defaults(func=cmd_probe)

    s = sub.add_parser("simulate", help="run a simulated scale on a pty until Ctrl-C")
    s.add_argument("--protocol", required=True, help=f"one of {', '.join(PROTOCOL_NAMES)}")
    s.add_argument("--link", help="also make this path a symlink to the pty (a stable name)")
    s.add_argument("--control", help="path of the control socket (default: a temp folder)")
    s.add_argument("--settle-ms", type=int, default=450, help="settle time (450)")
    s.add_argument("--noise-g", type=int, default=1, help="noise in grams (1)")
    s.add_argument("--capacity-g", type=int, default=15_000, help="capacity (15000)")
    s.set_defaults(func=cmd_simulate)


def describe(reading: ScaleReading) -> str:
    """``1.184 kg (1184 g) stable`` / ``no weight: over_capacity motion``."""
    flags = " ".join(reading.flags)
    if reading.weight_g is None:
        return f"no weight: {flags}"
    return f"{reading.weight_g / 1000:.3f} kg ({reading.weight_g} g) {flags}"


def cmd_read(args: argparse.Namespace) -> int:
    timeout = args.timeout if args.timeout is not None else (5.0 if args.stable else 2.0)
    scale = SerialScale(args.port, get_protocol(args.protocol), zero_before_trust=False)
    result = scale.read_once(timeout_s=timeout, want_stable=args.stable)
    failed = result.reading is None or (args.stable and not result.reading.stable)
    if args.json:
        print(json.dumps(result.to_dict(), sort_keys=True))
    elif not failed:
        print(_line(result))
    if failed:
        print(f"sco scale read: {_failure(result, args.port, timeout)}", file=sys.stderr)
        return NO_SCALE
    return 0


def _line(result: ReadResult) -> str:
    assert result.reading is not None
    text = describe(result.reading)
    if result.state is ScaleState.SAME_WEIGHT:
        text += " (same weight as the last read)"
    return text


def _failure(result: ReadResult, port: str, timeout: float) -> str:
    if result.reading is not None:
        return (
            f"no stable weight on {port} within {timeout:.1f} s "
            f"(last: {describe(result.reading)}); is something moving on the pan?"
        )
    return result.message or f"scale unavailable: no answer on {port} within {timeout:.1f} s"


def probe_order() -> list[str]:
    """Polled protocols first: a streaming parser would claim any chatter on the line."""
    names = [n for n in PROTOCOL_NAMES if n in SCALE_PROTOCOLS]
    names += sorted(set(SCALE_PROTOCOLS) - set(names))
    return sorted(names, key=lambda n: SCALE_PROTOCOLS[n].poll_command is None)


def cmd_probe(args: argparse.Namespace) -> int:
    get_protocol(PROTOCOL_NAMES[0])  # imports (registers) the built-in protocols
    for name in probe_order():
        protocol = get_protocol(name)
        scale = SerialScale(args.port, protocol, poll_hz=10, zero_before_trust=False)
        result = scale.read_once(timeout_s=args.timeout)
        if result.reading is not None:
            print(f"{name}: answered: {describe(result.reading)}")
            print(f"the scale on {args.port} speaks {name}")
            return 0
        error = scale.health().last_error
        print(f"{name}: no answer" + (f" ({error})" if error else ""), flush=True)
    print(f"no protocol answered on {args.port}", file=sys.stderr)
    return NO_SCALE


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cmd_simulate(args: argparse.Namespace) -> int:
    sim = ScaleSimulator(
        get_protocol(args.protocol),
        args.link,
        settle_ms=args.settle_ms,
        noise_g=args.noise_g,
        capacity_g=args.capacity_g,
        control_path=args.control,
    )
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # clean up the link and socket too
    sim.start()
    try:
        print(f"simulated {args.protocol} scale on {sim.slave_name}")
        if args.link:
            print(f"link: {sim.port_path}")
        print(f"control: {sim.control_path}")
        print(f"commands (type them here, or send lines to the socket): {', '.join(COMMANDS)}")
        print("Ctrl-C stops", flush=True)
        for line in sys.stdin or ():
            if line.strip():
                print(sim.command(line), flush=True)
        threading.Event().wait()  # stdin closed (a service, a test): run until a signal
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0
