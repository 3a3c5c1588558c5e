"""Replay a JSON-lines input log through the core (``sco replay`` and ``sco demo``).

A bad line never stops a replay: it is reported with its line number and skipped, the
way a lane keeps selling when one scanner read is garbage.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.core.catalog import Catalog, load_catalog_csv
from kiosk.core.events import EventType
from kiosk.core.inputs import input_from_dict
from kiosk.core.settings import CoreSettings
from kiosk.engine import Engine
from kiosk.errors import CatalogError, InputFormatError

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = REPO_ROOT / "examples"
DEFAULT_CATALOG = EXAMPLES_DIR / "catalog.csv"


def load_catalog_file(path: str | Path, currency_exponent: int = 2) -> Catalog:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise CatalogError(f"cannot read catalog {path}: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise CatalogError(f"catalog {path} is not UTF-8 text: {err}") from err
    try:
        return load_catalog_csv(text, currency_exponent=currency_exponent)
    except CatalogError as err:
        raise CatalogError(f"{path}: {err}") from err


@dataclass
class ReplayResult:
    events: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    inputs_applied: int = 0

    @property
    def receipts(self) -> list[dict[str, Any]]:
        return [
            e["receipt"] for e in self.events if e["type"] == EventType.TRANSACTION_COMPLETED.value
        ]


def replay_lines(
    lines: Iterable[str],
    catalog: Catalog,
    settings: CoreSettings | None = None,
    data_dir: str | Path | None = None,
) -> ReplayResult:
    """Apply each input line in order; events come back as JSON-ready dicts."""
    settings = settings or CoreSettings()
    engine = Engine(catalog, settings, data_dir, new_journal_id=settings.journal_id)
    result = ReplayResult()
    try:
        for lineno, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                item = input_from_dict(json.loads(raw))
            except json.JSONDecodeError as err:
                result.problems.append(f"line {lineno}: not valid JSON ({err.msg})")
                continue
            except InputFormatError as err:
                result.problems.append(f"line {lineno}: {err}")
                continue
            result.inputs_applied += 1
            for event in engine.submit(item):
                record = event.to_dict()
                if event.type is EventType.INPUT_REJECTED:
                    # The line goes to the report, not the event: the events file must be
                    # exactly what the backend receives.
                    result.problems.append(f"line {lineno}: {record['reason']}")
                result.events.append(record)
    finally:
        engine.close()
    return result
