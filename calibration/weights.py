"""The lane's learned expected-weights table: export to CSV, import from CSV, review.

The table lives in the journal's between-session checkpoint (``learned_weights``: per SKU
the running statistics of ``kiosk.core.security.weights.RunningStats``). Export reads the
last checkpoint and works while the lane runs; import replaces the table in that checkpoint
(``calibration.lane_journal``: only with the lane stopped and no sale open), so the lane
uses it from its next start. The table it replaced is saved beside the records first.

CSV columns (UTF-8, one header line): ``sku, name, n, mean_g, sd_g, weight, rejected,
catalog_g, catalog_tol_g``. Import needs ``sku, n, mean_g, sd_g``; ``weight`` (the capped
sample weight) defaults to ``min(n, 200)``, ``rejected`` to 0; ``name`` and the catalog
columns are for people and are ignored.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calibration.lane_journal import idle_lane, read_checkpoint
from calibration.record import records_dir
from calibration.results import CheckResult, Verdict
from kiosk.core.catalog import Catalog, Product, SoldBy
from kiosk.core.security.weights import BAG_KEY, MAX_WEIGHT_SAMPLES, RunningStats
from kiosk.core.settings import SecuritySettings
from kiosk.errors import KioskError
from kiosk.files import write_atomically

COLUMNS = ("sku", "name", "n", "mean_g", "sd_g", "weight", "rejected", "catalog_g",
           "catalog_tol_g")  # fmt: skip
REQUIRED = ("sku", "n", "mean_g", "sd_g")
MAX_MEAN_G = 100_000.0
MAX_ROWS = 200_000


class WeightsImportError(KioskError):
    """A CSV that cannot be imported; ``problems`` lists every bad line at once."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:20]
        if len(problems) > 20:
            shown.append(f"... and {len(problems) - 20} more")
        super().__init__(f"{source}: {len(problems)} problem(s), nothing imported:\n  " +
                         "\n  ".join(shown))  # fmt: skip


# --- reading the table --------------------------------------------------------------------


def learned_table(data_dir: str | Path) -> dict[str, RunningStats]:
    """The table in the lane's last checkpoint (empty for a lane that never sold)."""
    snapshot = read_checkpoint(data_dir) or {}
    raw = snapshot.get("learned_weights") or {}
    return {sku: RunningStats.from_list(v) for sku, v in raw.items()}


def lane_catalog(config: Any) -> Catalog:
    """What the lane sells: a catalog pushed by the backend wins over the configured file."""
    from kiosk.catalog_store import CatalogStore
    from kiosk.replay import load_catalog_file

    exponent = int(config.sections["checkout"]["currency_exponent"])
    active = CatalogStore(config.data_dir, exponent).active()
    return active[1] if active else load_catalog_file(config.catalog_path, exponent)


def _product(catalog: Catalog | None, sku: str) -> Product | None:
    if catalog is None:
        return None
    return next((p for p in catalog.products if p.sku == sku), None)


def catalog_tolerance_g(product: Product, settings: SecuritySettings | None = None) -> float:
    """The catalog's tolerance, or the lane's seed fraction of the weight when it has none."""
    settings = settings or SecuritySettings()
    weight = float(product.expected_weight_g or 0)
    return max(float(product.weight_tolerance_g or 0), settings.seed_sigma_fraction * weight, 1.0)


def _has_weight(product: Product | None) -> bool:
    return (
        product is not None and product.sold_by is not SoldBy.WEIGHT and
        bool(product.expected_weight_g)
    )  # fmt: skip


# --- export -------------------------------------------------------------------------------


