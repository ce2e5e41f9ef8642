"""Placeholder for the `serve` subcommand (being written)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    """Register `serve`."""
    p: argparse.ArgumentParser = subparsers.add_parser("serve", help="(not yet available)")
    p.set_defaults(func=lambda _args: 2)
