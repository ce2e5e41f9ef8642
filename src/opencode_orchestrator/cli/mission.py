"""``run`` and ``resume``: a mission over OpenCode, a real server or the simulator in-process.

``run GOAL`` starts a mission in the project (``--project``, default the
current directory); ``resume [MISSION]`` carries on one that stopped (the
newest unfinished one when no id is given; a mission whose log cannot be read
and may be unfinished is named on stderr, and if it may be the newest, none is
resumed: exit 1). Both need ``--server URL`` (a
running ``opencode serve``; the password comes from ``--password``, the URL
(``http://opencode:PASSWORD@host:port``) or ``$OPENCODE_SERVER_PASSWORD``) or
``--sim`` (the simulated OpenCode, in this
process: no network, no API key; its scripted workers write placeholder
files into the project, so give it a scratch one). With ``--sim`` the
simulator's state lives in the mission's directory (or ``--state-dir``), and
its settings are saved there so ``resume --sim`` reuses both.

Settings come from the project's configuration (``opencode-orchestrator
config --show`` lists it, with where each value comes from), with the flags
below on top; an invalid configuration is a usage error. ``resume`` keeps the
mission's own settings (its journal has them) and takes only ``wal`` and
``log`` from the configuration.

Output: stdout's first line is ``mission <id>``, then the outcome, the WAL
and the report; live progress goes to stderr. ``--json``: one JSON document
on stdout at the end, ``mission <id>`` on stderr.

Exit codes: 0 sealed; 1 failed, blocked, budget exceeded, cancelled, or it
could not run (server unreachable, mission running elsewhere); 2 usage error
(bad arguments, unknown mission); 130 stopped before an end (a second Ctrl-C,
SIGTERM or SIGHUP), resumable. The first Ctrl-C cancels the mission.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Final, NoReturn
from urllib.parse import unquote, urlsplit, urlunsplit

from opencode_orchestrator import runtime
from opencode_orchestrator.cli.arguments import (
    command,
    field_integer,
    field_number,
    http_url,
    integer,
)
from opencode_orchestrator.cli.config import project_config
from opencode_orchestrator.cli.runner import (
    RunOptions,
    Target,
    announce,
    drive,
    exit_code,
    load_sim_settings,
    print_outcome,
    save_sim_settings,
)
from opencode_orchestrator.config import Effective, KeyPath, flag_layer
from opencode_orchestrator.mission.config import BudgetConfig, LimitsConfig
from opencode_orchestrator.mission.engine import MissionEngine, new_mission_id
from opencode_orchestrator.mission.errors import MissionNotFoundError
from opencode_orchestrator.mission.store import (
    load_mission,
    mission_dir,
    running_elsewhere,
    survey_missions,
)
from opencode_orchestrator.opencode import AUTH_USER, OpenCodeClient
from opencode_orchestrator.sim import SimConfig
from opencode_orchestrator.sim.config import PlannerConfig, PlanShape
from opencode_orchestrator.wal.errors import WalError

__all__ = [
    "add_parser",
    "add_project_argument",
    "existing_project",
    "server_credentials",
    "usage_error",
]

_LIMITS: Final = {
    "concurrency": "--concurrency",
    "max_units": "--max-units",
    "max_attempts": "--max-attempts",
    "max_iterations": "--max-iterations",
    "max_depth": "--max-depth",
}
_BUDGET: Final = {"max_tokens": "--max-tokens", "max_cost": "--max-cost", "max_wall": "--max-wall"}

_NUMERIC_FLAGS: Final[list[tuple[str, Callable[[str], float], str, str]]] = [
    ("--concurrency", field_integer(LimitsConfig, "concurrency"), "N", "sessions at once"),
    ("--max-units", field_integer(LimitsConfig, "max_units"), "N", "units in all"),
    ("--max-attempts", field_integer(LimitsConfig, "max_attempts"), "N", "per unit"),
    ("--max-iterations", field_integer(LimitsConfig, "max_iterations"), "N", "plan/review loops"),
    ("--max-depth", field_integer(LimitsConfig, "max_depth"), "N", "delegation depth"),
    ("--max-tokens", field_integer(BudgetConfig, "max_tokens"), "N", "token budget"),
    ("--max-cost", field_number(BudgetConfig, "max_cost"), "X", "cost budget (dollars)"),
    ("--max-wall", field_number(BudgetConfig, "max_wall_seconds"), "S", "wall-time budget (s)"),
]
"""``run``'s limits and budget flags, each range-checked as the key it sets is."""


