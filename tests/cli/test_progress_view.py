"""The live view on a terminal: what a snapshot holds and what rich draws of it."""

from __future__ import annotations

import io
import re

from rich.console import Console

from opencode_orchestrator.cli.live import Progress, take_snapshot
from opencode_orchestrator.cli.live.plain import plain_body
from opencode_orchestrator.cli.live.snapshot import PhaseStatus
from opencode_orchestrator.cli.live.view import render
from opencode_orchestrator.mission.contracts import UnitSpec
from opencode_orchestrator.mission.model import MissionModel, TurnModel, UnitModel
from opencode_orchestrator.mission.records import TurnKind
from opencode_orchestrator.mission.states import MissionState, UnitState

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
CREATED = 1_000.0


def _mission(
    state: MissionState = MissionState.RUNNING, budget: dict[str, float] | None = None
) -> MissionModel:
    """20 units: 12 verified, 1 failed, 4 running (started 1 s apart), 3 pending."""
    model = MissionModel(
        mission_id="m-live",
        goal="Lay the project out\nin detail",
        state=state,
        reason="plan accepted",
        tokens=123_456,
        cost=0.37,
        created=True,
        created_at=CREATED,
        last_ts=CREATED + 50,
        config={"budget": budget or {}},
    )
    states = [UnitState.VERIFIED] * 12 + [UnitState.FAILED]
    states += [UnitState.RUNNING, UnitState.REVIEWING, UnitState.DISPATCHED, UnitState.REPORTED]
    states += [UnitState.PENDING] * 3
    for index, unit_state in enumerate(states):
        uid = f"u{index:02d}"
        model.units[uid] = UnitModel(
            spec=UnitSpec(id=uid, title=f"module {index}"),
            state=unit_state,
            attempt=2 if index == 14 else 1,
            started_at=CREATED + index,
        )
    model.turns["t1"] = TurnModel("t1", "s1", "m1", TurnKind.WORK, "u13", 1)
    model.turns["t2"] = TurnModel("t2", "s2", "m2", TurnKind.REVIEW, "u14", 2)
    model.turns["t3"] = TurnModel("t3", "s3", "m3", TurnKind.SHADOW_REVIEW, "u13", 1)
    return model


def _draw(model: MissionModel, *, limit: int = 8, now: float = CREATED + 60) -> str:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=100, color_system="truecolor")
    console.print(render(take_snapshot(model, now=now, limit=limit)))
    return stream.getvalue()


def _text(drawn: str) -> list[str]:
    return [line.rstrip() for line in _ANSI.sub("", drawn).splitlines()]


def _row(lines: list[str], start: str) -> str:
    return next(line for line in lines if line.startswith(start))


# -- the snapshot ---------------------------------------------------------------


def test_a_snapshot_counts_the_units_of_the_current_iteration_only() -> None:
    model = _mission()
    model.iteration = 2
    model.units["u00"].iteration = 2
    model.units["u13"].iteration = 2
    snapshot = take_snapshot(model, now=CREATED + 60)
    assert (snapshot.units.total, snapshot.units.verified, snapshot.units.running) == (2, 1, 1)
    assert [u.id for u in snapshot.running] == ["u13"]


def test_a_snapshot_counts_racing_strategies_as_work_not_as_units() -> None:
    # u12.r1 lost its race (cancelled with its sub-unit by design), u12.r2 works on.
    model = _mission()
    for uid, state in (
        ("u12.r1", UnitState.CANCELLED),
        ("u12.r1.part1", UnitState.CANCELLED),
        ("u12.r2", UnitState.RUNNING),
    ):
        model.units[uid] = UnitModel(
            spec=UnitSpec(id=uid, title=uid),
            state=state,
            strategy=uid[:6],
            started_at=CREATED + 30,
        )
    snapshot = take_snapshot(model, now=CREATED + 60)
    assert (snapshot.units.total, snapshot.units.verified, snapshot.units.failed) == (20, 12, 1)
    assert snapshot.units.running == 5
    assert "u12.r2" in [u.id for u in snapshot.running]


def test_a_snapshot_lists_the_longest_running_units_first_with_their_roles() -> None:
    snapshot = take_snapshot(_mission(), now=CREATED + 60, limit=3)
    assert snapshot.units.running == 4
    assert [(u.id, u.role, u.attempt, u.elapsed) for u in snapshot.running] == [
        ("u13", "shadow reviewer + worker", 1, 47.0),
        ("u14", "reviewer", 2, 46.0),
        ("u15", "worker", 1, 45.0),  # dispatched, no turn yet: its worker is starting
    ]
    assert take_snapshot(_mission(), now=CREATED + 60, limit=8).running[-1].role == "checks"