def export_csv(table: Mapping[str, RunningStats], catalog: Catalog | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for sku in sorted(table):
        s = table[sku]
        product = _product(catalog, sku)
        known = _has_weight(product)
        writer.writerow([
            sku, product.name_en if product else ("(own bag)" if sku == BAG_KEY else ""),
            s.samples, f"{s.mean:.3f}", f"{s.sigma:.3f}", f"{s.weight:.3f}", s.rejected,
            product.expected_weight_g if known and product else "",
            f"{catalog_tolerance_g(product):.1f}" if known and product else "",
        ])  # fmt: skip
    return out.getvalue()


# --- import -------------------------------------------------------------------------------


def parse_csv(text: str, source: str = "<csv>") -> dict[str, RunningStats]:
    """Validate a weights CSV; every problem at once in a WeightsImportError."""
    text = text.removeprefix("\ufeff")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise WeightsImportError(source, [f"header lacks column(s) {', '.join(missing)} "
                                          f"(need {', '.join(REQUIRED)})"])  # fmt: skip
    reader.fieldnames = header
    table: dict[str, RunningStats] = {}
    problems: list[str] = []
    for row in reader:
        line = reader.line_num
        if len(table) >= MAX_ROWS:
            problems.append(f"line {line}: more than {MAX_ROWS} rows")
            break
        try:
            sku, stats = _row(row)
        except ValueError as err:
            problems.append(f"line {line}: {err}")
            continue
        if sku in table:
            problems.append(f"line {line}: sku {sku!r} appears twice")
        table[sku] = stats
    if problems:
        raise WeightsImportError(source, problems)
    return table


def _number(row: Mapping[str, Any], key: str, default: float | None = None) -> float:
    raw = (row.get(key) or "").strip()
    if not raw:
        if default is None:
            raise ValueError(f"{key} is empty")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{key} {raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{key} {raw!r} must be a finite number >= 0")
    return value


def _row(row: Mapping[str, Any]) -> tuple[str, RunningStats]:
    sku = (row.get("sku") or "").strip()
    if not sku or len(sku) > 64 or not sku.isprintable():
        raise ValueError(f"sku {sku!r} must be 1 to 64 printable characters")
    n = _number(row, "n")
    if n != int(n):
        raise ValueError(f"n {n} must be a whole number")
    mean, sd = _number(row, "mean_g"), _number(row, "sd_g")
    if mean > MAX_MEAN_G:
        raise ValueError(f"mean_g {mean} is more than {MAX_MEAN_G:.0f} g")
    weight = _number(row, "weight", min(n, MAX_WEIGHT_SAMPLES))
    if n > 0 and not 0 < weight <= MAX_WEIGHT_SAMPLES:
        raise ValueError(f"weight {weight} must be above 0 and at most {MAX_WEIGHT_SAMPLES:.0f}")
    rejected = _number(row, "rejected", 0)
    if rejected != int(rejected):
        raise ValueError(f"rejected {rejected} must be a whole number")
    if n == 0:
        return sku, RunningStats(rejected=int(rejected))
    return sku, RunningStats(weight, mean, sd * sd * weight, int(n), int(rejected))


def import_table(
    data_dir: str | Path, table: Mapping[str, RunningStats], *, merge: bool = False
) -> Path:
    """Replace (or with ``merge`` update) the lane's learned table; returns the backup CSV of
    the table it replaced. Raises LaneBusyError, nothing changed, if the lane is not idle."""
    with idle_lane(data_dir, create=True) as lane:
        old = {
            sku: RunningStats.from_list(v)
            for sku, v in (lane.snapshot.get("learned_weights") or {}).items()
        }
        backup_dir = records_dir(data_dir)
        backup_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        backup = backup_dir / f"weights-before-import-{stamp}.csv"
        write_atomically(backup, export_csv(old))  # before the checkpoint changes
        new = {**old, **table} if merge else dict(table)
        lane.snapshot["learned_weights"] = {sku: new[sku].to_list() for sku in sorted(new)}
    return backup


# --- review -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewLimits:
    min_samples: int = 5  # fewer samples say nothing about a SKU's spread
    max_cv: float = 0.10  # without a catalog weight: sd above 10 % of the mean
    spread_tolerances: float = 1.0  # sd above this many catalog tolerances
    mean_tolerances: float = 2.0  # learned mean further than this many tolerances away


def review(
    table: Mapping[str, RunningStats],
    catalog: Catalog | None = None,
    limits: ReviewLimits = ReviewLimits(),  # frozen: a safe default
    *,
    now: float | None = None,
) -> list[CheckResult]:
    """One ``weights.sku`` result per SKU with enough samples: WARN when its spread is too
    wide for one product, or its mean is far from the catalog weight."""
    ts = time.time() if now is None else now
    results = []
    for sku in sorted(table):
        s = table[sku]
        if sku == BAG_KEY or s.samples < limits.min_samples or s.mean <= 0:
            continue
        product = _product(catalog, sku)
        figures: dict[str, Any] = {"sku": sku, "n": s.samples, "mean_g": round(s.mean, 1),
                                   "sd_g": round(s.sigma, 1)}  # fmt: skip
        advice = []
        if _has_weight(product) and product is not None:
            tol = catalog_tolerance_g(product)
            deviation = s.mean - float(product.expected_weight_g or 0)
            figures |= {"catalog_g": product.expected_weight_g, "deviation_g": round(deviation, 1)}
            lim = {"sd_g": round(limits.spread_tolerances * tol, 1),
                   "deviation_g": round(limits.mean_tolerances * tol, 1)}  # fmt: skip
            if abs(deviation) > lim["deviation_g"]:
                advice.append(
                    f"learned mean {s.mean:.0f} g is {deviation:+.0f} g from the catalog's "
                    f"{product.expected_weight_g} g (limit ±{lim['deviation_g']:.0f} g): "
                    "correct the catalog weight, or check the product was re-packed"
                )
        else:
            lim = {"sd_g": round(limits.max_cv * s.mean, 1)}
        if s.sigma > lim["sd_g"]:
            advice.append(
                f"spread {s.sigma:.0f} g is wider than {lim['sd_g']:.0f} g: two products may "
                "share this SKU (variants, multipacks) or a scale misread; check the master data"
            )
        verdict = Verdict.WARN if advice else Verdict.PASS
        results.append(CheckResult("weights.sku", "expected_weights", verdict, figures, lim,
                                   "g", "; ".join(advice), ts=ts))  # fmt: skip
    return results


def suspicious(results: Iterable[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.verdict is not Verdict.PASS]


def review_summary(results: list[CheckResult], *, now: float | None = None) -> CheckResult:
    """One result for a calibration record: how many SKUs were reviewed, which look wrong."""
    bad = suspicious(results)
    skus = [str(r.figures["sku"]) for r in bad]
    listed = ", ".join(skus[:20]) + (f" and {len(skus) - 20} more" if len(skus) > 20 else "")
    return CheckResult(
        "weights.review", "expected_weights", Verdict.WARN if bad else Verdict.PASS,
        {"reviewed": len(results), "suspicious": len(bad)}, {"suspicious": 0}, "",
        f"suspicious SKUs: {listed} (sco calibrate weights suspicious)" if bad else "",
        ts=time.time() if now is None else now,
    )  # fmt: skip
