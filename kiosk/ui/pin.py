"""The attendant PIN that leaves kiosk mode: a salted PBKDF2 hash in the config, never the PIN.

``make_pin_hash("4321")`` gives ``pbkdf2-sha256$ITERATIONS$SALT$HASH`` (hex), which goes in
``[kiosk_ui] attendant_pin_hash`` (``sco ui pin-hash`` prints one). ``PinGuard`` checks typed
PINs and rate-limits guessing: after ``max_tries`` wrong PINs in a row the pad refuses every
PIN, right or wrong, for ``lockout_s`` seconds, and each further lockout doubles (up to an
hour), so a 4-digit PIN cannot be walked through at the kiosk. Nothing here imports Kivy.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.errors import ConfigError

logger = logging.getLogger(__name__)

SCHEME = "pbkdf2-sha256"
ITERATIONS = 200_000  # ~0.1 s on a kiosk CPU: slow for a guesser with the hash, fine at the pad
SALT_BYTES = 16
MIN_PIN, MAX_PIN = 4, 12
MAX_LOCKOUT_S = 3600.0
PIN_HASH_PATTERN = r"pbkdf2-sha256\$[0-9]{4,7}\$[0-9a-f]{32}\$[0-9a-f]{64}"
_HASH_RE = re.compile(PIN_HASH_PATTERN)


def check_pin_format(pin: str) -> None:
    """A PIN is 4 to 12 digits (what the pad can type); raises ConfigError otherwise."""
    if not (pin.isascii() and pin.isdigit() and MIN_PIN <= len(pin) <= MAX_PIN):
        raise ConfigError(f"an attendant PIN is {MIN_PIN} to {MAX_PIN} digits (0-9)")


def make_pin_hash(pin: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """The config value for ``pin``: scheme, iterations, random salt and derived key."""
    check_pin_format(pin)
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"{SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, pin_hash: str) -> bool:
    """True when ``pin`` is the one ``pin_hash`` was made from (constant-time compare)."""
    if not _HASH_RE.fullmatch(pin_hash):
        raise ConfigError("attendant_pin_hash is not a pbkdf2-sha256 hash from `sco ui pin-hash`")
    _scheme, iterations, salt, expected = pin_hash.split("$")
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(digest.hex(), expected)


@dataclass(frozen=True)
class PinVerdict:
    ok: bool
    message: str  # for the attendant: "wrong PIN (2 of 5)", "locked for 60 s", ...
    locked_for_s: float = 0.0


class PinGuard:
    """Counts wrong PINs and locks the pad after too many; ``clock`` is monotonic seconds."""

    def __init__(
        self,
        pin_hash: str,
        *,
        max_tries: int = 5,
        lockout_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if pin_hash:
            verify_pin("0000", pin_hash)  # a malformed hash fails now, not at the pad
        self.pin_hash = pin_hash
        self.max_tries = max(1, max_tries)
        self.lockout_s = lockout_s
        self.clock = clock
        self.wrong = 0  # wrong PINs since the last right one or lockout
        self.total_wrong = 0
        self.lockouts = 0
        self._locked_until = 0.0

    def locked_for(self) -> float:
        """Seconds left of the current lockout (0 when the pad takes PINs)."""
        return max(0.0, self._locked_until - self.clock())

    def check(self, pin: str) -> PinVerdict:
        left = self.locked_for()
        if left > 0:
            return PinVerdict(False, f"too many wrong PINs: try again in {left:.0f} s", left)
        if not self.pin_hash:
            return PinVerdict(False, "no attendant PIN is configured: stop the lane from a shell")
        if verify_pin(pin, self.pin_hash):
            self.wrong = 0
            logger.warning("kiosk mode: the attendant PIN was accepted")
            return PinVerdict(True, "")
        self.wrong += 1
        self.total_wrong += 1
        logger.warning("kiosk mode: wrong attendant PIN (%d in a row)", self.wrong)
        if self.wrong >= self.max_tries:
            self.wrong = 0
            duration = min(MAX_LOCKOUT_S, self.lockout_s * 2**self.lockouts)
            self.lockouts += 1
            self._locked_until = self.clock() + duration
            logger.warning("kiosk mode: PIN pad locked for %.0f s", duration)
            message = f"too many wrong PINs: try again in {duration:.0f} s"
            return PinVerdict(False, message, duration)
        return PinVerdict(False, f"wrong PIN ({self.wrong} of {self.max_tries})")
