"""Catalogs pushed by the backend: versioned, verified, written atomically, and switched
only between sessions, so a sale is never re-priced halfway and recovery after a crash
replays an open session with the catalog it started with.

    <data_dir>/catalogs/v<N>.csv   every installed version (kept for audit and replay)
    <data_dir>/catalogs/ACTIVE     the version the lane sells with
    <data_dir>/catalogs/PENDING    a verified version waiting for the current sale to end
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from kiosk.core.catalog import Catalog, load_catalog_csv
from kiosk.errors import CatalogError
from kiosk.files import write_atomically


class CatalogStore:
    def __init__(self, data_dir: str | Path, currency_exponent: int = 2) -> None:
        self.dir = Path(data_dir) / "catalogs"
        self.currency_exponent = currency_exponent

    def _read_version(self, name: str) -> int | None:
        try:
            return int((self.dir / name).read_text(encoding="utf-8").strip())
        except FileNotFoundError:
            return None
        except ValueError as err:
            raise CatalogError(f"{self.dir / name} is damaged: {err}") from err

    def _load(self, version: int) -> Catalog:
        path = self.dir / f"v{version}.csv"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise CatalogError(f"catalog version {version} missing at {path}: {err}") from err
        return load_catalog_csv(text, currency_exponent=self.currency_exponent)

    def active(self) -> tuple[int, Catalog] | None:
        version = self._read_version("ACTIVE")
        return None if version is None else (version, self._load(version))

    def pending(self) -> tuple[int, Catalog] | None:
        version = self._read_version("PENDING")
        return None if version is None else (version, self._load(version))

    def newest_version(self) -> int:
        """The newest version installed (pending or active); 0 when none."""
        versions = (self._read_version("ACTIVE"), self._read_version("PENDING"))
        return max([v for v in versions if v is not None], default=0)

    def install(self, version: int, csv_text: str, sha256_hex: str) -> Catalog:
        """Verify and store a new version as pending. Raises CatalogError, changing nothing,
        if the digest, the version or the CSV is wrong."""
        digest = hashlib.sha256(csv_text.encode("utf-8")).hexdigest()
        if digest != sha256_hex.lower():
            raise CatalogError(f"catalog v{version}: sha256 is {digest}, expected {sha256_hex}")
        newest = self.newest_version()
        if version <= newest:
            raise CatalogError(f"catalog v{version} is not newer than v{newest}")
        catalog = load_catalog_csv(csv_text, currency_exponent=self.currency_exponent)
        self.dir.mkdir(parents=True, exist_ok=True)
        write_atomically(self.dir / f"v{version}.csv", csv_text)
        write_atomically(self.dir / "PENDING", f"{version}\n")
        return catalog

    def activate(self, version: int) -> None:
        write_atomically(self.dir / "ACTIVE", f"{version}\n")
        if self._read_version("PENDING") == version:
            (self.dir / "PENDING").unlink()
