"""Progress off a terminal: plain lines, what they say and how often they say it."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import pytest
from rich.console import Console

from opencode_orchestrator.cli.live import Progress, is_live_terminal
from opencode_orchestrator.cli.live.progress import same_terminal
from opencode_orchestrator.mission.contracts import UnitSpec
from opencode_orchestrator.mission.model import MissionModel, UnitModel
from opencode_orchestrator.mission.states import MissionState, UnitState


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _model(**fields: object) -> MissionModel:
    model = MissionModel(
        state=MissionState.RUNNING,
        tokens=12_345,
        cost=0.25,
        created=True,
        created_at=100.0,
        **fields,  # type: ignore[arg-type]
    )
    for uid, state in [
        ("u1", UnitState.VERIFIED),
        ("u2", UnitState.RUNNING),
        ("u3", UnitState.REVIEWING),
        ("u4", UnitState.FAILED),
        ("u5", UnitState.PENDING),
    ]:
        model.units[uid] = UnitModel(spec=UnitSpec(id=uid, title=uid), state=state)
    return model


def _progress(model: MissionModel, clock: Clock, stream: io.StringIO) -> Progress:
    return Progress(model, stream, tty=False, clock=clock, wall_clock=clock)


def test_the_line_says_wall_time_state_units_in_flight_and_usage() -> None:
    clock = Clock()
    progress = _progress(_model(), clock, io.StringIO())
    clock.now += 4.25
    assert progress.line() == (
        "[   4.2s] running  iteration 1  verified 1/5  in flight 2  failed 1  "
        "tokens 12,345  $0.2500"
    )


def test_the_line_shows_each_cap_after_what_it_caps() -> None:
    budget = {"max_tokens": 50_000, "max_cost": 2.5, "max_wall_seconds": 600}
    clock = Clock()
    progress = _progress(_model(config={"budget": budget}), clock, io.StringIO())
    clock.now += 10
    assert progress.line() == (
        "[  10.0s of 600s] running  iteration 1  verified 1/5  in flight 2  failed 1  "
        "tokens 12,345/50,000  $0.2500/$2.50"
    )


def test_off_a_terminal_a_line_is_printed_on_change_at_most_once_a_second() -> None:
    clock, stream, model = Clock(), io.StringIO(), _model()
    progress = _progress(model, clock, stream)
    progress.update()
    progress.update()  # nothing changed
    model.tokens += 1
    clock.now += 0.5
    progress.update()  # changed, but too soon
    clock.now += 0.5
    progress.update()  # changed, and due
    clock.now += 5
    progress.update()  # only the clock moved
    assert len(stream.getvalue().splitlines()) == 2
    model.state = MissionState.BARRIER
    clock.now += 0.1
    progress.update()  # a new phase is worth a line at once
    progress.finish()  # the last line was already printed
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[-1].startswith("[   6.1s] barrier")
    assert "\x1b" not in stream.getvalue()


def test_off_a_terminal_finish_prints_the_final_state_once_and_then_nothing() -> None:
    clock, stream, model = Clock(), io.StringIO(), _model()
    progress = _progress(model, clock, stream)
    progress.update()
    model.state = MissionState.SEALED
    model.last_ts = 103.0
    progress.finish()
    progress.finish()
    progress.update()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[-1].startswith("[   3.0s] sealed ")  # an ended mission's wall time stops
    assert lines[-1].endswith("$0.2500")


def test_the_wall_time_given_wins_over_the_model_timestamps() -> None:
    clock = Clock()
    progress = Progress(_model(), io.StringIO(), tty=False, wall_clock=clock, elapsed=lambda: 42.0)
    assert progress.line().startswith("[  42.0s] running")


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("tty", "term", "live"),
    [
        (True, "xterm-256color", True),
        (True, "dumb", False),
        (True, "unknown", False),
        (False, "xterm-256color", False),
    ],
)
def test_the_live_view_needs_a_terminal_that_is_not_dumb(
    monkeypatch: pytest.MonkeyPatch, tty: bool, term: str, live: bool
) -> None:
    monkeypatch.setenv("TERM", term)
    assert is_live_terminal(_Stream(tty)) is live
    assert Progress(_model(), _Stream(tty)).tty is live


def test_a_closed_stream_is_no_terminal() -> None:
    stream = io.StringIO()
    stream.close()
    assert not is_live_terminal(stream)


def test_a_fresh_view_of_an_ended_mission_says_where_it_stopped() -> None:
    model = _model()  # u1 verified, u4 failed, three not finished
    model.state = MissionState.FAILED
    snapshot = Progress(model, io.StringIO(), tty=False).snapshot()
    statuses = {phase.state: phase.status.value for phase in snapshot.phases}
    # Units were left: it stopped while they ran, not while planning.
    assert statuses[MissionState.PLANNING] == "done"
    assert statuses[MissionState.RUNNING] == "stopped"


@contextmanager
def _terminal() -> Iterator[tuple[TextIO, TextIO]]:
    """Two streams onto one new pseudo-terminal, as a shell gives stdout and stderr."""
    master, slave = os.openpty()
    try:
        with open(slave, "w", closefd=False) as out, open(slave, "w", closefd=False) as err:
            yield out, err
    finally:
        os.close(slave)
        os.close(master)


def test_stderr_on_the_same_terminal_is_printed_above_the_view(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with _terminal() as (out, err), _terminal() as (elsewhere, _other):
        assert same_terminal(out, err)
        assert not same_terminal(out, elsewhere)
        assert not same_terminal(out, io.StringIO())
        for stderr, redirected in ((err, True), (elsewhere, False)):
            monkeypatch.setattr(sys, "stderr", stderr)
            console = Console(file=out, force_terminal=True, width=80, height=20)
            progress = Progress(_model(), out, tty=True, console=console)
            progress.update()  # the view is up
            assert (sys.stderr is not stderr) is redirected  # rich's proxy, or left alone
            progress.finish()
            assert sys.stderr is stderr
