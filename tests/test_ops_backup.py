"""Backup and restore of a running lane: a real Lane journaling a real sale into SQLite,
backed up mid-sale with SQLite's online backup, restored to a new data dir where a new Lane
recovers the same cart; damaged backups, live data dirs, rotation and the scheduler."""

from __future__ import annotations

import os
import queue
import re
import shutil
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest

from kiosk.app import Lane
from kiosk.cli import main as sco
from kiosk.config import KioskConfig, load_config, parse_config_text
from kiosk.core.events import Event
from kiosk.core.inputs import BarcodeRead, ShopperAction
from kiosk.engine import Engine
from kiosk.ops.backup import BackupError, make_backup, render_config, verify_backup
from kiosk.ops.backup_schedule import BackupScheduler, backup_name, list_backups, prune_backups
from kiosk.ops.restore import LaneRunningError, restore_backup
from tests.conftest import EXAMPLES, wait_for

WATER, COKE, TEA = "6902974302088", "6902949100183", "6902279010107"
JOURNAL_MEMBER = "data/journal.sqlite3"


def write_config(path: Path, data_dir: Path, catalog: Path, extra: str = "") -> Path:
    path.write_text(
        f'[kiosk]\nid = "lane-07"\nstore = "store-3"\ndata_dir = "{data_dir}"\n'
        f'[catalog]\npath = "{catalog}"\n{extra}',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "etc" / "catalog.csv"
    path.parent.mkdir()
    shutil.copy(EXAMPLES / "catalog.csv", path)
    return path


def cart_of(lane: Lane) -> dict[str, Any]:
    """The lane's cart as its engine thread sees it (read on that thread, in input order)."""
    answer: queue.Queue[dict[str, Any]] = queue.Queue()

    def read(engine: Engine) -> None:
        checkout = engine.checkout
        answer.put(
            {
                "session_id": checkout.session_id,
                "state": checkout.state.value,
                "seq": checkout.seq,
                "lines": [line.to_dict() for line in checkout.lines],
                "totals": checkout.totals().summary(),
            }
        )

    lane.engine_thread.call(read)
    return answer.get(timeout=30)


def outbox_of(data_dir: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data_dir / "journal.sqlite3") as db:
        return db.execute("SELECT seq, event_id, type, payload, sent_at_ms FROM outbox").fetchall()


def open_sale(lane: Lane, events: list[Event]) -> None:
    """A sale with several lines, a repeat scan and a multibuy promotion, left open."""
    now = lane.clock
    lane.put(ShopperAction(now(), "start", {"language": "en"}))
    for code in (WATER, COKE, WATER, TEA, COKE):
        lane.put(BarcodeRead(now(), code, "EAN13"))
        count = sum(e.type.value == "item_added" for e in events)
        lane.put(BarcodeRead(now(), code, "EAN13"))  # a double read: counted once
        assert wait_for(lambda c=count: sum(e.type.value == "item_added" for e in events) > c)


def test_a_backup_of_a_running_lane_mid_sale_restores_the_same_cart(
    tmp_path: Path, catalog: Path
) -> None:
    config_path = write_config(tmp_path / "etc" / "lane.toml", tmp_path / "data", catalog)
    # A pushed catalog, a remote rule change and a calibration record travel too.
    (tmp_path / "data" / "calibration").mkdir(parents=True)
    (tmp_path / "data" / "calibration" / "r1.json").write_text('{"record": 1}')
    (tmp_path / "data" / "calibration.toml").write_text("[devices]\n")
    events: list[Event] = []
    lane = Lane(load_config(config_path), on_events=events.extend)
    lane.start()
    try:
        open_sale(lane, events)
        before = cart_of(lane)
        result = make_backup(tmp_path / "b.sco-backup.zip", load_config(config_path), config_path)
        after = cart_of(lane)
        # Restoring over the live data dir is refused, and it is left as it was.
        with pytest.raises(LaneRunningError, match=r"journal\.sqlite3 open"):
            restore_backup(result.path, config_path)
        assert (tmp_path / "data" / "journal.sqlite3").exists()
    finally:
        lane.stop()
    assert before == after  # the lane kept ticking; the sale did not change meanwhile
    manifest = result.manifest
    assert len(before["lines"]) >= 3 and before["totals"]["total_minor"] > 0
    assert manifest["kiosk_id"] == "lane-07" and manifest["software_version"]
    assert {k: manifest["cart"][k] for k in before} == before
    members = set(manifest["members"])
    assert {JOURNAL_MEMBER, "config/lane.toml", "catalog/catalog.csv"} <= members
    assert {"data/calibration/r1.json", "data/calibration.toml"} <= members
    backed_up_outbox = outbox_of(tmp_path / "data")
    assert manifest["journal"]["outbox_rows"] == len(backed_up_outbox) > 0

    # A new machine: a config naming a new data dir; the restore fills it.
    new_config = write_config(tmp_path / "new.toml", tmp_path / "data2", catalog)
    report = restore_backup(result.path, new_config)
    assert report.data_dir == tmp_path / "data2" and report.moved_aside is None
    assert outbox_of(tmp_path / "data2") == backed_up_outbox  # outbox intact, unsent too
    assert (tmp_path / "data2" / "calibration" / "r1.json").read_text() == '{"record": 1}'
    assert not list(tmp_path.glob(".data2.restoring-*"))

    events2: list[Event] = []
    lane2 = Lane(load_config(new_config), on_events=events2.extend)
    lane2.start()
    try:
        assert cart_of(lane2) == before  # same lines, quantities, totals, session and seq
        lane2.put(BarcodeRead(lane2.clock(), TEA, "EAN13"))
        assert wait_for(lambda: any(e.type.value == "item_added" for e in events2))
    finally:
        lane2.stop()
    added = next(e for e in events2 if e.type.value == "item_added")
    assert added.seq == before["seq"] + 1  # the event stream goes on without a gap


def test_a_flipped_byte_is_refused_and_names_the_member(tmp_path: Path, catalog: Path) -> None:
    config_path = write_config(tmp_path / "lane.toml", tmp_path / "data", catalog)
    engine = Engine(_catalog(catalog), load_config(config_path).core_settings(), tmp_path / "data")
    engine.submit(BarcodeRead(1_000, WATER, "EAN13"))
    engine.close()
    good = make_backup(tmp_path / "good.zip", load_config(config_path), config_path).path
    raw = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        info = archive.getinfo(JOURNAL_MEMBER)
    # Local header: 30 bytes + name + extra, then the member's compressed data.
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0x55
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(raw))
    target = write_config(tmp_path / "new.toml", tmp_path / "restored", catalog)
    with pytest.raises(BackupError, match=f"member {re.escape(JOURNAL_MEMBER)} is damaged"):
        restore_backup(bad, target)
    assert not (tmp_path / "restored").exists()
    assert sco(["restore", str(bad), "--config", str(target)]) == 2

    # A member swapped for other bytes (a valid zip, a stale manifest): the sha256 says so.
    swapped = tmp_path / "swapped.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(swapped, "w") as dst:
        for item in src.infolist():
            body = src.read(item)
            if item.filename == "catalog/catalog.csv":
                body = body.replace(b"2.00", b"0.02", 1)
            dst.writestr(item, body)
    with pytest.raises(BackupError, match=r"member catalog/catalog\.csv is damaged: sha256"):
        verify_backup(swapped)
    assert not (tmp_path / "restored").exists()


