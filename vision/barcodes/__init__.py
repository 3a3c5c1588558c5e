"""Barcode reading for the camera: decoder adapters, validation, the cascade, debouncing."""

from vision.barcodes.cascade import DEFAULT_PASSES, BarcodeReader
from vision.barcodes.decoders import (
    BarcodeDecoder,
    OpenCVDecoder,
    RawCode,
    ZbarDecoder,
    ZxingDecoder,
)
from vision.barcodes.normalise import validate

__all__ = [
    "DEFAULT_PASSES",
    "BarcodeDecoder",
    "BarcodeReader",
    "OpenCVDecoder",
    "RawCode",
    "ZbarDecoder",
    "ZxingDecoder",
    "validate",
]
