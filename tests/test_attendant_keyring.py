"""The attendant's PIN-sealed key: enrol, unlock, wrong PINs, lockout, and signatures the
kiosk's command intake accepts."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

from backend_client.commands import CommandIntake, TrustedKey, TrustStore
from backend_client.signing import load_public_key, verify_command
from kiosk.attendant.keyring import MAX_ATTEMPTS, PinError, enroll, key_path, unlock
from kiosk.errors import ConfigError


class Clock:
    def __init__(self) -> None:
        self.now = 1_764_070_000.0

    def __call__(self) -> float:
        return self.now


def test_key_file_is_sealed_and_owner_only(tmp_path: Path) -> None:
    pub = enroll(tmp_path, "att-07", "482913", key_id="att-07-t1")
    path = key_path(tmp_path, "att-07")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_bytes()
    assert b"PRIVATE KEY" not in raw and b"482913" not in raw
    body = json.loads(raw)
    assert body["kdf"]["name"] == "scrypt" and len(bytes.fromhex(body["sealed_pkcs8"])) > 48
    assert pub == tmp_path / "att-07-t1.pub" and b"PUBLIC KEY" in pub.read_bytes()
    with pytest.raises(ConfigError, match="exists"):
        enroll(tmp_path, "att-07", "482913", key_id="att-07-t2")


def test_signature_verifies_with_the_pub_and_the_intake_accepts_it(tmp_path: Path) -> None:
    pub = enroll(tmp_path, "att-07", "482913", key_id="att-07-t1")
    signer = unlock(tmp_path, "att-07", "482913")
    assert "482913" not in repr(signer)
    now = int(time.time())
    cmd = signer.sign({"command_id": "9f1c2b7e-1a2b-4c3d-8e9f-001122334455",
                       "action": "approve_age", "kiosk_id": "lane-01", "issued_at": now,
                       "expires_at": now + 30, "args": {}})  # fmt: skip
    assert cmd["issuer"] == {"id": "att-07", "role": "attendant"}
    assert verify_command(cmd, load_public_key(pub))
    trust = TrustStore([TrustedKey("att-07-t1", load_public_key(pub), "attendant", "att-07")])
    intake = CommandIntake(trust, "lane-01", tmp_path / "cmds.sqlite3")
    decision = intake.handle("approve_age", json.dumps(cmd).encode(), now * 1000)
    assert decision.accepted, decision.message
    intake.close()


def test_wrong_pins_count_down_then_lock_out_until_a_time(tmp_path: Path) -> None:
    enroll(tmp_path, "att-07", "482913", key_id="k1")
    clock = Clock()
    for left in range(MAX_ATTEMPTS - 1, 0, -1):
        with pytest.raises(PinError, match=f"{left} attempt") as info:
            unlock(tmp_path, "att-07", "000000", clock=clock)
        assert info.value.attempts_left == left
    with pytest.raises(PinError, match="locked until") as info:
        unlock(tmp_path, "att-07", "000000", clock=clock)
    assert info.value.locked_until > clock.now
    # Even the right PIN is refused while locked: guessing cannot continue.
    with pytest.raises(PinError, match="locked until"):
        unlock(tmp_path, "att-07", "482913", clock=clock)
    clock.now = info.value.locked_until + 1
    assert unlock(tmp_path, "att-07", "482913", clock=clock).key_id == "k1"


def test_a_right_pin_resets_the_count(tmp_path: Path) -> None:
    enroll(tmp_path, "att-07", "482913", key_id="k1")
    for _ in range(MAX_ATTEMPTS - 1):
        with pytest.raises(PinError):
            unlock(tmp_path, "att-07", "111111")
    unlock(tmp_path, "att-07", "482913")
    with pytest.raises(PinError, match=f"{MAX_ATTEMPTS - 1} attempt"):
        unlock(tmp_path, "att-07", "111111")


def test_bad_input_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(PinError, match="4 to 12 digits"):
        enroll(tmp_path, "att-07", "12a4", key_id="k1")
    with pytest.raises(ConfigError, match="attendant id"):
        enroll(tmp_path, "../x", "1234", key_id="k1")
    with pytest.raises(ConfigError, match="no key"):
        unlock(tmp_path, "att-08", "1234")
    enroll(tmp_path, "att-07", "1234", key_id="k1")
    key_path(tmp_path, "att-07").write_text("{broken", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a usable attendant key"):
        unlock(tmp_path, "att-07", "1234")
    # A key file copied under another attendant's name does not unlock as them.
    enroll(tmp_path, "att-09", "1234", key_id="k9")
    body = json.loads(key_path(tmp_path, "att-09").read_text(encoding="utf-8"))
    key_path(tmp_path, "att-07").write_text(
        json.dumps({**body, "attendant_id": "att-07"}), encoding="utf-8"
    )
    with pytest.raises(PinError):
        unlock(tmp_path, "att-07", "1234")
