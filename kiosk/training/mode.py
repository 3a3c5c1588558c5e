"""``--training`` on the command line: the lane's config with ``[kiosk] training = true``."""

from __future__ import annotations

from dataclasses import replace

from kiosk.config import KioskConfig


def with_training(config: KioskConfig, training: bool = True) -> KioskConfig:
    """``config`` with training mode switched on (a flag never switches a configured
    training lane off: ``training=False`` returns ``config`` as it is)."""
    if not training or config.sections["kiosk"]["training"]:
        return config
    sections = {**config.sections, "kiosk": {**config.sections["kiosk"], "training": True}}
    return replace(config, sections=sections)
