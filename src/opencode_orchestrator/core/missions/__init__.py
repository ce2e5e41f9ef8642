"""The core's missions: run them in this process and answer the shim's mission methods.

Layers, each knowing only those before it: :mod:`.wire` (parameter and
result models) → :mod:`.views` (status entries and texts) →
:mod:`.scopes` (``scope/check``'s session index), :mod:`.ledger` (each
unit's cost and times), :mod:`.table` (``/mission-status``'s table),
:mod:`.narration` (what to tell the user, and when) and :mod:`.progress`
(``mission/progress`` notifications) → :mod:`.running` and :mod:`.registry`
(missions as background tasks) → :mod:`.control` (status, cancel, resume)
→ :mod:`.methods` (the JSON-RPC handlers). Errors: :mod:`opencode_orchestrator.core.errors`.
"""

from __future__ import annotations

from opencode_orchestrator.core.missions.methods import MISSION_METHODS, MissionMethods
from opencode_orchestrator.core.missions.progress import PROGRESS_METHOD
from opencode_orchestrator.core.missions.registry import MissionRegistry
from opencode_orchestrator.core.missions.running import RunningMission
from opencode_orchestrator.core.missions.scopes import SessionScope, SessionScopes
from opencode_orchestrator.core.missions.wire import (
    AgentsResult,
    MissionActionResult,
    MissionEntry,
    MissionParams,
    ProgressParams,
    ScopeCheckParams,
    ScopeCheckResult,
    StartParams,
    StartResult,
    StatusParams,
    StatusResult,
)

__all__ = [
    "MISSION_METHODS",
    "PROGRESS_METHOD",
    "AgentsResult",
    "MissionActionResult",
    "MissionEntry",
    "MissionMethods",
    "MissionParams",
    "MissionRegistry",
    "ProgressParams",
    "RunningMission",
    "ScopeCheckParams",
    "ScopeCheckResult",
    "SessionScope",
    "SessionScopes",
    "StartParams",
    "StartResult",
    "StatusParams",
    "StatusResult",
]
