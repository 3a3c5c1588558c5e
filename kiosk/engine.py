"""The engine: owns the pure core and the journal, applies inputs one at a time.

``Engine`` is synchronous and single-threaded; ``EngineThread`` wraps it with the one
input queue that camera, scale, UI and MQTT threads feed, so the core sees inputs in the
order they were queued and never needs a lock.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from kiosk.catalog_store import CatalogStore
from kiosk.core.catalog import Catalog
from kiosk.core.events import Event
from kiosk.core.inputs import Input
from kiosk.core.session import Checkout
from kiosk.core.settings import CoreSettings
from kiosk.errors import CatalogError, ConfigError
from kiosk.journal import Journal
from kiosk.settings_overrides import SettingsOverrides

logger = logging.getLogger(__name__)

JOURNAL_FILE = "journal.sqlite3"


class Engine:
    """Applies inputs to the core; with a data dir, journals them first and recovers."""

    def __init__(
        self,
        catalog: Catalog,
        settings: CoreSettings,
        data_dir: str | Path | None = None,
        *,
        new_journal_id: str | None = None,
    ) -> None:
        self.catalog = catalog
        self.catalog_version = 0  # 0 = the configured file; pushed catalogs count from 1
        self.journal = (
            Journal(Path(data_dir) / JOURNAL_FILE, new_journal_id=new_journal_id)
            if data_dir is not None
            else None
        )
        self.catalogs = (
            CatalogStore(data_dir, settings.currency_exponent) if data_dir is not None else None
        )
        if self.catalogs is not None and (active := self.catalogs.active()):
            # A catalog pushed by the backend wins over the configured file.
            self.catalog_version, self.catalog = active
        if self.journal is not None:
            settings = replace(settings, journal_id=self.journal.journal_id)
        self.overrides = SettingsOverrides(data_dir) if data_dir is not None else None
        if self.overrides is not None:
            settings = replace(settings, **self.overrides.active())
        self.settings = settings
        self.recovered_inputs = 0
        self.checkout = self._recover()
        self._activate_pending()

    def offer_catalog(self, version: int, csv_text: str, sha256_hex: str) -> str:
        """Install a pushed catalog; it takes effect now if no sale is open, else after it.
        Raises CatalogError (nothing changed) when it is not valid or not newer."""
        if self.catalogs is None:
            raise CatalogError("catalog updates need a data directory")
        self.catalogs.install(version, csv_text, sha256_hex)
        return "applied" if self._activate_pending() else "pending until the sale ends"

    def offer_setting(self, key: str, value: object) -> str:
        """Change one [checkout] rule remotely; like a catalog, it applies between sales.
        Raises ConfigError (nothing changed) for an unknown key or a bad value."""
        if self.overrides is None:
            raise ConfigError("setting changes need a data directory")
        self.overrides.stage(key, value)
        return "applied" if self._activate_pending() else "pending until the sale ends"

    def _activate_pending(self) -> bool:
        applied = self._activate_pending_settings()
        return self._activate_pending_catalog() or applied

    def _activate_pending_settings(self) -> bool:
        if self.overrides is None or self.checkout.session_open:
            return False
        pending = self.overrides.pending()
        if not pending:
            return False
        self.settings = replace(self.settings, **pending)
        self.checkout.replace_settings(self.settings)
        self.overrides.activate()
        logger.info("checkout settings changed: %s", pending)
        return True

    def _activate_pending_catalog(self) -> bool:
        if self.catalogs is None or self.checkout.session_open:
            return False
        pending = self.catalogs.pending()
        if pending is None:
            return False
        version, catalog = pending
        self.checkout.replace_catalog(catalog)
        self.catalogs.activate(version)
        self.catalog_version, self.catalog = version, catalog
        logger.info("catalog v%d active (%d products)", version, len(catalog))
        return True

    def _recover(self) -> Checkout:
        """Rebuild the core: last between-session checkpoint + inputs journaled after it."""
        if self.journal is None:
            return Checkout(self.catalog, self.settings)
        after_id, snapshot = self.journal.last_checkpoint()
        checkout = Checkout(self.catalog, self.settings, snapshot)
        count = 0
        for item in self.journal.inputs_after(after_id):
            checkout.apply(item)  # events were stored when first applied
            count += 1
        self.recovered_inputs = count
        if count:
            logger.info(
                "recovered session %s: %d inputs replayed, state %s",
                checkout.session_id,
                count,
                checkout.state,
            )
        return checkout

    def submit(self, item: Input) -> list[Event]:
        if self.journal is None:
            return self.checkout.apply(item)

        def snapshot() -> dict[str, object] | None:
            # Between sessions the core's state is small: checkpoint it, so recovery
            # never replays more than the open session.
            return None if self.checkout.session_open else self.checkout.snapshot()

        try:
            events = self.journal.record(item, self.checkout.apply, snapshot)
        except Exception:
            logger.exception("input %s failed; rebuilding the core from the journal", item)
            self.checkout = self._recover()
            raise
        try:
            self._activate_pending()
        except Exception:  # a damaged pending file must not hide a committed input's events
            logger.exception("a pending catalog or settings change could not be applied")
        return events

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()


EventListener = Callable[[list[Event]], None]


@dataclass(frozen=True)
class EngineCall:
    fn: Callable[[Engine], object]


class EngineThread(threading.Thread):
    """The one thread that owns the engine. Other threads only call ``put``."""

    def __init__(self, engine_factory: Callable[[], Engine], listener: EventListener) -> None:
        super().__init__(name="opensco-engine", daemon=True)
        self._factory = engine_factory
        self._listener = listener
        self._queue: queue.Queue[Input | EngineCall | None] = queue.Queue()
        self.ready = threading.Event()
        self.engine: Engine | None = None
        self.start_error: BaseException | None = None

    def put(self, item: Input) -> None:
        self._queue.put(item)

    def call(self, fn: Callable[[Engine], object]) -> None:
        """Run ``fn(engine)`` on the engine thread, in order with the inputs (catalog
        updates and other effects of backend commands use this)."""
        self._queue.put(EngineCall(fn))

    def stop(self) -> None:
        self._queue.put(None)

    def run(self) -> None:
        # The journal's SQLite connection must be made on the thread that uses it.
        try:
            self.engine = self._factory()
        except BaseException as err:  # a damaged journal or catalog: the starter re-raises it
            self.start_error = err
            self.ready.set()
            return
        self.ready.set()
        try:
            while (item := self._queue.get()) is not None:
                if isinstance(item, EngineCall):
                    try:
                        item.fn(self.engine)
                    except Exception:
                        logger.exception("engine call %r failed", item.fn)
                    continue
                try:
                    events = self.engine.submit(item)
                except Exception:
                    logger.error("input dropped after a failure (logged above): %s", item)
                    continue
                if events:
                    try:
                        self._listener(events)
                    except Exception:  # a UI or device bug must never stop the lane selling
                        logger.exception("event listener failed")
        finally:
            self.engine.close()