def test_a_snapshot_reads_the_caps_and_ignores_malformed_ones() -> None:
    budget = {"max_tokens": 500_000, "max_cost": 1.0, "max_wall_seconds": 600}
    spend = take_snapshot(_mission(budget=budget), now=CREATED + 60).spend
    assert (spend.tokens, spend.caps.tokens, spend.caps.cost, spend.caps.wall_seconds) == (
        123_456,
        500_000,
        1.0,
        600.0,
    )
    assert spend.wall == 60.0
    bad = _mission()
    bad.config = {"budget": {"max_tokens": "lots", "max_cost": True, "max_wall_seconds": -1}}
    spend = take_snapshot(bad, now=CREATED + 60).spend
    assert (spend.caps.tokens, spend.caps.cost, spend.caps.wall_seconds) == (None, None, None)
    bad.config = {"budget": None}
    assert take_snapshot(bad, now=CREATED + 60).spend.caps.tokens is None


def test_phases_follow_the_mission_and_an_unsealed_end_marks_where_it_stopped() -> None:
    def statuses(model: MissionModel, stopped_in: MissionState | None = None) -> list[str]:
        snapshot = take_snapshot(model, now=CREATED + 60, stopped_in=stopped_in)
        return [phase.status.value for phase in snapshot.phases]

    assert statuses(_mission(MissionState.PLANNING)) == [
        "active",
        "waiting",
        "waiting",
        "waiting",
        "waiting",
    ]
    barrier = statuses(_mission(MissionState.BARRIER))
    assert barrier == ["done", "done", "active", "waiting", "waiting"]
    assert statuses(_mission(MissionState.SEALED)) == ["done"] * 5
    # Ended with units left: it stopped while they ran.
    assert statuses(_mission(MissionState.BUDGET_EXCEEDED))[:3] == ["done", "stopped", "waiting"]
    # Told where it was, the snapshot believes it.
    told = statuses(_mission(MissionState.FAILED), MissionState.INTEGRATION_REVIEW)
    assert told == ["done", "done", "done", "stopped", "waiting"]
    empty = _mission(MissionState.CANCELLED)
    empty.units.clear()
    assert statuses(empty)[0] == PhaseStatus.STOPPED.value


# -- the drawing ----------------------------------------------------------------


def test_the_view_shows_the_mission_its_phase_bars_and_the_running_units() -> None:
    drawn = _draw(_mission(), limit=3)
    lines = _text(drawn)
    assert lines[0] == "mission m-live  RUNNING  iteration 1"
    assert lines[1] == "goal      Lay the project out"
    assert _row(lines, "planning").endswith("done")
    units = _row(lines, "units")
    assert "━" in units
    assert units.endswith("12/20 verified · 1 failed · 4 running")
    assert _row(lines, "barrier").rstrip().endswith("━")  # waiting: a bar, no word
    assert _row(lines, "integration review")
    assert _row(lines, "sealed")
    header = _row(lines, "unit ")
    assert header.split() == ["unit", "title", "role", "attempt", "elapsed"]
    u13 = " ".join(_row(lines, "u13").split())
    assert u13 == "u13 module 13 shadow reviewer + worker 1 47.0s"
    assert _row(lines, "u14").split()[-3:] == ["reviewer", "2", "46.0s"]
    assert "and 1 more running" in _row(lines, "...")
    assert not any(line.startswith("u16") for line in lines)  # beyond the limit
    assert all(len(line) <= 100 for line in lines)


def test_the_view_shows_spend_against_each_cap_or_says_there_is_none() -> None:
    budget = {"max_tokens": 500_000, "max_cost": 0.4, "max_wall_seconds": 600}
    lines = _text(_draw(_mission(budget=budget)))
    tokens = _row(lines, "tokens")
    assert "━" in tokens
    assert tokens.endswith("123,456 of 500,000 (25%)")
    assert _row(lines, "cost").endswith("$0.3700 of $0.40 (92%)")
    assert _row(lines, "wall time").endswith("1m 00s of 10m 00s (10%)")
    uncapped = _text(_draw(_mission()))
    assert _row(uncapped, "tokens").split() == ["tokens", "123,456", "(no", "cap)"]
    assert _row(uncapped, "cost").endswith("$0.3700 (no cap)")
    assert _row(uncapped, "wall time").endswith("1m 00s (no cap)")


