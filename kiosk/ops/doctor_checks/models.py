"""Model files: the detector and produce classifier the lane would load, against the sha256
on their cards (a half-copied or swapped file must not change what the lane sees)."""

from __future__ import annotations

from pathlib import Path

from kiosk.errors import KioskError
from kiosk.ops.doctor_checks.common import CheckResult, DoctorContext, Level, result


def advice(ctx: DoctorContext, name: str, explicit: bool) -> str:
    """How to get a good copy back: which config key or command picks the model."""
    back = (f"`sco models activate {name} shipped --config {ctx.config_path}` goes back to the "
            "model that came with the software; or copy the version's .onnx and its card .json "
            "again from the release.")  # fmt: skip
    if explicit:
        return (
            "[vision] detector_model names this file: copy it and its card .json again "
            'from the release, or set detector_model = "" to run the registry\'s model.'
        )
    return "Reinstall the model: " + back


def check_models(ctx: DoctorContext) -> list[CheckResult]:
    assert ctx.config is not None
    sections = ctx.config.sections
    vision = sections["vision"]
    variant = "int8" if vision["detector_int8"] else "fp32"
    detector = str(vision["detector_model"])
    out = [_one(ctx, "item-detector", Path(detector) if detector else None, variant),
           _one(ctx, "produce-classifier", None, "fp32")]  # fmt: skip
    return out


def _one(ctx: DoctorContext, name: str, explicit: Path | None, variant: str) -> CheckResult:
    from models.cards import ModelCardError, card_path_for, file_sha256, load_card
    from models.registry import configured_model

    check, title = f"model.{name}", f"Model {name}"
    todo = advice(ctx, name, explicit is not None)
    try:
        path = explicit or configured_model(ctx.config, name, variant=variant)
    except ModelCardError as err:  # the registry verifies the file as it resolves it
        return result(check, title, Level.FAIL, str(err), todo)
    except KioskError as err:
        return result(check, title, Level.FAIL, str(err), todo)
    try:
        card = load_card(card_path_for(path), verify=False)
    except ModelCardError as err:
        return result(check, title, Level.FAIL, str(err),
                      "Every model needs its card .json beside it. " + todo)  # fmt: skip
    model = card_path_for(path).parent / card.onnx
    try:
        actual = file_sha256(model)
    except OSError as err:
        return result(check, title, Level.FAIL, f"cannot read {model}: {err.strerror or err}",
                      todo)  # fmt: skip
    data = {"path": str(model), "version": card.version, "card_sha256": card.sha256,
            "file_sha256": actual}  # fmt: skip
    if actual != card.sha256:
        return result(check, title, Level.FAIL,
                      f"{model} has sha256 {actual[:12]}…, its card says {card.sha256[:12]}… "
                      "(damaged or swapped file)", todo, **data)  # fmt: skip
    return result(check, title, Level.OK,
                  f"{model.name} version {card.version} matches its card "
                  f"(sha256 {actual[:12]}…)", **data)  # fmt: skip
