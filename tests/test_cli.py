"""The `sco` command as a technician uses it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, SCO


def sco(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SCO, *args], capture_output=True, text=True, timeout=60)


def test_help_lists_every_subcommand() -> None:
    proc = sco("--help")
    assert proc.returncode == 0
    for command in ("demo", "replay", "engine", "barcode", "catalog", "config"):
        assert command in proc.stdout


@pytest.mark.parametrize(("lang", "total_label"), [("en", "TOTAL CNY"), ("zh", "合计 CNY")])
def test_demo_replay_prints_the_receipt(lang: str, total_label: str) -> None:
    proc = sco("demo", "--replay", "--lang", lang)
    assert proc.returncode == 0, proc.stderr
    total_line = next(x for x in proc.stdout.splitlines() if x.startswith(total_label))
    assert total_line.endswith("17.90")


@pytest.mark.parametrize(
    ("code", "expected", "status"),
    [
        ("4006381333931", "gtin=04006381333931", 0),
        ("04252614", "gtin=00042100005264", 0),
        ("94011", "organic=True", 0),
        ("4006381333932", "INVALID: ", 2),
    ],
)
def test_barcode_tool(code: str, expected: str, status: int) -> None:
    proc = sco("barcode", code)
    assert proc.returncode == status
    assert expected in proc.stdout


def test_catalog_check_ok_and_broken(tmp_path: Path) -> None:
    ok = sco("catalog", "check", str(EXAMPLES / "catalog.csv"))
    assert ok.returncode == 0 and "OK" in ok.stdout
    broken = tmp_path / "broken.csv"
    broken.write_text("sku,name_en,price,sold_by\nA,Apple,abc,each\n", encoding="utf-8")
    bad = sco("catalog", "check", str(broken))
    assert bad.returncode == 2
    assert "line 2" in bad.stderr and "Traceback" not in bad.stderr


def test_config_check_names_the_problem(tmp_path: Path) -> None:
    good = sco("config", "check", str(EXAMPLES / "kiosk.toml"))
    assert good.returncode == 0, good.stdout + good.stderr
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text("[checkout]\nsame_code_timout_ms = 500\n", encoding="utf-8")
    bad = sco("config", "check", str(bad_file))
    assert bad.returncode == 2
    assert "same_code_timeout_ms" in bad.stdout  # the suggestion


def test_engine_rejects_garbage_on_stdin_and_keeps_going(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*SCO, "engine", "--data-dir", str(tmp_path)],
        input='not json\n{"t": 1, "type": "barcode", "data": "4006381333931"}\n',
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert "stdin line 1" in proc.stderr
    assert '"type":"item_added"' in proc.stdout


@pytest.mark.parametrize("garbage", [b"\x00\xff" * 3000, b"SQLite format 3\x00 but not really"])
def test_engine_refuses_a_corrupt_journal_with_a_clear_message(
    tmp_path: Path, garbage: bytes
) -> None:
    (tmp_path / "journal.sqlite3").write_bytes(garbage)
    proc = subprocess.run(
        [*SCO, "engine", "--data-dir", str(tmp_path)],
        input='{"t": 1, "type": "tick"}\n',
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "cannot open journal" in proc.stderr and "move it aside" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "journal.sqlite3").read_bytes() == garbage  # evidence left untouched
