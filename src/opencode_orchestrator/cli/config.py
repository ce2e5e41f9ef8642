"""``config``: the effective configuration and where each value comes from.

``config --show`` prints every key with its value and its source: ``default``,
a file (``path:line:column``), ``environment VARIABLE`` or ``flag --name``
(``--json``: one JSON document). ``config --check`` only validates: exit 0
when the configuration is valid, 1 with the error when it is not. ``config
--reference`` prints the Markdown reference of every key (the one in
docs/configuration.md).

Sources, lowest precedence first: defaults; the orchestrator's keys in the
plugin options of the user's opencode.json(c); the user's
$XDG_CONFIG_HOME/opencode/orchestrator.json(c); the plugin options in the
project's opencode.json(c); the project's .opencode/orchestrator.json(c); the
environment (OPENCODE_ORCHESTRATOR_CONFIG_CONTENT, a JSONC object, then
OPENCODE_ORCHESTRATOR_WAL_FSYNC);
command-line flags (of ``run``). Objects merge key by key; lists replace.

Exit codes: 0 valid; 1 invalid configuration (a file that cannot be read or
parsed, an unknown key, a value not allowed); 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from opencode_orchestrator.config import (
    ConfigError,
    ConfigValueError,
    Effective,
    Layer,
    load_config,
    render_reference,
)

__all__ = ["add_parser", "config_error_lines", "project_config"]


def add_parser(subparsers: Any) -> None:
    """Register ``config``."""
    parser = subparsers.add_parser(
        "config",
        help="show or check the effective configuration, or print its reference",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--show", action="store_true", help="every value in force, with its source")
    action.add_argument(
        "--check", action="store_true", help="validate only: exit 1 with the error if invalid"
    )
    action.add_argument(
        "--reference", action="store_true", help="the Markdown reference of every key"
    )
    parser.add_argument(
        "--project", type=Path, default=Path(), metavar="DIR", help="project (default: cwd)"
    )
    parser.add_argument("--json", action="store_true", help="--show: one JSON document")
    parser.set_defaults(func=_config, parser=parser)


def config_error_lines(exc: ConfigError) -> list[str]:
    """The error as lines for a person (one per problem)."""
    if isinstance(exc, ConfigValueError):
        return [problem.text for problem in exc.problems]
    return [str(exc)]


def project_config(
    args: argparse.Namespace, project: Path, flags: Layer | None = None
) -> Effective:
    """The configuration of ``project`` with ``flags`` on top; exit 2 when it is invalid."""
    try:
        return load_config(project, flags=flags)
    except ConfigError as exc:
        _usage_error(args, "invalid configuration: " + "; ".join(config_error_lines(exc)))


def _usage_error(args: argparse.Namespace, message: str) -> NoReturn:
    parser: argparse.ArgumentParser = args.parser
    parser.error(message)


def _config(args: argparse.Namespace) -> int:
    if args.reference:
        sys.stdout.write(render_reference())
        return 0
    project: Path = args.project
    if not project.is_dir():
        _usage_error(args, f"--project {project}: not a directory")
    try:
        effective = load_config(project.resolve())
    except ConfigError as exc:
        for line in config_error_lines(exc):
            print(f"opencode-orchestrator config: {line}", file=sys.stderr)
        return 1
    if args.check:
        print("configuration valid")
        return 0
    if args.json:
        print(json.dumps(_as_json(effective), indent=2, ensure_ascii=False))
    else:
        print(_as_table(effective))
    return 0


def _as_json(effective: Effective) -> dict[str, Any]:
    return {
        "config": effective.config.model_dump(mode="json"),
        "sources": {key: str(origin) for key, _value, origin in effective.entries()},
    }


def _as_table(effective: Effective) -> str:
    rows = [
        (key, json.dumps(value, ensure_ascii=False), str(origin))
        for key, value, origin in effective.entries()
    ]
    key_width = max(len(key) for key, _, _ in rows)
    value_width = min(max(len(value) for _, value, _ in rows), 40)
    return "\n".join(
        f"{key:<{key_width}}  {value:<{value_width}}  {origin}" for key, value, origin in rows
    )
