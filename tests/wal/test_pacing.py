"""The pacer: it keeps whichever way of batching writes more lines per second.

Writes are simulated: each mode has a fixed speed (lines per second) and a
fixed batch size, and the clock advances by exactly the time a write takes.
"""

from __future__ import annotations

from opencode_orchestrator.wal import pacing
from opencode_orchestrator.wal.pacing import Pacer

BUSY = 16


def _run(pacer: Pacer, speed: dict[bool, float], writes: int) -> list[bool]:
    """Feed ``writes`` simulated writes; return the mode each one was made in."""
    lines = {True: 32, False: 64}
    now, modes = 0.0, []
    for _ in range(writes):
        mode = pacer.pipelined
        modes.append(mode)
        now += lines[mode] / speed[mode]
        pacer.wrote(lines[mode], now)
    return modes


def test_a_light_load_decides_nothing() -> None:
    pacer = Pacer(BUSY)
    for i in range(1, 1000):
        assert not pacer.wrote(BUSY - 1, i * 0.001)
    assert pacer.pipelined


def test_it_settles_on_rounds_when_they_are_faster() -> None:
    pacer = Pacer(BUSY)
    modes = _run(pacer, {True: 100_000.0, False: 150_000.0}, 2000)
    tail = modes[len(modes) // 2 :]
    # Once settled, only the periodic tries run pipelined.
    assert tail.count(False) > 0.6 * len(tail)
    assert True in tail  # it keeps trying the other mode


def test_it_stays_pipelined_when_that_is_faster() -> None:
    pacer = Pacer(BUSY)
    modes = _run(pacer, {True: 150_000.0, False: 100_000.0}, 2000)
    tail = modes[len(modes) // 2 :]
    assert tail.count(True) > 0.6 * len(tail)
    assert False in tail


def test_a_difference_within_the_margin_keeps_the_incumbent() -> None:
    pacer = Pacer(BUSY)
    faster = pacing.MARGIN - 0.01  # rounds are faster, but not by enough to count
    modes = _run(pacer, {True: 100_000.0, False: 100_000.0 * faster}, 2000)
    probe_share = pacing.PROBE_WINDOWS / (pacing.PROBE_EVERY + pacing.PROBE_WINDOWS)
    assert modes.count(False) <= (probe_share + 0.05) * len(modes)


def test_it_follows_a_change_of_conditions() -> None:
    pacer = Pacer(BUSY)
    _run(pacer, {True: 150_000.0, False: 100_000.0}, 1000)
    modes = _run(pacer, {True: 100_000.0, False: 150_000.0}, 2000)
    tail = modes[len(modes) // 2 :]
    assert tail.count(False) > 0.6 * len(tail)