def usage_error(args: argparse.Namespace, message: str) -> NoReturn:
    """Exit 2 with the command's usage and ``message``, as argparse does for bad arguments."""
    parser: argparse.ArgumentParser = args.parser
    parser.error(message)


def add_project_argument(parser: argparse.ArgumentParser) -> None:
    """``--project DIR``, the directory missions live under (default: the current one)."""
    parser.add_argument(
        "--project", type=Path, default=Path(), metavar="DIR", help="project (default: cwd)"
    )


def existing_project(args: argparse.Namespace) -> Path:
    """The resolved ``--project``; a usage error (exit 2) if it is not a directory."""
    project: Path = args.project
    if not project.is_dir():
        usage_error(args, f"--project {project}: not a directory")
    return project.resolve()


def add_parser(subparsers: Any) -> None:
    """Register ``run`` and ``resume``."""
    run = subparsers.add_parser(
        "run",
        help="run a mission to its end (over --server URL, or --sim in-process)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("goal", metavar="GOAL", help="what the mission is to achieve")
    _add_target(run)
    limits = run.add_argument_group("limits (defaults: the project's configuration)")
    for flag, kind, metavar, text in _NUMERIC_FLAGS:
        limits.add_argument(flag, type=kind, metavar=metavar, help=text)
    run.add_argument(
        "--check",
        action="append",
        type=command,
        default=[],
        metavar="CMD",
        help="a mission check (shell command) that must pass to seal; repeatable",
    )
    sim = run.add_argument_group("simulator (with --sim)")
    sim.add_argument(
        "--sim-units",
        type=field_integer(PlannerConfig, "units"),
        metavar="N",
        help="units planned (6)",
    )
    sim.add_argument(
        "--sim-shape", choices=[s.value for s in PlanShape], help="plan DAG shape (diamond)"
    )
    sim.add_argument("--sim-seed", type=integer(0), metavar="N", help="seed of every draw (0)")
    run.set_defaults(func=_run, parser=run)

    resume = subparsers.add_parser(
        "resume",
        help="resume a mission that stopped (default: the newest unfinished one)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    resume.add_argument("mission", nargs="?", metavar="MISSION", help="mission id")
    _add_target(resume)
    resume.set_defaults(func=_resume, parser=resume)


def _add_target(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--server", type=http_url, metavar="URL", help="a running `opencode serve`")
    target.add_argument(
        "--sim",
        action="store_true",
        help="the simulated OpenCode, in-process (its workers write placeholder files "
        "into the project: use a scratch directory)",
    )
    parser.add_argument("--password", help="the server's password ($OPENCODE_SERVER_PASSWORD)")
    parser.add_argument("--state-dir", type=Path, metavar="DIR", help="--sim: simulator state")
    add_project_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document at the end")


def _check_target(args: argparse.Namespace) -> None:
    names = ("state_dir", "sim_units", "sim_shape", "sim_seed")
    sim_only = ["--" + n.replace("_", "-") for n in names if getattr(args, n, None) is not None]
    if sim_only and not args.sim:
        usage_error(args, f"{', '.join(sim_only)} only apply with --sim")
    if args.password is not None and args.sim:
        usage_error(args, "--password only applies with --server")
    if args.server is not None:
        try:
            args.server, args.password = server_credentials(args.server, args.password)
        except ValueError as exc:
            usage_error(args, f"--server: {exc}")


def server_credentials(url: str, password: str | None) -> tuple[str, str | None]:
    """``url`` without the credentials it may hold, and the password to log in with.

    ``http://opencode:pw@host:4096`` → ``("http://host:4096", "pw")``: the client
    sends the password itself (the URL's would clash with its header).

    Raises:
        ValueError: the URL names a user other than ``opencode`` (the only one
            the client logs in as), or a password ``password`` contradicts.
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, password
    if parts.username is not None and unquote(parts.username) not in ("", AUTH_USER):
        raise ValueError(
            f"user {unquote(parts.username)!r} in the URL: the client logs in as {AUTH_USER!r}"
        )
    host = parts.netloc.rpartition("@")[2]
    stripped = urlunsplit(parts._replace(netloc=host))
    if parts.password is None:
        return stripped, password
    given = unquote(parts.password)
    if password is not None and password != given:
        raise ValueError("the URL's password and --password differ: give it once")
    return stripped, given


def _flags(args: argparse.Namespace) -> dict[KeyPath, tuple[str, Any]]:
    """The configuration keys the command line sets, each with its flag."""
    flags: dict[KeyPath, tuple[str, Any]] = {}
    for key, flag in _LIMITS.items():
        if getattr(args, key) is not None:
            flags[("limits", key)] = (flag, getattr(args, key))
    for key, flag in _BUDGET.items():
        if getattr(args, key) is not None:
            name = "max_wall_seconds" if key == "max_wall" else key
            flags[("budget", name)] = (flag, getattr(args, key))
    if args.check:
        flags[("checks",)] = ("--check", list(args.check))
    return flags


def _resume_hint(project: Path, mission_id: str, args: argparse.Namespace) -> str:
    where = "--sim" if args.sim else f"--server {args.server}"
    return f"opencode-orchestrator resume {mission_id} --project {project} {where}"


def _run(args: argparse.Namespace) -> int:
    _check_target(args)
    if not args.goal.strip():
        usage_error(args, "GOAL must not be empty")
    project = existing_project(args)
    effective = project_config(args, project, flag_layer(_flags(args)))
    _warn_of_other_processes(project)
    mission_id = new_mission_id()
    target = Target(server=args.server, password=args.password)
    if args.sim:
        sim = SimConfig.model_validate(
            {
                "seed": args.sim_seed or 0,
                "cost_per_1k_tokens": 0.003,
                "latency": {"mean": 0.01, "jitter": 0.01},
                "planner": {"units": args.sim_units or 6, "shape": args.sim_shape or "diamond"},
            }
        )
        state = (args.state_dir or mission_dir(project, mission_id) / "sim").resolve()
        save_sim_settings(project, mission_id, sim, state)
        target = Target(sim=sim, sim_state=state)
    options = RunOptions(project, target, json=args.json)
    announce(mission_id, options)
    opener = functools.partial(
        _create, project=project, goal=args.goal, effective=effective, mission_id=mission_id
    )
    result = runtime.run(drive, options, mission_id, opener)
    print_outcome(result, options, resume_hint=_resume_hint(project, mission_id, args))
    return exit_code(result)


def _warn_of_other_processes(project: Path, resuming: str | None = None) -> None:
    """Say so on stderr when another process runs a mission in ``project`` now."""
    for other, pid in running_elsewhere(project):
        if other == resuming:
            continue  # resume itself says the log is locked, and by whom
        print(
            f"warning: mission {other} is running in {project} (pid {pid}); missions run by "
            "different processes do not share file scopes, so units of both may change "
            "the same files at once",
            file=sys.stderr,
        )


def _create(
    client: OpenCodeClient, *, project: Path, goal: str, effective: Effective, mission_id: str
) -> AbstractAsyncContextManager[MissionEngine]:
    config = effective.config
    return MissionEngine.create(
        project,
        goal,
        client,
        config=config.mission(),
        mission_id=mission_id,
        durability=config.wal.durability,
        sync_interval=config.wal.sync_interval,
        log=config.log,
    )


def _resume(args: argparse.Namespace) -> int:
    _check_target(args)
    project = existing_project(args)
    settings = project_config(args, project).config
    mission_id = args.mission
    if mission_id is None:
        survey = survey_missions(project)
        for damaged in survey.unreadable_unfinished:  # never skipped silently
            lines = [f"  {line}" for line in damaged.explain()]
            print(
                f"resume: mission {damaged.mission_id} may be unfinished but cannot be read:",
                *lines,
                sep="\n",
                file=sys.stderr,
            )
        if survey.unreadable_newer_unfinished():
            print(
                "resume: the newest unfinished mission may be one whose log cannot be read: "
                "salvage its log, or name the mission to resume",
                file=sys.stderr,
            )
            return 1
        mission_id = survey.latest_unfinished()
    if mission_id is None:
        print(f"resume: no unfinished mission in {project}", file=sys.stderr)
        return 1
    try:
        load_mission(project, mission_id)
    except MissionNotFoundError as exc:
        usage_error(args, str(exc))
    except WalError as exc:
        print(f"resume: {exc} [{exc.code}]", file=sys.stderr)
        return 1
    _warn_of_other_processes(project, resuming=mission_id)
    target = Target(server=args.server, password=args.password)
    if args.sim:
        sim, state = load_sim_settings(project, mission_id)
        target = Target(sim=sim, sim_state=(args.state_dir or state).resolve())
    options = RunOptions(project, target, json=args.json)
    announce(mission_id, options)

    def opener(client: OpenCodeClient) -> AbstractAsyncContextManager[MissionEngine]:
        return MissionEngine.resume(
            project,
            mission_id,
            client,
            durability=settings.wal.durability,
            sync_interval=settings.wal.sync_interval,
            log=settings.log,
        )

    result = runtime.run(drive, options, mission_id, opener)
    print_outcome(result, options, resume_hint=_resume_hint(project, mission_id, args))
    return exit_code(result)
