"""Turn following: what is asked again after a crash, and what is not."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from opencode_orchestrator.mission import turns
from opencode_orchestrator.mission.contracts import UnitSpec
from opencode_orchestrator.mission.model import MissionModel, UnitModel
from opencode_orchestrator.mission.records import TurnKind, TurnStatus
from opencode_orchestrator.mission.turns import TurnOutcome, TurnRequest, follow_turn

pytestmark = pytest.mark.anyio


def _adopting_a_lost_shadow_review(
    monkeypatch: pytest.MonkeyPatch, *, unit_attempt: int
) -> tuple[SimpleNamespace, list[TurnRequest]]:
    """A context whose open shadow review of attempt 2 ends lost once adopted."""
    model = MissionModel()
    unit = UnitModel(spec=UnitSpec(id="u1", title="u1"), attempt=unit_attempt)
    model.units["u1"] = unit
    model.turns["t1"] = SimpleNamespace(  # type: ignore[assignment]
        unit="u1", kind=TurnKind.SHADOW_REVIEW, effective_kind=TurnKind.SHADOW_REVIEW
    )
    sent: list[TurnRequest] = []

    async def adopt(ctx: object, turn: object, request: TurnRequest) -> TurnOutcome:
        return TurnOutcome(TurnStatus.LOST)

    async def run(ctx: object, request: TurnRequest) -> TurnOutcome:
        sent.append(request)
        return TurnOutcome(TurnStatus.COMPLETED, answer={"verdict": "pass"})

    monkeypatch.setattr(turns, "adopt_turn", adopt)
    monkeypatch.setattr(turns, "run_turn", run)
    return SimpleNamespace(model=model), sent


def _shadow_request() -> TurnRequest:
    return TurnRequest(
        session="s1",
        kind=TurnKind.SHADOW_REVIEW,
        text="<unit>u1</unit>",
        agent="mission-reviewer",
        output=None,
        role="reviewer",
        unit="u1",
        attempt=2,
    )


async def test_a_lost_turn_of_the_current_attempt_is_restated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx, sent = _adopting_a_lost_shadow_review(monkeypatch, unit_attempt=2)
    outcome = await follow_turn(ctx, _shadow_request())  # type: ignore[arg-type]
    assert outcome.status is TurnStatus.COMPLETED
    assert [(r.kind, r.restates, r.attempt) for r in sent] == [
        (TurnKind.RESTATE, TurnKind.SHADOW_REVIEW, 2)
    ]


async def test_nothing_is_asked_for_an_attempt_the_unit_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Seen in the crash campaign: the worker's turn was lost, attempt 3 began,
    # and the adopted shadow review of attempt 2 was restated all the same.
    ctx, sent = _adopting_a_lost_shadow_review(monkeypatch, unit_attempt=3)
    outcome = await follow_turn(ctx, _shadow_request())  # type: ignore[arg-type]
    assert outcome.status is TurnStatus.LOST
    assert sent == []
