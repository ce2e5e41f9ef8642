"""Running one mission from the command line: connect, run with live progress, report.

Shared by ``run``, ``resume`` and ``demo``. Where output goes:

* **stdout** carries results. Its first line is ``mission <id>``, printed as
  soon as the id is known, so a script can read it (to ``status`` or
  ``cancel`` the mission) while the mission runs; the outcome and the paths of
  the WAL, the mission's log and the report follow when it ends. With ``--json``, stdout is one
  JSON document written at the end and nothing else, and the ``mission <id>``
  line goes to stderr instead.
* **stderr** carries the live view (rich on a terminal, plain change-driven
  lines elsewhere: :mod:`.live`), errors and logs.

Signals. The first SIGINT (Ctrl-C) cancels the mission the orderly way (its
busy sessions are aborted, it ends CANCELLED); a second one stops this process
at once, leaving the mission resumable. SIGTERM and SIGHUP never cancel: they
come from a machine shutting down, a service manager, ``timeout`` or a closed
terminal, none of which means "abandon the work", so they stop this process at
once and the mission stays resumable (its turns under way are adopted by
``resume``).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final

import anyio
import orjson

from opencode_orchestrator.cli.live import Progress
from opencode_orchestrator.errors import OrchestratorError
from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.contracts import MISSION_AGENTS
from opencode_orchestrator.mission.engine import MissionEngine, mission_log_path
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.report import ReportPaths, mission_summary, write_report
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.mission.store import mission_dir, read_journal
from opencode_orchestrator.opencode import OpenCodeClient
from opencode_orchestrator.opencode.errors import (
    OpenCodeAuthError,
    OpenCodeConnectionError,
    OpenCodeError,
    OpenCodeTimeoutError,
)
from opencode_orchestrator.sim import SimConfig, SimServer
from opencode_orchestrator.wal.paths import ensure_private_dir, mission_wal_dir, write_private_file

__all__ = [
    "SIM_SETTINGS",
    "MissingAgentsError",
    "Opener",
    "RunOptions",
    "RunResult",
    "Target",
    "announce",
    "check_agents",
    "drive",
    "exit_code",
    "load_sim_settings",
    "print_outcome",
    "save_sim_settings",
]

_log = get_logger(__name__)

SIM_SETTINGS: Final = "sim.json"
"""In a mission's directory: the simulator settings and state directory of ``--sim`` runs."""

Opener = Callable[[OpenCodeClient], AbstractAsyncContextManager[MissionEngine]]
"""Opens the engine over a connected client: ``MissionEngine.create`` or ``.resume``."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where OpenCode is: a server's URL, or the simulator run in this process."""

    server: str | None = None
    password: str | None = None
    sim: SimConfig | None = None
    sim_state: Path | None = None
    """The simulator's state directory (its sessions survive a resume)."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run: the project, OpenCode, and what to print."""

    project: Path
    target: Target
    json: bool = False
    progress: bool = True


@dataclass(slots=True)
class RunResult:
    """What a run ended with; ``error`` set when it could not run to an end."""

    mission_id: str
    wal: Path
    log: Path | None = None
    """The mission's own log file (``mission.log``)."""
    model: MissionModel | None = None
    state: MissionState | None = None
    report: ReportPaths | None = None
    error: str | None = None


class MissingAgentsError(OrchestratorError):
    """OpenCode lacks mission agents: the orchestrator's plugin is not loaded for the project."""

    code: ClassVar[str] = "cli.agents"


def exit_code(result: RunResult) -> int:
    """0 sealed, 1 any other end or an error, 130 stopped by a signal before an end (resumable)."""
    if result.state is MissionState.SEALED:
        return 0
    if result.error is None and (result.state is None or not result.state.final):
        return 130
    return 1


def announce(mission_id: str, options: RunOptions) -> None:
    """Print ``mission <id>`` where the output contract says (see the module docstring)."""
    print(f"mission {mission_id}", file=sys.stderr if options.json else sys.stdout, flush=True)


