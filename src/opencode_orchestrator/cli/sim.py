"""``opencode-orchestrator sim-server``: a simulated OpenCode server for tests and demos.

Prints one line, the base URL, on stdout once it accepts requests; logs go to
stderr. SIGTERM or SIGINT stops it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

import anyio

from opencode_orchestrator import runtime
from opencode_orchestrator.cli.arguments import field_number, integer
from opencode_orchestrator.log import configure_logging, flush_logging
from opencode_orchestrator.log.settings import LEVEL_VARIABLE, LEVELS, terminal_level
from opencode_orchestrator.sim import SimConfig, SimError, SimServer, load_config

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    """Register ``sim-server``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sim-server",
        help="run a simulated OpenCode server (scripted agents, injectable faults)",
        description="Serve a simulated OpenCode 1.18.33 API on loopback. See docs/simulator.md.",
    )
    parser.add_argument(
        "--port", type=integer(0, 65535), default=0, help="port (default: any free one)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback host (default: %(default)s)")
    parser.add_argument("--state-dir", type=Path, required=True, help="where state persists")
    parser.add_argument("--seed", type=integer(0), default=None, help="seed of every random draw")
    parser.add_argument("--password", default=None, help="require basic auth (user opencode)")
    parser.add_argument("--config", type=Path, default=None, help="JSON config (faults, agents)")
    parser.add_argument(
        "--heartbeat",
        type=field_number(SimConfig, "heartbeat"),
        default=None,
        help="SSE heartbeat seconds",
    )
    parser.add_argument("--directory", default=None, help="default project directory (cwd)")
    parser.add_argument(
        "--log-level",
        choices=list(LEVELS),
        default=None,
        help=f"log level (default: {LEVEL_VARIABLE}, else warning)",
    )
    parser.set_defaults(func=_run)


def _config(args: argparse.Namespace) -> SimConfig:
    overrides: dict[str, Any] = {}
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.heartbeat is not None:
        overrides["heartbeat"] = args.heartbeat
    return load_config(args.config, overrides)


async def _serve(args: argparse.Namespace, config: SimConfig) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with SimServer.running(
            args.state_dir,
            config=config,
            host=args.host,
            port=args.port,
            password=args.password,
            directory=args.directory,
        ) as sim:
            print(sim.base_url, flush=True)
            async for _signal in signals:
                break


def _run(args: argparse.Namespace) -> int:
    configure_logging(terminal_level(args.log_level, "warning"))
    try:
        runtime.run(_serve, args, _config(args))
    except SimError as exc:
        print(f"sim-server: {exc} [{exc.code}]", file=sys.stderr)
        return 2
    finally:
        flush_logging()
    return 0