def _catalog(path: Path) -> Any:
    from kiosk.replay import load_catalog_file

    return load_catalog_file(path)


def test_restore_over_a_stopped_lane_keeps_the_old_data_dir_and_force_overrides_a_live_one(
    tmp_path: Path, catalog: Path
) -> None:
    config_path = write_config(tmp_path / "lane.toml", tmp_path / "data", catalog)
    config = load_config(config_path)
    engine = Engine(_catalog(catalog), config.core_settings(), tmp_path / "data")
    engine.submit(ShopperAction(1_000, "start", {"language": "en"}))
    engine.submit(BarcodeRead(2_000, WATER, "EAN13"))
    backup = make_backup(tmp_path / "b.zip", config, config_path).path
    engine.submit(BarcodeRead(9_000, COKE, "EAN13"))  # after the backup: not in it
    # The journal is open in this process: refused, then --force restores anyway.
    with pytest.raises(LaneRunningError):
        restore_backup(backup, config_path)
    assert sco(["restore", str(backup), "--config", str(config_path)]) == 2
    report = restore_backup(backup, config_path, force=True)
    engine.close()
    assert report.moved_aside is not None and (report.moved_aside / "journal.sqlite3").exists()
    restored = Engine(_catalog(catalog), config.core_settings(), tmp_path / "data")
    try:
        assert [line.sku for line in restored.checkout.lines] == ["DRK-001"]
    finally:
        restored.close()


