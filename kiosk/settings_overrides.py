"""[checkout] rules changed remotely (signed config_change commands), kept in the data
directory so they survive restarts, and switched only between sales like catalogs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kiosk.config_schema import SECTIONS, check_value
from kiosk.errors import ConfigError
from kiosk.files import write_atomically

# Identity fields come from the lane's own config and journal, never from a command.
NOT_REMOTE = frozenset({"kiosk_id", "store_id", "journal_id"})


class SettingsOverrides:
    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / "checkout-overrides.json"

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"active": {}, "pending": {}}
        except (OSError, ValueError) as err:
            raise ConfigError(f"{self.path} is damaged: {err}") from err
        return {"active": dict(data.get("active", {})), "pending": dict(data.get("pending", {}))}

    def active(self) -> dict[str, Any]:
        return _as_settings(self._read()["active"])

    def pending(self) -> dict[str, Any]:
        return _as_settings(self._read()["pending"])

    def stage(self, key: str, value: object) -> None:
        import kiosk.config  # noqa: F401  (registers the [checkout] section)

        fields = {f.name: f for f in SECTIONS["checkout"].fields}
        if key not in fields or key in NOT_REMOTE:
            raise ConfigError(f"checkout.{key} cannot be changed remotely")
        checked, problem = check_value(fields[key], value)
        if problem:
            raise ConfigError(f"checkout.{key}: {problem}")
        data = self._read()
        data["pending"][key] = list(checked) if isinstance(checked, tuple) else checked
        write_atomically(self.path, json.dumps(data, sort_keys=True))

    def activate(self) -> None:
        data = self._read()
        data["active"].update(data["pending"])
        data["pending"] = {}
        write_atomically(self.path, json.dumps(data, sort_keys=True))


def _as_settings(values: dict[str, Any]) -> dict[str, Any]:
    # JSON has no tuples; CoreSettings keeps its lists as tuples.
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
