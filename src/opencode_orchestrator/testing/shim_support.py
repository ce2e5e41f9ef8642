"""Helpers of the shim's end-to-end world: installing the plugin, reading back what happened.

Split from :mod:`~opencode_orchestrator.testing.shim_e2e` (which re-exports
them): the plugin's installation as a user does it (:func:`install_plugin`,
:func:`seed_plugin_package`), a responder that holds answers back
(:class:`Holding`), and read-backs of the WAL, OpenCode's database and
``/proc`` that tests assert on. All blocking: run them in a worker thread.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import orjson

from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.mission.store import mission_dir, mission_journal
from opencode_orchestrator.testing.fake_llm import Responder
from opencode_orchestrator.testing.fake_llm_turns import TurnPlan
from opencode_orchestrator.testing.real_opencode import RealOpenCode
from opencode_orchestrator.testing.scenario_player import ScenarioPlayer, ScenarioRequest
from opencode_orchestrator.wal.errors import WalError
from opencode_orchestrator.wal.record import Record
from opencode_orchestrator.wal.tools import inspect_log

__all__ = [
    "PLUGIN_LOCK",
    "PLUGIN_PACKAGE",
    "Holding",
    "final_state",
    "install_plugin",
    "opencode_user_messages",
    "proc_cpu_seconds",
    "proc_status",
    "read_wal",
    "seed_plugin_package",
]

PLUGIN_PACKAGE: Final = {"dependencies": {"@opencode-ai/plugin": "1.18.33"}}
PLUGIN_LOCK: Final = {"lockfileVersion": 3, "packages": {"": PLUGIN_PACKAGE}}


def seed_plugin_package(directory: Path) -> None:
    """Make ``directory`` look npm-installed for the plugin package (OpenCode then skips it).

    OpenCode skips a config directory whose ``node_modules/`` exists and whose
    ``package-lock.json`` lists every dependency of its ``package.json``; the
    shim imports only types from the package, so nothing needs to be in it.
    """
    (directory / "node_modules").mkdir(parents=True, exist_ok=True)
    (directory / "package.json").write_bytes(orjson.dumps(PLUGIN_PACKAGE))
    (directory / "package-lock.json").write_bytes(orjson.dumps(PLUGIN_LOCK))


def install_plugin(server: RealOpenCode) -> None:
    """A ``prepare`` hook: ``opencode-orchestrator install --project`` and the seeded packages.

    Runs the real CLI with this interpreter, which is then the core's command
    in the entry it writes. Blocking (``prepare`` hooks run in a worker thread).

    Raises:
        subprocess.CalledProcessError: the install failed (its output is on the exception).
    """
    subprocess.run(
        [sys.executable, "-m", "opencode_orchestrator", "install", "--project", server.directory],
        check=True,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    seed_plugin_package(server.config_home / "opencode")
    seed_plugin_package(server.directory / ".opencode")


def read_wal(project: Path, mission_id: str) -> list[Record]:
    """The mission's WAL records so far, read without its lock; ``[]`` before it exists.

    A half-written last record (the core mid-append) is left out. Blocking I/O.
    """
    try:
        return inspect_log(mission_journal(mission_dir(project, mission_id))).records
    except (FileNotFoundError, WalError):
        return []


def final_state(records: list[Record]) -> str | None:
    """The mission's final state (``sealed``, ``failed``...) if its WAL has one."""
    states = [r.data["state"] for r in records if r.type == RecordType.MISSION_STATE]
    if states and MissionState(states[-1]).final:
        return str(states[-1])
    return None


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process ``pid`` has used so far (``/proc/<pid>/stat``)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) is in parentheses and may hold spaces.
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


class Holding:
    """A ``responder`` for :func:`shim_world`: the player's answers, some held back.

    A request ``hold`` selects (given the player's record of it) is answered
    only after ``seconds``, or never if OpenCode gives up on it first (an abort
    or OpenCode's exit closes the connection, which ends the wait at once): its
    session stays busy meanwhile. The player decided and recorded the answer
    as usual; :attr:`held` lists the requests held, at most ``limit`` of them.
    """

    def __init__(
        self, hold: Callable[[ScenarioRequest], bool], seconds: float, *, limit: int | None = None
    ) -> None:
        """Hold what ``hold`` selects for ``seconds``, the first ``limit`` (default: all)."""
        self.hold = hold
        self.seconds = seconds
        self.limit = limit
        self.held: list[ScenarioRequest] = []

    def __call__(self, player: ScenarioPlayer) -> Responder:
        """The responder wrapping ``player``."""

        def respond(body: dict[str, Any], headers: Mapping[str, str]) -> TurnPlan:
            plan = player(body, headers)
            full = self.limit is not None and len(self.held) >= self.limit
            if player.requests and not full and self.hold(player.requests[-1]):
                self.held.append(player.requests[-1])
                return dataclasses.replace(plan, delay=self.seconds)
            return plan

        return respond


def opencode_user_messages(server: RealOpenCode) -> dict[str, tuple[str, int]]:
    """Every user message OpenCode stored: id -> (session, number of text parts).

    Read from OpenCode 1.18.33's own database (``$XDG_DATA_HOME/opencode/opencode.db``,
    tables ``message`` and ``part``), read-only: its API cannot list the
    messages of a session holding a ``format`` prompt (HTTP 400), and a message
    id sent twice would show as a second text part. Blocking I/O.
    """
    database = server.state_dir / "data" / "opencode" / "opencode.db"
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT m.id, m.session_id, (SELECT count(*) FROM part p WHERE p.message_id = m.id"
            " AND json_extract(p.data, '$.type') = 'text') FROM message m"
            " WHERE json_extract(m.data, '$.role') = 'user'"
        ).fetchall()
    finally:
        connection.close()
    return {message: (session, parts) for message, session, parts in rows}


def proc_status(pid: int) -> tuple[str, int] | None:
    """``(cmdline, ppid)`` of a live process, ``None`` if it is gone (or a zombie)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    if fields.get("State", "").startswith("Z"):
        return None
    return cmdline, int(fields["PPid"])
