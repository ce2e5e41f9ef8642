"""The chart drawn as one inline SVG: lanes, a time axis, the phases, a bar per turn.

Pure string building, no scripts and no external references: the SVG is
embedded in ``report.html`` and renders in any browser offline. Every text
that did not come from this module (unit ids, commands, titles) is escaped.
A bar's ``<title>`` is its tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape
from typing import Final

from opencode_orchestrator.mission.report.palette import OUTCOMES, PHASES, STATE_COLOURS
from opencode_orchestrator.mission.report.timeline import Bar, Chart

__all__ = ["render_svg", "tick_step"]

WIDTH: Final = 1100
_LABEL_W: Final = 150
_RIGHT: Final = 30
"""Room right of the plot: half the last tick's label (the final state's is left of its line)."""
_AXIS_H: Final = 22
_PHASE_H: Final = 16
_ROW_H: Final = 20
_MIN_BAR: Final = 2.0
_CHAR_W: Final = 7
"""About the width of a character of the 11 px labels, in pixels."""
_BOLD_CAP_W: Final = 8.5
"""About the width of a bold capital of the final state's label (BUDGET_EXCEEDED and all)."""
_BANDS: Final = {"full": (3, 14), "top": (2, 9), "bottom": (12, 6)}
"""Band -> (offset from the row's top, height), in pixels."""

Scale = Callable[[float], float]
"""Seconds since the start -> x in pixels."""


def render_svg(chart: Chart) -> str:
    """The chart as an ``<svg>`` element (``WIDTH`` wide, as tall as its rows need)."""
    span = chart.span if chart.span > 0 else 1.0
    plot = WIDTH - _LABEL_W - _RIGHT
    top = _AXIS_H + _PHASE_H + 6
    height = top + len(chart.rows) * _ROW_H + _AXIS_H

    def x(t: float) -> float:
        return _LABEL_W + max(0.0, min(t, span)) / span * plot

    out = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
        f'height="{height}" font-family="system-ui, sans-serif" font-size="11">',
        "<title>Mission timeline: one lane per role and unit, one bar per turn</title>",
    ]
    for index, row in enumerate(chart.rows):
        y = top + index * _ROW_H
        if index % 2:
            out.append(f'<rect x="0" y="{y}" width="{WIDTH}" height="{_ROW_H}" fill="#f8fafc"/>')
        weight = ' font-weight="600"' if row.group not in ("unit", "units") else ""
        out.append(
            f'<text x="{_LABEL_W - 8}" y="{y + 14}" text-anchor="end" fill="#334155"{weight}>'
            f"<title>{escape(row.title)}</title>{escape(_clip(row.label, 22))}</text>"
        )
    out.extend(_axis(span, top, height, x))
    end = x(span)
    final = chart.state.upper() if chart.final else ""
    # The final state's label ends at its line, inside the plot: no phase name under it.
    free_until = end - 8 - _BOLD_CAP_W * len(final) if final else float(WIDTH)
    for phase in chart.phases:
        left, right = x(phase["start"]), x(phase["end"])
        tint = PHASES.get(phase["state"], "#f1f5f9")
        out.append(
            f'<rect x="{left:.1f}" y="{_AXIS_H}" width="{max(right - left, 1.0):.1f}" '
            f'height="{_PHASE_H}" fill="{tint}"><title>{escape(phase["state"])} '
            f"(iteration {phase['iteration']}), {phase['end'] - phase['start']:.2f} s"
            "</title></rect>"
        )
        name = phase["state"].replace("_", " ")
        if right - left > _CHAR_W * len(name) and left + 4 + _CHAR_W * len(name) < free_until:
            out.append(
                f'<text x="{left + 4:.1f}" y="{_AXIS_H + 12}" fill="#475569">{escape(name)}</text>'
            )
    out.extend(_bar(bar, top, x) for bar in chart.bars)
    if final:
        colour = STATE_COLOURS.get(chart.state, "#334155")
        out.append(
            f'<line x1="{end:.1f}" y1="{_AXIS_H}" x2="{end:.1f}" y2="{height - _AXIS_H}" '
            f'stroke="{colour}" stroke-width="2"/>'
            f'<text x="{end - 4:.1f}" y="{_AXIS_H + 12}" text-anchor="end" fill="{colour}" '
            'font-weight="700" stroke="#ffffff" stroke-width="3" paint-order="stroke">'
            f"{escape(final)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)


def _bar(bar: Bar, top: int, x: Scale) -> str:
    offset, height = _BANDS.get(bar.band, _BANDS["full"])
    left, right = x(bar.start), x(bar.end)
    width = max(right - left, _MIN_BAR)
    fill = OUTCOMES[bar.outcome][0]
    y = top + bar.row * _ROW_H + offset
    return (
        f'<rect x="{left:.1f}" y="{y}" width="{width:.1f}" height="{height}" fill="{fill}">'
        f"<title>{escape(bar.title)}</title></rect>"
    )


def _axis(span: float, top: int, height: int, x: Scale) -> list[str]:
    step = tick_step(span)
    bottom = height - _AXIS_H
    out = [f'<line x1="{_LABEL_W}" y1="{top - 2}" x2="{_LABEL_W}" y2="{bottom}" stroke="#94a3b8"/>']
    count = int(span / step + 1e-9)
    for i in range(count + 1):
        t = i * step
        px = x(t)
        label = escape(_duration(t, step))
        out.append(
            f'<line x1="{px:.1f}" y1="{top - 2}" x2="{px:.1f}" y2="{bottom}" stroke="#e2e8f0"/>'
            f'<text x="{px:.1f}" y="{_AXIS_H - 8}" text-anchor="middle" fill="#64748b">'
            f"{label}</text>"
            f'<text x="{px:.1f}" y="{height - 8}" text-anchor="middle" fill="#64748b">'
            f"{label}</text>"
        )
    return out


def tick_step(span: float, *, ticks: int = 8) -> float:
    """A round step (1, 2 or 5 times a power of ten; whole minutes or hours past 2 min)."""
    raw = max(span, 1e-3) / ticks
    if raw > 120:
        for step in (180, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200):
            if step >= raw:
                return float(step)
        return 86400.0 * math.ceil(raw / 86400)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return float(factor * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _duration(t: float, step: float) -> str:
    if step >= 60 and t >= 60:
        minutes = t / 60
        if minutes >= 48 * 60:
            return f"{minutes / 1440:g} d"
        if minutes >= 60:
            return f"{minutes / 60:g} h"
        return f"{minutes:g} min"
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{t:.{decimals}f} s"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
