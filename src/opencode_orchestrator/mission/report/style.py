"""The stylesheet ``report.html`` carries inline: system fonts, no URL, no script."""

from __future__ import annotations

from typing import Final

__all__ = ["CSS"]

CSS: Final = """
:root { color-scheme: light; --ink: #0f172a; --muted: #64748b; --line: #e2e8f0;
  --panel: #ffffff; --page: #f1f5f9; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px; }
header, section { background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
  padding: 18px 22px; margin-bottom: 16px; }
.eyebrow { color: var(--muted); font-size: 12px; letter-spacing: .06em; text-transform: uppercase; }
h1 { font-size: 22px; margin: 4px 0 8px; }
h2 { font-size: 16px; margin: 0 0 12px; }
h3 { font-size: 14px; margin: 14px 0 6px; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  font-size: 12px; }
pre { background: #f8fafc; border: 1px solid var(--line); border-radius: 6px; padding: 8px;
  white-space: pre-wrap; word-break: break-word; max-height: 240px; overflow: auto; }
.badge { display: inline-block; color: #fff; border-radius: 999px; padding: 2px 12px;
  font-size: 13px; font-weight: 700; vertical-align: middle; background: #1d4ed8; }
.goal { white-space: pre-wrap; margin: 0 0 8px; }
.why { margin: 0; color: #334155; }
.cards { display: grid; grid-template-columns: repeat(6, 1fr); gap: 12px; background: none;
  border: 0; padding: 0; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
  padding: 12px 14px; }
.card b { display: block; font-size: 20px; }
.card span { color: var(--muted); font-size: 12px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 16px; margin: 0 0 10px; font-size: 12px;
  color: #334155; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 5px; vertical-align: -1px; }
.scroll { overflow: auto; max-height: 85vh; border: 1px solid var(--line); border-radius: 6px; }
.chart { display: block; }
.note { color: var(--muted); font-size: 12px; margin: 8px 0 0; }
.split { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; margin-bottom: 16px; }
.split > section { margin: 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.bar { background: #e2e8f0; border-radius: 3px; height: 6px; width: 120px; display: inline-block; }
.bar > i { display: block; height: 6px; border-radius: 3px; background: #334155; }
.state { font-weight: 600; }
.state.verified { color: #15803d; } .state.failed { color: #b91c1c; }
.state.skipped, .state.cancelled { color: #52525b; }
details { border-top: 1px solid var(--line); padding: 6px 0; }
summary { cursor: pointer; }
ul { margin: 4px 0; padding-left: 20px; }
.pass { color: #15803d; } .fail { color: #b91c1c; }
footer { color: var(--muted); font-size: 12px; padding: 4px 4px 24px; }
"""
