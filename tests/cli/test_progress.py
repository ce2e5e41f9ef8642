"""The live progress line: what it says, and how often it says it."""

from __future__ import annotations

import io

from opencode_orchestrator.cli.progress import Progress
from opencode_orchestrator.mission.contracts import UnitSpec
from opencode_orchestrator.mission.model import MissionModel, UnitModel
from opencode_orchestrator.mission.states import MissionState, UnitState


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _model() -> MissionModel:
    model = MissionModel(state=MissionState.RUNNING, tokens=12_345, cost=0.25)
    for uid, state in [
        ("u1", UnitState.VERIFIED),
        ("u2", UnitState.RUNNING),
        ("u3", UnitState.REVIEWING),
        ("u4", UnitState.FAILED),
        ("u5", UnitState.PENDING),
    ]:
        model.units[uid] = UnitModel(spec=UnitSpec(id=uid, title=uid), state=state)
    return model


def test_the_line_says_state_units_in_flight_usage_and_elapsed_time() -> None:
    clock = Clock()
    progress = Progress(_model(), io.StringIO(), tty=False, clock=clock)
    clock.now += 4.25
    assert progress.line() == (
        "[   4.2s] running  iteration 1  verified 1/5  in flight 2  failed 1  "
        "tokens 12,345  $0.2500"
    )


def test_off_a_terminal_a_line_is_printed_on_change_at_most_once_a_second() -> None:
    clock, stream, model = Clock(), io.StringIO(), _model()
    progress = Progress(model, stream, tty=False, clock=clock, min_gap=1.0)
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


def test_off_a_terminal_finish_prints_the_final_state_once() -> None:
    clock, stream, model = Clock(), io.StringIO(), _model()
    progress = Progress(model, stream, tty=False, clock=clock)
    progress.update()
    model.state = MissionState.SEALED
    progress.finish()
    assert stream.getvalue().splitlines()[-1].endswith("$0.2500")
    assert " sealed " in stream.getvalue().splitlines()[-1]


def test_on_a_terminal_the_line_is_redrawn_in_place() -> None:
    clock, stream, model = Clock(), io.StringIO(), _model()
    progress = Progress(model, stream, tty=True, clock=clock)
    progress.update()
    model.units.clear()  # a shorter line must wipe the longer one's tail
    progress.update()
    progress.finish()
    text = stream.getvalue()
    assert "\n" not in text[:-1]
    assert text.endswith("\n")
    first, second, _third = text[1:].split("\r")
    assert len(second) == len(first)
    assert second.rstrip().endswith("$0.2500")