async def drive(
    options: RunOptions,
    mission_id: str,
    opener: Opener,
    *,
    on_engine: Callable[[MissionEngine], None] | None = None,
) -> RunResult:
    """Connect, open the engine with ``opener``, run it to an end, write the report."""
    project = options.project
    result = RunResult(
        mission_id, mission_wal_dir(project, mission_id), mission_log_path(project, mission_id)
    )
    try:
        async with _connect(options) as client, opener(client) as engine:
            if on_engine is not None:
                on_engine(engine)
            result.model = engine.ctx.model
            result.state = await _follow(engine, options)
            # The report replays the journal itself (the engine's model let finished
            # units' evidence go); so does print_outcome, for --json only.
            result.report = await write_report(mission_dir(options.project, mission_id))
    except (OrchestratorError, ExceptionGroup) as exc:
        result.error = _describe(exc)
    return result


@asynccontextmanager
async def _connect(options: RunOptions) -> AsyncIterator[OpenCodeClient]:
    target, directory = options.target, str(options.project)
    if target.sim is None:
        assert target.server is not None  # the parser requires one of the two
        async with OpenCodeClient(
            target.server, password=target.password, directory=directory
        ) as client:
            # Before the engine creates (or resumes) anything: a refused start leaves no
            # mission directory behind.
            await check_agents(client, options.project)
            yield client
        return
    assert target.sim_state is not None  # the handlers always say where
    async with (
        SimServer.running(target.sim_state, config=target.sim, directory=directory) as sim,
        OpenCodeClient(sim.base_url, directory=directory) as client,
    ):
        await check_agents(client, options.project)
        yield client


async def check_agents(client: OpenCodeClient, project: Path) -> None:
    """Refuse to start unless OpenCode has every mission agent for ``project``.

    Without the orchestrator's plugin OpenCode has no mission agents, and 1.18.33
    accepts a prompt to an unknown agent (204) and never runs it: the mission would
    wait at "planning" until its turns time out, naming no cause. A server that
    cannot list its agents (an error, an unexpected answer) is not refused: the
    check is skipped with a warning. An unreachable server or a wrong password is
    raised here, as the first mission call would.

    Raises:
        MissingAgentsError: Some mission agents are missing.
        OpenCodeConnectionError, OpenCodeTimeoutError, OpenCodeAuthError: As any call.
    """
    try:
        names = set(await client.agent_names())
    except (OpenCodeConnectionError, OpenCodeTimeoutError, OpenCodeAuthError):
        raise
    except OpenCodeError as exc:
        _log.warning(
            "opencode.agents.unchecked",
            server=client.base_url,
            error=str(exc),
            note="could not list OpenCode's agents; running without checking the mission agents",
        )
        return
    missing = [name for name in MISSION_AGENTS if name not in names]
    if missing:
        raise MissingAgentsError(
            f"OpenCode at {client.base_url} has no {', '.join(missing)} agent"
            f"{'s' if len(missing) > 1 else ''} for {project}: the orchestrator's plugin is "
            f"not loaded there. Install it with `opencode-orchestrator install --project "
            f"{project}` (or `install --global`), then restart OpenCode and run again"
        )


async def _follow(engine: MissionEngine, options: RunOptions) -> MissionState | None:
    progress = (
        Progress(engine.ctx.model, sys.stderr, elapsed=engine.ctx.budget.elapsed)
        if options.progress
        else None
    )
    state: MissionState | None = None
    try:
        async with anyio.create_task_group() as tg:
            if progress is not None:
                tg.start_soon(progress.run)
            tg.start_soon(_on_signals, engine, tg.cancel_scope)
            state = await engine.run()
            tg.cancel_scope.cancel()
    finally:
        # Also when stopped at once or failing: a terminal view must give its
        # cursor back and leave the last state on the screen.
        if progress is not None:
            progress.finish()
    return state


async def _on_signals(engine: MissionEngine, scope: anyio.CancelScope) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may install signal handlers (an embedding caller)
    asked = False
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async for signum in signals:
            if signum != signal.SIGINT:
                print(
                    f"\n{signal.Signals(signum).name}: stopping; the mission stays resumable",
                    file=sys.stderr,
                    flush=True,
                )
                scope.cancel()
                return
            if asked:
                scope.cancel()
                return
            asked = True
            print(
                "\ncancelling the mission (Ctrl-C again to stop at once; it stays resumable)",
                file=sys.stderr,
                flush=True,
            )
            engine.request_cancel()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        matched, rest = exc.split(OrchestratorError)
        if rest is not None:
            raise rest
        assert matched is not None
        return "; ".join(_describe(e) for e in matched.exceptions)
    code = getattr(exc, "code", None)
    return f"{exc} [{code}]" if code else str(exc)


