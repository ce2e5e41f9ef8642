"""Scenario 1: a four-unit mission with dependencies seals, started with ``/extreme-mission``.

The plugin is installed with ``opencode-orchestrator install --project``; the
shim spawns the core and registers the mission agents; the test types
``/extreme-mission <goal>`` in a session of its own, the mission's parent.
OpenCode calls the scenario fake LLM, which plays the planner, the workers
(real ``write``/``edit``/``bash`` tool calls, so files land on disk through
OpenCode) and the reviewers. The user hears of it in that session: a toast and
a ``noReply`` post for each phase (the end's post saying where the report is),
and ``/mission-status``'s table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opencode_orchestrator.mission.records import RecordType, TurnKind
from opencode_orchestrator.mission.sessions import session_title
from opencode_orchestrator.testing.scenario_roles import Role
from opencode_orchestrator.testing.scenario_roles import TurnKind as Played
from opencode_orchestrator.testing.shim_e2e import MISSION_DEADLINE, ShimWorld, shim_world
from tests.e2e.helpers import of, seq, turn_span, verdicts
from tests.e2e.scenarios import MISSION_CHECK, diamond

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode, pytest.mark.e2e]

UNITS = ("a", "b", "c", "d")
POST_DEADLINE = 60.0
"""Seconds for a post the shim sends once the core tells it (it is already on its way)."""


async def test_a_four_unit_mission_started_with_the_command_seals(tmp_path: Path) -> None:
    scenario = diamond()
    async with shim_world(tmp_path / "project", scenario) as world:
        mission = await world.start_mission()
        mission_id = mission.mission_id
        assert mission.reply.startswith(f"Mission {mission_id} started: {scenario.goal}")
        async with world.deadline(MISSION_DEADLINE, "seal", mission_id):
            records = await world.wait_for_end(mission_id)
            sealed_toast = await world.wait_for_toast(lambda t: "SEALED" in t["message"])

        # Sealed last, and said so to the user.
        assert records[-1].type == RecordType.MISSION_STATE
        assert records[-1].data["state"] == "sealed", await world.explain(mission_id)
        assert len(of(records, RecordType.MISSION_SEALED)) == 1
        assert sealed_toast["variant"] == "success"
        assert sealed_toast["message"].startswith(f"Mission {mission_id} SEALED: 4 of 4 units")

        # The files, as the workers wrote and edited them through OpenCode's tools.
        for path, content in scenario.expected_files().items():
            assert (world.project / path).read_text() == content, path

        # Every unit verified, each with a shadow and a final review that passed.
        for unit in UNITS:
            states = [r.data["state"] for r in of(records, RecordType.UNIT_STATE, unit=unit)]
            assert states[-1] == "verified", (unit, states)
            assert verdicts(records, unit, shadow=True) == ["pass"], unit
            assert verdicts(records, unit, shadow=False) == ["pass"], unit
            checks = of(records, RecordType.CHECK_RESULT, unit=unit)
            assert [c.data["exit_code"] for c in checks] == [0], unit

        # The master review ran once, after the barrier, and passed; the mission check ran.
        assert verdicts(records, None) == ["pass"]
        masters = of(records, RecordType.TURN_INTENT, kind=TurnKind.MASTER_REVIEW.value)
        assert len(masters) == 1
        assert seq(records, RecordType.MISSION_STATE, state="barrier") < masters[0].seq
        mission_checks = of(records, RecordType.CHECK_RESULT, unit=None)
        assert [(c.data["command"], c.data["exit_code"]) for c in mission_checks] == [
            (MISSION_CHECK, 0)
        ]

        # The barrier held: a unit's work began only after its dependencies were verified,
        # and the barrier only after every unit was.
        barrier = seq(records, RecordType.MISSION_STATE, state="barrier")
        for unit in UNITS:
            work = seq(records, RecordType.TURN_INTENT, unit=unit, kind=TurnKind.WORK.value)
            for dep in scenario.unit(unit).depends_on:  # type: ignore[union-attr]
                assert seq(records, RecordType.UNIT_STATE, unit=dep, state="verified") < work
            assert seq(records, RecordType.UNIT_STATE, unit=unit, state="verified") < barrier
        # b and c ran in parallel: each began working before the other's work ended.
        b_start, b_end = turn_span(records, "b", TurnKind.WORK)
        c_start, c_end = turn_span(records, "c", TurnKind.WORK)
        assert b_start < c_end
        assert c_start < b_end

        # The mission hangs under the session the command was typed in.
        created = of(records, RecordType.MISSION_CREATED)[0]
        assert created.data["parent_session"] == mission.session
        assert created.data["goal"] == scenario.goal
        made = {r.data["session"] for r in of(records, RecordType.SESSION_CREATED)}
        children = await world.children(mission.session)
        assert made == {child["id"] for child in children}
        assert all(child["parentID"] == mission.session for child in children)
        titles = {
            session_title(mission_id, r.data["unit"], r.data["role"], r.data["attempt"])
            for r in of(records, RecordType.SESSION_CREATED)
        }
        assert titles == {child["title"] for child in children}
        roles = {r.data["role"] for r in of(records, RecordType.SESSION_CREATED)}
        assert roles == {"planner", "worker", "reviewer", "master"}
        assert await world.session_status() == {}

        # What the fake LLM was asked: every role turn, from those sessions, parent named;
        # the agents' prompts are the ones the shim registered from the core.
        player = world.player
        assert player.unexpected == []
        assert {(t.role, t.kind) for t in player.turns if t.unit is None} == {
            (Role.PLANNER, Played.PLAN),
            (Role.MASTER, Played.MASTER),
        }
        for unit in UNITS:
            kinds = [t.kind for t in player.played(unit=unit)]
            assert sorted(kinds) == sorted([Played.WORK, Played.SHADOW, Played.REVIEW]), unit
        assert {t.session for t in player.turns} == made
        assert {r.parent for r in player.requests if r.role is not None} == {mission.session}
        writes = [r for r in player.requests if r.answer in {"tool:write", "tool:edit"}]
        assert len(writes) == 6
        assert all(r.session is not None for r in player.requests)

        # One core served it all: OpenCode's child, never restarted.
        assert len(world.cores_started()) == 1
        assert world.core_pid() == world.cores_started()[0]

        await _told_in_the_session(world, mission.session, mission_id)


async def _told_in_the_session(world: ShimWorld, session: str, mission_id: str) -> None:
    """Each phase was a toast and a post into the user's session, and no model turn."""
    sealed = f"Mission {mission_id} SEALED: 4 of 4 units verified"
    async with world.deadline(POST_DEADLINE, "the SEALED post", mission_id):
        await world.wait_for_event(
            lambda e: (world.posted_text(e, session) or "").startswith(sealed)
        )
    messages = await world.messages(session)
    # Posted with noReply: user messages only, and the fake LLM was never asked from it.
    assert {m["info"]["role"] for m in messages} == {"user"}, messages
    assert all(r.session != session for r in world.player.requests)
    texts = [p["text"] for m in messages for p in m["parts"] if p.get("type") == "text"]
    assert texts[0].startswith(f"Mission {mission_id} started: ")
    phases = (
        f"Mission {mission_id}: plan accepted, 4 units; workers running",
        f"Mission {mission_id}: every unit is done (4 of 4 units verified)",
        f"Mission {mission_id}: integration review of the whole change",
        sealed,
    )
    # In order; a rate-limited progress line ("2/4 units verified, …") may come between.
    told = [next(t for t in texts if t.startswith(phase)) for phase in phases]
    assert [texts.index(t) for t in told] == sorted(texts.index(t) for t in told), texts
    # The end's post says where the report is; the toast does not.
    report = Path(".opencode", "orchestrator", "missions", mission_id, "report.html")
    assert told[-1].endswith(f"\nReport: {report}"), told[-1]
    assert (world.project / report).is_file()
    others = [t for t in texts[1:] if t not in told]
    assert all(t.startswith(f"Mission {mission_id}: ") and "units verified" in t for t in others)
    toasts = [toast["message"] for toast in world.toasts()]
    for phase in phases:
        assert any(message.startswith(phase) for message in toasts), (phase, toasts)
    assert not any("Report: " in message for message in toasts), toasts

    # /mission-status without an id: this session's mission, a row for every unit.
    requests = len(world.player.requests)
    status = await world.command(session, "mission-status")
    assert status.startswith(f"### Mission {mission_id} — SEALED\n"), status
    for unit in UNITS:
        title = session_title(mission_id, unit, "worker", 1)
        assert f"\n| {unit} | VERIFIED | 1 | {title} | " in status, (unit, status)
    assert "\n**Totals:** tokens " in status
    assert len(world.player.requests) == requests  # no model turn for the command either
    last = (await world.messages(session))[-1]
    assert last["info"]["role"] == "user"
    assert last["parts"][-1]["text"] == status
