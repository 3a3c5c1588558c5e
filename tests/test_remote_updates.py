"""Catalogs and checkout rules pushed by the backend: verified, versioned, persisted,
and switched only between sales."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from kiosk.core.catalog import Catalog
from kiosk.core.inputs import AttendantCommand, BarcodeRead, PaymentResult, ShopperAction
from kiosk.core.settings import CoreSettings
from kiosk.engine import Engine
from kiosk.errors import CatalogError, ConfigError
from tests.conftest import EXAMPLES

WATER = "6902974302088"
T0 = 1_764_061_200_000


def _repriced(water_price: str) -> str:
    lines = (EXAMPLES / "catalog.csv").read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        if line.startswith("DRK-001,"):
            fields = line.split(",")
            fields[3] = water_price
            fields[13] = ""  # drop its multi-buy so the price is plain
            line = ",".join(fields)
        out.append(line)
    return "\n".join(out) + "\n"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _water_price(engine: Engine, t: int) -> int:
    events = engine.submit(BarcodeRead(t, WATER))
    added = [e for e in events if e.type.value == "item_added"]
    return int(added[0].data["line"]["unit_price_minor"])


def test_update_waits_for_the_open_sale_then_applies(
    example_catalog: Catalog, tmp_path: Path
) -> None:
    engine = Engine(example_catalog, CoreSettings(), tmp_path)
    assert _water_price(engine, T0) == 200
    csv = _repriced("2.50")
    assert engine.offer_catalog(1, csv, _sha(csv)) == "pending until the sale ends"
    assert _water_price(engine, T0 + 5000) == 200  # same sale, same prices
    engine.submit(ShopperAction(T0 + 6000, "pay", {}))
    engine.submit(PaymentResult(T0 + 7000, True, 400))
    assert engine.catalog_version == 1
    assert _water_price(engine, T0 + 9000) == 250
    engine.close()
    # A restart keeps the pushed catalog.
    again = Engine(example_catalog, CoreSettings(), tmp_path)
    assert again.catalog_version == 1 and again.checkout.session_open
    again.close()


def test_crash_with_a_pending_update_recovers_the_sale_with_its_own_prices(
    example_catalog: Catalog, tmp_path: Path
) -> None:
    engine = Engine(example_catalog, CoreSettings(), tmp_path)
    _water_price(engine, T0)
    csv = _repriced("9.90")
    engine.offer_catalog(1, csv, _sha(csv))
    engine.close()  # the lane dies here, mid-sale
    recovered = Engine(example_catalog, CoreSettings(), tmp_path)
    assert recovered.catalog_version == 0
    assert recovered.checkout.totals().total_minor == 200
    recovered.submit(ShopperAction(T0 + 6000, "pay", {}))
    recovered.submit(PaymentResult(T0 + 7000, True, 200))
    assert recovered.catalog_version == 1
    recovered.close()


@pytest.mark.parametrize(
    ("version", "tamper", "message"),
    [
        (1, "digest", "sha256"),
        (0, None, "not newer"),
        (1, "csv", "line 2"),
    ],
)
def test_bad_updates_change_nothing(
    example_catalog: Catalog, tmp_path: Path, version: int, tamper: str | None, message: str
) -> None:
    engine = Engine(example_catalog, CoreSettings(), tmp_path)
    csv = _repriced("2.50")
    digest = _sha(csv)
    if tamper == "digest":
        digest = _sha(csv + " ")
    elif tamper == "csv":
        csv = "sku,name_en,price,sold_by\nX,Thing,not-a-price,each\n"
        digest = _sha(csv)
    with pytest.raises(CatalogError, match=message):
        engine.offer_catalog(version, csv, digest)
    assert engine.catalog_version == 0
    assert not (tmp_path / "catalogs" / "PENDING").exists()
    engine.close()


def test_a_remote_setting_change_applies_between_sales_and_survives_restart(
    example_catalog: Catalog, tmp_path: Path
) -> None:
    engine = Engine(example_catalog, CoreSettings(), tmp_path)
    engine.submit(BarcodeRead(T0, WATER))
    assert engine.offer_setting("void_requires_attendant", False) == "pending until the sale ends"
    events = engine.submit(ShopperAction(T0 + 1000, "remove_item", {"line_id": 1}))
    assert [e.type.value for e in events] == ["alert_raised", "state_changed"]  # old rule
    engine.submit(ShopperAction(T0 + 2000, "cancel", {}))
    engine.submit(AttendantCommand(T0 + 3000, "cancel_transaction", "att-1"))
    assert engine.settings.void_requires_attendant is False
    engine.close()
    again = Engine(example_catalog, CoreSettings(), tmp_path)
    again.submit(BarcodeRead(T0 + 9000, WATER))
    events = again.submit(ShopperAction(T0 + 10_000, "remove_item", {"line_id": 1}))
    assert "item_voided" in [e.type.value for e in events]  # new rule, after a restart
    again.close()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("kiosk_id", "lane-99", "cannot be changed remotely"),
        ("no_such_rule", 1, "cannot be changed remotely"),
        ("same_code_timeout_ms", 10**9, "between"),
        ("void_requires_attendant", "yes", "true or false"),
    ],
)
def test_bad_setting_changes_are_refused(
    example_catalog: Catalog, tmp_path: Path, key: str, value: object, message: str
) -> None:
    engine = Engine(example_catalog, CoreSettings(), tmp_path)
    with pytest.raises(ConfigError, match=message):
        engine.offer_setting(key, value)
    assert not (tmp_path / "checkout-overrides.json").exists()
    engine.close()