def test_a_bare_machine_gets_the_backups_config_and_catalog(tmp_path: Path, catalog: Path) -> None:
    config_path = write_config(tmp_path / "etc" / "lane.toml", tmp_path / "data", catalog)
    Engine(_catalog(catalog), load_config(config_path).core_settings(), tmp_path / "data").close()
    backup = make_backup(tmp_path / "b.zip", load_config(config_path), config_path).path
    shutil.rmtree(tmp_path / "data")
    original = config_path.read_bytes()
    config_path.unlink()
    catalog.unlink()
    assert sco(["restore", str(backup), "--config", str(config_path)]) == 0
    assert config_path.read_bytes() == original
    assert catalog.read_bytes() == (EXAMPLES / "catalog.csv").read_bytes()
    assert (tmp_path / "data" / "journal.sqlite3").exists()


def test_shopper_images_private_keys_and_logs_stay_out(tmp_path: Path, catalog: Path) -> None:
    data = tmp_path / "data"
    config_path = write_config(tmp_path / "lane.toml", data, catalog)
    Engine(_catalog(catalog), load_config(config_path).core_settings(), data).close()
    for name, body in {
        "snapshots/s1.jpg": b"\xff\xd8\xff face",
        "snapshots/s1.json": b"{}",
        "evidence/e1.json": b"{}",
        "crop.png": b"\x89PNG",
        "catalogs/signing.pem": b"-----BEGIN PRIVATE KEY-----\nAAAA\n",
        "kiosk.log": b"log",
    }.items():
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_bytes(body)
    with sqlite3.connect(data / "commands.sqlite3") as db:  # every SQLite file goes in
        db.execute("CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT)")
        db.execute("INSERT INTO audit (what) VALUES ('lock_lane')")
    result = make_backup(tmp_path / "b.zip", load_config(config_path), config_path)
    members = set(result.manifest["members"])
    assert not any("snapshots" in m or "evidence" in m or m.endswith((".jpg", ".png"))
                   for m in members)  # fmt: skip
    assert "data/catalogs/signing.pem" not in members and "data/kiosk.log" not in members
    assert "data/commands.sqlite3" in members
    excluded = result.manifest["excluded"]
    assert excluded["images"] == 4
    assert excluded["private_keys"] == ["catalogs/signing.pem"]
    assert excluded["other"] == ["kiosk.log"]
    with zipfile.ZipFile(result.path) as archive:
        assert b"PRIVATE KEY" not in b"".join(archive.read(n) for n in archive.namelist())


