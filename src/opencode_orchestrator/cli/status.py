"""``status`` and ``cancel``: look at a project's missions, and stop one.

``status`` only reads the WALs, without their locks, so it answers while a
mission runs in another process. ``status MISSION`` shows one mission unit by
unit; ``status`` alone lists the project's missions, one line each.
``--json`` prints the mission as the document ``report.json`` holds it, or
the list. A mission whose log cannot be read (damaged before its tail, or
from a newer version) is listed as ``unreadable``, with the error and the
``wal verify`` / ``wal repair`` commands to run, and ``status`` exits 1.

``status --watch [MISSION]`` follows a mission (by default the newest one not
ended) as it runs: the live view of ``run`` (rich on a terminal, plain lines
elsewhere) on stdout, reading only what the journal gained, until the mission
ends; then its summary. A mission no process runs (nothing journaled for a few
seconds and its WAL's lock free: its process crashed or was killed) ends the
watch too, with the command that resumes it. Exit 0 if it sealed, 1 if it
ended otherwise or nobody runs it, 130 on Ctrl-C. Without MISSION, a mission
whose log cannot be read and may be unfinished is named on stderr; if it may
be the newest unfinished one (it is not known to be older), nothing is
watched and the exit code is 1: salvage its log, or name the mission.

``cancel MISSION`` first leaves a cancel request next to the mission's WAL.
A process running the mission polls for it and cancels the orderly way
(aborting its busy sessions). If no process holds the mission's WAL, this
command records the cancel itself, and aborts the sessions of the turns the
log shows open when ``--server URL`` says where OpenCode is. It says which
of the two happened.

Exit codes: 0 done; 1 an unreadable log (listed or named), or cancel of a
mission that already ended otherwise; 2 usage error (bad arguments, unknown
mission).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
import orjson

from opencode_orchestrator import runtime
from opencode_orchestrator.cli.arguments import http_url
from opencode_orchestrator.cli.live import watch_mission
from opencode_orchestrator.cli.live.watch import IDLE
from opencode_orchestrator.cli.mission import (
    add_project_argument,
    existing_project,
    server_credentials,
    usage_error,
)
from opencode_orchestrator.cli.runner import SIM_SETTINGS
from opencode_orchestrator.mission.cancelling import cancel_request_path, record_cancel
from opencode_orchestrator.mission.errors import MissionNotFoundError
from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.report import load_summary, write_report
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.mission.store import (
    MissionInfo,
    UnreadableMission,
    load_mission,
    mission_dir,
    survey_missions,
)
from opencode_orchestrator.opencode import OpenCodeClient
from opencode_orchestrator.opencode.errors import OpenCodeError
from opencode_orchestrator.wal.errors import WalError, WalLockedError
from opencode_orchestrator.wal.paths import fsync_dir, mission_wal_dir, write_private_file

__all__ = ["WATCH_IDLE", "WATCH_INTERVAL", "add_parser"]

_T = TypeVar("_T")

WATCH_INTERVAL = 0.25
"""``status --watch``: seconds between two reads of the journal (and two redraws)."""
WATCH_IDLE = IDLE
"""``status --watch``: seconds without a record before it checks that a process runs the mission."""


def add_parser(subparsers: Any) -> None:
    """Register ``status`` and ``cancel``."""
    status = subparsers.add_parser(
        "status",
        help="the project's missions, or one mission unit by unit (read-only)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument("mission", nargs="?", metavar="MISSION", help="mission id")
    status.add_argument("--json", action="store_true", help="print one JSON document")
    status.add_argument(
        "--watch",
        action="store_true",
        help="follow the mission (default: the newest unfinished one) live until it ends",
    )
    status.add_argument(
        "--interval",
        type=_interval,
        default=None,
        metavar="S",
        help=f"--watch: seconds between two reads of the journal ({WATCH_INTERVAL})",
    )
    add_project_argument(status)
    status.set_defaults(func=_status, parser=status)

    cancel = subparsers.add_parser(
        "cancel",
        help="cancel a mission (running or not)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cancel.add_argument("mission", metavar="MISSION", help="mission id")
    cancel.add_argument(
        "--server", type=http_url, metavar="URL", help="OpenCode, to abort open sessions"
    )
    cancel.add_argument("--password", help="the server's password ($OPENCODE_SERVER_PASSWORD)")
    add_project_argument(cancel)
    cancel.set_defaults(func=_cancel, parser=cancel)


def _load(args: argparse.Namespace, read: Callable[[], _T]) -> _T | int:
    """``read()`` the mission named in ``args``: a usage error if there is none, 1 if unreadable."""
    try:
        return read()
    except MissionNotFoundError as exc:
        usage_error(args, str(exc))
    except WalError as exc:
        print(f"{args.mission}: {exc} [{exc.code}]", file=sys.stderr)
        return 1


def _status(args: argparse.Namespace) -> int:
    project = existing_project(args)
    if args.watch:
        return _watch(args, project)
    if args.interval is not None:
        usage_error(args, "--interval goes with --watch")
    if args.mission is None:
        return _list(project, as_json=args.json)
    if args.json:
        summary = _load(args, lambda: load_summary(mission_dir(project, args.mission)))
        if isinstance(summary, int):
            return summary
        _print_json(summary)
        return 0
    model = _load(args, lambda: load_mission(project, args.mission))
    if isinstance(model, int):
        return model
    _print_mission(model)
    return 0


def _watch(args: argparse.Namespace, project: Path) -> int:
    if args.json:
        usage_error(args, "--watch draws a live view; --json prints one document: pick one")
    mission_id: str | None = args.mission
    if mission_id is None:
        survey = survey_missions(project)
        _say_unreadable(survey.unreadable_unfinished, "status")
        if survey.unreadable_newer_unfinished():
            print(
                "status: the newest unfinished mission may be one whose log cannot be read: "
                "salvage its log, or name the mission to watch",
                file=sys.stderr,
            )
            return 1
        mission_id = survey.latest_unfinished()
    if mission_id is None:
        usage_error(args, f"no unfinished mission in {project} to watch (name one)")
    try:
        directory = mission_wal_dir(project, mission_id)
    except ValueError as exc:
        usage_error(args, str(exc))
    if not directory.is_dir():
        usage_error(args, f"no mission {mission_id!r} in {project}")
    interval: float = args.interval if args.interval is not None else WATCH_INTERVAL
    watch = functools.partial(watch_mission, interval=interval, idle=WATCH_IDLE)
    try:
        model = runtime.run(watch, project, mission_id, sys.stdout)
    except MissionNotFoundError as exc:
        usage_error(args, str(exc))
    except WalError as exc:
        print(f"{mission_id}: {exc} [{exc.code}]", file=sys.stderr)
        return 1
    print()
    _print_header(model)
    if not model.state.final:
        target = (
            "--sim"
            if (mission_dir(project, mission_id) / SIM_SETTINGS).is_file()
            else ("--server URL")
        )
        print(
            f"\nmission {mission_id} is not running (no process holds its journal); resume it "
            f"with:\n  opencode-orchestrator resume {mission_id} --project {project} {target}"
        )
    return 0 if model.state is MissionState.SEALED else 1


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.05 <= value <= 60:
        raise argparse.ArgumentTypeError("must be between 0.05 and 60 seconds")
    return value


def _list(project: Path, *, as_json: bool) -> int:
    """List every mission, the unreadable ones too; 1 if any is unreadable."""
    survey = survey_missions(project)
    listed: list[MissionInfo | UnreadableMission] = [*survey.missions, *survey.unreadable]
    listed.sort(key=lambda m: (m.created_at is None, m.created_at or 0.0, m.mission_id))
    code = 1 if survey.unreadable else 0
    if as_json:
        _print_json(
            {"project": str(project), "missions": [_list_entry(m) for m in listed]},
        )
        return code
    if not listed:
        print(f"no missions in {project}")
    for m in listed:
        goal = m.goal.splitlines()[0][:60] if m.goal else ""
        if isinstance(m, UnreadableMission):
            when = _when(m.updated_at) if m.updated_at is not None else "-"
            row = f"{m.mission_id:<18} {'UNREADABLE':<18} {'-':>4}/{'-':<4} {when:<19}  {goal}"
            print(row.rstrip())
            for line in m.explain():
                print(f"    {line}")
            continue
        print(
            f"{m.mission_id:<18} {m.state.value:<18} {m.verified:>4}/{m.units:<4} "
            f"{_when(m.updated_at)}  {goal}"
        )
    if survey.unreadable:
        count = len(survey.unreadable)
        print(
            f"status: {count} mission{'s' if count > 1 else ''} of {project} cannot be read "
            "(listed as UNREADABLE)",
            file=sys.stderr,
        )
    return code


def _list_entry(m: MissionInfo | UnreadableMission) -> dict[str, Any]:
    if isinstance(m, MissionInfo):
        return {
            "mission_id": m.mission_id,
            "state": m.state.value,
            "goal": m.goal,
            "created_at": m.created_at,
            "updated_at": m.updated_at,
            "units": m.units,
            "verified": m.verified,
        }
    return {
        "mission_id": m.mission_id,
        "state": "unreadable",
        "goal": m.goal,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
        "units": None,
        "verified": None,
        "error": m.error,
        "error_code": m.code,
        "last_state": None if m.last_state is None else m.last_state.value,
        "journal": str(m.journal),
        "commands": m.commands,
    }


def _say_unreadable(missions: list[UnreadableMission], command: str) -> None:
    """Tell stderr about each of ``missions``, which may be unfinished but cannot be read."""
    for m in missions:
        print(
            f"{command}: mission {m.mission_id} may be unfinished but cannot be read:",
            file=sys.stderr,
        )
        for line in m.explain():
            print(f"  {line}", file=sys.stderr)


def _print_mission(model: MissionModel) -> None:
    _print_header(model)
    if not model.units:
        return
    print()
    print(
        f"{'unit':<12} {'state':<10} {'attempts':>8} {'rounds':>6} {'sessions':>8} "
        f"{'tokens':>9} {'cost':>9} {'duration':>10}  reason"
    )
    now = time.time()
    for u in model.units.values():
        if u.started_at is None:
            duration = "-"
        elif u.ended_at is None:
            duration = f"({now - u.started_at:.1f} s)"  # still going: time so far
        else:
            duration = f"{u.ended_at - u.started_at:.1f} s"
        print(
            f"{u.id:<12} {u.state.value:<10} {u.attempt:>8} {u.rounds:>6} {len(u.sessions):>8} "
            f"{u.tokens:>9,} {'$' + format(u.cost, '.4f'):>9} {duration:>10}  {u.reason[:60]}"
        )


def _print_header(model: MissionModel) -> None:
    print(f"mission    {model.mission_id}  {model.state.value.upper()}  ({model.reason or '-'})")
    print(f"goal       {model.goal}")
    print(f"project    {model.project}")
    verified, planned = model.plan_progress()  # as the seal and the report count them
    print(
        f"progress   iteration {model.iteration}, {verified} of "
        f"{planned} units verified, {len(model.turns)} turn(s) open"
    )
    print(f"usage      {model.tokens:,} tokens, ${model.cost:.4f}, {model.turns_ended} turns")
    print(f"times      created {_when(model.created_at)}, last record {_when(model.last_ts)}")


def _cancel(args: argparse.Namespace) -> int:
    project = existing_project(args)
    if args.server is not None:
        try:
            args.server, args.password = server_credentials(args.server, args.password)
        except ValueError as exc:
            usage_error(args, f"--server: {exc}")
    model = _load(args, lambda: load_mission(project, args.mission))
    if isinstance(model, int):
        return model
    if model.state.final:
        print(f"mission {args.mission} already ended {model.state.value}; nothing to cancel")
        return 0 if model.state is MissionState.CANCELLED else 1
    request = cancel_request_path(project, args.mission)
    # The request first: a process that takes the mission up from here on
    # still sees it, whatever happens to the rest of this command.
    write_private_file(request, b"", exclusive=False)
    fsync_dir(request.parent)
    return runtime.run(_cancel_idle, args, project)


async def _cancel_idle(args: argparse.Namespace, project: Path) -> int:
    mission_id: str = args.mission
    try:
        journal = await Journal.open(mission_wal_dir(project, mission_id))
    except WalLockedError as exc:
        holder = f"pid {exc.holder_pid}" if exc.holder_pid is not None else "another process"
        print(
            f"cancel requested: mission {mission_id} is running ({holder}); that process "
            f"sees the request within a second, aborts its sessions and ends it cancelled"
        )
        return 0
    except WalError as exc:
        print(f"{mission_id}: {exc} [{exc.code}]", file=sys.stderr)
        return 1
    try:
        model = journal.model
        if model.state.final:  # it ended between our read and our open
            print(f"mission {mission_id} already ended {model.state.value}")
            return 0 if model.state is MissionState.CANCELLED else 1
        sessions = sorted({turn.session for turn in model.turns.values()})
        aborted = await _abort(args, project, sessions) if args.server else None
        await record_cancel(journal, "cancelled on request (no process was running it)")
        report = await write_report(mission_dir(project, mission_id))
    finally:
        await journal.close()
    print(f"mission {mission_id} was not running: recorded it cancelled")
    if aborted is not None:
        print(f"  aborted {aborted} of {len(sessions)} open session(s)")
    elif sessions:
        print(f"  {len(sessions)} session(s) may still be busy: pass --server URL to abort them")
    print(f"  report    {report.markdown}")
    return 0


async def _abort(args: argparse.Namespace, project: Path, sessions: list[str]) -> int:
    aborted = 0
    try:
        async with OpenCodeClient(
            args.server, password=args.password, directory=str(project)
        ) as client:
            for session in sessions:
                with anyio.move_on_after(30):
                    try:
                        aborted += bool(await client.abort(session))
                    except OpenCodeError as exc:
                        print(f"  abort {session}: {exc}", file=sys.stderr)
    except OpenCodeError as exc:
        print(f"  could not reach {args.server}: {exc}", file=sys.stderr)
    return aborted


def _print_json(document: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"
