"""The role prompts: the agents' system prompts and the per-turn prompts they are sent.

The prompts are product code, kept as versioned Markdown next to this module
(``planner.md``, ``worker.md``, ``reviewer.md``, ``master.md``) and shipped in
the wheel. Each begins with ``<!-- prompt: <role> vN -->``; bump ``N`` when the
wording changes, so a transcript can be matched to the prompt that produced it.

- :func:`load_prompt` and :func:`agent_definitions`: the system prompts, as the
  OpenCode plugin registers the mission agents.
- ``render_*``: one turn's prompt for a role. Worker and reviewer prompts carry
  the unit's ``<unit>`` brief; every prompt names the structured-output fields
  its role answers with, generated from the models in
  :mod:`~opencode_orchestrator.mission.contracts`.
"""

from opencode_orchestrator.mission.prompts.loader import Prompt, agent_definitions, load_prompt
from opencode_orchestrator.mission.prompts.render import (
    render_continue_prompt,
    render_fix_prompt,
    render_master_prompt,
    render_nudge_prompt,
    render_planner_prompt,
    render_recover_prompt,
    render_reviewer_prompt,
    render_subunits_done_prompt,
    render_worker_prompt,
)

__all__ = [
    "Prompt",
    "agent_definitions",
    "load_prompt",
    "render_continue_prompt",
    "render_fix_prompt",
    "render_master_prompt",
    "render_nudge_prompt",
    "render_planner_prompt",
    "render_recover_prompt",
    "render_reviewer_prompt",
    "render_subunits_done_prompt",
    "render_worker_prompt",
]
