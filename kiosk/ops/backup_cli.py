"""``sco backup FILE``, ``sco backup list|prune|verify``, ``sco restore FILE``."""

from __future__ import annotations

import argparse
from pathlib import Path

from kiosk.config import KioskConfig, load_config
from kiosk.errors import KioskError

ACTIONS = ("list", "prune", "verify")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``backup`` and ``restore`` to the ``sco`` command line."""
    p = subparsers.add_parser(
        "backup",
        help="back up a lane (config, catalog, journal, outbox, calibration) while it runs",
        description=(
            "sco backup FILE --config CONFIG: write a backup of the lane to FILE. "
            "sco backup list|prune --config CONFIG: the scheduled backups in [ops] backup_dir. "
            "sco backup verify FILE: check a backup without restoring it. Shopper images and "
            "private keys are never included (docs/operations.md)."
        ),
    )
    p.add_argument(
        "target",
        metavar="FILE|list|prune|verify",
        help="backup file to write (./list for a file named list), or an action",
    )
    p.add_argument("file", nargs="?", help="with verify: the backup file to check")
    p.add_argument("--config", help="the lane's TOML configuration file")
    p.add_argument("--dir", help="backup folder for list/prune (default: [ops] backup_dir)")
    p.add_argument("--keep", type=int, help="for prune: backups kept (default: [ops] backup_keep)")
    p.set_defaults(func=cmd_backup)

    p = subparsers.add_parser(
        "restore",
        help="restore a lane's data dir from a backup, verified",
        description=(
            "Verify FILE's manifest and every sha256, restore into the data dir that CONFIG "
            "names (the old one is kept aside), and check that the journal recovers the "
            "backed-up cart. CONFIG is written from the backup when it does not exist."
        ),
    )
    p.add_argument("file", metavar="FILE", help="a backup made by sco backup")
    p.add_argument("--config", required=True, help="the lane's TOML configuration file")
    p.add_argument("--force", action="store_true",
                   help="restore even though a process has the lane's journal open")  # fmt: skip
    p.set_defaults(func=cmd_restore)


def _config(args: argparse.Namespace) -> KioskConfig:
    if not args.config:
        raise KioskError(f"{args.target}: needs --config FILE (the lane's configuration)")
    return load_config(args.config)


def cmd_backup(args: argparse.Namespace) -> int:
    from kiosk.ops.backup import make_backup, verify_backup

    if args.target == "verify":
        if not args.file:
            raise KioskError("verify: give the backup FILE to check")
        manifest = verify_backup(args.file)
        print(f"{args.file}: OK: {len(manifest['members'])} members, lane "
              f"{manifest['kiosk_id']}, made {manifest['created']}")  # fmt: skip
        return 0
    if args.target in ("list", "prune"):
        return _list_or_prune(args)
    config = _config(args)
    result = make_backup(args.target, config, args.config)
    _print_summary(Path(args.target), result.manifest)
    return 0


def _list_or_prune(args: argparse.Namespace) -> int:
    from kiosk.ops.backup_schedule import list_backups, prune_backups

    config = _config(args)
    ops = config.sections.get("ops", {})
    folder = args.dir or ops.get("backup_dir", "")
    if not folder:
        raise KioskError(f"{args.target}: no backup folder: set [ops] backup_dir or give --dir")
    if args.target == "prune":
        keep = args.keep if args.keep is not None else int(ops.get("backup_keep", 7))
        if keep < 1:
            raise KioskError("prune: --keep must be at least 1")
        for path in prune_backups(folder, config.kiosk_id, keep):
            print(f"deleted {path}")
    for path in list_backups(folder, config.kiosk_id):
        print(f"{path}  {path.stat().st_size} bytes")
    return 0


def _print_summary(path: Path, manifest: dict) -> None:  # type: ignore[type-arg]
    cart, journal, excluded = manifest["cart"], manifest["journal"], manifest["excluded"]
    print(f"{path}: {len(manifest['members'])} members, {path.stat().st_size} bytes, "
          f"lane {manifest['kiosk_id']}")  # fmt: skip
    sale = (
        f"open sale {cart['session_id']}: {len(cart['lines'])} line(s), "
        f"total {cart['totals']['total_minor']}"
        if cart["session_id"]
        else "no sale open"
    )
    print(f"{sale}; next seq {cart['seq'] + 1}; outbox {journal['outbox_rows']} rows "
          f"({journal['outbox_pending']} unsent)")  # fmt: skip
    print(f"left out: {excluded['images']} image(s), {len(excluded['private_keys'])} private "
          f"key file(s), {len(excluded['other'])} other file(s)")  # fmt: skip


def cmd_restore(args: argparse.Namespace) -> int:
    from kiosk.ops.restore import restore_backup

    report = restore_backup(args.file, args.config, force=args.force)
    cart = report.manifest["cart"]
    print(f"{args.file}: verified and restored into {report.data_dir}")
    if report.moved_aside is not None:
        print(f"the previous data dir is kept at {report.moved_aside}")
    for path in report.written:
        print(f"wrote {path}")
    for kept, beside in report.kept:
        print(f"kept {kept} (differs from the backup's; the backup's copy is {beside})")
    lines = len(cart["lines"])
    print(
        f"journal recovers session {cart['session_id'] or '(none open)'} with {lines} line(s), "
        f"total {cart['totals']['total_minor']}, next seq {cart['seq'] + 1}: as backed up"
    )
    return 0
