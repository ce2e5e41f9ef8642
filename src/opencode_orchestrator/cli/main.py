"""Entry point of the ``opencode-orchestrator`` command.

Each subcommand lives in its own module with an ``add_parser(subparsers)``
function that registers it and sets ``func`` (the handler, returning the exit
code) on its parser. Handlers print results to stdout and errors to stderr. Logging is set up here
for every command (JSON on stderr) so no library log line can ever reach stdout.
stderr's level: ``-v`` (info) or ``-vv`` (debug), accepted by every command, else
``OPENCODE_ORCHESTRATOR_LOG_LEVEL`` (empty: unset), else warning. A command with its
own logging options (``serve``, ``sim-server``) reconfigures it: its ``--log-level``,
else the same variable, else its own default; never quieter than ``-v`` asked.
A mission's own ``mission.log`` has its own level (info) whatever stderr shows.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from opencode_orchestrator import __version__
from opencode_orchestrator.cli import config, demo, install, mission, serve, sim, status, wal
from opencode_orchestrator.log import configure_logging, force_verbosity
from opencode_orchestrator.log.settings import LEVEL_VARIABLE, terminal_level

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]

_VERBOSITY: Final = ("info", "debug")
"""stderr's level for ``-v``, ``-vv`` (and more)."""


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
    for command in _every_parser(parser):
        if command.description:
            command.description = _plain(command.description)
        command.add_argument(
            "-v",
            "--verbose",
            action="count",
            # Unset unless given: a subcommand's default would overwrite the
            # count given before it (`wal -v verify`).
            default=argparse.SUPPRESS,
            help="log more on stderr: -v info, -vv debug (over OPENCODE_ORCHESTRATOR_LOG_LEVEL)",
        )
    return parser


_ROLE: Final = re.compile(r":[a-z]+:`~?([^`]*)`")
_LITERAL: Final = re.compile(r"``([^`]*)``")


def _plain(doc: str) -> str:
    """A module docstring as ``--help`` shows it: without reStructuredText markup."""
    doc = _ROLE.sub(lambda match: match.group(1).rsplit(".", 1)[-1], doc)
    return _LITERAL.sub(r"`\1`", doc)


def _every_parser(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """``parser`` and every (sub)command parser below it."""
    yield parser
    # argparse has no public way to list subparsers; its actions hold them.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in dict.fromkeys(action.choices.values()):  # aliases: once each
                yield from _every_parser(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.func
    count: int = getattr(args, "verbose", 0)
    verbose = _VERBOSITY[min(count, len(_VERBOSITY)) - 1] if count else None
    force_verbosity(verbose)
    try:
        configure_logging(verbose or terminal_level(None, "warning"))
    except ValueError as exc:
        print(f"opencode-orchestrator: {LEVEL_VARIABLE}: {exc}", file=sys.stderr)
        return 2
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed pipe fails here, inside the try, not at exit
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (`status | head`): not an error of ours.
        # Point stdout at /dev/null so the interpreter's final flush cannot raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    return code