def print_outcome(result: RunResult, options: RunOptions, *, resume_hint: str) -> None:
    """The end of a run, on stdout (one JSON document with ``--json``)."""
    if options.json:
        document: dict[str, Any] = {"mission_id": result.mission_id, "error": result.error}
        model = _with_evidence(result)
        if model is not None:
            document |= mission_summary(model)
        document["files"] = _files(result)
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _print_human(result, resume_hint)
    if result.error is not None:
        print(f"error: {result.error}", file=sys.stderr)
    sys.stdout.flush()


def _with_evidence(result: RunResult) -> MissionModel | None:
    """The run's model with finished units' evidence (a run cut short left the engine's)."""
    model = result.model
    if model is None or model.keep_evidence:
        return model
    try:
        return read_journal(result.wal)  # blocking, but the event loop has ended
    except (OrchestratorError, OSError):
        return None  # the error printed says why the run stopped


def _files(result: RunResult) -> dict[str, str | None]:
    report = result.report
    # A mission OpenCode never answered has no journal or log left to point at.
    return {
        "wal": str(result.wal) if result.wal.is_dir() else None,
        "log": str(result.log) if result.log and result.log.exists() else None,
        "report_json": str(report.json) if report else None,
        "report_md": str(report.markdown) if report else None,
        "report_html": str(report.html) if report else None,
    }


def _print_human(result: RunResult, resume_hint: str) -> None:
    model = result.model
    if model is None or not model.created:
        print(f"mission {result.mission_id} did not run")
        return
    if result.state is None or not result.state.final:
        print(
            f"mission {result.mission_id} stopped while {model.state.value}; "
            f"resume it with:\n  {resume_hint}"
        )
    else:
        units = model.units.values()
        fixed = sum(1 for u in units if u.rounds > 1)
        retried = sum(1 for u in units if u.attempt > 1)
        verified, planned = model.plan_progress()  # as the seal and the report count them
        raced = len(model.units) - planned
        elapsed = max(0.0, model.last_ts - model.created_at)
        print(f"{model.state.value.upper()}: {model.reason}")
        print(
            f"  units     {verified} of {planned} verified"
            + (f" (and {raced} in racing strategies)" if raced else "")
            + f"; {fixed} fixed after a failed review, {retried} needed another attempt"
        )
        print(
            f"  usage     {model.tokens:,} tokens, ${model.cost:.4f}, "
            f"{model.turns_ended} turns, {model.iteration} iteration(s), {elapsed:.1f} s"
        )
    print(f"  wal       {result.wal}")
    if result.log is not None:
        print(f"  log       {result.log}")
    if result.report is not None:
        print(f"  report    {result.report.markdown}")
        print(f"            {result.report.json}")
        print(f"            {result.report.html}")


def save_sim_settings(project: Path, mission_id: str, sim: SimConfig, state: Path) -> None:
    """Remember a ``--sim`` mission's simulator, so ``resume --sim`` gets the same one."""
    directory = mission_dir(project, mission_id)
    ensure_private_dir(directory)
    # Inside the mission's directory (the default), relative to it: a project that is
    # moved or renamed takes its simulator along.
    where = state.relative_to(directory) if state.is_relative_to(directory) else state
    document = {"config": sim.model_dump(mode="json"), "state_dir": str(where)}
    write_private_file(directory / SIM_SETTINGS, orjson.dumps(document), exclusive=False)


def load_sim_settings(project: Path, mission_id: str) -> tuple[SimConfig, Path]:
    """The simulator a mission last ran on (defaults for a mission run on a server)."""
    path = mission_dir(project, mission_id) / SIM_SETTINGS
    if not path.is_file():
        # A fresh simulator knows none of the mission's sessions: their open
        # turns end as lost and those attempts are redone.
        return SimConfig(), mission_dir(project, mission_id) / "sim"
    document = orjson.loads(path.read_bytes())
    state = mission_dir(project, mission_id) / document["state_dir"]  # an absolute one wins
    return SimConfig.model_validate(document["config"]), state
