"""The end-to-end world: a scenario fake LLM, a real ``opencode serve``, a git project.

:func:`scenario_world` starts the fake LLM with a
:class:`~opencode_orchestrator.testing.scenario_player.ScenarioPlayer` as its
responder and a real OpenCode (:class:`~opencode_orchestrator.testing.real_opencode.RealOpenCode`,
isolated state) in a fresh git repository whose ``opencode.json`` makes the
fake LLM the only provider and, unless told otherwise, registers the four
mission agents (:func:`mission_agents_config`) the way the plugin shim's
``config`` hook will. :func:`run_mission_cli` runs ``opencode-orchestrator
run --server`` against it in a child process; :func:`wal_records` and
:func:`session_children` read back what happened.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import anyio
import httpx
import orjson

from opencode_orchestrator.mission.prompts import agent_definitions
from opencode_orchestrator.mission.store import mission_dir, mission_journal
from opencode_orchestrator.testing.fake_llm import FakeLLM, Responder
from opencode_orchestrator.testing.real_opencode import RealOpenCode
from opencode_orchestrator.testing.scenario import Scenario
from opencode_orchestrator.testing.scenario_player import ScenarioPlayer
from opencode_orchestrator.wal.record import Record
from opencode_orchestrator.wal.tools import inspect_log

__all__ = [
    "CliRun",
    "E2EWorld",
    "mission_agents_config",
    "pending_permissions",
    "run_mission_cli",
    "scenario_world",
    "session_children",
    "wal_records",
]


_STOP_GRACE: Final = 0.5


def mission_agents_config() -> dict[str, Any]:
    """``opencode.json`` keys registering the mission agents (prompts, subagent mode)."""
    return {"agent": agent_definitions()}


@dataclass(frozen=True, slots=True)
class E2EWorld:
    """Everything a scenario test talks to."""

    project: Path
    scenario: Scenario
    player: ScenarioPlayer
    llm: FakeLLM
    opencode: RealOpenCode


@asynccontextmanager
async def scenario_world(
    project: Path,
    scenario: Scenario,
    *,
    config: Mapping[str, Any] | None = None,
    prepare: Callable[[RealOpenCode], None] | None = None,
    retry_after: float = 0.2,
    responder: Callable[[ScenarioPlayer], Responder] | None = None,
) -> AsyncIterator[E2EWorld]:
    """Run the fake LLM playing ``scenario`` and OpenCode in ``project`` for the block.

    Args:
        project: a directory to make the git project (created if missing).
        scenario: what the model's roles do.
        config: ``opencode.json`` keys to use instead of :func:`mission_agents_config`
            (e.g. ``{}`` when an installed plugin registers the agents).
        prepare: run before OpenCode starts (see :meth:`RealOpenCode.start`), e.g.
            ``opencode-orchestrator install --project`` and seeding the plugin package.
        retry_after: seconds a 429 tells OpenCode to wait.
        responder: wraps the player as the fake LLM's responder (e.g. to hold some
            answers); default: the player itself.
    """
    player = ScenarioPlayer(scenario)
    extra = mission_agents_config() if config is None else config
    async with (
        FakeLLM.running(
            retry_after=retry_after, responder=player if responder is None else responder(player)
        ) as llm,
        RealOpenCode.start(project, llm.base_url, config=extra, prepare=prepare) as opencode,
    ):
        try:
            yield E2EWorld(project, scenario, player, llm, opencode)
        finally:
            with anyio.CancelScope(shield=True):
                # The CLI's event stream outlives its process until OpenCode's next
                # heartbeat (<= 10 s); a graceful stop would wait for it. Nothing
                # of this server is kept.
                await opencode.stop(grace=_STOP_GRACE)


@dataclass(frozen=True, slots=True)
class CliRun:
    """A finished ``opencode-orchestrator run``."""

    returncode: int
    stdout: str
    stderr: str
    document: dict[str, Any] = field(default_factory=dict)
    """The ``--json`` document (empty if stdout held none)."""

    @property
    def mission_id(self) -> str:
        """The mission's id, from the document."""
        return str(self.document["mission_id"])

    def explain(self) -> str:
        """Everything the run printed, for an assertion message."""
        tail = self.stderr[-6000:]
        return f"exit {self.returncode}\nstdout:\n{self.stdout}\nstderr (tail):\n{tail}"


async def run_mission_cli(
    world: E2EWorld, *, checks: Sequence[str] = (), args: Sequence[str] = ()
) -> CliRun:
    """``opencode-orchestrator run GOAL --server URL --project DIR --json`` to its end.

    Bound it with ``anyio.fail_after``: a cancelled run's process is killed.
    """
    command = [
        sys.executable,
        "-m",
        "opencode_orchestrator",
        "run",
        world.scenario.goal,
        *("--server", world.opencode.base_url, "--project", str(world.project), "--json"),
        *(item for check in checks for item in ("--check", check)),
        *args,
    ]
    done = await anyio.run_process(command, check=False, stdin=subprocess.DEVNULL)
    stdout, stderr = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    try:
        document = orjson.loads(stdout) if stdout.strip() else {}
    except orjson.JSONDecodeError:
        document = {}
    return CliRun(done.returncode, stdout, stderr, document if isinstance(document, dict) else {})


def wal_records(project: Path, mission_id: str) -> list[Record]:
    """Every record of the mission's WAL, read without its lock (blocking I/O)."""
    return inspect_log(mission_journal(mission_dir(project, mission_id))).records


async def session_children(world: E2EWorld, session_id: str) -> list[dict[str, Any]]:
    """``GET /session/:id/children`` of the world's OpenCode."""
    async with httpx.AsyncClient(base_url=world.opencode.base_url, timeout=30) as client:
        response = await client.get(
            f"/session/{session_id}/children", params={"directory": str(world.project)}
        )
        response.raise_for_status()
        children: list[dict[str, Any]] = response.json()
        return children


async def pending_permissions(world: E2EWorld) -> list[dict[str, Any]]:
    """``GET /permission``: the permission requests OpenCode is waiting on."""
    async with httpx.AsyncClient(base_url=world.opencode.base_url, timeout=30) as client:
        response = await client.get("/permission", params={"directory": str(world.project)})
        response.raise_for_status()
        pending: list[dict[str, Any]] = response.json()
        return pending
