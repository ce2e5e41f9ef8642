"""A mission's figures as people read them, the same wherever they are shown.

The terminal's live view, ``/mission-status`` in OpenCode and the report all
print tokens, dollars, durations and the budget caps a mission runs under;
they take them from here so that one mission reads the same in all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from opencode_orchestrator.mission.model import MissionModel

__all__ = ["Caps", "caps_of", "cost_text", "duration_text", "tokens_text"]


@dataclass(frozen=True, slots=True)
class Caps:
    """A mission's budget caps (``None``: no cap)."""

    tokens: int | None = None
    cost: float | None = None
    wall_seconds: float | None = None


def caps_of(model: MissionModel) -> Caps:
    """The caps ``model``'s mission runs under, from its journaled config.

    The config comes from the journal, written by whatever version started the
    mission: a cap that is not a positive number is read as no cap.
    """
    budget: object = model.config.get("budget")
    if not isinstance(budget, Mapping):
        return Caps()
    tokens = _positive(budget.get("max_tokens"))
    return Caps(
        tokens=int(tokens) if tokens is not None else None,
        cost=_positive(budget.get("max_cost")),
        wall_seconds=_positive(budget.get("max_wall_seconds")),
    )


def _positive(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


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
    """``4.2s``, ``3m 05s``, ``1h 02m``, ``2d 05h``: two units at most."""
    if seconds < 60:
        return f"{max(0.0, seconds):.1f}s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"