def test_rotation_keeps_exactly_n_and_touches_nothing_else(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    names = [backup_name("lane-07", 1_700_000_000 + i * 3600) for i in range(6)]
    for name in names:
        (folder / name).write_bytes(b"x")
    others = ["notes.txt", backup_name("lane-07b", 1_700_000_000), "lane-07-x.sco-backup.zip"]
    for name in others:
        (folder / name).write_bytes(b"y")
    deleted = prune_backups(folder, "lane-07", 3)
    assert [p.name for p in deleted] == names[:3]
    assert [p.name for p in list_backups(folder, "lane-07")] == names[3:]
    assert all((folder / name).exists() for name in others)
    assert prune_backups(folder, "lane-07", 3) == []
    with pytest.raises(ValueError):
        prune_backups(folder, "lane-07", 0)


def test_the_scheduler_backs_up_on_time_and_rotates(tmp_path: Path, catalog: Path) -> None:
    config_path = write_config(tmp_path / "lane.toml", tmp_path / "data", catalog)
    config = load_config(config_path)
    lane = Lane(config)
    lane.start()
    scheduler = BackupScheduler(config, tmp_path / "backups", every_s=0.3, keep=2)
    scheduler.start()
    try:
        assert wait_for(lambda: scheduler.made >= 4, 60), scheduler.health()
    finally:
        scheduler.stop()
        lane.stop()
    kept = list_backups(tmp_path / "backups", "lane-07")
    assert len(kept) == 2 and scheduler.failures == 0
    assert [p.name for p in (tmp_path / "backups").iterdir()] != []
    assert not list((tmp_path / "backups").glob("*.partial"))
    for path in kept:
        assert verify_backup(path)["kiosk_id"] == "lane-07"


def test_the_lane_starts_its_backups_from_ops_and_the_config_renders_back(
    tmp_path: Path, catalog: Path
) -> None:
    extra = f'[ops]\nbackup_dir = "{tmp_path / "backups"}"\nbackup_keep = 3\n'
    config_path = write_config(tmp_path / "lane.toml", tmp_path / "data", catalog, extra)
    lane = Lane(load_config(config_path))
    lane.start()
    try:  # none yet: the first one is due at once
        assert wait_for(lambda: list_backups(tmp_path / "backups", "lane-07"), 30)
        assert wait_for(lambda: lane.backups.made == 1, 30)
    finally:
        lane.stop()
    (path,) = list_backups(tmp_path / "backups", "lane-07")
    manifest = verify_backup(path)
    assert manifest["config"]["rendered"] is True
    with zipfile.ZipFile(path) as archive:
        text = archive.read(manifest["config"]["member"]).decode()
    assert "backup_keep = 3" in text
    again: KioskConfig = parse_config_text(text)
    assert again.sections == load_config(config_path).sections
    assert render_config(again) == text


def test_the_cli_backs_up_lists_prunes_and_verifies(
    tmp_path: Path, catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "backups"
    extra = f'[ops]\nbackup_dir = "{folder}"\nbackup_keep = 2\n'
    config_path = write_config(tmp_path / "lane.toml", tmp_path / "data", catalog, extra)
    assert sco(["backup", str(folder / "x.zip"), "--config", str(config_path)]) == 2
    assert "no journal" in capsys.readouterr().err
    Engine(_catalog(catalog), load_config(config_path).core_settings(), tmp_path / "data").close()
    for i in range(3):
        name = backup_name("lane-07", 1_700_000_000 + i)
        assert sco(["backup", str(folder / name), "--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    assert "no sale open" in out and "left out: 0 image(s)" in out
    assert sco(["backup", "prune", "--config", str(config_path)]) == 0
    assert len(list_backups(folder, "lane-07")) == 2
    assert capsys.readouterr().out.count("deleted ") == 1
    assert sco(["backup", "list", "--config", str(config_path)]) == 0
    assert capsys.readouterr().out.count(".sco-backup.zip") == 2
    newest = list_backups(folder, "lane-07")[-1]
    assert sco(["backup", "verify", str(newest)]) == 0
    assert "OK" in capsys.readouterr().out
    os.truncate(newest, newest.stat().st_size // 2)
    assert sco(["backup", "verify", str(newest)]) == 2
    assert "damaged" in capsys.readouterr().err


def test_journal_retention_drops_only_old_inputs_before_the_checkpoint(
    tmp_path: Path, catalog: Path
) -> None:
    from kiosk.core.inputs import Tick
    from kiosk.journal import INPUT_RETENTION_MS

    day = 24 * 3_600_000
    rules = "[checkout]\ncancel_requires_attendant = false\n"
    config = load_config(write_config(tmp_path / "lane.toml", tmp_path / "data", catalog, rules))
    engine = Engine(_catalog(catalog), config.core_settings(), tmp_path / "data")
    for i in range(5):  # an idle lane: every input is checkpointed
        engine.submit(Tick(i * 1000))
    assert engine.journal is not None and engine.journal.inputs_pruned == 0
    later = INPUT_RETENTION_MS + 2 * day
    engine.submit(ShopperAction(later - day, "start", {"language": "en"}))
    engine.submit(BarcodeRead(later - day + 10, WATER, "EAN13"))  # an open sale, a day old
    engine.submit(Tick(later))  # no checkpoint while the sale is open: nothing pruned yet
    assert engine.journal.inputs_pruned == 0
    cart = [line.to_dict() for line in engine.checkout.lines]
    engine.close()
    with sqlite3.connect(tmp_path / "data" / "journal.sqlite3") as db:
        rows_before = db.execute("SELECT COUNT(*) FROM inputs").fetchone()[0]
    restarted = Engine(_catalog(catalog), config.core_settings(), tmp_path / "data")
    assert [line.to_dict() for line in restarted.checkout.lines] == cart
    restarted.submit(ShopperAction(later + 1000, "cancel", {}))
    restarted.submit(Tick(later + 2000))
    assert not restarted.checkout.session_open
    restarted.close()
    with sqlite3.connect(tmp_path / "data" / "journal.sqlite3") as db:
        kept = [r[0] for r in db.execute("SELECT ts_ms FROM inputs ORDER BY id")]
        after_id = db.execute("SELECT after_input_id FROM checkpoints").fetchone()[0]
        last_id = db.execute("SELECT MAX(id) FROM inputs").fetchone()[0]
    assert rows_before == 8
    # The week-old idle ticks are gone; the day-old sale's inputs stay (inside the window).
    assert min(kept) >= later - day and len(kept) == 5
    assert last_id >= after_id  # recovery's anchor row is kept
