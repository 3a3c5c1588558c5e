"""The learned expected-weights table: exported from a real lane's checkpoint, imported back
so the lane uses it on its next start (never over an open sale), and reviewed."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from calibration.lane_journal import LaneBusyError, read_checkpoint
from calibration.results import Verdict
from calibration.weights import (
    WeightsImportError,
    export_csv,
    import_table,
    learned_table,
    parse_csv,
    review,
    review_summary,
    suspicious,
)
from kiosk.cli import main
from kiosk.core.inputs import input_from_dict
from kiosk.core.security.weights import RunningStats
from kiosk.core.settings import CoreSettings
from kiosk.engine import Engine
from kiosk.replay import DEFAULT_CATALOG, load_catalog_file
from tests.conftest import SESSIONS

CATALOG = load_catalog_file(DEFAULT_CATALOG)


def lane(data_dir: Path, session: str = "security-lane.jsonl", lines: int | None = None) -> None:
    engine = Engine(CATALOG, CoreSettings(), data_dir)
    try:
        raw = [x for x in (SESSIONS / session).read_text().splitlines() if x.strip()]
        for line in raw[:lines]:
            engine.submit(input_from_dict(json.loads(line)))
    finally:
        engine.close()


def stats(values: list[float], rejected: int = 0) -> RunningStats:
    s = RunningStats()
    for v in values:
        s.add(v)
    s.rejected = rejected
    return s


def test_export_import_round_trip_and_the_lane_uses_it(tmp_path: Path) -> None:
    lane(tmp_path)
    learned = learned_table(tmp_path)
    assert "DRK-001" in learned  # the real lane learned from its sales
    text = export_csv(learned, CATALOG)
    rows = {r["sku"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["DRK-001"]["catalog_g"] == "572" and rows["DRK-001"]["name"]

    wanted = {**parse_csv(text), "DRK-005": stats([951, 960, 958, 962, 955], rejected=1)}
    backup = import_table(tmp_path, wanted)
    assert parse_csv(backup.read_text()).keys() == learned.keys()  # the old table is kept
    engine = Engine(CATALOG, CoreSettings(), tmp_path)
    try:
        book = engine.checkout.security.book.stats
        assert book.keys() == wanted.keys()
        for sku, s in wanted.items():
            assert book[sku].samples == s.samples and book[sku].rejected == s.rejected
            assert book[sku].mean == pytest.approx(s.mean, abs=1e-3)
            assert book[sku].sigma == pytest.approx(s.sigma, abs=1e-3)
    finally:
        engine.close()
    assert export_csv(learned_table(tmp_path), CATALOG) == export_csv(wanted, CATALOG)


def test_merge_keeps_the_other_skus(tmp_path: Path) -> None:
    lane(tmp_path)
    before = learned_table(tmp_path)
    import_table(tmp_path, {"DRK-005": stats([960, 961, 959])}, merge=True)
    after = learned_table(tmp_path)
    assert after.keys() == before.keys() | {"DRK-005"}


def test_a_bad_csv_is_refused_whole_with_every_problem(tmp_path: Path) -> None:
    text = (
        "\ufeffsku,n,mean_g,sd_g,weight\nDRK-001,5,570,3,5\nDRK-003,2.5,348,1,\n"
        ",3,100,1,\nDRK-004,4,-3,1,\nDRK-001,3,570,2,\nDRK-006,4,abc,1,\n"
        "DRK-007,4,214,nan,\nDRK-008,4,262,1,999\n"
    )
    with pytest.raises(WeightsImportError) as caught:
        parse_csv(text, "bad.csv")
    problems = caught.value.problems
    assert len(problems) == 7
    assert problems[0].startswith("line 3: n 2.5")
    assert any("appears twice" in p for p in problems) and any("'abc'" in p for p in problems)
    with pytest.raises(WeightsImportError, match="header lacks column"):
        parse_csv("sku,mean\nA,1\n")
    assert parse_csv(text.splitlines()[0] + "\n" + text.splitlines()[1] + "\n").keys() == {
        "DRK-001"
    }


def test_import_waits_for_the_open_sale(tmp_path: Path) -> None:
    lane(tmp_path, "plain-basket.jsonl", lines=3)
    snapshot = read_checkpoint(tmp_path)
    with pytest.raises(LaneBusyError, match="a sale is open"):
        import_table(tmp_path, {"DRK-001": stats([570, 572, 575])})
    assert read_checkpoint(tmp_path) == snapshot  # nothing changed


def test_review_flags_wide_spread_and_a_mean_far_from_the_catalog() -> None:
    table = {
        "DRK-001": stats([570, 572, 574, 571, 573, 572]),  # catalog 572 ± 15: fine
        "DRK-003": stats([348, 300, 400, 350, 330, 380]),  # catalog 348 ± 10: sd ~31 g
        "DRK-004": stats([402, 404, 401, 403, 400]),  # 352 g ± max(10, 3 %): 50 g heavy
        "DRK-006": stats([262, 262]),  # too few samples to say anything
        "ZZZ-999": stats([100, 150, 60, 120, 90]),  # not in the catalog: cv ~30 %
        "__bag__": stats([30, 60, 90, 20, 40]),  # the own-bag weight is not a product
    }
    results = review(table, CATALOG, now=1.0)
    by_sku = {r.figures["sku"]: r for r in results}
    assert set(by_sku) == {"DRK-001", "DRK-003", "DRK-004", "ZZZ-999"}
    assert by_sku["DRK-001"].verdict is Verdict.PASS
    assert by_sku["DRK-003"].verdict is Verdict.WARN and "spread" in by_sku["DRK-003"].advice
    assert by_sku["DRK-004"].figures["deviation_g"] == 50.0
    assert "catalog" in by_sku["DRK-004"].advice and by_sku["DRK-004"].limits["deviation_g"] == 21.1
    assert by_sku["ZZZ-999"].verdict is Verdict.WARN
    assert [r.figures["sku"] for r in suspicious(results)] == ["DRK-003", "DRK-004", "ZZZ-999"]
    summary = review_summary(results, now=1.0)
    assert summary.verdict is Verdict.WARN and summary.figures["suspicious"] == 3
    assert "DRK-003, DRK-004, ZZZ-999" in summary.advice


def test_cli_export_import_suspicious(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    lane(data)
    out = tmp_path / "weights.csv"
    base = ["--data-dir", str(data)]
    assert main(["calibrate", "weights", "export", str(out), *base]) == 0
    assert main(["calibrate", "weights", "import", str(out), "--dry-run", *base]) == 0
    assert "nothing written" in capsys.readouterr().out
    out.write_text(out.read_text() + "NEW-1,new,6,100,40,6,0,,\n")
    assert main(["calibrate", "weights", "import", str(out), *base]) == 0
    printed = capsys.readouterr().out
    assert "not in the catalog (kept): NEW-1" in printed and "previous table is in" in printed
    assert main(["calibrate", "weights", "suspicious", *base]) == 1
    assert "NEW-1: n=6 mean 100.0 g sd 40.0 g" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("sku,n\nX,1\n")
    assert main(["calibrate", "weights", "import", str(bad), *base]) == 2
