"""What the support bundle leaves out: secrets in the config, payment data and free text in
the journal, payment references and passwords in logs. Each function counts what it took
out, so the bundle's MANIFEST can say so.

Journal records are filtered by an allowlist: a text value is kept only under a key known
to hold codes or names (``type``, ``sku``, ``zone``...); anything else, and any key added
later, is redacted until someone decides it is safe.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

MASK = "[redacted]"

# Text values kept in journal records: identifiers, states and product data, never people's.
SAFE_TEXT_KEYS = frozenset({
    "type", "action", "actions", "alert_id", "command", "currency", "date", "device", "entry",
    "event_id", "from_state", "to_state", "kind", "kiosk_id", "store_id", "label", "language",
    "method", "name_en", "name_zh", "nudge", "platform", "plu", "promotion", "resolution",
    "session_id", "severity", "sku", "sold_by", "source", "status", "symbology", "zone",
    "snapshot_id", "journal_id", "attendant_id", "reason", "detail", "reason_code", "policy",
    "state", "screen", "lang",
})  # fmt: skip
# Barcodes are kept when they are product codes; a gift or loyalty card is not kept.
BARCODE_KEYS = frozenset({"data", "code"})
_PRODUCT_CODE = re.compile(r"\d{8,14}|(\(\d{2,4}\)[0-9A-Za-z]{1,30}){1,6}")
# In a payment record every text but these goes: terminal messages can carry card details.
PAYMENT_SAFE_KEYS = frozenset({"type", "method", "currency", "session_id", "event_id"})

# Config keys whose values are secrets or their hashes (the file holds only *_env/*_file
# references for real secrets, but a PIN hash is written in clear and must not travel).
_SECRET_KEY = re.compile(r"(pin|password|passwd|secret|token|hash|credential|api_key)",
                         re.IGNORECASE)  # fmt: skip
_ASSIGN = re.compile(r'^(\s*)([A-Za-z0-9_.-]+|"[^"]*")(\s*=\s*)(.*)$')
_URL_PASSWORD = re.compile(r"([a-z][a-z0-9+.-]*://[^\s:/@\"']+):([^\s@\"']+)@", re.IGNORECASE)
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?-----END [A-Z0-9 ]+-----", re.DOTALL)
# "reference=T0007", '"reference": "T0007"', "auth_code: 123456" in a log line.
_PAY_FIELD = re.compile(
    r"""((?:reference|auth_code|authcode|approval_code|pan|card_number|track2?)["']?\s*[:=]\s*"""
    r"""["']?)([^\s,"'}\]]+)""",
    re.IGNORECASE,
)


def redact_config_text(text: str, counts: Counter[str], secrets: set[str]) -> str:
    """The config file as written, with secret values, URL passwords and PEM blocks masked.
    Line-based, so a config that is not valid TOML (the reason for the bundle) still goes.
    The masked values go into ``secrets``: the doctor report may quote a bad one."""
    text = _mask_pem(text, counts, "config: PEM block")
    out = []
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            section = stripped.strip("[] ")
        match = _ASSIGN.match(line)
        if match and not stripped.startswith("#"):
            indent, key, eq, value = match.groups()
            bare = key.strip('"')
            if _SECRET_KEY.search(bare) and not bare.endswith(("_env", "_file")):
                counts[f"config: value of {section}.{bare}"] += 1
                secrets.update(_quoted_forms(value.strip().strip("'\"")))
                line = f'{indent}{key}{eq}"{MASK}"'
        out.append(mask_url_passwords(line, counts, "config: password in a URL"))
    return "\n".join(out) + "\n"


def _quoted_forms(value: str) -> set[str]:
    """A value and the cut form error messages show of a long one (first 37 characters)."""
    if len(value) < 4:
        return set()  # too short to find safely; the config line itself is masked
    return {value, value[:37]} if len(value) > 40 else {value}


def mask_known(text: str, known: set[str], counts: Counter[str], what: str) -> str:
    """Every occurrence of a known secret or payment reference, longest first."""
    for secret in sorted(known, key=len, reverse=True):
        n = text.count(secret)
        if n:
            text = text.replace(secret, MASK)
            counts[what] += n
    return text


def mask_url_passwords(text: str, counts: Counter[str], what: str) -> str:
    new, n = _URL_PASSWORD.subn(r"\1:***@", text)
    if n:
        counts[what] += n
    return new


def _mask_pem(text: str, counts: Counter[str], what: str) -> str:
    new, n = _PEM.subn(f"-----{MASK} PEM block-----", text)
    if n:
        counts[what] += n
    return new


def redact_log_text(text: str, known: set[str], counts: Counter[str]) -> str:
    """A log file with payment fields, the journal's payment references wherever they
    appear, URL passwords and PEM blocks masked."""
    text = _mask_pem(text, counts, "logs: PEM block")
    text, n = _PAY_FIELD.subn(lambda m: m.group(1) + MASK, text)
    if n:
        counts["logs: payment field (reference, auth code, card)"] += n
    text = mask_known(text, known, counts, "logs: payment reference or secret seen elsewhere")
    return mask_url_passwords(text, counts, "logs: password in a URL")


def payment_references(record: Any) -> set[str]:
    """Every ``reference`` text in a journal record: masked in the logs too."""
    found: set[str] = set()
    if isinstance(record, dict):
        for key, value in record.items():
            if key == "reference" and isinstance(value, str) and value:
                found.add(value)
            else:
                found |= payment_references(value)
    elif isinstance(record, list):
        for value in record:
            found |= payment_references(value)
    return found


def redact_record(record: Any, counts: Counter[str], where: str, *, payment: bool = False) -> Any:
    """A journal input or event with every text not on the allowlist masked."""
    if isinstance(record, dict):
        kind = str(record.get("type", ""))
        payment = payment or kind == "payment" or kind.startswith("payment_")
        out = {}
        for key, value in record.items():
            if isinstance(value, str):
                out[key] = _text(key, value, counts, where, payment)
            else:
                out[key] = redact_record(value, counts, where, payment=payment or key == "payments")
        return out
    if isinstance(record, list):
        return [redact_record(v, counts, where, payment=payment) for v in record]
    return record


def _text(key: str, value: str, counts: Counter[str], where: str, payment: bool) -> str:
    if not value:
        return value
    if payment:
        keep = key in PAYMENT_SAFE_KEYS
    elif key in BARCODE_KEYS:
        keep = bool(_PRODUCT_CODE.fullmatch(value))
    else:
        keep = key in SAFE_TEXT_KEYS
    if keep:
        return value
    counts[f"{where}: {'payment ' if payment else ''}{key}"] += 1
    return MASK
