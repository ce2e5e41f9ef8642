"""The colours of the report's chart: one per outcome, one tint per mission phase.

Shared by the SVG chart and the HTML legend, and by the browser test that
looks for these exact colours in a screenshot: no other part of the page
uses them.
"""

from __future__ import annotations

from typing import Final

__all__ = ["OUTCOMES", "PHASES", "STATE_COLOURS"]

OUTCOMES: Final[dict[str, tuple[str, str]]] = {
    "done": ("#3b82f6", "turn completed"),
    "pass": ("#22c55e", "review passed"),
    "changes": ("#f59e0b", "review asked for changes"),
    "error": ("#ef4444", "turn failed (error or timeout)"),
    "aborted": ("#94a3b8", "turn aborted or lost"),
    "open": ("#a78bfa", "turn not ended"),
    "check_pass": ("#0d9488", "check passed"),
    "check_fail": ("#be123c", "check failed"),
    "barrier": ("#475569", "barrier"),
}
"""Outcome -> (fill colour, legend text)."""

PHASES: Final[dict[str, str]] = {
    "planning": "#ede9fe",
    "running": "#e0f2fe",
    "barrier": "#e2e8f0",
    "integration_review": "#dcfce7",
}
"""Mission phase -> the tint of its stretch of the chart's phase strip."""

STATE_COLOURS: Final[dict[str, str]] = {
    "sealed": "#15803d",
    "failed": "#b91c1c",
    "blocked": "#b45309",
    "budget_exceeded": "#b45309",
    "cancelled": "#52525b",
}
"""Final mission state -> the colour of its badge and of the chart's end marker."""
