"""Signed-command intake: every refusal code, the accepted mapping, audit and replay memory."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from backend_client import commands_cli
from backend_client.commands import (
    ACTIONS,
    CORE_COMMANDS,
    CommandDecision,
    CommandIntake,
    TrustStore,
    response_payload,
)
from backend_client.schema_validation import schema, validate
from backend_client.signing import (
    canonical_bytes,
    generate_keypair,
    load_private_key,
    sign_command,
)
from kiosk.core.commands import ATTENDANT_COMMANDS
from kiosk.core.inputs import AttendantCommand, input_to_dict
from kiosk.errors import ConfigError
from kiosk.replay import replay_lines

KIOSK = "lane-01"
NOW_MS = 1_764_061_200_000
NOW_S = NOW_MS // 1000
CSV = "sku,name_en\nA-1,Apple\n"
TRUST_TOML = """
[keys.tablet-01]
role = "attendant"

[keys.tablet-07]
role = "attendant"
issuer = "att-07"

[keys.backend-1]
role = "backend"
"""


@pytest.fixture(scope="module")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("trust")
    for name in ("tablet-01", "tablet-07", "backend-1", "stranger"):
        generate_keypair(directory, name)
    (directory / "trust.toml").write_text(TRUST_TOML, encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def trust(keydir: Path) -> TrustStore:
    return TrustStore.load(keydir)


@pytest.fixture
def intake(trust: TrustStore, tmp_path: Path) -> CommandIntake:
    return CommandIntake(
        trust, KIOSK, tmp_path / "commands.sqlite3", current_catalog_version=lambda: 3
    )


def key(keydir: Path, name: str) -> Ed25519PrivateKey:
    return load_private_key(keydir / f"{name}.key")


def command(
    keydir: Path, action: str, args: dict[str, Any] | None = None, **over: Any
) -> dict[str, Any]:
    """A signed command; ``over`` replaces fields before signing (signer= picks the key)."""
    signer = over.pop("signer", "tablet-01")
    key_id = over.pop("key_id", signer)
    cmd: dict[str, Any] = {
        "command_id": str(uuid.uuid4()),
        "action": action,
        "kiosk_id": KIOSK,
        "issuer": {"id": "att-07", "role": "attendant"},
        "issued_at": NOW_S - 1,
        "expires_at": NOW_S + 29,
        "args": args or {},
    }
    cmd.update(over)
    return sign_command(cmd, key(keydir, signer), key_id)


def encode(cmd: dict[str, Any]) -> bytes:
    return json.dumps(cmd).encode()


def backend(keydir: Path, action: str, args: dict[str, Any]) -> dict[str, Any]:
    return command(keydir, action, args, signer="backend-1", issuer={"id": "hq", "role": "backend"})


def catalog_args(version: int = 4, csv: str = CSV, sha: str | None = None) -> dict[str, Any]:
    return {
        "version": version,
        "csv": csv,
        "sha256": sha or hashlib.sha256(csv.encode()).hexdigest(),
    }


# (case id, builder -> (topic action, payload), expected code)
Case = Callable[[Path], tuple[str, bytes]]
REFUSALS: list[tuple[str, Case, str]] = [
    ("too_large", lambda k: ("approve_age", b" " * 16385), "too_large"),
    ("not_json", lambda k: ("approve_age", b"{approve"), "malformed"),
    ("not_utf8", lambda k: ("approve_age", b"\xff\xfe{}"), "malformed"),
    ("array", lambda k: ("approve_age", b"[]"), "malformed"),
    ("nan", lambda k: ("approve_age", b'{"issued_at": NaN}'), "malformed"),
    (
        "no_sig",
        lambda k: ("approve_age", encode({**command(k, "approve_age"), "sig": None})),
        "malformed",
    ),
    (
        "extra_field",
        lambda k: ("approve_age", encode({**command(k, "approve_age"), "pin": "1234"})),
        "malformed",
    ),
    (
        "duplicate_key",
        lambda k: ("approve_age", encode(command(k, "approve_age"))[:-1] + b', "action": "x"}'),
        "malformed",
    ),
    ("unknown_action", lambda k: ("open_drawer", b'{"action": "open_drawer"}'), "malformed"),
    ("void_needs_line", lambda k: ("void_item", encode(command(k, "void_item"))), "malformed"),
    (
        "mismatch",
        lambda k: ("lock_lane", encode(command(k, "approve_age"))),
        "action_mismatch",
    ),
    (
        "other_kiosk",
        lambda k: ("approve_age", encode(command(k, "approve_age", kiosk_id="lane-02"))),
        "wrong_kiosk",
    ),
    (
        "unknown_key",
        lambda k: ("approve_age", encode(command(k, "approve_age", signer="stranger"))),
        "unknown_key",
    ),
    (
        "forged",
        lambda k: (
            "approve_age",
            encode(command(k, "approve_age", signer="stranger", key_id="tablet-01")),
        ),
        "bad_signature",
    ),
    (
        "expired",
        lambda k: (
            "approve_age",
            encode(command(k, "approve_age", issued_at=NOW_S - 100, expires_at=NOW_S - 31)),
        ),
        "expired",
    ),
    (
        "too_long_lived",
        lambda k: ("approve_age", encode(command(k, "approve_age", expires_at=NOW_S + 300))),
        "expired",
    ),
    (
        "expires_before_issued",
        lambda k: ("approve_age", encode(command(k, "approve_age", expires_at=NOW_S - 1))),
        "expired",
    ),
    (
        "from_the_future",
        lambda k: (
            "approve_age",
            encode(command(k, "approve_age", issued_at=NOW_S + 31, expires_at=NOW_S + 60)),
        ),
        "not_yet_valid",
    ),
    (
        "attendant_updates_catalog",
        lambda k: ("catalog_update", encode(command(k, "catalog_update", catalog_args()))),
        "unauthorized",
    ),
    (
        "attendant_key_claims_backend",
        lambda k: (
            "lock_lane",
            encode(command(k, "lock_lane", issuer={"id": "att-07", "role": "backend"})),
        ),
        "unauthorized",
    ),
    (
        "key_of_another_attendant",
        lambda k: (
            "approve_age",
            encode(
                command(
                    k,
                    "approve_age",
                    signer="tablet-07",
                    issuer={"id": "att-08", "role": "attendant"},
                )
            ),
        ),
        "unauthorized",
    ),
    (
        "replay_backwards",
        lambda k: (
            "replay_request",
            encode(backend(k, "replay_request", {"from_seq": 9, "to_seq": 3})),
        ),
        "invalid_args",
    ),
    (
        "catalog_tampered",
        lambda k: (
            "catalog_update",
            encode(backend(k, "catalog_update", catalog_args(sha="0" * 64))),
        ),
        "checksum_mismatch",
    ),
    (
        "catalog_old",
        lambda k: ("catalog_update", encode(backend(k, "catalog_update", catalog_args(version=3)))),
        "stale_version",
    ),
]


@pytest.mark.parametrize(("case", "build", "code"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals(intake: CommandIntake, keydir: Path, case: str, build: Case, code: str) -> None:
    action, payload = build(keydir)
    decision = intake.handle(action, payload, NOW_MS)
    assert (decision.accepted, decision.code) == (False, code), decision.message
    assert decision.inputs == [] and decision.effect is None
    assert validate("cmdresp", response_payload(decision, NOW_MS)) == []
    (row,) = intake.audit_rows()
    assert row["code"] == code and row["message"] == decision.message


def test_replayed_even_after_restart(trust: TrustStore, keydir: Path, tmp_path: Path) -> None:
    db = tmp_path / "commands.sqlite3"
    payload = encode(command(keydir, "approve_age"))
    first = CommandIntake(trust, KIOSK, db)
    assert first.handle("approve_age", payload, NOW_MS).accepted
    assert first.handle("approve_age", payload, NOW_MS + 1000).code == "replayed"
    first.close()
    again = CommandIntake(trust, KIOSK, db)  # the lane restarted
    assert again.handle("approve_age", payload, NOW_MS + 2000).code == "replayed"
    codes = [row["code"] for row in again.audit_rows()]
    assert codes == ["replayed", "replayed", "ok"]


def test_forged_commands_do_not_use_up_the_id(intake: CommandIntake, keydir: Path) -> None:
    good = command(keydir, "approve_age")
    forged = {**good, "sig": command(keydir, "approve_age", signer="stranger")["sig"]}
    assert intake.handle("approve_age", encode(forged), NOW_MS).code == "bad_signature"
    assert intake.handle("approve_age", encode(good), NOW_MS).accepted


def test_old_ids_are_pruned(intake: CommandIntake, keydir: Path) -> None:
    intake.handle("approve_age", encode(command(keydir, "approve_age")), NOW_MS)
    later = NOW_MS + 601_000  # beyond max_age_s * 2: no such command can still be valid
    intake.handle("approve_age", b"{}", later)
    assert intake._db.execute("SELECT count(*) FROM commands_seen").fetchone() == (0,)


ACCEPTED = [
    ("approve_age", {}, "approve_age", {}),
    ("approve", {"alert_id": "A1-1"}, "approve", {"alert_id": "A1-1"}),
    ("reject", {"alert_id": "A1-1"}, "reject", {"alert_id": "A1-1"}),
    ("clear_alert", {"alert_id": "A1-2"}, "clear", {"alert_id": "A1-2"}),
    ("remote_help", {"alert_id": "A1-3"}, "clear", {"alert_id": "A1-3"}),
    ("void_item", {"line_id": 2}, "void_item", {"line_id": 2}),
    ("cancel_transaction", {"reason": "left"}, "cancel_transaction", {"reason": "left"}),
    ("suspend_transaction", {}, "suspend_transaction", {}),
    ("lock_lane", {}, "lock_lane", {}),
    ("unlock_lane", {}, "unlock_lane", {}),
]


@pytest.mark.parametrize(("action", "args", "core", "core_args"), ACCEPTED)
def test_accepted_core_commands(
    intake: CommandIntake,
    keydir: Path,
    action: str,
    args: dict[str, Any],
    core: str,
    core_args: dict[str, Any],
) -> None:
    cmd = command(keydir, action, args)
    decision = intake.handle(action, encode(cmd), NOW_MS)
    assert (decision.accepted, decision.code, decision.effect) == (True, "ok", None)
    assert decision.command_id == cmd["command_id"]
    assert decision.inputs == [AttendantCommand(NOW_MS, core, "att-07", core_args)]
    resp = response_payload(decision, NOW_MS)
    assert validate("cmdresp", resp) == []
    assert resp["accepted"] is True and resp["command_id"] == cmd["command_id"]
    (row,) = intake.audit_rows()
    assert (row["issuer_id"], row["role"], row["key_id"]) == ("att-07", "attendant", "tablet-01")


@pytest.mark.parametrize(
    ("action", "args"),
    [
        ("replay_request", {"from_seq": 5}),
        ("replay_request", {"from_seq": 5, "to_seq": 9}),
        ("catalog_update", catalog_args()),
        ("config_change", {"section": "checkout", "key": "abandon_after_ms", "value": 90000}),
    ],
)
def test_accepted_effects(
    intake: CommandIntake, keydir: Path, action: str, args: dict[str, Any]
) -> None:
    decision = intake.handle(action, encode(backend(keydir, action, args)), NOW_MS)
    assert (decision.accepted, decision.effect, decision.args) == (True, action, args)
    assert decision.inputs == []
    assert validate("cmdresp", response_payload(decision, NOW_MS)) == []
    (row,) = intake.audit_rows()
    assert "csv" not in json.dumps(row) and "sig" not in row  # args never reach the audit


def test_a_big_catalog_may_exceed_the_command_limit(intake: CommandIntake, keydir: Path) -> None:
    csv = "sku,name_en\n" + "".join(f"SKU-{i},Item {i}\n" for i in range(2000))
    payload = encode(backend(keydir, "catalog_update", catalog_args(csv=csv)))
    assert len(payload) > intake.max_payload_bytes
    assert intake.handle("catalog_update", payload, NOW_MS).accepted


def test_accepted_command_drives_the_core(intake: CommandIntake, keydir: Path) -> None:
    # The age-restricted example, with its attendant line replaced by a signed command.
    lines = (Path(__file__).parents[1] / "examples/sessions/age-restricted.jsonl").read_text()
    kept = [line for line in lines.splitlines() if '"attendant"' not in line]
    decision = intake.handle("approve_age", encode(command(keydir, "approve_age")), NOW_MS)
    (item,) = decision.inputs
    at = json.loads(kept[3])["t"] + 1
    signed_line = json.dumps({**input_to_dict(item), "t": at})
    from kiosk.replay import load_catalog_file

    catalog = load_catalog_file(Path(__file__).parents[1] / "examples/catalog.csv")
    events = replay_lines([*kept[:4], signed_line, *kept[4:]], catalog).events
    approved = [e for e in events if e["type"] == "age_approved"]
    assert approved and approved[0]["attendant_id"] == "att-07"


def test_core_knows_every_mapped_command() -> None:
    assert set(CORE_COMMANDS.values()) <= set(ATTENDANT_COMMANDS)


def test_schema_lists_every_action() -> None:
    assert schema("command")["properties"]["action"]["enum"] == list(ACTIONS)


TAMPER: dict[str, Callable[[dict[str, Any]], None]] = {
    "command_id": lambda c: c.update(command_id=str(uuid.uuid4())),
    "action": lambda c: c.update(action="lock_lane"),
    "issuer": lambda c: c["issuer"].update(id="att-99"),
    "issued_at": lambda c: c.update(issued_at=c["issued_at"] - 1),
    "expires_at": lambda c: c.update(expires_at=c["expires_at"] - 1),
    "args": lambda c: c["args"].update(reason="because"),
    "key_id": lambda c: c.update(key_id="tablet-07"),
    "sig": lambda c: c.update(
        sig=c["sig"][:10] + ("A" if c["sig"][10] != "A" else "B") + c["sig"][11:]
    ),
}


@given(field=st.sampled_from(sorted(TAMPER)), seed=st.integers(0, 2**32))
def test_any_change_after_signing_breaks_the_signature(
    trust: TrustStore, keydir: Path, field: str, seed: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        intake = CommandIntake(trust, KIOSK, Path(tmp) / "c.sqlite3")
        cmd = command(keydir, "approve_age", {}, issuer={"id": f"att-{seed}", "role": "attendant"})
        changed = json.loads(json.dumps(cmd))
        TAMPER[field](changed)
        assert canonical_bytes(changed) != canonical_bytes(cmd) or field == "sig"
        decision = intake.handle(changed["action"], encode(changed), NOW_MS)
        intake.close()
    assert decision.code == "bad_signature", decision.message


@pytest.fixture(scope="module")
def fuzz_intake(trust: TrustStore, tmp_path_factory: pytest.TempPathFactory) -> CommandIntake:
    # Module-scoped: Hypothesis runs many examples through one intake and one database.
    db = tmp_path_factory.mktemp("fuzz") / "fuzz.sqlite3"
    return CommandIntake(trust, KIOSK, db, max_payload_bytes=2048)


@given(payload=st.binary(max_size=3000), action=st.sampled_from([*ACTIONS, "x", ""]))
def test_arbitrary_bytes_are_refused(
    fuzz_intake: CommandIntake, payload: bytes, action: str
) -> None:
    decision = fuzz_intake.handle(action, payload, NOW_MS)
    assert isinstance(decision, CommandDecision)
    assert decision.code in ("too_large", "malformed")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    [
        "command_id",
        "action",
        "kiosk_id",
        "issuer",
        "issued_at",
        "expires_at",
        "args",
        "key_id",
        "sig",
    ]
)


@given(obj=st.dictionaries(FIELDS | st.text(), JSON, max_size=10))
def test_arbitrary_json_objects_are_refused(
    fuzz_intake: CommandIntake, obj: dict[str, Any]
) -> None:
    payload = json.dumps(obj).encode()
    decision = fuzz_intake.handle(str(obj.get("action", "x")), payload, NOW_MS)
    assert decision.code in ("too_large", "malformed")
    assert validate("cmdresp", response_payload(decision, NOW_MS)) == []


# --- trust store and keys ------------------------------------------------------------------


def test_keygen_writes_owner_only_key_and_never_overwrites(tmp_path: Path) -> None:
    key_path, pub_path = generate_keypair(tmp_path, "k")
    assert os.stat(key_path).st_mode & 0o777 == 0o600
    assert pub_path.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(ConfigError, match="exists"):
        generate_keypair(tmp_path, "k")


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ('[keys.tablet-01]\nrole = "supervisor"\n', "unknown role"),
        ('[keys.ghost]\nrole = "attendant"\n', "cannot read key"),
        ('[keys.tablet-01]\nrole = "attendant"\npin = 1\n', "only role and issuer"),
        ("[keys\n", "not valid TOML"),
    ],
)
def test_bad_trust_files(keydir: Path, tmp_path: Path, toml: str, problem: str) -> None:
    for pub in keydir.glob("*.pub"):
        (tmp_path / pub.name).write_bytes(pub.read_bytes())
    (tmp_path / "trust.toml").write_text(toml)
    with pytest.raises(ConfigError, match=problem):
        TrustStore.load(tmp_path)


# --- the command line ----------------------------------------------------------------------


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sco")
    commands_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_keygen_and_sign_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["command", "keygen", "--dir", str(tmp_path), "--name", "tablet-09"]) == 0
    (tmp_path / "trust.toml").write_text('[keys.tablet-09]\nrole = "attendant"\n')
    capsys.readouterr()
    argv = ["command", "sign", "--key", str(tmp_path / "tablet-09.key"), "--key-id", "tablet-09"]
    argv += ["--kiosk", KIOSK, "--action", "clear_alert", "--args", '{"alert_id": "A2-1"}']
    assert run_cli([*argv, "--issuer", "att-07"]) == 0
    payload = capsys.readouterr().out.encode()
    intake = CommandIntake(TrustStore.load(tmp_path), KIOSK, tmp_path / "c.sqlite3")
    decision = intake.handle("clear_alert", payload, int(time.time() * 1000))
    assert decision.accepted, decision.message
    assert decision.inputs == [decision.inputs[0]]
    assert decision.inputs[0].attendant_id == "att-07"  # type: ignore[union-attr]


def test_cli_sign_catalog_update(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate_keypair(tmp_path, "hq")
    (tmp_path / "cat.csv").write_text(CSV)
    argv = ["command", "sign", "--key", str(tmp_path / "hq.key"), "--key-id", "hq"]
    argv += ["--kiosk", KIOSK, "--action", "catalog_update", "--role", "backend"]
    assert run_cli([*argv, "--catalog", str(tmp_path / "cat.csv"), "--catalog-version", "7"]) == 0
    cmd = json.loads(capsys.readouterr().out)
    assert cmd["args"] == catalog_args(version=7)


def test_cli_refuses_args_the_lane_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generate_keypair(tmp_path, "t")
    argv = ["command", "sign", "--key", str(tmp_path / "t.key"), "--key-id", "t"]
    assert run_cli([*argv, "--kiosk", KIOSK, "--action", "void_item"]) == 2
    assert "line_id" in capsys.readouterr().err


def test_signature_has_one_spelling(intake: CommandIntake, keydir: Path) -> None:
    cmd = command(keydir, "approve_age")
    last = cmd["sig"][-1]
    # The last of 86 characters carries 2 unused bits: another letter may decode the same.
    twin = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    other = twin[twin.index(last) ^ 1]
    forged = {**cmd, "sig": cmd["sig"][:-1] + other}
    assert intake.handle("approve_age", encode(forged), NOW_MS).code == "bad_signature"
    assert intake.handle("approve_age", encode(cmd), NOW_MS).accepted