def test_an_unsealed_end_is_named_on_the_last_bar_with_its_reason() -> None:
    model = _mission(MissionState.BUDGET_EXCEEDED)
    model.reason = "budget exceeded: tokens 600000 of 500000"
    lines = _text(_draw(model))
    assert lines[0] == "mission m-live  BUDGET_EXCEEDED  iteration 1"
    assert _row(lines, "units").endswith("· stopped")
    assert _row(lines, "budget exceeded").endswith("budget exceeded: tokens 600000 of 500000")
    assert not any(line.startswith("sealed") for line in lines)


def test_a_cancelled_missions_units_read_as_cancelled_not_as_failed() -> None:
    # What a cancel leaves: every unit not verified or failed ends cancelled.
    model = _mission(MissionState.CANCELLED)
    model.reason = "cancelled on request"
    for unit in model.units.values():
        if unit.state not in (UnitState.VERIFIED, UnitState.FAILED):
            unit.state = UnitState.CANCELLED
    model.units["u19"].state = UnitState.SKIPPED  # its dependency failed: a failure
    tally = take_snapshot(model, now=CREATED + 60).units
    assert (tally.verified, tally.failed, tally.cancelled, tally.running) == (12, 2, 6, 0)
    assert tally.finished == tally.total == 20
    line = plain_body(take_snapshot(model, now=CREATED + 60))
    assert "verified 12/20  in flight 0  failed 2  cancelled 6  tokens 123,456" in line
    assert _row(_text(_draw(model)), "units").endswith("12/20 verified · 2 failed · 6 cancelled")
    # A mission with none cancelled keeps the line scripts already read.
    running = plain_body(take_snapshot(_mission(), now=CREATED + 60))
    assert "failed 1  tokens 123,456" in running


def test_a_sealed_mission_has_every_bar_full_and_no_running_table() -> None:
    model = _mission(MissionState.SEALED)
    for unit in model.units.values():
        unit.state = UnitState.VERIFIED
    model.turns.clear()
    lines = _text(_draw(model))
    for name in ("planning", "barrier", "integration review", "sealed"):
        assert _row(lines, name).endswith("done"), name
    assert _row(lines, "units").endswith("20/20 verified")
    assert not any(line.startswith("unit ") for line in lines)


def test_no_color_draws_the_same_words_without_colours() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=100, no_color=True)
    console.print(render(take_snapshot(_mission(), now=CREATED + 60)))
    drawn = stream.getvalue()
    assert not re.search(r"\x1b\[[0-9;]*3[0-9]m", drawn)  # no foreground colour
    assert "12/20 verified · 1 failed · 4 running" in _ANSI.sub("", drawn)


def test_progress_on_a_terminal_redraws_the_view_in_place_and_ends_it() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=100, height=40)
    model = _mission()
    progress = Progress(model, stream, tty=True, console=console, wall_clock=lambda: CREATED + 60)
    progress.update()
    model.units["u16"].state = UnitState.VERIFIED
    progress.update()
    progress.finish()
    progress.finish()  # once only
    drawn = stream.getvalue()
    assert _ANSI.sub("", drawn).count("mission m-live") == 3  # two redraws and the final one
    assert "\x1b[1A" in drawn  # the cursor went back up over the previous view
    assert drawn.endswith("\x1b[?25h")  # and the cursor is shown again at the end
    assert "13/20 verified · 1 failed · 3 running" in _ANSI.sub("", drawn)


def test_a_short_terminal_lists_fewer_running_units() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=100, height=15)
    progress = Progress(_mission(), stream, tty=True, console=console, wall_clock=lambda: CREATED)
    progress.finish()
    lines = _text(stream.getvalue())
    listed = [line for line in lines if re.match(r"u1[3-6] ", line)]
    assert len(listed) == 2
    assert "and 2 more running" in _row(lines, "...")


def test_durations_read_as_in_the_status_table_and_the_report() -> None:
    lines = _text(_draw(_mission(), limit=1, now=CREATED + 2 * 86_400 + 5 * 3_600 + 13))
    assert _row(lines, "u13").endswith(" 2d 05h")  # not 53h 00m
    assert _row(lines, "wall time").endswith("2d 05h (no cap)")
