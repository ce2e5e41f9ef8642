"""The mission layer: what the orchestrator asks of OpenCode agents.

For now it holds the contracts shared by the mission engine and the
simulator (:mod:`~opencode_orchestrator.mission.contracts`).
"""

from opencode_orchestrator.mission.contracts import (
    AGENT_MASTER_REVIEWER,
    AGENT_PLANNER,
    AGENT_REVIEWER,
    AGENT_WORKER,
    MISSION_AGENTS,
    Finding,
    PlanOutput,
    ReviewVerdict,
    Severity,
    UnitSpec,
    Verdict,
    WorkerOutcome,
    WorkerReport,
    parse_unit_brief,
    render_unit_brief,
)

__all__ = [
    "AGENT_MASTER_REVIEWER",
    "AGENT_PLANNER",
    "AGENT_REVIEWER",
    "AGENT_WORKER",
    "MISSION_AGENTS",
    "Finding",
    "PlanOutput",
    "ReviewVerdict",
    "Severity",
    "UnitSpec",
    "Verdict",
    "WorkerOutcome",
    "WorkerReport",
    "parse_unit_brief",
    "render_unit_brief",
]
