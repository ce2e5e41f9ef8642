"""``/mission-status``'s answer: a mission as a markdown table of its units, and its totals.

One row a unit (id, state, attempt, the title of its worker session, elapsed,
tokens, cost), then the mission's tokens, cost and wall time against its
budget caps. A long mission would give an unreadable post, so past
:data:`ROW_LIMIT` units the rows are the units under way and the failed ones
first, then the others in plan order up to the limit, and the rest are
summed up by state in one line. Figures read as everywhere else
(:mod:`opencode_orchestrator.mission.figures`).
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from opencode_orchestrator.core.missions.ledger import UnitLedger, figures_of
from opencode_orchestrator.core.missions.views import goal_line, wire_state
from opencode_orchestrator.mission.figures import caps_of, cost_text, duration_text, tokens_text
from opencode_orchestrator.mission.model import MissionModel, UnitModel
from opencode_orchestrator.mission.sessions import session_title
from opencode_orchestrator.mission.states import UnitState

__all__ = ["ROW_LIMIT", "mission_table", "totals_text"]

ROW_LIMIT: Final = 40
"""At most this many unit rows; the other units are summed up by state."""

_HEADER: Final = (
    "| Unit | State | Attempt | Session | Elapsed | Tokens | Cost |\n|---|---|---|---|---|---|---|"
)


def _against(used: str, cap: str | None) -> str:
    return f"{used} of {cap}" if cap is not None else f"{used} (no cap)"


def _cell(text: str) -> str:
    """Text a table cell can hold: no pipe ends the cell, no newline the row."""
    return text.replace("|", "\\|").replace("\n", " ")


def _elapsed(model: MissionModel, started: float | None, ended: float | None, now: float) -> str:
    if started is None:
        return "—"
    end = ended if ended is not None else (now if not model.state.final else model.last_ts)
    return duration_text(end - started)


def _row(model: MissionModel, unit: UnitModel, ledger: UnitLedger | None, now: float) -> str:
    figures = figures_of(model, unit, ledger)
    attempt = unit.attempt
    title = session_title(model.mission_id, unit.id, "worker", attempt) if attempt else "—"
    cells = (
        unit.id,
        wire_state(unit.state),
        str(unit.attempt) if unit.attempt else "—",
        title,
        _elapsed(model, figures.started_at, figures.ended_at, now),
        tokens_text(figures.tokens) if figures.tokens else "—",
        cost_text(figures.cost) if figures.cost else "—",
    )
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _shown(units: list[UnitModel], limit: int) -> list[UnitModel]:
    """Every unit if they fit; else the ones under way, then the failed, then the others.

    Each group in plan order, up to ``limit`` rows: a mission with nothing under
    way or failed (a sealed one) still lists its first units.
    """
    if len(units) <= limit:
        return units
    first = [u for u in units if u.state.active]
    first += [u for u in units if u.state is UnitState.FAILED]
    if len(first) < limit:
        listed = {u.id for u in first}
        first += [u for u in units if u.id not in listed][: limit - len(first)]
    return first[:limit]


def mission_table(
    model: MissionModel,
    *,
    ledger: UnitLedger | None,
    now: float,
    wall_seconds: float,
    running: bool,
    error: str | None = None,
    row_limit: int = ROW_LIMIT,
) -> str:
    """The mission as markdown: a heading, a table of its units, its totals against its caps.

    ``now`` (seconds since the epoch) ends the elapsed time of units under way;
    ``wall_seconds`` is the mission's wall time as its budget counts it.
    """
    units = list(model.units.values())
    verified, planned = model.plan_progress()  # as the seal and the report count them
    where = "running here" if running else ("ended" if model.state.final else "not running")
    lines = [
        f"### Mission {model.mission_id} — {wire_state(model.state)}",
        f"Goal: {goal_line(model.goal)}",
        f"Iteration {model.iteration} · {verified}/{planned} units verified · {where}",
    ]
    if model.reason:
        lines.append(f"Reason: {goal_line(model.reason, 300)}")
    if error:
        lines.append(f"⚠ stopped by an error: {goal_line(error, 300)}")
    lines.append("")
    shown = _shown(units, row_limit)
    if units:
        lines.append(_HEADER)
        lines += [_row(model, unit, ledger, now) for unit in shown]
    else:
        lines.append("No units yet: the plan is not accepted.")
    if len(shown) < len(units):
        listed = {u.id for u in shown}
        rest = Counter(wire_state(u.state) for u in units if u.id not in listed)
        summary = ", ".join(f"{n} {state}" for state, n in sorted(rest.items()))
        lines.append(f"\n…and {len(units) - len(shown)} more units: {summary}")
    lines += ["", f"**Totals:** {totals_text(model, wall_seconds)}"]
    return "\n".join(lines)


def totals_text(model: MissionModel, wall_seconds: float) -> str:
    """``tokens 45.2k of 1.00M · cost $0.21 of $5.00 · wall 3m 05s (no cap)``."""
    caps = caps_of(model)
    tokens_cap = tokens_text(caps.tokens) if caps.tokens is not None else None
    cost_cap = cost_text(caps.cost) if caps.cost is not None else None
    wall_cap = duration_text(caps.wall_seconds) if caps.wall_seconds is not None else None
    return " · ".join(
        (
            f"tokens {_against(tokens_text(model.tokens), tokens_cap)}",
            f"cost {_against(cost_text(model.cost), cost_cap)}",
            f"wall {_against(duration_text(wall_seconds), wall_cap)}",
        )
    )
