"""A mission's settings: limits, budget caps, timeouts, checks and models per role.

Every field has a default a user can run with; the CLI and the plugin's
``initialize`` options override them. The whole object is written into the
mission's first WAL record, so a resumed mission runs under the settings it
started with.
"""

from __future__ import annotations

import enum
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field

from opencode_orchestrator.opencode.models import PermissionRule

__all__ = [
    "AdaptiveConfig",
    "BudgetConfig",
    "LimitsConfig",
    "MissionConfig",
    "ModelName",
    "ModelsConfig",
    "PermissionPolicy",
    "TimeoutsConfig",
]


class _Frozen(BaseModel):
    # The attribute docstrings become the fields' descriptions: the configuration
    # reference (``opencode-orchestrator config --reference``) is generated from them.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class AdaptiveConfig(_Frozen):
    """AIMD control of each provider's concurrency limit."""

    decrease_factor: float = Field(default=0.5, gt=0.0, lt=1.0)
    """On a rate-limit signal the provider's limit is multiplied by this."""
    increase_after: int = Field(default=8, ge=1)
    """Successful turns (with no rate-limit signal) before the limit grows by one."""
    cooldown: float = Field(default=1.0, ge=0.0)
    """Seconds after a decrease during which further signals do not decrease again."""
    minimum: int = Field(default=1, ge=1)
    """The limit never drops below this."""


class LimitsConfig(_Frozen):
    """How much runs at once, and how many times things are tried."""

    concurrency: int = Field(default=8, ge=1, le=500)
    """Global limit on child sessions running at once."""
    per_model: dict[str, Annotated[int, Field(ge=1, le=500)]] = Field(default_factory=dict)
    """Limits per ``provider`` or ``provider/model`` (e.g. ``{"anthropic": 4}``)."""
    max_units: int = Field(default=200, ge=1, le=100_000)
    """Units a mission may plan in all, every iteration, delegation and racing strategy counted.

    A split past it is refused (the worker does its unit itself), a race runs fewer
    strategies (or none), and findings with no room left for a plan end the mission FAILED.
    """
    max_depth: int = Field(default=3, ge=0, le=10)
    """How deep fractal delegation may go (0: workers may not split)."""
    max_attempts: int = Field(default=3, ge=1, le=20)
    """Worker attempts (and review rounds) per unit before it fails."""
    max_iterations: int = Field(default=5, ge=1, le=50)
    """Plan → run → master review loops before the mission stops."""
    plan_retries: int = Field(default=2, ge=0, le=10)
    """Times an invalid plan is sent back to the planner."""
    max_race: int = Field(default=4, ge=1, le=8)
    """Most strategies that may race for one unit (the planner asks for a race per
    unit, in git projects only); 1 turns racing off."""


INT64_MAX: Final = 2**63 - 1
"""The largest integer the journal (orjson) can hold: a larger cap failed at the mission's start."""


class BudgetConfig(_Frozen):
    """Hard caps; ``None`` (``null`` in a file) means no cap."""

    max_tokens: int | None = Field(default=None, ge=1, le=INT64_MAX)
    """Tokens the whole mission may use."""
    max_cost: float | None = Field(default=None, gt=0.0)
    """Dollars the whole mission may spend."""
    max_wall_seconds: float | None = Field(default=None, gt=0.0)
    """Seconds of wall time the mission may run."""
    reserve_tokens: int = Field(default=20_000, ge=0, le=INT64_MAX)
    """Tokens reserved for a turn before it is started (released when its usage is known).
    The caps hold while no turn uses more than it reserved: set below what turns really
    use, turns that run together may pass ``max_tokens`` by their excess."""
    reserve_cost: float = Field(default=0.05, ge=0.0)
    """Dollars reserved for a turn before it is started."""


class TimeoutsConfig(_Frozen):
    """When silence or slowness becomes a failure (seconds)."""

    silence: float = Field(default=120.0, gt=0.0)
    """No event from a busy session for this long → its status is probed."""
    unit: float = Field(default=1800.0, gt=0.0)
    """No progress on an attempt for this long → abort and a fresh attempt."""
    check: float = Field(default=600.0, gt=0.0)
    """A single check command."""
    abort_grace: float = Field(default=10.0, gt=0.0)
    """How long the call that aborts a session may take before it is given up."""
    server_patience: float = Field(default=300.0, ge=0.0)
    """How long calls to an unreachable, failing or rate-limiting OpenCode, and the
    mission's event stream, are retried before the mission stops with the error (its
    journal intact, for ``resume``). A server that does not answer when a mission is
    created is reported at once: the mission did not run."""


MODEL_PATTERN: Final = r"^[^/\s]+/\S+$"
"""``provider/model``: a provider id, a slash, the model id (which may hold more slashes)."""

ModelName = Annotated[
    str, Field(pattern=MODEL_PATTERN, examples=["anthropic/claude-sonnet-4", "openai/gpt-4.1"])
]
"""A model as OpenCode names it: ``provider/model``."""


def _unset(value: object) -> bool:
    return value is None


class ModelsConfig(_Frozen):
    """The model each role runs on, as ``provider/model``.

    A role left unset runs on the model OpenCode picks for its agent.
    """

    planner: ModelName | None = Field(default=None, exclude_if=_unset)
    """The planner's model: it splits the goal into units."""
    worker: ModelName | None = Field(default=None, exclude_if=_unset)
    """The workers' model: they carry out the units."""
    reviewer: ModelName | None = Field(default=None, exclude_if=_unset)
    """The reviewers' model: they review each unit's work."""
    master: ModelName | None = Field(default=None, exclude_if=_unset)
    """The master reviewer's model: it reviews the whole at the end of an iteration."""

    def of(self, role: str) -> str | None:
        """``provider/model`` of ``role`` (``None``: unset, or no such role)."""
        value = getattr(self, role) if role in type(self).model_fields else None
        return value if isinstance(value, str) else None


class PermissionPolicy(enum.StrEnum):
    """How the engine answers a permission request in one of its sessions.

    Mission sessions run unattended: a request nobody answers holds its turn
    until the unit timeout (30 minutes by default).
    """

    REJECT = "reject"
    """Refuse it with a message the model reads: it goes on without, or reports blocked."""
    ALLOW = "allow"
    """Allow that one call (OpenCode's ``once``)."""
    ASK = "ask"
    """Leave it to the user in OpenCode; the turn waits (a warning is logged)."""


class MissionConfig(_Frozen):
    """Everything a mission runs under."""

    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    timeouts: TimeoutsConfig = Field(default_factory=TimeoutsConfig)
    adaptive: AdaptiveConfig = Field(default_factory=AdaptiveConfig)
    checks: list[Annotated[str, Field(pattern=r"\S")]] = Field(default_factory=list)
    """Mission checks (e.g. the test command), run with the planner's own at the master review."""
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    shadow_review: bool = True
    """Start each unit's reviewer as soon as its worker writes its first file."""
    permissions: PermissionPolicy = PermissionPolicy.REJECT
    """The answer to OpenCode's permission requests in the mission's sessions."""
    session_permissions: list[PermissionRule] = Field(default_factory=list)
    """Rules every child session is created with, after the agent's own (the last
    matching rule wins), e.g. ``{"permission": "bash", "pattern": "git push*",
    "action": "deny"}``."""
