"""``opencode-orchestrator serve``: the core, speaking JSON-RPC 2.0 on stdin/stdout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Final

from opencode_orchestrator import runtime
from opencode_orchestrator.cli.arguments import integer, positive_number
from opencode_orchestrator.core import ServerOptions, serve_stdio
from opencode_orchestrator.jsonrpc import DEFAULT_MAX_LINE_BYTES
from opencode_orchestrator.log import configure_logging, flush_logging
from opencode_orchestrator.log.settings import LEVEL_VARIABLE, LEVELS, terminal_level

__all__ = ["add_parser"]

_DEFAULT_LEVEL: Final = "info"
"""stderr's level under ``serve`` when neither ``--log-level`` nor the environment sets one."""


MAX_LINE_BYTES_LIMIT: Final = 1 << 30
"""The most ``--max-line-bytes`` may be: 1 GiB (the default is 16 MiB)."""


def add_parser(subparsers: Any) -> None:
    """Register ``serve``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the core over JSON-RPC on stdio (started by the plugin shim)",
        description=(
            "Serve the orchestrator core as JSON-RPC 2.0, one JSON message per line, on "
            "stdin/stdout. stdout carries protocol messages only; logs go to stderr as JSON. "
            "Missions started over the protocol (mission/start) run in this process; on "
            "initialized it resumes the project's unfinished missions that no other process "
            "runs (docs/protocol.md, Missions)."
        ),
    )
    parser.add_argument(
        "--max-line-bytes",
        type=integer(1, MAX_LINE_BYTES_LIMIT),
        default=DEFAULT_MAX_LINE_BYTES,
        metavar="N",
        help="longest accepted message line in bytes (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        choices=list(LEVELS),
        default=None,
        help=f"log level (default: {LEVEL_VARIABLE}, else {_DEFAULT_LEVEL})",
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        metavar="PATH",
        help="also append JSON logs to this file (0600; rotated at 10 MiB, 5 kept)",
    )
    parser.add_argument(
        "--request-timeout",
        type=positive_number,
        default=30.0,
        metavar="S",
        help="timeout of calls from the core to the shim, in seconds (default: %(default)s)",
    )
    parser.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    try:
        configure_logging(terminal_level(args.log_level, _DEFAULT_LEVEL), log_file=args.log_file)
    except OSError as exc:
        print(f"opencode-orchestrator serve: --log-file: {exc}", file=sys.stderr)
        return 2
    options = ServerOptions(
        max_line_bytes=args.max_line_bytes, request_timeout=args.request_timeout
    )
    try:
        return runtime.run(serve_stdio, options)
    finally:
        flush_logging()
