"""The attendant's signing key on the tablet, unlocked by a PIN.

``enroll`` makes a new Ed25519 key and stores it only encrypted: the PKCS#8 DER is sealed
with AES-256-GCM under a key derived from the PIN with scrypt (n=2^15, r=8: ~0.1 s and
32 MiB per guess), bound to the attendant and key id. It writes ``<key_id>.pub`` for the
kiosks' trust_dir. ``unlock`` counts wrong PINs in a side file and refuses for
``LOCKOUT_S`` after ``MAX_ATTEMPTS`` in a row.

Limits (docs/attendant.md): a 4-12 digit PIN is a small space, so the lockout protects
the app, not a stolen key file; the file is 0600 on the device and the kiosk's trust store
can revoke the key (remove its .pub).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from backend_client.signing import sign_command
from kiosk.errors import ConfigError, KioskError

FORMAT = "opensco.attendant-key/1"
MAX_ATTEMPTS = 5
LOCKOUT_S = 300.0
PIN_PATTERN = re.compile(r"^[0-9]{4,12}$")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")  # command.json issuer / key ids
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


class PinError(KioskError):
    """A wrong PIN (the message says how many attempts are left) or a locked keyring."""

    def __init__(self, message: str, *, attempts_left: int = 0, locked_until: float = 0.0):
        super().__init__(message)
        self.attempts_left = attempts_left
        self.locked_until = locked_until


@dataclass(frozen=True)
class AttendantSigner:
    """An unlocked key: signs commands as ``attendant_id`` (role attendant) with ``key_id``."""

    attendant_id: str
    key_id: str
    _key: Ed25519PrivateKey

    def sign(self, cmd: Mapping[str, Any]) -> dict[str, Any]:
        body = dict(cmd)
        body["issuer"] = {"id": self.attendant_id, "role": "attendant"}
        return sign_command(body, self._key, self.key_id)

    def __repr__(self) -> str:  # never the key
        return f"AttendantSigner({self.attendant_id!r}, key_id={self.key_id!r})"


def key_path(keyring_dir: str | Path, attendant_id: str) -> Path:
    _check_id("attendant id", attendant_id)
    return Path(keyring_dir) / f"{attendant_id}.key.json"


def _check_id(kind: str, value: str) -> None:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise ConfigError(f"{kind} {value!r}: use 1-64 of A-Z a-z 0-9 . _ @ -, no leading dot")


def _check_pin(pin: str) -> None:
    if not isinstance(pin, str) or not PIN_PATTERN.match(pin):
        raise PinError("the PIN must be 4 to 12 digits")


def _derive(pin: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(pin.encode())


def _aad(attendant_id: str, key_id: str) -> bytes:
    return f"{FORMAT}\x1f{attendant_id}\x1f{key_id}".encode()


def enroll(keyring_dir: str | Path, attendant_id: str, pin: str, *, key_id: str) -> Path:
    """Make and store a new key for ``attendant_id``; returns the ``<key_id>.pub`` path.
    Never overwrites an existing key (remove it first to re-enrol)."""
    _check_id("attendant id", attendant_id)
    _check_id("key id", key_id)
    _check_pin(pin)
    directory = Path(keyring_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path, pub = key_path(directory, attendant_id), directory / f"{key_id}.pub"
    if pub.exists():
        raise ConfigError(f"{pub} exists; pick another key id")
    key = Ed25519PrivateKey.generate()
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    sealed = AESGCM(_derive(pin, salt)).encrypt(nonce, der, _aad(attendant_id, key_id))
    body = {
        "format": FORMAT,
        "attendant_id": attendant_id,
        "key_id": key_id,
        "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": salt.hex()},
        "nonce": nonce.hex(),
        "sealed_pkcs8": sealed.hex(),
    }
    try:  # O_EXCL + 0600 at creation: never readable by others, never overwritten
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(body, fh, sort_keys=True)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pub.write_bytes(public)
    return pub


def unlock(
    keyring_dir: str | Path,
    attendant_id: str,
    pin: str,
    *,
    clock: Callable[[], float] = time.time,
) -> AttendantSigner:
    """The attendant's signer, or ``PinError`` (wrong PIN / locked out) / ``ConfigError``
    (no key, unreadable file)."""
    path = key_path(keyring_dir, attendant_id)
    if not path.is_file():
        raise ConfigError(f"no key for attendant {attendant_id!r} in {keyring_dir} (enrol first)")
    lock_file = path.with_name(f"{attendant_id}.attempts.json")
    failures, locked_until = _read_attempts(lock_file)
    now = clock()
    if now < locked_until:
        when = time.strftime("%H:%M:%S", time.localtime(locked_until))
        _audit(keyring_dir, attendant_id, "locked_out")
        raise PinError(f"too many wrong PINs: locked until {when}", locked_until=locked_until)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        if body.get("format") != FORMAT or body.get("attendant_id") != attendant_id:
            raise ValueError("not an attendant key of this attendant")
        key_id = str(body["key_id"])
        kdf = body["kdf"]
        if (kdf["name"], kdf["n"], kdf["r"], kdf["p"]) != ("scrypt", SCRYPT_N, SCRYPT_R, SCRYPT_P):
            raise ValueError("unknown key derivation")
        salt, nonce = bytes.fromhex(kdf["salt"]), bytes.fromhex(body["nonce"])
        sealed = bytes.fromhex(body["sealed_pkcs8"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"{path} is not a usable attendant key: {err}") from err
    try:
        _check_pin(pin)
        der = AESGCM(_derive(pin, salt)).decrypt(nonce, sealed, _aad(attendant_id, key_id))
    except (PinError, InvalidTag):
        failures += 1
        _audit(keyring_dir, attendant_id, "wrong_pin")
        if failures >= MAX_ATTEMPTS:
            _write_attempts(lock_file, 0, now + LOCKOUT_S)
            when = time.strftime("%H:%M:%S", time.localtime(now + LOCKOUT_S))
            raise PinError(
                f"wrong PIN {MAX_ATTEMPTS} times: locked until {when}",
                locked_until=now + LOCKOUT_S,
            ) from None
        _write_attempts(lock_file, failures, 0.0)
        left = MAX_ATTEMPTS - failures
        raise PinError(f"wrong PIN: {left} attempt(s) left", attempts_left=left) from None
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} does not hold an Ed25519 key")
    if failures:
        _write_attempts(lock_file, 0, 0.0)
    _audit(keyring_dir, attendant_id, "ok", f"key_id={key_id}")
    return AttendantSigner(attendant_id, key_id, key)


def _audit(keyring_dir: str | Path, attendant_id: str, outcome: str, detail: str = "") -> None:
    # The tablet's sign-in trail (sco audit export --tablet-dir); never the PIN.
    from kiosk.ops.audit import AUDIT_FILE, append_event

    append_event(Path(keyring_dir) / AUDIT_FILE, "sign_in", attendant_id, "unlock", outcome, detail)


def _read_attempts(path: Path) -> tuple[int, float]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        return int(body["failures"]), float(body["locked_until"])
    except FileNotFoundError:
        return 0, 0.0
    except (OSError, ValueError, KeyError, TypeError):
        # A damaged counter must not unlock: treat it as one attempt short of the lockout.
        return MAX_ATTEMPTS - 1, 0.0


def _write_attempts(path: Path, failures: int, locked_until: float) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"failures": failures, "locked_until": locked_until}, fh)
    os.replace(tmp, path)


def enroll_cli(keyring_dir: str, attendant_id: str, key_id: str) -> int:
    """``sco attendant enroll``: asks for the PIN twice (never on the command line)."""
    import getpass
    import sys

    pin = getpass.getpass(f"PIN for {attendant_id} (4-12 digits): ")
    if getpass.getpass("Again: ") != pin:
        print("the PINs differ; nothing written", file=sys.stderr)
        return 2
    try:
        pub = enroll(keyring_dir, attendant_id, pin, key_id=key_id)
    except KioskError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"key stored in {key_path(keyring_dir, attendant_id)} (encrypted, 0600)")
    print(f"copy {pub} to each kiosk's trust_dir and add to its trust.toml:")
    print(f'[keys.{key_id}]\nrole = "attendant"\nissuer = "{attendant_id}"')
    return 0
