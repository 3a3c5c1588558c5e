"""Barcode reading for the camera: decoder adapters, validation, the cascade, debouncing.

reader = BarcodeReader(budget_ms=40)          # live frames; still_reader() for photos
hits = reader.decode(frame.image, roi=box)    # validated BarcodeHits, frame coordinates
reads = debouncer.update(hits, frame.ts_ms)   # one read per presentation
"""

from vision.barcodes.cascade import (
    DEFAULT_PASSES,
    STILL_PASSES,
    VERIFY_PASSES,
    BarcodeReader,
    still_reader,
)
from vision.barcodes.debounce import DEFAULT_GAP_MS, ReadDebouncer, hit_key
from vision.barcodes.decoders import (
    BarcodeDecoder,
    OpenCVDecoder,
    RawCode,
    ZbarDecoder,
    ZxingDecoder,
)
from vision.barcodes.normalise import validate

__all__ = [
    "DEFAULT_GAP_MS",
    "DEFAULT_PASSES",
    "STILL_PASSES",
    "VERIFY_PASSES",
    "BarcodeDecoder",
    "BarcodeReader",
    "OpenCVDecoder",
    "RawCode",
    "ReadDebouncer",
    "ZbarDecoder",
    "ZxingDecoder",
    "hit_key",
    "still_reader",
    "validate",
]
