"""Knobs of the simulator: latencies, the scripted agents, and fault injection.

Everything here is a frozen pydantic model so a JSON file (``--config``), CLI
flags and the ``/__sim/faults`` control route all go through one validation.
Rates are probabilities in ``[0, 1]`` drawn per turn (or per request / per
event, as each field says) from the simulator's seeded generator.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opencode_orchestrator.sim.errors import SimConfigError

__all__ = [
    "FaultConfig",
    "LatencyConfig",
    "PlanShape",
    "PlannerConfig",
    "ReviewerConfig",
    "SimConfig",
    "StormConfig",
    "WorkerConfig",
    "load_config",
]

_Rate = Field(default=0.0, ge=0.0, le=1.0)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LatencyConfig(_Frozen):
    """Think time before a turn answers: ``mean`` seconds, uniformly ± ``jitter``."""

    mean: float = Field(default=0.005, ge=0.0)
    jitter: float = Field(default=0.005, ge=0.0)
    step: float | None = Field(
        default=None,
        ge=0.0,
        description=(
            "Pause between events of one turn (deltas, tool states). Unset: no pause, but "
            "the turn goes on only once each update it stores is committed and published, "
            "the pace of a server that stores every update before publishing it. A number "
            "(0 included): updates are committed in groups and the turn does not wait."
        ),
    )


class PlanShape(enum.StrEnum):
    """The DAG the planner answers with."""

    CHAIN = "chain"
    FAN_OUT = "fan-out"
    DIAMOND = "diamond"
    RANDOM = "random"


class PlannerConfig(_Frozen):
    """What ``mission-planner`` answers."""

    units: int = Field(default=4, ge=1, le=10_000)
    shape: PlanShape = PlanShape.DIAMOND
    files_per_unit: int = Field(default=1, ge=0, le=50)
    width: int = Field(default=3, ge=1, description="Units per layer of a diamond.")
    edge_probability: float = Field(default=0.3, ge=0.0, le=1.0, description="Random DAGs only.")
    unit_checks: tuple[str, ...] = Field(
        default=(),
        description="Check commands every unit gets; `{unit}` in one is replaced by the unit's id.",
    )
    shared_files: tuple[str, ...] = Field(
        default=(), description="Paths in every unit's scope besides its own (scopes overlap)."
    )
    invalid_plans: int = Field(
        default=0,
        ge=0,
        description="The first answers (per process) are invalid: a cycle, a path outside.",
    )
    race: dict[str, int] = Field(
        default_factory=dict,
        description="Race width per unit id (e.g. {'u02': 3}): strategies run in worktrees.",
    )


class WorkerConfig(_Frozen):
    """What ``mission-worker`` does; rates are drawn per worker turn of a unit."""

    blocked_rate: float = _Rate
    split_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="On the first turn of a unit with files: answer `split`, a sub-unit per file.",
    )
    tool_error_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="A tool call fails (an `edit` of text the file lacks); the turn ends in text.",
    )
    no_report_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="The turn ends in text instead of the structured report.",
    )


class ReviewerConfig(_Frozen):
    """What ``mission-reviewer`` and ``mission-master`` decide."""

    fail_rate: float = _Rate
    master_fail_rate: float = _Rate
    max_findings: int = Field(default=2, ge=1, le=50)


class StormConfig(_Frozen):
    """A 429 storm: a ``share`` of API requests answered 429 for ``duration`` seconds."""

    share: float = Field(default=0.5, ge=0.0, le=1.0)
    duration: float = Field(default=1.0, gt=0.0)
    retry_after: int = Field(default=1, ge=0, description="Seconds, sent as Retry-After.")


class FaultConfig(_Frozen):
    """Faults injected at random; all off by default."""

    api_error_rate: float = _Rate
    rate_limit_rate: float = _Rate
    rate_limit_attempts: int = Field(default=2, ge=1)
    hang_rate: float = _Rate
    die_rate: float = _Rate
    context_overflow_rate: float = _Rate
    stream_drop_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Per event written to an SSE stream."
    )
    storm: StormConfig | None = None


class SimConfig(_Frozen):
    """Everything that shapes a simulator run."""

    seed: int = 0
    heartbeat: float = Field(default=10.0, gt=0.0)
    retry_delay: float = Field(
        default=0.05, ge=0.0, description="Seconds between retry attempts of a rate-limited turn."
    )
    delta_chunk: int = Field(default=16, ge=1, description="Characters per text delta event.")
    cost_per_1k_tokens: float = Field(
        default=0.0, ge=0.0, description="0 like the fake provider a real test server uses."
    )
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    planner: PlannerConfig = Field(default_factory=PlannerConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    reviewer: ReviewerConfig = Field(default_factory=ReviewerConfig)
    faults: FaultConfig = Field(default_factory=FaultConfig)

    def with_faults(self, update: dict[str, Any]) -> SimConfig:
        """A copy whose faults are the current ones with ``update``'s fields replaced.

        Raises:
            SimConfigError: ``update`` names an unknown field or an invalid value.
        """
        merged = self.faults.model_dump() | update
        try:
            faults = FaultConfig.model_validate(merged)
        except ValidationError as exc:
            raise SimConfigError(f"invalid faults: {exc}") from exc
        return self.model_copy(update={"faults": faults})


def load_config(path: Path | None, overrides: dict[str, Any] | None = None) -> SimConfig:
    """The config in the JSON file at ``path`` (or the defaults), with ``overrides`` on top.

    Raises:
        SimConfigError: the file is unreadable, not JSON, or not a valid config.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise SimConfigError(f"{path}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise SimConfigError(f"{path}: the config must be a JSON object")
        data = loaded
    data |= overrides or {}
    try:
        return SimConfig.model_validate(data)
    except ValidationError as exc:
        raise SimConfigError(f"invalid simulator config: {exc}") from exc
