"""Ed25519 signatures over commands (``docs/mqtt.md``, "Signed commands").

The signed bytes are the canonical JSON of the command object without ``sig``: keys
sorted, no spaces, non-ASCII kept as UTF-8. With integer times and ASCII keys this equals
RFC 8785 (JCS), so a signer in another language can reproduce it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from kiosk.errors import ConfigError

SIG_FIELD = "sig"


def canonical_bytes(cmd: Mapping[str, Any]) -> bytes:
    """What is signed: the command without ``sig`` as canonical UTF-8 JSON."""
    body = {k: v for k, v in cmd.items() if k != SIG_FIELD}
    text = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; raises ValueError on anything else."""
    if not isinstance(text, str) or not text.isascii():
        raise ValueError("signature is not base64url text")
    bare = text.rstrip("=")
    try:
        data = base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"signature is not base64url: {err}") from None
    if b64url(data) != bare:
        # Unused trailing bits would give one signature many spellings.
        raise ValueError("signature is not canonical base64url")
    return data


def sign_command(cmd: Mapping[str, Any], key: Ed25519PrivateKey, key_id: str) -> dict[str, Any]:
    """A copy of ``cmd`` with ``key_id`` set and ``sig`` over everything else."""
    out = {k: v for k, v in cmd.items() if k != SIG_FIELD}
    out["key_id"] = key_id
    out[SIG_FIELD] = b64url(key.sign(canonical_bytes(out)))
    return out


def verify_command(cmd: Mapping[str, Any], key: Ed25519PublicKey) -> bool:
    """True when ``cmd['sig']`` is ``key``'s signature of the rest of ``cmd``."""
    try:
        sig = b64url_decode(cmd[SIG_FIELD])
        key.verify(sig, canonical_bytes(cmd))
    except (KeyError, ValueError, TypeError, InvalidSignature):
        return False
    return True


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """An unencrypted PKCS#8 PEM Ed25519 private key."""
    key = _load(path, private=True)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """A SubjectPublicKeyInfo PEM Ed25519 public key."""
    key = _load(path, private=False)
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path} is not an Ed25519 public key")
    return key


def _load(path: str | Path, *, private: bool) -> object:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read key {path}: {err.strerror or err}") from err
    try:
        if private:
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{path} is not a usable PEM key: {err}") from err


def generate_keypair(directory: str | Path, name: str) -> tuple[Path, Path]:
    """Write ``<name>.key`` (owner-only) and ``<name>.pub``; never overwrite a key."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key_path, pub_path = directory / f"{name}.key", directory / f"{name}.pub"
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        # O_EXCL + 0600 at creation: the private key is never readable by others, not even briefly.
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{key_path} exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem)
    pub_path.write_bytes(public_pem)
    return key_path, pub_path
