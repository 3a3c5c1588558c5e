"""Versioned models: ``<dir>/<name>/<version>/<file>.onnx`` with cards, one active per name.

Which version runs is chosen by configuration: ``[models] item_detector = "VERSION"`` pins one;
left empty, the version last made active with ``sco models activate`` is used (recorded in
``<dir>/active.json`` with its history, so ``sco models rollback`` can step back); with none
active, the models shipped in the repo's ``models/`` folder are the fallback. Importing this
module registers the ``[models]`` section.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kiosk.config  # noqa: F401  (built-in sections register first: a stable docs order)
from kiosk.config_schema import Field, Section, register_section
from kiosk.errors import KioskError
from kiosk.files import write_atomically
from models.cards import MODELS_DIR, ModelCard, ModelCardError, load_card

SHIPPED = "shipped"  # the version name of the models committed in models/
NAMES = ("item-detector", "produce-classifier")
_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CONFIG_KEYS = {"item-detector": "item_detector", "produce-classifier": "produce_classifier"}

MODELS_SECTION = register_section(
    Section(
        "models",
        "which trained models the lane runs, and the closed-loop dataset it may collect",
        (
            Field("dir", str, "",
                  'versioned models (DIR/<name>/<version>/); "" = <data_dir>/models'),
            Field("item_detector", str, "",
                  'detector version to run; "" = the one made active, else the shipped one'),
            Field("produce_classifier", str, "",
                  'produce classifier version; "" = the one made active, else the shipped one'),
            Field("closed_loop", bool, False,
                  "save item crops labelled by barcode reads and produce picks for retraining"),
            Field("closed_loop_dir", str, "",
                  'where the crops go; "" = <data_dir>/closed-loop'),
            Field("closed_loop_max_items", int, 5000, "most crops kept; oldest go first",
                  minimum=1, maximum=10_000_000),
            Field("closed_loop_max_mb", int, 500, "most disk the crops may use",
                  minimum=1, maximum=1_000_000),
            Field("closed_loop_max_age_days", float, 30.0, "days a crop is kept at most",
                  minimum=0.01, maximum=3650.0),
        ),
    )
)  # fmt: skip


class RegistryError(KioskError):
    """A model version is unknown, malformed, or cannot be activated."""


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    path: Path  # the fp32 .onnx
    card: ModelCard
    active: bool = False


def models_dir_from(config: Any) -> Path:
    """``[models] dir`` or ``<data_dir>/models`` of a validated config (mapping or object)."""
    section = _section(config, "models")
    if section.get("dir"):
        return Path(section["dir"])
    kiosk_sec = _section(config, "kiosk")
    return Path(kiosk_sec.get("data_dir") or "var/opensco") / "models"


def _section(config: Any, name: str) -> dict[str, Any]:
    """One section of a KioskConfig (``.sections``) or of a plain mapping of sections."""
    sections = getattr(config, "sections", config)
    value = sections.get(name, {}) if isinstance(sections, dict) else {}
    return dict(value) if isinstance(value, dict) else {}


def _check_version(version: str) -> str:
    if not _VERSION_RE.fullmatch(version) or version == SHIPPED:
        raise RegistryError(f"bad version name {version!r} (letters, digits, . _ -)")
    return version


def _pick(directory: Path, name: str, variant: str) -> tuple[Path, ModelCard] | None:
    for card_file in sorted(directory.glob("*.json")):
        try:
            card = load_card(card_file, verify=False)
        except ModelCardError:
            continue
        if card.name == name and str(card.extra.get("variant", "fp32")) == variant:
            return directory / card.onnx, card
    return None


class ModelRegistry:
    def __init__(self, root: str | Path, *, shipped_dir: str | Path = MODELS_DIR) -> None:
        self.root = Path(root)
        self.shipped_dir = Path(shipped_dir)

    # -- state -------------------------------------------------------------------------

    @property
    def _state_path(self) -> Path:
        return self.root / "active.json"

    def _state(self) -> dict[str, dict[str, Any]]:
        try:
            raw = json.loads(self._state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            raise RegistryError(f"{self._state_path}: unreadable ({err})") from None
        return raw if isinstance(raw, dict) else {}

    def _save(self, state: dict[str, dict[str, Any]]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        body = json.dumps(state, indent=2, sort_keys=True) + "\n"
        write_atomically(self._state_path, body.encode("utf-8"))

    # -- queries -----------------------------------------------------------------------

    def versions(self, name: str) -> list[str]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and _pick(p, name, "fp32"))

    def active_version(self, name: str) -> str:
        """The activated version, or ``SHIPPED``."""
        return str(self._state().get(name, {}).get("active") or SHIPPED)

    def list(self) -> list[ModelVersion]:
        out = []
        for name in sorted(set(NAMES) | {p.name for p in self.root.glob("*") if p.is_dir()}):
            active = self.active_version(name)
            for version in [SHIPPED, *self.versions(name)]:
                found = self._find(name, version, "fp32")
                if found:
                    out.append(ModelVersion(name, version, *found, active=version == active))
        return out

    def _find(self, name: str, version: str, variant: str) -> tuple[Path, ModelCard] | None:
        folder = self.shipped_dir if version == SHIPPED else self.root / name / version
        return _pick(folder, name, variant) if folder.is_dir() else None

    def resolve(self, name: str, *, variant: str = "fp32", pinned: str = "") -> Path:
        """The ``.onnx`` to run: the pinned version, else the active one, else the shipped."""
        version = pinned or self.active_version(name)
        found = self._find(name, version, variant)
        if found is None:
            raise RegistryError(f"{name} version {version!r} has no {variant} model")
        path, _ = found
        load_card(path)  # refuse a damaged file now, not on the first frame
        return path

    # -- changes -----------------------------------------------------------------------

    def install(self, onnx_paths: list[Path], version: str) -> Path:
        """Copy models (each with its card .json/.md) into ``<root>/<name>/<version>/``."""
        _check_version(version)
        cards = [load_card(p) for p in onnx_paths]
        names = {c.name for c in cards}
        if len(names) != 1:
            raise RegistryError(f"one model name per version, got {sorted(names)}")
        dest = self.root / names.pop() / version
        if dest.exists():
            raise RegistryError(f"{dest} exists: versions are never overwritten")
        tmp = dest.with_name(f".{version}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for onnx in onnx_paths:
            for suffix in (".onnx", ".json", ".md"):
                src = Path(onnx).with_suffix(suffix)
                if src.is_file():
                    shutil.copyfile(src, tmp / src.name)
        tmp.rename(dest)  # a version appears whole or not at all
        return dest

    def activate(self, name: str, version: str) -> None:
        if version != SHIPPED:
            _check_version(version)
        found = self._find(name, version, "fp32")
        if found is None:
            raise RegistryError(f"{name} has no version {version!r} (see sco models list)")
        load_card(found[0])
        state = self._state()
        entry = state.setdefault(name, {"active": SHIPPED, "history": []})
        if entry.get("active") != version:
            entry.setdefault("history", []).append(entry.get("active") or SHIPPED)
            entry["active"] = version
        self._save(state)

    def rollback(self, name: str) -> str:
        """Go back to the version active before the current one; return it."""
        state = self._state()
        entry = state.get(name)
        if not entry or not entry.get("history"):
            raise RegistryError(f"{name}: nothing to roll back to")
        entry["active"] = entry["history"].pop()
        self._save(state)
        return str(entry["active"])


def configured_model(config: Any, name: str, *, variant: str = "fp32") -> Path:
    """The model a lane with this validated config runs (see the module docstring)."""
    pinned = str(_section(config, "models").get(_CONFIG_KEYS.get(name, ""), "") or "")
    return ModelRegistry(models_dir_from(config)).resolve(name, variant=variant, pinned=pinned)
