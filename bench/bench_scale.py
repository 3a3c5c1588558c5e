"""What one scale reading costs, per protocol.

Run: .venv/bin/python bench/bench_scale.py
Prints, per protocol: the parser alone (the baseline), the adapter's whole per-frame path
(parse + stability filter + state logic + core input) and its ratio to the baseline, and a
poll → reply → parse round trip through a real pty to the simulator.
"""

from __future__ import annotations

import statistics
import time
import timeit

import serial  # type: ignore[import-untyped]

from hardware.scale.base import get_protocol
from hardware.scale.serial_adapter import SerialScale
from hardware.scale.simulator import ScaleSimulator
from hardware.scale.stability import StabilityFilter
from kiosk.core.inputs import Platform

POLLED = ("toledo8217", "sics", "nci", "magellan")


def per_frame_us(fn: object, number: int = 20_000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=3)) / number * 1e6  # type: ignore[arg-type]


def measure(name: str) -> str:
    proto = get_protocol(name)
    with ScaleSimulator(proto, noise_g=0) as sim:
        sim.place(1184)
        time.sleep(0.6)
        frame = proto.respond(proto.poll_command or b"", sim.pan)
        got: list[object] = []
        scale = SerialScale(
            sim.port_path, proto, on_reading=got.append, stability=StabilityFilter(5, 3, 250)
        )

        def parse_only() -> None:
            proto.parse(frame)

        def adapter_path() -> None:
            frames, _ = proto.parse(frame)
            for f in frames:
                scale._handle(f)

        base = per_frame_us(parse_only)
        full = per_frame_us(adapter_path)
        port = serial.serial_for_url(sim.port_path, baudrate=proto.port.baudrate, timeout=0.5)
        rtts = []
        for _ in range(300):
            t0 = time.perf_counter()
            port.write(proto.poll_command)
            buf, frames = b"", []
            while not frames:
                buf += port.read(max(1, port.in_waiting))
                frames, buf = proto.parse(buf)
            frames[0].to_input(0, Platform.SCAN)  # type: ignore[union-attr]
            rtts.append((time.perf_counter() - t0) * 1e6)
        port.close()
    p95 = sorted(rtts)[int(len(rtts) * 0.95)]
    return (
        f"{name:<11} {base:7.1f}us {full:7.1f}us {full / base:5.1f}x  "
        f"median {statistics.median(rtts):5.0f}us  p95 {p95:5.0f}us"
    )


def main() -> None:
    print(f"{'protocol':<11} {'parse':>9} {'adapter':>9} {'ratio':>6}  pty round trip")
    for name in POLLED:
        print(measure(name))
    print("(at 9600 baud a 10-25 byte reply alone takes 10-26 ms on the wire)")


if __name__ == "__main__":
    main()
