"""``sco config check FILE`` and ``sco config defaults``."""

from __future__ import annotations

import argparse

from kiosk.config import ConfigFileError, load_config, render_default_config
from kiosk.errors import ConfigError

# Exit status for "the configuration is wrong", as argparse uses for a wrong command line.
EXIT_BAD_CONFIG = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``config`` command and its subcommands to the ``sco`` command line."""
    config = subparsers.add_parser(
        "config",
        help="check a lane configuration file or print the defaults",
        description="Check a lane configuration file or print a commented default one.",
    )
    commands = config.add_subparsers(dest="config_command", metavar="COMMAND", required=True)

    check = commands.add_parser(
        "check",
        help="validate FILE and list every problem",
        description="Validate FILE; exit 0 if it is usable, 2 with one line per problem if not.",
    )
    check.add_argument("file", metavar="FILE", help="the lane's TOML configuration file")
    check.set_defaults(func=_check)

    defaults = commands.add_parser(
        "defaults",
        help="print a complete commented configuration at its defaults",
        description="Print a complete commented configuration file with every default.",
    )
    defaults.set_defaults(func=_defaults)


def _check(args: argparse.Namespace) -> int:
    source: str = args.file
    try:
        config = load_config(source)
    except ConfigFileError as err:
        for problem in err.problems:
            print(f"{source}: {problem}")
        return EXIT_BAD_CONFIG
    except ConfigError as err:
        print(f"{source}: {err}")
        return EXIT_BAD_CONFIG
    print(f"{source}: OK")
    print(
        f"lane {config.kiosk_id} in store {config.store_id}, language {config.default_language}, "
        f"catalog {config.catalog_path}, data in {config.data_dir}, log level {config.log_level}"
    )
    return 0


def _defaults(args: argparse.Namespace) -> int:
    print(render_default_config(), end="")
    return 0
