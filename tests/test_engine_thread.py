"""The engine thread keeps selling whatever its listeners or start-up throw at it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.app import Lane
from kiosk.config import parse_config_text
from kiosk.core.catalog import Catalog
from kiosk.core.events import Event
from kiosk.core.inputs import BarcodeRead
from kiosk.core.settings import CoreSettings
from kiosk.engine import Engine, EngineThread
from kiosk.errors import JournalError
from tests.conftest import EXAMPLES, wait_for

WATER, NOODLES = "6902974302088", "6900840100110"


def test_a_failing_listener_does_not_stop_the_engine(
    example_catalog: Catalog, tmp_path: Path
) -> None:
    seen: list[list[Event]] = []

    def listener(events: list[Event]) -> None:
        seen.append(events)
        if len(seen) == 1:
            raise RuntimeError("a UI bug")

    thread = EngineThread(lambda: Engine(example_catalog, CoreSettings(), tmp_path), listener)
    thread.start()
    assert thread.ready.wait(10)
    thread.put(BarcodeRead(1_000, WATER))
    thread.put(BarcodeRead(3_000, NOODLES))
    assert wait_for(lambda: len(seen) == 2)
    thread.stop()
    thread.join(10)
    assert not thread.is_alive()
    reopened = Engine(example_catalog, CoreSettings(), tmp_path)
    assert [line.sku for line in reopened.checkout.lines] == ["DRK-001", "SNK-001"]
    reopened.close()


def test_a_lane_on_a_damaged_journal_says_so_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "journal.sqlite3").write_bytes(b"\x00garbage" * 500)
    config = parse_config_text(
        f'[kiosk]\ndata_dir = "{data}"\n[catalog]\npath = "{EXAMPLES / "catalog.csv"}"\n'
    )
    lane = Lane(config)
    with pytest.raises(JournalError, match="move it aside"):
        lane.start()
