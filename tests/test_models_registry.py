"""Versioned models: install, activate, roll back, config pin, shipped fallback, [models]."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.cards import ModelCard, file_sha256, save_card
from models.registry import SHIPPED, ModelRegistry, RegistryError, configured_model


def make_model(folder: Path, version: str, *, name: str = "item-detector", variant: str = "fp32",
               marker: float = 1.0) -> Path:  # fmt: skip
    """A real (tiny) ONNX graph with its card; ``marker`` makes each version's bytes differ."""
    import onnx
    from onnx import TensorProto, helper

    folder.mkdir(parents=True, exist_ok=True)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    k = helper.make_tensor("k", TensorProto.FLOAT, [1], [marker])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "k"], ["y"])], "g", [x], [y], [k])
    stem = name if variant == "fp32" else f"{name}-{variant}"
    path = folder / f"{stem}.onnx"
    onnx.save(helper.make_model(graph), str(path))
    card = ModelCard(name=name, task="detect", version=version, classes=("item", "hand", "bag"),
                     input_size=(8, 8), onnx=path.name, sha256=file_sha256(path),
                     extra={"variant": variant})  # fmt: skip
    save_card(card, folder, f"# {name} {version}\n")
    return path


@pytest.fixture
def reg(tmp_path: Path) -> ModelRegistry:
    make_model(tmp_path / "shipped", "s1")
    make_model(tmp_path / "shipped", "s1", variant="int8")
    return ModelRegistry(tmp_path / "models", shipped_dir=tmp_path / "shipped")


def test_shipped_model_is_the_fallback(reg: ModelRegistry, tmp_path: Path) -> None:
    assert reg.active_version("item-detector") == SHIPPED
    assert reg.resolve("item-detector") == tmp_path / "shipped" / "item-detector.onnx"
    assert reg.resolve("item-detector", variant="int8").name == "item-detector-int8.onnx"


def test_install_activate_rollback(reg: ModelRegistry, tmp_path: Path) -> None:
    for i, v in enumerate(("v1", "v2")):
        src = make_model(tmp_path / "build" / v, v, marker=2.0 + i)
        make_model(tmp_path / "build" / v, v, variant="int8", marker=5.0 + i)
        reg.install([src, src.with_name("item-detector-int8.onnx")], v)
    assert reg.versions("item-detector") == ["v1", "v2"]
    with pytest.raises(RegistryError):  # versions are immutable
        reg.install([tmp_path / "build" / "v1" / "item-detector.onnx"], "v1")

    reg.activate("item-detector", "v1")
    reg.activate("item-detector", "v2")
    assert reg.resolve("item-detector") == tmp_path / "models/item-detector/v2/item-detector.onnx"
    assert reg.resolve("item-detector", variant="int8").parent.name == "v2"
    listed = {(m.version, m.active) for m in reg.list() if m.name == "item-detector"}
    assert listed == {(SHIPPED, False), ("v1", False), ("v2", True)}

    assert reg.rollback("item-detector") == "v1"
    assert reg.resolve("item-detector").parent.name == "v1"
    assert reg.rollback("item-detector") == SHIPPED
    assert reg.resolve("item-detector").parent == tmp_path / "shipped"
    with pytest.raises(RegistryError, match="nothing to roll back"):
        reg.rollback("item-detector")


def test_unknown_or_damaged_versions_are_refused(reg: ModelRegistry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError):
        reg.activate("item-detector", "nope")
    with pytest.raises(RegistryError):
        reg.install([make_model(tmp_path / "b", "x")], "../escape")
    reg.install([make_model(tmp_path / "b", "v3")], "v3")
    reg.activate("item-detector", "v3")
    (tmp_path / "models/item-detector/v3/item-detector.onnx").write_bytes(b"swapped")
    with pytest.raises(Exception, match="sha256"):
        reg.resolve("item-detector")


def test_config_pins_a_version_over_the_active_one(tmp_path: Path) -> None:
    import models.registry as registry
    from kiosk.config import parse_config_text

    models_dir = tmp_path / "m"
    shipped = registry.MODELS_DIR
    reg = ModelRegistry(models_dir, shipped_dir=shipped)
    for v in ("v1", "v2"):
        reg.install([make_model(tmp_path / v, v, marker=10.0 + int(v[1:]))], v)
    reg.activate("item-detector", "v2")
    cfg = parse_config_text(f'[models]\ndir = "{models_dir}"\nitem_detector = "v1"\n')
    assert configured_model(cfg, "item-detector").parent.name == "v1"
    cfg = parse_config_text(f'[models]\ndir = "{models_dir}"\n')
    assert configured_model(cfg, "item-detector").parent.name == "v2"


def test_models_section_validates() -> None:
    import models.registry  # noqa: F401  (registers [models])
    from kiosk.config import parse_config_text
    from kiosk.errors import ConfigError

    cfg = parse_config_text("[models]\nclosed_loop = true\nclosed_loop_max_items = 10\n")
    assert cfg.sections["models"]["closed_loop"] is True
    with pytest.raises(ConfigError):
        parse_config_text("[models]\nclosed_loop_max_items = 0\n")
