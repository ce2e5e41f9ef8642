"""Entry point of the ``opencode-orchestrator`` command.

Each subcommand lives in its own module with an ``add_parser(subparsers)``
function that registers it and sets ``func`` (the handler, returning the exit
code) on its parser. Handlers print results to stdout and errors to stderr. Logging is set up here
for every command (JSON on stderr, level from ``OPENCODE_ORCHESTRATOR_LOG_LEVEL``,
default warning) so no library log line can ever reach stdout; a command with
its own logging options, such as ``serve``, reconfigures it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from opencode_orchestrator import __version__
from opencode_orchestrator.cli import config, demo, install, mission, serve, sim, status, wal
from opencode_orchestrator.log import configure_logging

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
    for module in (demo, mission, status, config, install, serve, wal, sim):
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.func
    level = os.environ.get("OPENCODE_ORCHESTRATOR_LOG_LEVEL", "warning")
    try:
        configure_logging(level)
    except ValueError as exc:
        print(f"opencode-orchestrator: OPENCODE_ORCHESTRATOR_LOG_LEVEL: {exc}", file=sys.stderr)
        return 2
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
