"""Missions interrupted mid-way, through the installed shim (issue 5 §3, scenarios 4, 5 and 7).

(4) the core is SIGKILLed while units run: the shim starts a new one, which
resumes the mission on ``initialized``; (5) ``opencode serve`` itself is
stopped and started again (same port, same state): the plugin and its core
stop with it, and the new core resumes the mission; (7) ``/mission-cancel``
aborts every session the mission has busy and journals ``cancelled``.

After an interruption the mission must seal with no turn prompted twice, the
audit of the crash campaign (``tests/subprocess/test_mission_crash.py``,
:func:`audit_mission`): every ``turn.intent`` delivered exactly once (its user
message is in OpenCode's store with one text part), no worker turn of a unit
attempt asked again, a reviewer or planner asked again only after a turn that
gave no answer; and the fake LLM played each (kind, unit) once, restatements
(the same session asked to repeat an answer it gave while no core watched)
aside. A turn OpenCode's restart cut off mid-answer is asked again in its
session (a ``restate`` turn carrying the original request), never taken for an
answer.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, Final

import anyio
import pytest

from opencode_orchestrator.mission.contracts import ReviewVerdict
from opencode_orchestrator.mission.model import WORKER_KINDS
from opencode_orchestrator.mission.records import RecordType, TurnKind
from opencode_orchestrator.testing.scenario import FileWrite, Scenario
from opencode_orchestrator.testing.scenario_player import ScenarioPlayer
from opencode_orchestrator.testing.scenario_roles import Role
from opencode_orchestrator.testing.scenario_roles import TurnKind as Played
from opencode_orchestrator.testing.shim_e2e import (
    MISSION_DEADLINE,
    Holding,
    ShimWorld,
    final_state,
    opencode_user_messages,
    shim_world,
)
from opencode_orchestrator.wal.record import Record
from tests.e2e.helpers import of, verdicts
from tests.e2e.scenarios import diamond, single, with_unit
from tests.subprocess.test_mission_crash import SimTranscripts, audit_mission, format_report

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode, pytest.mark.e2e]

UNITS: Final = ("a", "b", "c", "d")
HELD: Final = 600.0
"""Seconds a held answer waits: longer than any test, so only an abort or a stop ends it."""
RESTART_DEADLINE: Final = 60.0
"""Seconds for a new core (or OpenCode) to come up: far more than the ~1 s it takes."""
FAIL = ReviewVerdict.model_validate(
    {"verdict": "fail", "findings": [{"severity": "major", "message": "BASE is wrong"}]}
)


def open_turns(records: list[Record]) -> list[dict[str, Any]]:
    """The turn intents the WAL has not ended."""
    intents: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.type == RecordType.TURN_INTENT:
            intents[record.data["turn"]] = record.data
        elif record.type == RecordType.TURN_ENDED:
            intents.pop(record.data["turn"], None)
    return list(intents.values())


def units_running(records: list[Record]) -> bool:
    """A worker turn of b or c (the parallel pair) is open, and OpenCode has accepted it."""
    accepted = {r.data["turn"] for r in records if r.type == RecordType.TURN_ACCEPTED}
    return any(
        TurnKind(t["kind"]) in WORKER_KINDS and t["unit"] in {"b", "c"} and t["turn"] in accepted
        for t in open_turns(records)
    )


def played_twice(player: ScenarioPlayer) -> list[str]:
    """Turns the fake LLM was asked to play a second time for one (kind, unit)."""
    return [
        f"{t.role} {t.kind} {t.unit} #{t.number} in {t.session}"
        for t in player.turns
        if t.number > 1 and t.kind is not Played.RESTATE
    ]


async def audit(world: ShimWorld, records: list[Record]) -> None:
    """The crash campaign's audit of the WAL against what OpenCode stored; the player's."""
    messages = await anyio.to_thread.run_sync(opencode_user_messages, world.opencode)
    found = audit_mission(records, SimTranscripts(messages), len(UNITS))
    assert not found.violations + found.outcome, format_report(found.violations, found.outcome)
    assert played_twice(world.player) == []
    assert world.player.unexpected == []


async def wait_gone(pid: int) -> None:
    """Wait until ``pid`` has exited (a zombie counts); bound it with a deadline."""
    while Path(f"/proc/{pid}").exists():
        status = Path(f"/proc/{pid}/status").read_text()
        if "\nState:\tZ" in status:
            return
        await anyio.sleep(0.02)  # polled: no event tells when another process ends


async def test_a_core_killed_mid_mission_is_restarted_and_the_mission_seals(
    tmp_path: Path,
) -> None:
    scenario = diamond()
    async with shim_world(tmp_path / "project", scenario) as world:
        mission = await world.start_mission()
        mission_id = mission.mission_id
        async with world.deadline(MISSION_DEADLINE, "running units", mission_id):
            await world.wait_for(mission_id, units_running, "b or c working")
        core = world.core_pid()
        assert core is not None, await world.explain(mission_id)
        os.kill(core, signal.SIGKILL)
        async with world.deadline(RESTART_DEADLINE, "the killed core's exit", mission_id):
            await wait_gone(core)
        at_kill = await world.records(mission_id)
        assert open_turns(at_kill), "the kill came between turns"

        # The shim starts another core, which resumes the mission and seals it.
        async with world.deadline(RESTART_DEADLINE, "a new core", mission_id):
            second = await world.wait_for_core(newer_than=1)
        assert second != core
        async with world.deadline(MISSION_DEADLINE, "end", mission_id):
            records = await world.wait_for_end(mission_id)
            await world.wait_for_toast(lambda t: "SEALED" in t["message"])
        assert records[-1].data["state"] == "sealed", await world.explain(mission_id)
        assert world.cores_started() == [core, second]

        # The second core reopened the journal the first left (no mission started again).
        assert len(of(records, RecordType.MISSION_CREATED)) == 1
        assert [r.seq for r in records] == list(range(1, len(records) + 1))
        for path, content in scenario.expected_files().items():
            assert (world.project / path).read_text() == content, path
        await audit(world, records)
        assert world.player.played(Role.MASTER)


def gated(scenario: Scenario, unit: str, gate: Path) -> Scenario:
    """``scenario`` where ``unit``'s check (run by the core) waits for the file ``gate``.

    While it waits, ``gate.started`` exists and no turn of the mission needs
    OpenCode: the moment to stop OpenCode mid-mission with nothing of the
    mission in its hands. The worker does not run its checks itself.
    """
    script = scenario.unit(unit)
    assert script is not None
    started = gate.with_suffix(".started")
    wait = f"touch {started} && while [ ! -e {gate} ]; do sleep 0.05; done"
    return with_unit(scenario, unit, checks=[wait, *script.checks], run_checks=False)


async def test_opencode_restarted_mid_mission_the_new_core_resumes_and_seals(
    tmp_path: Path,
) -> None:
    gate = tmp_path / "gate"
    scenario = gated(diamond(), "a", gate)
    async with shim_world(tmp_path / "project", scenario) as world:
        mission = await world.start_mission()
        mission_id = mission.mission_id

        def checking(records: list[Record]) -> bool:
            return gate.with_suffix(".started").exists() and not open_turns(records)

        async with world.deadline(MISSION_DEADLINE, "a's check running", mission_id):
            await world.wait_for(mission_id, checking, "a's check running, no turn open")
        first = world.core_pid()
        assert first is not None
        old_server = world.opencode.pid

        # Stopping OpenCode ends the plugin and its core (end of stdin); the restarted
        # server loads the plugin again, whose new core resumes the mission.
        async with world.deadline(RESTART_DEADLINE, "OpenCode's restart", mission_id):
            await world.restart_opencode()
            await wait_gone(first)
        assert world.opencode.pid != old_server
        at_stop = await world.records(mission_id)
        assert final_state(at_stop) is None
        assert open_turns(at_stop) == []
        async with world.deadline(RESTART_DEADLINE, "a new core", mission_id):
            second = await world.wait_for_core(newer_than=1)
        assert second != first
        gate.touch()
        async with world.deadline(MISSION_DEADLINE, "end", mission_id):
            records = await world.wait_for_end(mission_id)
        assert records[-1].data["state"] == "sealed", await world.explain(mission_id)

        assert len(of(records, RecordType.MISSION_CREATED)) == 1
        for path, content in scenario.expected_files().items():
            assert (world.project / path).read_text() == content, path
        for unit in UNITS:
            assert verdicts(records, unit, shadow=False) == ["pass"], unit
        await audit(world, records)
        # a's checks ran once, by the new core: the first core's run was cut short unrecorded.
        checks = of(records, RecordType.CHECK_RESULT, unit="a")
        expected = scenario.unit("a").checks  # type: ignore[union-attr]
        assert [(c.data["command"], c.data["exit_code"]) for c in checks] == [
            (command, 0) for command in expected
        ]


async def restart_while_held(world: ShimWorld, holding: Holding) -> list[Record]:
    """Start the mission, restart OpenCode once ``holding`` holds an answer; the WAL at the end."""
    mission = await world.start_mission()
    mission_id = mission.mission_id
    async with world.deadline(MISSION_DEADLINE, "a held answer", mission_id):
        await world.player.wait_until(lambda: bool(holding.held))
    first = world.core_pid()
    assert first is not None
    async with world.deadline(RESTART_DEADLINE, "OpenCode's restart", mission_id):
        await world.restart_opencode()
        await wait_gone(first)
        await world.wait_for_core(newer_than=1)
    async with world.deadline(MISSION_DEADLINE, "end", mission_id):
        return await world.wait_for_end(mission_id)


async def test_a_final_review_cut_by_an_opencode_restart_is_asked_again(tmp_path: Path) -> None:
    holding = Holding(
        lambda r: r.role is Role.REVIEWER and r.kind is Played.REVIEW and r.unit == "a",
        HELD,
        limit=1,
    )
    fixed = FileWrite(path="pkg/base.py", content="BASE = 1\n")
    # The held review and the one asked again both fail; the review after the fix passes.
    scenario = with_unit(diamond(), "a", reviews=[FAIL, FAIL], fixes=[fixed])
    async with shim_world(tmp_path / "project", scenario, responder=holding) as world:
        records = await restart_while_held(world, holding)
        assert records[-1].data["state"] == "sealed"
        # The review that never answered is asked again, and its `fail` is acted on.
        assert verdicts(records, "a", shadow=False) == ["fail", "pass"]
        assert _asked_again(records) == ["review"]


async def test_a_worker_turn_cut_by_an_opencode_restart_is_carried_on(tmp_path: Path) -> None:
    holding = Holding(lambda r: r.role is Role.WORKER, HELD, limit=1)
    async with shim_world(tmp_path / "project", single(), responder=holding) as world:
        records = await restart_while_held(world, holding)
        assert records[-1].data["state"] == "sealed"
        assert (world.project / "only.txt").read_text() == "the one file\n"
        # Carried on in the same session, not restated (there was no answer to repeat).
        assert _asked_again(records) == ["work"]


def _asked_again(records: list[Record]) -> list[str]:
    """The kinds of the turns cut off by OpenCode's restart, each asked again once.

    A cut-off turn ends ``lost`` with ``error_name`` ``Interrupted`` and is sent
    again as a ``restate`` turn that answers for the original kind, with the
    original request and a note that it was cut off.
    """
    lost = [r.data for r in of(records, RecordType.TURN_ENDED) if r.data["status"] == "lost"]
    assert [d.get("error_name") for d in lost] == ["Interrupted"] * len(lost), lost
    again = of(records, RecordType.TURN_INTENT, kind=TurnKind.RESTATE.value)
    assert len(again) == len(lost), again
    return [str(r.data["restates"]) for r in again]


async def test_mission_cancel_aborts_every_busy_session_and_journals_cancelled(
    tmp_path: Path,
) -> None:
    # b's and c's workers are in the model's hands (their answers held) when the user cancels.
    holding = Holding(
        lambda r: r.role is Role.WORKER and r.kind is Played.WORK and r.unit in {"b", "c"},
        HELD,
        limit=2,
    )
    async with shim_world(tmp_path / "project", diamond(), responder=holding) as world:
        mission = await world.start_mission()
        mission_id = mission.mission_id
        async with world.deadline(MISSION_DEADLINE, "b and c in the model", mission_id):
            await world.player.wait_until(lambda: len(holding.held) == 2)
        held = {str(r.session) for r in holding.held}
        busy = await world.session_status()
        assert held <= set(busy), busy

        reply = await world.command(mission.session, "mission-cancel")
        assert reply == f"Mission {mission_id} cancelled."
        async with world.deadline(RESTART_DEADLINE, "the cancel", mission_id):
            records = await world.wait_for_end(mission_id)
            toast = await world.wait_for_toast(lambda t: "CANCELLED" in t["message"])
            # The aborts close the held model calls; OpenCode's session states follow.
            await world.world.llm.wait_streams_closed()
            while await world.session_status():
                await anyio.sleep(0.05)  # polled: OpenCode's status has no event here

        # The WAL: the cancel, the two open turns ended aborted, CANCELLED last.
        assert records[-1].type == RecordType.MISSION_STATE
        assert records[-1].data["state"] == "cancelled"
        assert len(of(records, RecordType.MISSION_CANCEL)) == 1
        work = {
            r.data["turn"]: r.data["unit"]
            for r in of(records, RecordType.TURN_INTENT, kind=TurnKind.WORK.value)
        }
        ended = {r.data["turn"]: r.data["status"] for r in of(records, RecordType.TURN_ENDED)}
        assert {work[t]: ended[t] for t in work if work[t] in {"b", "c"}} == {
            "b": "aborted",
            "c": "aborted",
        }
        assert open_turns(records) == []
        # Nothing moved after the cancel was journaled but the aborted turns' ends and
        # the unfinished units' ends: no unit is left working in a stopped mission.
        cancel = of(records, RecordType.MISSION_CANCEL)[0].seq
        after = [r for r in records if r.seq > cancel]
        unit_ends = [r for r in after if r.type == RecordType.UNIT_STATE]
        assert {r.data["state"] for r in unit_ends} <= {"cancelled"}, unit_ends
        moved = {r.type for r in after} - {RecordType.UNIT_STATE}
        assert moved <= {RecordType.TURN_ENDED, RecordType.MISSION_STATE}, after
        for unit in ("b", "c", "d"):
            states = [r.data["state"] for r in of(records, RecordType.UNIT_STATE, unit=unit)]
            assert "verified" not in states, (unit, states)
            assert states[-1] == "cancelled", (unit, states)
        assert toast["variant"] == "warning"

        # OpenCode: no child of the mission busy; the held sessions' turns were aborted.
        children = {child["id"] for child in await world.children(mission.session)}
        assert held <= children
        assert await world.session_status() == {}
        for session in held:
            last = await world.last_message(session)
            assert last["info"]["role"] == "assistant"
            assert last["info"]["error"]["name"] == "MessageAbortedError", last["info"]
        # Nothing was asked of the model after the cancel.
        assert not world.player.played(Role.WORKER, unit="d")
        assert not world.player.played(Role.MASTER)
