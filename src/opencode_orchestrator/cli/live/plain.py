"""The live view where there is no terminal: one plain line per change.

A pipe, a log file or CI gets lines such as::

    [   4.2s] running  iteration 1  verified 12/20  in flight 4  failed 0  tokens 23,456  $0.0702

(the clock is the mission's wall time; ``cancelled 7`` follows ``failed`` once
units were cancelled), and only when something other than
the clock changed, at most once a second
(a new mission state is printed at once), so a long mission leaves a readable
trail instead of thousands of lines. Caps are shown after what they cap
(``tokens 23,456/500,000``) when the mission has them. No escape codes, ever.
"""

from __future__ import annotations

from opencode_orchestrator.cli.live.snapshot import Snapshot

__all__ = ["plain_body", "plain_line"]


def plain_body(snapshot: Snapshot) -> str:
    """The line without its clock: state, units, usage (and its caps)."""
    units, spend = snapshot.units, snapshot.spend
    tokens = f"tokens {spend.tokens:,}"
    if spend.caps.tokens is not None:
        tokens += f"/{spend.caps.tokens:,}"
    cost = f"${spend.cost:.4f}"
    if spend.caps.cost is not None:
        cost += f"/${spend.caps.cost:.2f}"
    # "cancelled N" only once there are some: a cancel is rare, and the
    # columns scripts already read stay where they were.
    cancelled = f"cancelled {units.cancelled}  " if units.cancelled else ""
    return (
        f"{snapshot.state.value}  iteration {snapshot.iteration}  "
        f"verified {units.verified}/{units.total}  in flight {units.running}  "
        f"failed {units.failed}  {cancelled}{tokens}  {cost}"
    )


def plain_line(snapshot: Snapshot) -> str:
    """The whole line: the mission's wall time (and its cap) first, then :func:`plain_body`."""
    spend = snapshot.spend
    wall = f"{spend.wall:6.1f}s"
    if spend.caps.wall_seconds is not None:
        wall += f" of {spend.caps.wall_seconds:g}s"
    return f"[{wall}] {plain_body(snapshot)}"
