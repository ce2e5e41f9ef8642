"""The error policy, one injected fault at a time, on the simulator.

Each test names the turns a fault hits (:func:`fault_turns` switches the
simulator's faults on and off from the engine's own journal records) or uses
a worker misbehaviour rate of the simulator, then checks what the WAL and the
simulator's store say happened: which prompts were sent, in which session,
and how the unit and the mission ended.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opencode_orchestrator.mission.config import LimitsConfig, MissionConfig, TimeoutsConfig
from opencode_orchestrator.mission.engine import MissionEngine
from opencode_orchestrator.mission.errors import ReviewUnavailableError
from opencode_orchestrator.mission.pool import DEFAULT_PROVIDER_KEY
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import MissionState, UnitState
from opencode_orchestrator.opencode.models import StreamReconnected
from tests.mission.enginesupport import (
    Sim,
    Tap,
    Wal,
    fault_turns,
    only,
    resume_mission,
    run_mission,
    sim_config,
    simulated,
)

pytestmark = pytest.mark.anyio

_ONE_UNIT = sim_config(planner={"units": 1})
_TWO_ATTEMPTS = MissionConfig(limits=LimitsConfig(max_attempts=2))


async def test_a_tool_failure_gets_one_recovery_prompt_then_the_attempt_fails(
    tmp_path: Path,
) -> None:
    config = sim_config(planner={"units": 2}, worker={"tool_error_rate": 1.0})
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim, _TWO_ATTEMPTS)
        store = await sim.record()
    wal, unit = run.wal, run.model.units["u01"]
    assert run.state is MissionState.FAILED
    assert unit.state is UnitState.FAILED
    assert run.model.units["u02"].state is UnitState.SKIPPED, "its dependency failed"
    for attempt in (1, 2):
        assert [k for k in wal.kinds("u01", attempt) if k != "shadow_review"] == [
            "work",
            "recover",
        ]
        work, recover = (
            i for i in wal.intents(unit="u01", attempt=attempt) if i["kind"] != "shadow_review"
        )
        error = wal.end_of(work)["tool_errors"][-1]
        assert "oldString not found" in error
        # The recovery prompt went to the same session, with the error in hand.
        assert recover["session"] == work["session"]
        assert error in store.message(recover["message"]).text
    assert unit.failures == tuple(
        f"attempt {n}: tool error after recovery: {error}" for n in (1, 2)
    )
    assert unit.reason.startswith("2 attempt(s) failed; last: attempt 2: tool error")


async def test_a_worker_without_report_is_nudged_once_then_the_attempt_fails(
    tmp_path: Path,
) -> None:
    config = sim_config(planner={"units": 1}, worker={"no_report_rate": 1.0})
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim, _TWO_ATTEMPTS)
        store = await sim.record()
    wal, unit = run.wal, run.model.units["u01"]
    assert run.state is MissionState.FAILED
    assert unit.state is UnitState.FAILED
    for attempt in (1, 2):
        turns = [
            i for i in wal.intents(unit="u01", attempt=attempt) if i["kind"] != "shadow_review"
        ]
        assert [t["kind"] for t in turns] == ["work", "nudge"]
        assert turns[0]["session"] == turns[1]["session"]
        for turn in turns:
            assert wal.end_of(turn)["error_name"] == "StructuredOutputError"
        assert (
            "You stopped without the structured report" in store.message(turns[1]["message"]).text
        )
    assert unit.failures == tuple(
        f"attempt {n}: StructuredOutputError: Model did not produce structured output"
        for n in (1, 2)
    )
    # Each attempt had a fresh worker session.
    sessions = {i["session"] for i in wal.intents(unit="u01", kind="work")}
    assert len(sessions) == 2


@pytest.mark.parametrize(
    ("misbehaviour", "seed", "follow_up"),
    [("tool_error_rate", 5, "recover"), ("no_report_rate", 2, "nudge")],
)
async def test_a_worker_that_answers_the_follow_up_goes_on_in_the_same_attempt(
    tmp_path: Path, misbehaviour: str, seed: int, follow_up: str
) -> None:
    # At rate 0.5, seed 5 (tool errors) and seed 2 (no report) hit u01's first worker
    # turn and spare its second.
    config = sim_config(seed=seed, planner={"units": 1}, worker={misbehaviour: 0.5})
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim)
    wal, unit = run.wal, run.model.units["u01"]
    assert run.state is MissionState.SEALED
    assert [k for k in wal.kinds("u01") if k != "shadow_review"] == ["work", follow_up, "review"]
    assert (unit.state, unit.attempt, unit.failures) == (UnitState.VERIFIED, 1, ())
    work, answer = (i for i in wal.intents(unit="u01") if i["kind"] in ("work", follow_up))
    assert wal.end_of(work)["error_name"] == "StructuredOutputError"
    assert wal.end_of(answer)["status"] == "completed"
    assert wal.end_of(answer)["answer"]["outcome"] == "done"
    # The unit is verified: its report went, its summary stayed (for dependents).
    assert unit.report is None
    assert unit.summary == wal.end_of(answer)["answer"]["summary"]


async def test_a_blocked_worker_fails_the_attempt_at_once(tmp_path: Path) -> None:
    config = sim_config(planner={"units": 1}, worker={"blocked_rate": 1.0})
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim, _TWO_ATTEMPTS)
    unit = run.model.units["u01"]
    assert run.state is MissionState.FAILED
    assert run.wal.kinds("u01") == ["work", "work"]
    assert unit.failures == tuple(
        f"attempt {n}: worker blocked: unit u01 blocked (simulated)" for n in (1, 2)
    )
    assert run.model.reason.startswith("1 unit(s) not verified: u01 (failed")


async def test_rate_limits_lower_the_pool_limit_and_units_wait_without_failing(
    tmp_path: Path,
) -> None:
    config = sim_config(
        planner={"units": 3, "shape": "fan-out"},
        faults={"rate_limit_rate": 1.0, "rate_limit_attempts": 2},
    )
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim)
    assert run.state is MissionState.SEALED
    assert all(u.attempt == 1 and not u.failures for u in run.model.units.values())
    assert {e["status"] for e in run.wal.ended().values()} == {"completed"}
    # Every turn was rate limited, so the provider's limit went down and never back up.
    limits = run.engine.ctx.pool.stats().provider_limits
    assert limits[DEFAULT_PROVIDER_KEY] < MissionConfig().limits.concurrency


async def test_context_overflow_compacts_the_session_and_continues_it(tmp_path: Path) -> None:
    async with simulated(tmp_path, _ONE_UNIT) as sim:
        tap = Tap()
        fault_turns(tap, sim, kinds={"work"}, context_overflow_rate=1.0)
        run = await run_mission(sim, tap=tap)
        store = await sim.record()
    wal, unit = run.wal, run.model.units["u01"]
    assert run.state is MissionState.SEALED
    assert unit.attempt == 1
    assert not unit.failures
    work, cont = (i for i in wal.intents(unit="u01") if i["kind"] in ("work", "continue"))
    assert wal.end_of(work)["error_name"] == "ContextOverflowError"
    assert cont["kind"] == "continue"
    assert cont["session"] == work["session"]
    assert wal.end_of(cont)["status"] == "completed"
    # Between the two prompts the session was compacted (summarize: a compaction turn).
    users = store.users(work["session"])
    ids = [m.id for m in users]
    summary = next(n for n, m in enumerate(users) if m.info["agent"] == "compaction")
    assert ids.index(work["message"]) < summary < ids.index(cont["message"])
    # The continuation is short: after the unit's brief, no goal and no instructions again.
    work_text, cont_text = (
        store.message(i["message"]).text.split("</unit>", 1)[1] for i in (work, cont)
    )
    assert "Your context was compacted" in cont_text
    assert "Mission goal" in work_text
    assert "Mission goal" not in cont_text
    assert len(cont_text) < len(work_text)


async def test_a_second_overflow_starts_a_fresh_attempt(tmp_path: Path) -> None:
    async with simulated(tmp_path, _ONE_UNIT) as sim:
        tap = Tap()
        fault_turns(tap, sim, kinds={"work", "continue"}, attempts={1}, context_overflow_rate=1.0)
        run = await run_mission(sim, tap=tap)
    wal, unit = run.wal, run.model.units["u01"]
    assert run.state is MissionState.SEALED
    assert wal.kinds("u01", 1) == ["work", "continue"]
    assert [e["error_name"] for e in map(wal.end_of, wal.intents(unit="u01", attempt=1))] == [
        "ContextOverflowError",
        "ContextOverflowError",
    ]
    assert unit.attempt == 2
    assert len(unit.failures) == 1
    assert "ContextOverflowError" in unit.failures[0]
    first, second = (i["session"] for i in wal.intents(unit="u01", kind="work"))
    assert first != second


async def test_a_turn_without_progress_times_out_and_the_unit_gets_a_fresh_attempt(
    tmp_path: Path,
) -> None:
    config = MissionConfig(timeouts=TimeoutsConfig(unit=0.5, silence=0.1))
    async with simulated(tmp_path, _ONE_UNIT) as sim:
        tap = Tap()
        fault_turns(tap, sim, kinds={"work"}, attempts={1}, hang_rate=1.0)
        run = await run_mission(sim, config, tap=tap)
        store = await sim.record()
    wal, unit = run.wal, run.model.units["u01"]
    assert run.state is MissionState.SEALED
    hung = wal.intents(unit="u01", attempt=1)
    assert [i["kind"] for i in hung] == ["work"]
    ended = wal.end_of(hung[0])
    assert (ended["status"], ended["error_name"]) == ("timeout", "Timeout")
    # The hung session was aborted (OpenCode ends its message with MessageAbortedError).
    answer = only(m.info for m in store.answers(hung[0]["message"]))
    assert answer["error"]["name"] == "MessageAbortedError"
    assert unit.attempt == 2
    assert unit.failures == ("attempt 1: Timeout: no progress for 0.5 s",)
    assert wal.intents(unit="u01", kind="work")[1]["session"] != hung[0]["session"]


@pytest.mark.parametrize(
    ("fault", "error_name"), [("api_error_rate", "APIError"), ("die_rate", "APIError")]
)
async def test_a_session_error_fails_the_attempt_at_once_and_it_is_retried(
    tmp_path: Path, fault: str, error_name: str
) -> None:
    async with simulated(tmp_path, _ONE_UNIT) as sim:
        tap = Tap()
        fault_turns(tap, sim, kinds={"work"}, attempts={1}, **{fault: 1.0})
        run = await run_mission(sim, tap=tap)
    wal, unit = run.wal, run.model.units["u01"]
    assert run.state is MissionState.SEALED
    failed = only(wal.intents(unit="u01", attempt=1))  # no nudge, no recovery: retried as is
    ended = wal.end_of(failed)
    assert (ended["status"], ended["error_name"]) == ("error", error_name)
    assert unit.attempt == 2
    assert len(unit.failures) == 1
    assert unit.failures[0].startswith(f"attempt 1: {error_name}: ")
    assert wal.unit_states("u01")[:5] == ["ready", "dispatched", "accepted", "ready", "dispatched"]


async def test_a_stream_cut_mid_turn_is_resubscribed_and_the_answer_read_back(
    tmp_path: Path,
) -> None:
    # Turns one at a time (no shadow review), and the cut comes once each single-message
    # turn (plan, review, master review) has journaled its assistant message's id: its
    # answer is then reachable whatever the cut lost, so nothing is asked twice.
    reconnects: list[StreamReconnected] = []
    cuts: list[int] = []  # streams each drop ended (none if it was down already)
    async with simulated(tmp_path) as sim:
        tap = Tap()
        kinds: dict[str, str] = {}

        def cut(record_type: str, data: dict[str, Any]) -> None:
            if record_type == RecordType.TURN_INTENT:
                kinds[data["turn"]] = data["kind"]
            elif record_type == RecordType.TURN_MESSAGE and kinds[data["turn"]] != "work":
                cuts.append(sim.server.drop_streams())

        tap.on(cut)
        run = await run_mission(
            sim,
            MissionConfig(shadow_review=False),
            tap=tap,
            setup=lambda engine: engine.ctx.router.observe(
                lambda e: reconnects.append(e) if isinstance(e, StreamReconnected) else None
            ),
        )
    assert run.state is MissionState.SEALED
    assert len(cuts) == 4, "a cut under each of the four single-message turns"
    assert sum(cuts) >= 2
    assert reconnects, "the router saw its stream come back"
    assert [i["kind"] for i in run.wal.intents()] == [
        "plan",
        "work",
        "review",
        "work",
        "review",
        "master_review",
    ]
    assert {e["status"] for e in run.wal.ended().values()} == {"completed"}


async def test_an_answer_sent_while_the_stream_was_down_is_read_back_not_asked_again(
    tmp_path: Path,
) -> None:
    # The cut comes as a worker's first assistant message (its tool step) is seen: its
    # final, structured message is written while the stream is down, so its id is never
    # seen. OpenCode 1.18.33 refuses to list a session holding a format prompt, but
    # answers a window of its newest messages: the answer is read back from there.
    cuts: list[int] = []
    async with simulated(tmp_path, sim_config(planner={"units": 1})) as sim:
        tap = Tap()
        kinds: dict[str, str] = {}

        def cut(record_type: str, data: dict[str, Any]) -> None:
            if record_type == RecordType.TURN_INTENT:
                kinds[data["turn"]] = data["kind"]
            elif (
                record_type == RecordType.TURN_MESSAGE
                and not cuts
                and kinds[data["turn"]] == "work"
            ):
                cuts.append(sim.server.drop_streams())

        tap.on(cut)
        run = await run_mission(sim, MissionConfig(shadow_review=False), tap=tap)
        record = await sim.record()
    assert run.state is MissionState.SEALED
    assert cuts == [1]
    assert [i["kind"] for i in run.wal.intents()] == ["plan", "work", "review"]
    assert {e["status"] for e in run.wal.ended().values()} == {"completed"}
    work = run.wal.intents(kind="work")[0]
    steps = [m for m in record.messages(work["session"]) if m.info.get("parentID") == work["turn"]]
    assert len(steps) == 2, "a tool step, then the structured answer"
    seen = [m["message"] for m in run.wal.of(RecordType.TURN_MESSAGE, turn=work["turn"])]
    assert steps[-1].id not in seen, "the answer was not seen through the stream"
    assert run.wal.ended()[work["turn"]]["answer"] == steps[-1].info["structured"]


async def test_a_master_review_without_a_verdict_is_asked_again_before_it_counts(
    tmp_path: Path,
) -> None:
    # A provider error on the master review is no finding about the change: taken
    # as one, it started a whole new iteration (a plan for "gave no verdict").
    faulted: list[str] = []
    async with simulated(tmp_path, sim_config(planner={"units": 2})) as sim:
        tap = Tap()

        def first_master_fails(record_type: str, data: dict[str, Any]) -> None:
            if record_type == RecordType.TURN_INTENT and data["kind"] == "master_review":
                if not faulted:
                    faulted.append(data["turn"])
                    sim.server.set_faults(api_error_rate=1.0)
            elif record_type == RecordType.TURN_ENDED and data["turn"] in faulted:
                sim.server.set_faults(api_error_rate=0.0)

        tap.on(first_master_fails)
        run = await run_mission(sim, tap=tap)
    assert run.state is MissionState.SEALED
    masters = run.wal.intents(kind="master_review")
    assert [m["turn"] for m in masters][:1] == faulted
    assert [run.wal.end_of(m)["status"] for m in masters] == ["error", "completed"]
    assert run.wal.mission_states() == ["running", "barrier", "integration_review", "sealed"]


async def test_a_master_review_that_never_gives_a_verdict_stops_the_mission_resumably(
    tmp_path: Path,
) -> None:
    # Asked twice, the master gave no verdict: before, its "master reviewer failed"
    # became findings, and a whole iteration was planned and worked on them.
    async with simulated(tmp_path, sim_config(planner={"units": 2})) as sim:
        tap = Tap()

        def masters_fail(record_type: str, data: dict[str, Any]) -> None:
            if record_type == RecordType.TURN_INTENT and data["kind"] == "master_review":
                sim.server.set_faults(api_error_rate=1.0)

        tap.on(masters_fail)
        with pytest.raises(ReviewUnavailableError, match="master review gave no verdict") as info:
            await run_mission(sim, tap=tap, mission_id="mstop")
        assert "resume" in str(info.value)
        stopped = Wal.read(sim.project, "mstop")
        assert stopped.mission_states() == ["running", "barrier", "integration_review"]
        masters = stopped.intents(kind="master_review")
        assert [stopped.end_of(m)["status"] for m in masters] == ["error", "error"]
        assert not stopped.of(RecordType.REVIEW_VERDICT, unit=None)

        sim.server.set_faults(api_error_rate=0.0)
        resumed = await resume_mission(sim, "mstop")
    assert resumed.state is MissionState.SEALED
    assert len(resumed.wal.intents(kind="master_review")) == 3
    assert len(resumed.wal.intents(kind="work")) == 2, "no unit worked on the provider's error"


async def test_a_master_prompt_that_overflows_is_asked_again_in_a_new_session(
    tmp_path: Path,
) -> None:
    # The session that overflowed holds the prompt that did not fit: asked there
    # again, it overflows again, whatever the provider.
    overflowed: list[str] = []
    async with simulated(tmp_path, sim_config(planner={"units": 2})) as sim:
        tap = Tap()

        def first_master_overflows(record_type: str, data: dict[str, Any]) -> None:
            if record_type == RecordType.TURN_INTENT and data["kind"] == "master_review":
                if not overflowed:
                    overflowed.append(data["turn"])
                    sim.server.set_faults(context_overflow_rate=1.0)
            elif record_type == RecordType.TURN_ENDED and data["turn"] in overflowed:
                sim.server.set_faults(context_overflow_rate=0.0)

        tap.on(first_master_overflows)
        run = await run_mission(sim, tap=tap)
    assert run.state is MissionState.SEALED
    first, second = run.wal.intents(kind="master_review")
    assert run.wal.end_of(first)["error_name"] == "ContextOverflowError"
    assert second["session"] != first["session"]
    assert run.wal.mission_states() == ["running", "barrier", "integration_review", "sealed"]


async def test_a_unit_review_that_overflows_is_asked_again_in_a_new_reviewer_session(
    tmp_path: Path,
) -> None:
    # In OpenCode the session that overflowed holds what did not fit: asked there
    # again, it overflows again, the round fails for want of a verdict, and the
    # worker is sent a fix request for nothing. (The simulator's overflow is drawn
    # per turn, so the session is what tells the two apart here.)
    overflowed: list[str] = []
    async with simulated(tmp_path, _ONE_UNIT) as sim:
        tap = Tap()

        def first_review_overflows(record_type: str, data: dict[str, Any]) -> None:
            if record_type == RecordType.TURN_INTENT and data["kind"] == "review":
                if not overflowed:
                    overflowed.append(data["turn"])
                    sim.server.set_faults(context_overflow_rate=1.0)
            elif record_type == RecordType.TURN_ENDED and data["turn"] in overflowed:
                sim.server.set_faults(context_overflow_rate=0.0)

        tap.on(first_review_overflows)
        run = await run_mission(sim, MissionConfig(shadow_review=False), tap=tap)
    assert run.state is MissionState.SEALED
    first, second = run.wal.intents(kind="review")
    assert run.wal.end_of(first)["error_name"] == "ContextOverflowError"
    assert second["session"] != first["session"]
    assert run.wal.kinds("u01") == ["work", "review", "review"], "no fix request was sent"


def _deleting_at_first(
    sim: Sim,
    kind: str,
    victim: Callable[[MissionEngine, dict[str, Any]], str | None],
    deleted: list[str],
) -> Callable[[MissionEngine], None]:
    """An engine ``setup``: as the first ``kind`` intent is journaled, before its prompt is
    sent, delete ``victim(engine, intent)`` in OpenCode (as a user would) and note it."""

    def setup(engine: MissionEngine) -> None:
        journal = engine.ctx.journal
        write = journal.write

        async def deleting(
            record_type: RecordType, data: dict[str, Any], *, durable: bool = True
        ) -> None:
            await write(record_type, data, durable=durable)
            first = record_type is RecordType.TURN_INTENT and data["kind"] == kind and not deleted
            session = victim(engine, data) if first else None
            if session is not None:
                deleted.append(session)
                await sim.client.delete_session(session)

        setattr(journal, "write", deleting)  # noqa: B010 - shadows the method

    return setup


async def test_a_session_deleted_in_opencode_is_replaced_not_fatal(tmp_path: Path) -> None:
    # The user deletes the unit's reviewer session in OpenCode just as its review is
    # sent: the prompt gets a 404. That turn fails, and the review is asked again in
    # a new session (the 404 took the whole engine down before).
    deleted: list[str] = []
    async with simulated(tmp_path, _ONE_UNIT) as sim:
        setup = _deleting_at_first(
            sim, "review", lambda _engine, intent: intent["session"], deleted
        )
        run = await run_mission(sim, MissionConfig(shadow_review=False), setup=setup)
    assert run.state is MissionState.SEALED, run.model.reason
    reviews = run.wal.intents(kind="review")
    assert [r["session"] == deleted[0] for r in reviews] == [True, False]
    assert run.wal.end_of(reviews[0])["error_name"] == "SessionGone"
    assert run.wal.end_of(reviews[1])["status"] == "completed"
    created = run.wal.of(RecordType.SESSION_CREATED, unit="u01", role="reviewer")
    assert [c["session"] for c in created] == [deleted[0], reviews[1]["session"]]


async def test_the_mission_goes_on_when_its_own_session_is_deleted(tmp_path: Path) -> None:
    # Deleting the mission's session in OpenCode deletes every child session too: the
    # review is asked again in a new session, a child of the deleted one (OpenCode
    # takes any parent id, tests/contract/test_sessions.py).
    deleted: list[str] = []
    async with simulated(tmp_path, _ONE_UNIT) as sim:
        setup = _deleting_at_first(
            sim, "review", lambda engine, _intent: engine.ctx.model.parent_session, deleted
        )
        run = await run_mission(sim, MissionConfig(shadow_review=False), setup=setup)
        record = await sim.record()
    assert deleted, "the mission had a session of its own"
    assert run.state is MissionState.SEALED, run.model.reason
    reviews = run.wal.intents(kind="review")
    assert run.wal.end_of(reviews[0])["error_name"] == "SessionGone"
    assert run.wal.end_of(reviews[-1])["status"] == "completed"
    assert record.sessions[reviews[-1]["session"]].get("parentID") == deleted[0]
