"""``/mission-status``'s answer: a mission as a markdown table of its units, and its totals.

One row a unit (id, state, attempt, the title of its worker session, elapsed,
tokens, cost), then the mission's tokens, cost and wall time against its
budget caps. A long mission would give an unreadable post, so past
:data:`ROW_LIMIT` units the rows are the units under way and the failed ones
first, and the rest are summed up by state in one line.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Final

from opencode_orchestrator.core.missions.ledger import UnitLedger, figures_of
from opencode_orchestrator.core.missions.views import goal_line, wire_state
from opencode_orchestrator.mission.model import MissionModel, UnitModel
from opencode_orchestrator.mission.sessions import session_title
from opencode_orchestrator.mission.states import UnitState

__all__ = [
    "ROW_LIMIT",
    "Caps",
    "caps_of",
    "cost_text",
    "duration_text",
    "mission_table",
    "tokens_text",
    "totals_text",
]

ROW_LIMIT: Final = 40
"""At most this many unit rows; the other units are summed up by state."""

_HEADER: Final = (
    "| Unit | State | Attempt | Session | Elapsed | Tokens | Cost |\n|---|---|---|---|---|---|---|"
)


@dataclass(frozen=True, slots=True)
class Caps:
    """A mission's budget caps (``None``: no cap)."""

    tokens: int | None = None
    cost: float | None = None
    wall_seconds: float | None = None


def caps_of(model: MissionModel) -> Caps:
    """The caps the mission runs under, from its journaled config (bad values: no cap)."""
    budget: object = model.config.get("budget")
    if not isinstance(budget, dict):
        return Caps()

    def number(key: str) -> float | None:
        value: object = budget.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            return None
        return float(value)

    tokens = number("max_tokens")
    return Caps(
        tokens=int(tokens) if tokens is not None else None,
        cost=number("max_cost"),
        wall_seconds=number("max_wall_seconds"),
    )


def tokens_text(tokens: int) -> str:
    """``950``, ``45.2k``, ``1.20M``."""
    if tokens < 1000:
        return str(tokens)
    if tokens < 1_000_000:
        return f"{tokens / 1000:.1f}k"
    return f"{tokens / 1_000_000:.2f}M"


def cost_text(cost: float) -> str:
    """``$0.21``; a fraction of a cent keeps its digits (``$0.0042``)."""
    return f"${cost:.4f}" if 0 < cost < 0.01 else f"${cost:.2f}"


def duration_text(seconds: float) -> str:
    """``12s``, ``3m 05s``, ``1h 02m``."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


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
    """Every unit if they fit; else the ones under way, then the failed, in plan order."""
    if len(units) <= limit:
        return units
    first = [u for u in units if u.state.active]
    first += [u for u in units if u.state is UnitState.FAILED]
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
    verified = sum(1 for u in units if u.state is UnitState.VERIFIED)
    where = "running here" if running else ("ended" if model.state.final else "not running")
    lines = [
        f"### Mission {model.mission_id} — {wire_state(model.state)}",
        f"Goal: {goal_line(model.goal)}",
        f"Iteration {model.iteration} · {verified}/{len(units)} units verified · {where}",
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
