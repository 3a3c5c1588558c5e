"""Model cards: the JSON next to each ``.onnx`` that the kiosk reads, and its Markdown twin.

The kiosk never guesses what a model means: class names, input size and the file's sha256
come from the card, and a model whose bytes do not match its card is refused (a half-copied
or swapped file must not silently change what the lane detects).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kiosk.errors import KioskError
from kiosk.files import write_atomically

CARD_SCHEMA = "opensco.model-card/1"
MODELS_DIR = Path(__file__).resolve().parent


class ModelCardError(KioskError):
    """A model card is missing, malformed, or does not match its model file."""


@dataclass(frozen=True)
class ModelCard:
    name: str  # e.g. "item-detector"
    task: str  # "detect" | "classify"
    version: str  # e.g. "2026.11.25-1"
    classes: tuple[str, ...]
    input_size: tuple[int, int]  # (height, width) the model takes
    onnx: str  # file name, relative to the card
    sha256: str
    licence: str = "AGPL-3.0"
    data: str = ""  # what it was trained on
    command: str = ""  # the exact command that produced it
    metrics: dict[str, Any] = field(default_factory=dict)
    speed: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. normalisation, variant "int8"

    def to_json(self) -> str:
        body = asdict(self)
        body["classes"] = list(self.classes)
        body["input_size"] = list(self.input_size)
        return json.dumps({"schema": CARD_SCHEMA, **body}, indent=2, ensure_ascii=False) + "\n"


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def card_path_for(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


def load_card(path: str | Path, *, verify: bool = True) -> ModelCard:
    """Read a card (or the card next to an ``.onnx``); with ``verify`` check the model's sha256."""
    path = Path(path)
    if path.suffix == ".onnx":
        path = card_path_for(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelCardError(f"{path}: model card not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelCardError(f"{path}: unreadable model card ({err})") from None
    if not isinstance(raw, dict) or raw.get("schema") != CARD_SCHEMA:
        raise ModelCardError(f"{path}: not an {CARD_SCHEMA} card")
    try:
        size = raw["input_size"]
        card = ModelCard(
            name=str(raw["name"]),
            task=str(raw["task"]),
            version=str(raw["version"]),
            classes=tuple(str(c) for c in raw["classes"]),
            input_size=(int(size[0]), int(size[1])),
            onnx=str(raw["onnx"]),
            sha256=str(raw["sha256"]),
            licence=str(raw.get("licence", "")),
            data=str(raw.get("data", "")),
            command=str(raw.get("command", "")),
            metrics=dict(raw.get("metrics", {})),
            speed=dict(raw.get("speed", {})),
            extra=dict(raw.get("extra", {})),
        )
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise ModelCardError(f"{path}: malformed model card ({err!r})") from None
    if card.task not in ("detect", "classify") or not card.classes:
        raise ModelCardError(f"{path}: task must be detect or classify, with classes")
    if verify:
        model = path.parent / card.onnx
        if not model.is_file():
            raise ModelCardError(f"{path}: model file {model} is missing")
        if file_sha256(model) != card.sha256:
            raise ModelCardError(f"{model}: sha256 does not match its card (damaged or swapped)")
    return card


def save_card(card: ModelCard, directory: str | Path, markdown: str = "") -> Path:
    """Write ``<name>.json`` (and ``.md`` when given) next to the model, atomically."""
    directory = Path(directory)
    json_path = directory / Path(card.onnx).with_suffix(".json").name
    write_atomically(json_path, card.to_json().encode("utf-8"))
    if markdown:
        write_atomically(json_path.with_suffix(".md"), markdown.encode("utf-8"))
    return json_path
