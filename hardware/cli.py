"""`sco` subcommands of the hardware package (filled in by the hardware issue)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands to `sco`."""
