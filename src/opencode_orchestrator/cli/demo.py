"""Placeholder for the `demo` subcommand (being written)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    """Register `demo`."""
    p: argparse.ArgumentParser = subparsers.add_parser("demo", help="(not yet available)")
    p.set_defaults(func=lambda _args: 2)
