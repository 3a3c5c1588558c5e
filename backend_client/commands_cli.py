"""``sco command keygen`` and ``sco command sign``: keys and signed commands by hand.

For installers and tests; the attendant app and the backend sign the same way
(``backend_client.signing``). Private keys are read from files, never from arguments.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from backend_client.commands import ACTIONS, ROLES
from backend_client.schema_validation import validate
from backend_client.signing import generate_keypair, load_private_key, sign_command
from kiosk.errors import ConfigError

EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``command`` command and its subcommands to the ``sco`` command line."""
    command = subparsers.add_parser(
        "command",
        help="make signing keys and signed commands for a lane",
        description="Make Ed25519 signing keys and signed commands (docs/mqtt.md).",
    )
    actions = command.add_subparsers(dest="command_action", metavar="ACTION", required=True)

    keygen = actions.add_parser(
        "keygen",
        help="write a new key pair NAME.key (owner-only) and NAME.pub",
        description="Write DIR/NAME.key (private, mode 0600) and DIR/NAME.pub (public). "
        "Copy the .pub into each lane's trust_dir and list it in trust.toml.",
    )
    keygen.add_argument("--dir", required=True, help="where to write the key files")
    keygen.add_argument("--name", required=True, help="key id: the files' base name")
    keygen.set_defaults(func=_keygen)

    sign = actions.add_parser(
        "sign",
        help="print one signed command as JSON",
        description="Print a signed command for cmd/ACTION on stdout.",
    )
    sign.add_argument("--key", required=True, help="PEM private key file")
    sign.add_argument("--key-id", required=True, help="the key's id in the lane's trust.toml")
    sign.add_argument("--kiosk", required=True, help="target kiosk id")
    sign.add_argument("--action", required=True, choices=ACTIONS)
    sign.add_argument("--args", default="{}", help="the action's arguments as a JSON object")
    sign.add_argument("--ttl", type=int, default=30, help="seconds until it expires (default 30)")
    sign.add_argument("--issuer", help="issuer id (default: the key id)")
    sign.add_argument("--role", choices=ROLES, default="attendant")
    sign.add_argument("--catalog", help="for catalog_update: the CSV to send (sets csv, sha256)")
    sign.add_argument("--catalog-version", type=int, help="for catalog_update: its version")
    sign.set_defaults(func=_sign)


def _keygen(args: argparse.Namespace) -> int:
    key_path, pub_path = generate_keypair(args.dir, args.name)
    print(f"private key: {key_path} (keep it on the signer only)")
    print(f"public key:  {pub_path}")
    return 0


def _sign(args: argparse.Namespace) -> int:
    try:
        cmd_args: Any = json.loads(args.args)
    except json.JSONDecodeError as err:
        print(f"sco command sign: --args is not JSON: {err}", file=sys.stderr)
        return EXIT_USAGE
    if not isinstance(cmd_args, dict):
        print("sco command sign: --args must be a JSON object", file=sys.stderr)
        return EXIT_USAGE
    if args.catalog:
        csv = _read_text(args.catalog)
        cmd_args.update(csv=csv, sha256=hashlib.sha256(csv.encode("utf-8")).hexdigest())
        if args.catalog_version is not None:
            cmd_args["version"] = args.catalog_version
    issued_at = int(time.time())  # whole seconds keep the canonical form portable
    cmd = {
        "command_id": str(uuid.uuid4()),
        "action": args.action,
        "kiosk_id": args.kiosk,
        "issuer": {"id": args.issuer or args.key_id, "role": args.role},
        "issued_at": issued_at,
        "expires_at": issued_at + args.ttl,
        "args": cmd_args,
    }
    signed = sign_command(cmd, load_private_key(args.key), args.key_id)
    problems = validate("command", signed)
    if problems:
        # Say so before an operator sends something every lane will refuse.
        for problem in problems:
            print(f"sco command sign: {problem}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(signed, sort_keys=True, ensure_ascii=False))
    return 0


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {path} as UTF-8 text: {err}") from err
