"""Validation and normalisation: a raw decoder read becomes a :class:`BarcodeHit` or nothing.

A misread must never become a sale, so every read is checked before it leaves this module:
EAN/UPC by length and check digit, GS1 content (GS1-128, DataBar, GS1 DataMatrix/QR) by its
element string (AIs, lengths, character set, the GTIN's check digit) via
:mod:`kiosk.core.barcodes`. Anything that fails is dropped (logged at debug level).
"""

from __future__ import annotations

import logging
import re

from kiosk.core.barcodes import GS, normalize_gtin, parse_gs1_element_string
from kiosk.errors import BarcodeError
from vision.barcodes.decoders import RawCode
from vision.types import BarcodeHit, Box

logger = logging.getLogger("vision.barcodes")

_EAN_LENGTHS = {"ean13": (13,), "ean8": (8,), "upca": (12, 13), "upce": (8, 12, 13)}
_GS1_ONLY = ("gs1_128", "databar", "databar_exp", "databar_ltd")
_DIGITS = re.compile(r"[0-9]+")
# GS1 Digital Link (what 2D codes on retail packs carry): https://host/.../01/<GTIN>[/...]
_DIGITAL_LINK = re.compile(r"^https?://[^/?#]+(?:/[^?#]*)?/(?:01|gtin)/([0-9]{8,14})(?:[/?#]|$)")


def _looks_gs1(text: str) -> bool:
    """zbar drops the leading FNC1 of GS1-128: content that starts with a known AI and parses
    cleanly (with a checked GTIN) is GS1. Plain Code128 rarely satisfies all of that."""
    return text[:2] in ("00", "01", "02") and _DIGITS.fullmatch(text[:16]) is not None


def validate(raw: RawCode, box: Box | None = None, decoder: str | None = None) -> BarcodeHit | None:
    """The checked, normalised hit for ``raw``, or None when it must not be trusted."""
    try:
        return _validate(raw, box, decoder or raw.decoder)
    except BarcodeError as err:
        logger.debug("dropped %s read %r from %s: %s", raw.symbology, raw.text, raw.decoder, err)
        return None


def _validate(raw: RawCode, box: Box | None, decoder: str) -> BarcodeHit | None:
    text, sym = raw.text.strip(), raw.symbology
    if not text:
        return None
    if sym in _EAN_LENGTHS:
        if not _DIGITS.fullmatch(text) or len(text) not in _EAN_LENGTHS[sym]:
            raise BarcodeError(f"{sym} with {len(text)} characters")
        gtin = normalize_gtin(text, sym)
        if sym == "ean13" and gtin.startswith("00"):
            # zbar and zxing report UPC-A as EAN-13 with a leading 0: give the 12 digits.
            sym, text = "upca", text[1:]
        elif sym == "upca" and len(text) == 13:
            text = text[1:]
        return BarcodeHit(text, sym, gtin, box, decoder)
    if sym == "code128" and not raw.gs1 and (GS in text or _looks_gs1(text)):
        try:
            ais = parse_gs1_element_string(text)
        except BarcodeError:
            ais = None
        if ais is not None:
            return BarcodeHit(text, "gs1_128", _gtin14(ais), box, decoder)
    if raw.gs1 or sym in _GS1_ONLY:
        ais = parse_gs1_element_string(text)  # raises on anything malformed: dropped
        return BarcodeHit(text, sym, _gtin14(ais), box, decoder)
    if sym in ("qr", "datamatrix"):
        return BarcodeHit(text, sym, _digital_link_gtin(text), box, decoder)
    if sym == "code128":
        if any(ord(c) < 32 for c in text):
            raise BarcodeError("control characters in a plain Code128")
        return BarcodeHit(text, sym, None, box, decoder)
    raise BarcodeError(f"symbology {sym!r} is not one the kiosk reads")


def _gtin14(ais: dict[str, str]) -> str | None:
    gtin = ais.get("01") or ais.get("02")
    return normalize_gtin(gtin) if gtin is not None else None


def _digital_link_gtin(text: str) -> str | None:
    m = _DIGITAL_LINK.match(text)
    if m is None:
        return None
    try:
        return normalize_gtin(m.group(1))
    except BarcodeError:
        return None
