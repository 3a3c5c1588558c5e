"""The OpenSCO error hierarchy.

Adapters re-raise library errors as one of these (``raise ... from err``) so the
composition root can show a technician one clear message per failing part.
"""

from __future__ import annotations


class KioskError(Exception):
    """Base of every error OpenSCO raises on purpose."""


class ConfigError(KioskError):
    """The configuration file, catalog or another setting is unusable."""


class CatalogError(ConfigError):
    """A catalog file cannot be loaded (bad column, duplicate code, bad price)."""


class BarcodeError(KioskError):
    """A barcode is malformed: wrong length, bad check digit, unknown layout."""


class DeviceError(KioskError):
    """A peripheral failed or is missing."""


class ScaleError(DeviceError):
    """A scale is unplugged, asleep, or speaks garbage."""


class CameraError(DeviceError):
    """A camera cannot be opened or stopped delivering frames."""


class BackendError(KioskError):
    """The MQTT backend cannot be reached or refused us."""


class ModelError(KioskError):
    """A model file is missing, corrupt or does not match its card."""


class JournalError(KioskError):
    """The session journal cannot be opened, written or recovered."""


class InputFormatError(KioskError):
    """An input record (a replay line, a journal row) cannot be decoded."""
