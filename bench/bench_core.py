"""Core and journal throughput: how much of a 2-core kiosk's time one input costs.

Run: .venv/bin/python bench/bench_core.py [--inputs N]
Prints inputs/s and per-input latency for the pure core, and the journaled engine
(SQLite WAL, synchronous=FULL) against the in-memory core as the baseline in this run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from kiosk.core.inputs import (
    BarcodeRead,
    Input,
    PaymentResult,
    Platform,
    ShopperAction,
    Tick,
    WeightReading,
)
from kiosk.core.settings import CoreSettings
from kiosk.engine import Engine
from kiosk.replay import DEFAULT_CATALOG, load_catalog_file


def workload(n: int, gtins: list[str]) -> list[Input]:
    """A busy lane: 40-input baskets of scans, scale readings and ticks, paid in cash."""
    items: list[Input] = []
    t = 1_764_061_200_000
    for i in range(n):
        t += 1500
        if i % 40 == 0:
            items.append(ShopperAction(t, "start", {}))
        elif i % 40 == 38:
            items.append(ShopperAction(t, "pay", {"method": "cash"}))
        elif i % 40 == 39:
            items.append(PaymentResult(t, True, 1_000_000, "cash"))
        elif i % 5 == 0:
            items.append(WeightReading(t, Platform.BAGGING, 100 * i, True))
        elif i % 7 == 0:
            items.append(Tick(t))
        else:
            items.append(BarcodeRead(t, gtins[i % len(gtins)], "EAN13"))
    return items


def run(engine: Engine, inputs: list[Input]) -> list[float]:
    latencies = []
    for item in inputs:
        start = time.perf_counter()
        engine.submit(item)
        latencies.append(time.perf_counter() - start)
    engine.close()
    return latencies


def report(name: str, lat: list[float], baseline: float | None) -> float:
    total = sum(lat)
    p50 = statistics.median(lat) * 1e3
    p99 = sorted(lat)[int(len(lat) * 0.99)] * 1e3
    ratio = f"  {total / baseline:6.1f}x baseline" if baseline else "  (baseline)"
    print(
        f"{name:<28} {len(lat) / total:9.0f} inputs/s  p50 {p50:6.3f} ms  p99 {p99:6.3f} ms{ratio}"
    )
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inputs", type=int, default=4000)
    args = parser.parse_args()
    catalog = load_catalog_file(DEFAULT_CATALOG)
    gtins = [
        p.gtins[0][1:]
        for p in catalog.products
        if p.gtins and p.sold_by.value == "each" and not p.min_age
    ]
    inputs = workload(args.inputs, [g for g in gtins if not g.startswith("0")])
    settings = CoreSettings(void_requires_attendant=False)
    print(f"{len(inputs)} inputs, {len(catalog)} products")
    base = report("core only (in memory)", run(Engine(catalog, settings), inputs), None)
    with tempfile.TemporaryDirectory() as tmp:
        report(
            "journaled (WAL, sync=FULL)", run(Engine(catalog, settings, Path(tmp)), inputs), base
        )
        # Leave a session open mid-basket, as a crash would, then time the restart.
        engine = Engine(catalog, settings, Path(tmp))
        for item in inputs[:20]:
            engine.submit(item)
        engine.close()
        start = time.perf_counter()
        recovered = Engine(catalog, settings, Path(tmp))
        print(
            f"recovery of the open session: {recovered.recovered_inputs} inputs in "
            f"{(time.perf_counter() - start) * 1e3:.1f} ms"
        )
        recovered.close()


if __name__ == "__main__":
    main()
