"""The live view on a terminal: a :class:`Snapshot` drawn with rich.

Four blocks, top to bottom::

    mission m-20250101-abcd  RUNNING  iteration 1
    goal      Lay out the sample project ...
    planning            ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━  done
    units               ━━━━━━━━━━━━━━╸━━━━━━━━━━━━━━━  12/20 verified · 1 failed · 4 running
    barrier             ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━
    integration review  ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━
    sealed              ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━
    tokens              ━━━━━━━━╸━━━━━━━━━━━━━━━━━━━━━  123,456 of 500,000
    cost                                                $0.3700 (no cap)
    wall time                                           1m 02s (no cap)
      unit    title                 role       attempt   elapsed
      u7      Parse the config      worker           2     41.0s
      ...     and 3 more running

Colours say the same as the words (done, stopped, waiting), so ``NO_COLOR``
loses nothing. Durations read as in ``/mission-status`` and the report
(:func:`~opencode_orchestrator.mission.figures.duration_text`).
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from opencode_orchestrator.cli.live.snapshot import Phase, PhaseStatus, Snapshot, Spend
from opencode_orchestrator.mission.figures import duration_text
from opencode_orchestrator.mission.states import MissionState

__all__ = ["BAR_WIDTH", "render"]

BAR_WIDTH = 30
"""Columns of every bar: short enough for an 80-column terminal with its numbers."""

_NAMES = {
    MissionState.PLANNING: "planning",
    MissionState.RUNNING: "units",
    MissionState.BARRIER: "barrier",
    MissionState.INTEGRATION_REVIEW: "integration review",
    MissionState.SEALED: "sealed",
}
_STYLE = {
    PhaseStatus.WAITING: "bar.back",
    PhaseStatus.ACTIVE: "cyan",
    PhaseStatus.DONE: "green",
    PhaseStatus.STOPPED: "red",
}
_STATE_STYLE = {MissionState.SEALED: "bold green"}


def render(snapshot: Snapshot) -> RenderableType:
    """The whole view of ``snapshot``."""
    blocks: list[RenderableType] = [_header(snapshot), _progress(snapshot)]
    if snapshot.running:
        blocks.append(_running(snapshot))
    return Group(*blocks)


def _header(snapshot: Snapshot) -> RenderableType:
    state = snapshot.state
    style = _STATE_STYLE.get(state, "bold red" if state.final else "bold cyan")
    title = Text.assemble(
        ("mission ", "dim"),
        (snapshot.mission_id or "-", "bold"),
        "  ",
        (state.value.upper(), style),
        f"  iteration {snapshot.iteration}",
    )
    goal = Text.assemble(
        ("goal      ", "dim"), snapshot.goal.splitlines()[0] if snapshot.goal else ""
    )
    goal.no_wrap = True
    goal.overflow = "ellipsis"
    return Group(title, goal)


def _progress(snapshot: Snapshot) -> RenderableType:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, min_width=18)
    grid.add_column(no_wrap=True, width=BAR_WIDTH)
    grid.add_column(no_wrap=True, overflow="ellipsis")
    for phase in snapshot.phases:
        grid.add_row(*_phase_row(snapshot, phase))
    for name, row in _spend_rows(snapshot.spend):
        grid.add_row(Text(name, "dim"), *row)
    return grid


def _phase_row(snapshot: Snapshot, phase: Phase) -> tuple[RenderableType, ...]:
    state, status = snapshot.state, phase.status
    name = _NAMES[phase.state]
    style = _STYLE[status]
    if phase.state is MissionState.SEALED and state.final and state is not MissionState.SEALED:
        # The last row says how the mission ended when it did not seal.
        name, style = state.value.replace("_", " "), "red"
        bar = _bar(1, 1, style)
        return Text(name, "bold red"), bar, Text(snapshot.reason, "red")
    if phase.total is not None:  # the units
        tally = snapshot.units
        detail = Text(f"{tally.verified}/{tally.total} verified")
        if tally.failed:
            detail.append(f" · {tally.failed} failed", "red")
        if tally.cancelled:
            detail.append(f" · {tally.cancelled} cancelled", "yellow")
        if tally.running:
            detail.append(f" · {tally.running} running", "cyan")
        if status is PhaseStatus.STOPPED:
            detail.append(" · stopped", "red")
        bar_style = (
            "red" if status is PhaseStatus.STOPPED else "green" if tally.failed == 0 else "yellow"
        )
        return Text(name), _bar(phase.total, phase.completed, bar_style), detail
    if status is PhaseStatus.ACTIVE:
        return (
            Text(name, "bold"),
            ProgressBar(total=None, width=BAR_WIDTH),
            Text("in progress", "cyan"),
        )
    word = "" if status is PhaseStatus.WAITING else status.value
    text_style = "dim" if status is PhaseStatus.WAITING else style
    return Text(name, text_style), _bar(1, phase.completed, style), Text(word, style)


def _bar(total: int, completed: int, style: str) -> ProgressBar:
    return ProgressBar(
        total=max(total, 1),
        completed=completed,
        width=BAR_WIDTH,
        complete_style=style,
        finished_style=style,
    )


def _spend_rows(spend: Spend) -> list[tuple[str, tuple[RenderableType, RenderableType]]]:
    rows: list[tuple[str, tuple[RenderableType, RenderableType]]] = []
    for name, used, cap, shown, shown_cap in (
        (
            "tokens",
            spend.tokens,
            spend.caps.tokens,
            f"{spend.tokens:,}",
            f"{spend.caps.tokens or 0:,}",
        ),
        ("cost", spend.cost, spend.caps.cost, f"${spend.cost:.4f}", f"${spend.caps.cost or 0:.2f}"),
        (
            "wall time",
            spend.wall,
            spend.caps.wall_seconds,
            duration_text(spend.wall),
            duration_text(spend.caps.wall_seconds or 0),
        ),
    ):
        if cap is None:
            rows.append((name, (Text(""), Text(f"{shown} (no cap)"))))
            continue
        ratio = used / cap
        style = "red" if ratio >= 1 else "yellow" if ratio >= 0.8 else "blue"
        bar = ProgressBar(
            total=cap, completed=used, width=BAR_WIDTH, complete_style=style, finished_style=style
        )
        rows.append((name, (bar, Text(f"{shown} of {shown_cap} ({ratio:.0%})", style))))
    return rows


def _running(snapshot: Snapshot) -> RenderableType:
    table = Table(box=None, padding=(0, 2), pad_edge=False, show_edge=False, header_style="dim")
    table.add_column("unit", no_wrap=True, max_width=24, overflow="ellipsis")
    table.add_column("title", no_wrap=True, overflow="ellipsis", ratio=1)
    table.add_column("role", no_wrap=True)
    table.add_column("attempt", justify="right", no_wrap=True)
    table.add_column("elapsed", justify="right", no_wrap=True)
    for unit in snapshot.running:
        table.add_row(
            unit.id, unit.title, unit.role, str(unit.attempt), duration_text(unit.elapsed)
        )
    more = snapshot.units.running - len(snapshot.running)
    if more > 0:
        table.add_row(Text("...", "dim"), Text(f"and {more} more running", "dim"), "", "", "")
    return table
