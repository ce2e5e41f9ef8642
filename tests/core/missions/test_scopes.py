"""scope/check: the session index on its own, then over the wire with a live mission."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from opencode_orchestrator.core import CoreServer
from opencode_orchestrator.core.missions import SessionScopes
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.records import RecordType
from tests.core.missions.harness import BOUND, core_session
from tests.mission.enginesupport import GOAL, Tap, simulated

pytestmark = pytest.mark.anyio

PROJECT = "/work/project"
WORKTREE = "/work/worktrees/u2.r1"


def _model() -> MissionModel:
    model = MissionModel()
    records: list[tuple[RecordType, dict[str, Any]]] = [
        (
            RecordType.MISSION_CREATED,
            {
                "mission_id": "m1",
                "goal": GOAL,
                "project": PROJECT,
                "parent_session": "ses_parent",
                "config": {},
                "created_at": 1.0,
            },
        ),
        (
            RecordType.PLAN_ACCEPTED,
            {
                "iteration": 1,
                "units": [
                    {"id": "u1", "title": "one", "files": ["src/app/", "tests/test_*.py"]},
                    {"id": "u2", "title": "two", "files": ["docs/**/*.md"]},
                    {"id": "u3", "title": "three", "files": []},
                ],
            },
        ),
    ]
    for record_type, data in records:
        model.apply(record_type.value, data, 1.0)
    return model


def _index() -> SessionScopes:
    model = _model()
    scopes = SessionScopes()
    sessions = [
        ("ses_w1", "worker", "u1", None),
        ("ses_w2", "worker", "u2", WORKTREE),
        ("ses_w3", "worker", "u3", None),
        ("ses_r1", "reviewer", "u1", None),
        ("ses_plan", "planner", None, None),
    ]
    for session, role, unit, directory in sessions:
        scopes.add_record(
            model,
            {"session": session, "role": role, "unit": unit, "attempt": 1, "directory": directory},
        )
    return scopes


def test_sessions_of_no_mission_may_write_anything() -> None:
    scopes = _index()
    for session in ("ses_user", "ses_parent"):
        verdict = scopes.check(session, "write", ["/etc/passwd", "../x"])
        assert verdict.allowed
        assert verdict.mission_id is None
        assert verdict.reason is None


@pytest.mark.parametrize(
    "path",
    [
        "src/app/main.py",
        "src/app/deep/er/mod.py",
        "./src/app/x.py",
        "tests/test_app.py",
        f"{PROJECT}/src/app/main.py",
        f"{PROJECT}/tests/../src/app/main.py",
        "src/other/../app/y.py",
    ],
)
def test_a_worker_may_write_inside_its_scope(path: str) -> None:
    verdict = _index().check("ses_w1", "edit", [path])
    assert verdict.allowed, verdict.reason
    assert (verdict.mission_id, verdict.unit_id) == ("m1", "u1")


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("src/lib/x.py", "src/lib/x.py is outside the file scope of unit u1"),
        ("tests/helpers/test_a.py", "tests/helpers/test_a.py is outside the file scope"),
        ("src/application.py", "src/application.py is outside the file scope"),
        ("README.md", "README.md is outside the file scope"),
        (f"{PROJECT}/README.md", "README.md is outside the file scope"),
        ("src/app/../../../etc/passwd", "is not inside /work/project"),
        ("../project-other/src/app/x.py", "is not inside /work/project"),
        (f"{PROJECT}-other/src/app/x.py", "is not inside /work/project"),
        ("/etc/passwd", "/etc/passwd is not inside /work/project"),
        ("", "(empty path) is not inside"),
    ],
)
def test_a_worker_may_not_write_outside_its_scope(path: str, shown: str) -> None:
    verdict = _index().check("ses_w1", "write", ["src/app/ok.py", path])
    assert not verdict.allowed
    assert (verdict.mission_id, verdict.unit_id) == ("m1", "u1")
    assert verdict.reason is not None
    assert verdict.reason.startswith("write refused: ")
    assert shown in verdict.reason
    assert "src/app/, tests/test_*.py" in verdict.reason  # what the scope is
    assert "final report" in verdict.reason  # what to do instead


def test_a_racing_worker_is_confined_to_its_worktree() -> None:
    scopes = _index()
    assert scopes.check("ses_w2", "write", ["docs/guide/intro.md"]).allowed
    assert scopes.check("ses_w2", "write", [f"{WORKTREE}/docs/a.md"]).allowed
    outside = scopes.check("ses_w2", "write", [f"{PROJECT}/docs/a.md"])
    assert not outside.allowed
    assert outside.reason is not None
    assert f"is not inside {WORKTREE}" in outside.reason
    assert not scopes.check("ses_w2", "write", ["docs/a.txt"]).allowed


def test_an_empty_scope_writes_nothing_and_no_paths_is_no_write() -> None:
    scopes = _index()
    verdict = scopes.check("ses_w3", "write", ["a.py"])
    assert not verdict.allowed
    assert verdict.reason is not None
    assert "may not change any file" in verdict.reason
    assert scopes.check("ses_w1", "patch", []).allowed


@pytest.mark.parametrize(("session", "role"), [("ses_r1", "reviewer"), ("ses_plan", "planner")])
def test_planners_and_reviewers_write_nothing(session: str, role: str) -> None:
    verdict = _index().check(session, "edit", ["src/app/main.py"])
    assert not verdict.allowed
    assert verdict.reason is not None
    assert f"this session is the {role}" in verdict.reason
    assert "must not change files" in verdict.reason


def test_sessions_are_forgotten_with_their_mission() -> None:
    scopes = _index()
    scopes.forget_mission("m1")
    assert len(scopes) == 0
    assert scopes.check("ses_w1", "write", ["/etc/passwd"]).allowed


async def test_scope_check_over_the_wire_follows_a_live_mission(tmp_path: Path) -> None:
    tap = Tap()
    worker_created = anyio.Event()

    def on_record(record_type: str, data: dict[str, Any]) -> None:
        if record_type == RecordType.PLAN_ACCEPTED:
            sim.server.set_faults(hang_rate=1.0)  # every worker turn hangs from here on
        elif record_type == RecordType.SESSION_CREATED and data["role"] == "worker":
            worker_created.set()

    tap.on(on_record)

    def observe(server: CoreServer) -> None:
        server.missions.on_engine = tap.attach

    async with simulated(tmp_path) as sim, core_session(sim, on_server=observe) as shim:
        mid = (await shim.call("mission/start", {"goal": GOAL}))["missionId"]
        with anyio.fail_after(BOUND):
            await worker_created.wait()
        assert tap.engine is not None
        model = tap.engine.ctx.model
        sessions = model.sessions.items()
        worker, info = next((s, i) for s, i in sessions if i["role"] == "worker")
        planner = next(s for s, i in sessions if i["role"] == "planner")
        unit = model.units[info["unit"]]
        assert unit.spec.files, "the simulator's units have a file each"
        inside = str(sim.project / unit.spec.files[0])

        def check(session: str, *paths: str) -> Any:
            return shim.call("scope/check", {"sessionId": session, "tool": "write", "paths": paths})

        assert await check(worker, inside, unit.spec.files[0]) == {
            "allowed": True,
            "missionId": mid,
            "unitId": unit.id,
        }
        refused = await check(worker, "elsewhere/file.py")
        assert refused["allowed"] is False
        assert refused["missionId"] == mid
        assert refused["unitId"] == unit.id
        assert "elsewhere/file.py is outside the file scope" in refused["reason"]
        assert (await check(planner, inside))["allowed"] is False
        assert await check("ses_not_a_mission_session", "/anything") == {"allowed": True}

        await shim.call("mission/cancel", {"missionId": mid})
        # The mission ended: its sessions are nobody's to police any more.
        assert await check(worker, "elsewhere/file.py") == {"allowed": True}
