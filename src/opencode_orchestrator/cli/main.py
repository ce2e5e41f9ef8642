"""Entry point of the ``opencode-orchestrator`` command.

Each subcommand lives in its own module with an ``add_parser(subparsers)``
function that registers it and sets ``func`` (the handler, returning the exit
code) on its parser. Handlers print results to stdout and errors to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from opencode_orchestrator import __version__
from opencode_orchestrator.cli import demo, serve, wal

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="opencode-orchestrator",
        description=(
            "Multi-agent mission runner for OpenCode. The plugin shim runs `serve`; "
            "the other commands are for people."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for module in (serve, wal, demo):
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.func
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
