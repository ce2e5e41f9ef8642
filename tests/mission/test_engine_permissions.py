"""Permission requests in mission sessions are answered by the mission's policy.

Mission sessions run unattended: a request nobody answers would hold its turn
until the unit timeout. The simulator asks, as OpenCode does, when a rule of
the session says ``ask``; here every child session is created with
``edit * ask`` (``MissionConfig.session_permissions``), so each worker's write
asks first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opencode_orchestrator.mission.config import MissionConfig, PermissionPolicy
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import MissionState, UnitState
from opencode_orchestrator.opencode.models import PermissionAction, PermissionRule
from tests.mission.enginesupport import run_mission, sim_config, simulated

pytestmark = pytest.mark.anyio

_ASK_EDITS = [PermissionRule(permission="edit", pattern="*", action=PermissionAction.ASK)]


async def test_a_permission_request_is_rejected_with_a_reason_and_the_mission_goes_on(
    tmp_path: Path,
) -> None:
    config = MissionConfig(session_permissions=_ASK_EDITS)
    async with simulated(tmp_path, sim_config(planner={"units": 1})) as sim:
        run = await run_mission(sim, config)
        pending = await sim.client.list_permissions()
    assert pending == [], "every request was answered"
    # The worker's write was refused, and the model was told why.
    work = run.wal.intents(unit="u01", kind="work")[0]
    errors = run.wal.end_of(work)["tool_errors"]
    assert any("unattended orchestrator mission session" in e for e in errors), errors
    assert not any((sim.project / f).exists() for f in run.model.units["u01"].spec.files)
    # The mission was not stuck: it reached a final state through its own policy.
    assert run.state is MissionState.SEALED, run.model.units["u01"].reason


async def test_the_allow_policy_lets_the_call_run(tmp_path: Path) -> None:
    config = MissionConfig(session_permissions=_ASK_EDITS, permissions=PermissionPolicy.ALLOW)
    async with simulated(tmp_path, sim_config(planner={"units": 1})) as sim:
        run = await run_mission(sim, config)
        pending = await sim.client.list_permissions()
    assert pending == []
    assert run.state is MissionState.SEALED
    unit = run.model.units["u01"]
    assert unit.state is UnitState.VERIFIED
    assert all((sim.project / f).exists() for f in unit.spec.files)
    work = run.wal.intents(unit="u01", kind="work")[0]
    assert run.wal.end_of(work)["tool_errors"] == []


async def test_child_sessions_carry_the_configured_rules(tmp_path: Path) -> None:
    config = MissionConfig(session_permissions=_ASK_EDITS, permissions=PermissionPolicy.ALLOW)
    async with simulated(tmp_path, sim_config(planner={"units": 1})) as sim:
        run = await run_mission(sim, config)
        store = await sim.record()
    created = run.wal.of(RecordType.SESSION_CREATED)
    assert created
    for record in created:
        session = store.sessions[record["session"]]
        assert session.get("permission") == [r.to_wire() for r in _ASK_EDITS]
