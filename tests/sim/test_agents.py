from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from opencode_orchestrator.mission.contracts import (
    AGENT_MASTER_REVIEWER,
    AGENT_PLANNER,
    AGENT_REVIEWER,
    AGENT_WORKER,
    PlanOutput,
    ReviewVerdict,
    UnitSpec,
    Verdict,
    WorkerOutcome,
    WorkerReport,
    render_unit_brief,
)
from opencode_orchestrator.mission.errors import PlanInvalidError
from opencode_orchestrator.mission.plan import validate_plan
from opencode_orchestrator.sim import (
    PlannerConfig,
    PlanShape,
    ReviewerConfig,
    SimConfig,
    WorkerConfig,
)
from opencode_orchestrator.sim.agents import AgentContext
from opencode_orchestrator.sim.agents.dag import build_units
from tests.sim.helpers import events, scripted, text_prompt

pytestmark = pytest.mark.anyio


async def _ask(client: httpx.AsyncClient, agent: str, text: str) -> Any:
    sid = (await client.post("/session", json={})).json()["id"]
    response = await client.post(f"/session/{sid}/message", json=text_prompt(text, agent=agent))
    assert response.status_code == 200
    return response.json()


async def test_planner_answers_a_plan_deterministically(client: httpx.AsyncClient) -> None:
    first = await _ask(client, AGENT_PLANNER, "Build a todo app")
    second = await _ask(client, AGENT_PLANNER, "Build a todo app")
    plan = PlanOutput.model_validate(first["info"]["structured"])
    assert plan == PlanOutput.model_validate(second["info"]["structured"])
    assert len(plan.units) == 4
    tool = next(p for p in first["parts"] if p["type"] == "tool")
    assert tool["tool"] == "StructuredOutput"
    assert tool["state"]["status"] == "completed"


@pytest.mark.parametrize("shape", list(PlanShape))
def test_plan_shapes_are_acyclic_dags(shape: PlanShape) -> None:
    ctx = AgentContext(SimConfig(seed=3))
    units = build_units(PlannerConfig(units=9, shape=shape, width=3), "goal", ctx.rng("x"))
    seen: set[str] = set()
    for unit in units:
        assert set(unit.depends_on) <= seen, "dependencies come first"
        seen.add(unit.id)
    edges = {u.id: u.depends_on for u in units}
    if shape is PlanShape.CHAIN:
        assert all(len(d) == 1 for d in list(edges.values())[1:])
    if shape is PlanShape.FAN_OUT:
        assert all(d == ["u01"] for d in list(edges.values())[1:])
    if shape is PlanShape.DIAMOND:
        assert edges["u02"] == ["u01"]
        assert edges["u05"] == ["u02", "u03", "u04"]
        assert edges["u09"] == ["u08"]


async def test_worker_writes_the_unit_files(client: httpx.AsyncClient, project: Path) -> None:
    unit = UnitSpec(id="u01", title="First", files=["src/u01/a.py", "src/u01/b.py"])
    sid = (await client.post("/session", json={})).json()["id"]
    async with events(client) as log:
        body = (
            await client.post(
                f"/session/{sid}/message",
                json=text_prompt(f"Do this.\n{render_unit_brief(unit)}", agent=AGENT_WORKER),
            )
        ).json()
        await log.wait_for(lambda e: e["type"] == "session.idle")
    report = WorkerReport.model_validate(body["info"]["structured"])
    assert report.outcome is WorkerOutcome.DONE
    assert report.files_changed == unit.files
    assert (project / "src/u01/a.py").read_text().startswith('"""src/u01/a.py')
    states = [
        e["properties"]["part"]["state"]["status"]
        for e in log.events
        if e["type"] == "message.part.updated" and e["properties"]["part"].get("tool") == "write"
    ]
    assert states == ["pending", "running", "completed"] * 2
    edited = [e["properties"]["file"] for e in log.events if e["type"] == "file.edited"]
    assert edited == [str(project / f) for f in unit.files]
    diff = (await client.get(f"/session/{sid}/diff")).json()
    assert {d["file"] for d in diff} == set(unit.files)
    assert diff[0]["status"] == "added"


@pytest.mark.parametrize("sim_config", [SimConfig(seed=1, reviewer=ReviewerConfig(fail_rate=1.0))])
async def test_reviewer_fails_at_rate_one(client: httpx.AsyncClient) -> None:
    unit = UnitSpec(id="u02", title="Second", files=["x.py"])
    body = await _ask(client, AGENT_REVIEWER, render_unit_brief(unit))
    verdict = ReviewVerdict.model_validate(body["info"]["structured"])
    assert verdict.verdict is Verdict.FAIL
    assert verdict.findings


async def test_reviewers_pass_by_default(client: httpx.AsyncClient) -> None:
    for agent in (AGENT_REVIEWER, AGENT_MASTER_REVIEWER):
        body = await _ask(client, agent, "Review the change.")
        assert ReviewVerdict.model_validate(body["info"]["structured"]).verdict is Verdict.PASS


async def test_script_tool_write_and_structured(client: httpx.AsyncClient, project: Path) -> None:
    sid = (await client.post("/session", json={})).json()["id"]
    target = str(project / "hello.txt")
    body = (
        await client.post(
            f"/session/{sid}/message",
            json=scripted(
                tool={"name": "write", "args": {"filePath": target, "content": "hi\n"}},
                reply="file written",
            ),
        )
    ).json()
    assert (project / "hello.txt").read_text() == "hi\n"
    assert body["parts"][1]["text"] == "file written"
    transcript = (await client.get(f"/session/{sid}/message")).json()
    assert [m["info"].get("finish") for m in transcript] == [None, "tool-calls", "stop"]
    prompt = scripted(structured={"answer": "yes"})
    prompt["format"] = {"type": "json_schema", "schema": {"type": "object"}}
    answer = (await client.post(f"/session/{sid}/message", json=prompt)).json()
    assert answer["info"]["structured"] == {"answer": "yes"}


async def test_malformed_directive_fails_loudly(client: httpx.AsyncClient) -> None:
    sid = (await client.post("/session", json={})).json()["id"]
    body = (await client.post(f"/session/{sid}/message", json=text_prompt("@script {nope"))).json()
    assert body["info"]["error"]["name"] == "APIError"


async def test_schema_prompt_answered_with_text_fails_without_session_error(
    client: httpx.AsyncClient,
) -> None:
    sid = (await client.post("/session", json={})).json()["id"]
    prompt = scripted(reply="just text")
    prompt["format"] = {"type": "json_schema", "schema": {"type": "object"}}
    async with events(client) as log:
        body = (await client.post(f"/session/{sid}/message", json=prompt)).json()
        await log.wait_for(lambda e: e["type"] == "session.idle")
    assert body["info"]["error"]["name"] == "StructuredOutputError"
    assert body["info"]["finish"] == "stop"
    assert "session.error" not in log.types(sid)


_SCHEMA = {"type": "json_schema", "schema": {"type": "object"}}


async def _work(client: httpx.AsyncClient, unit: UnitSpec, sid: str | None = None) -> Any:
    if sid is None:
        sid = (await client.post("/session", json={})).json()["id"]
    prompt = text_prompt(f"Do this.\n{render_unit_brief(unit)}", agent=AGENT_WORKER)
    prompt["format"] = _SCHEMA
    response = await client.post(f"/session/{sid}/message", json=prompt)
    assert response.status_code == 200
    return sid, response.json()


def test_planner_gives_every_unit_the_configured_checks_and_shared_files() -> None:
    config = PlannerConfig(
        units=3, unit_checks=("test -e {unit}.ok", "true"), shared_files=("src/shared.py",)
    )
    units = build_units(config, "goal", AgentContext(SimConfig()).rng("x"))
    assert [u.checks for u in units] == [[f"test -e {u.id}.ok", "true"] for u in units]
    assert [u.files for u in units] == [[f"src/{u.id}/mod1.py", "src/shared.py"] for u in units]


@pytest.mark.parametrize(
    "sim_config", [SimConfig(seed=1, planner=PlannerConfig(units=3, invalid_plans=2))]
)
async def test_planner_answers_invalid_plans_first(client: httpx.AsyncClient) -> None:
    plans = [
        PlanOutput.model_validate(
            (await _ask(client, AGENT_PLANNER, "Build it"))["info"]["structured"]
        )
        for _ in range(3)
    ]
    for plan in plans[:2]:
        with pytest.raises(PlanInvalidError) as caught:
            validate_plan(plan, max_units=10)
        problems = "\n".join(caught.value.problems)
        assert "cycle" in problems
        assert "../outside.py" in problems
    validate_plan(plans[2], max_units=10)


@pytest.mark.parametrize("sim_config", [SimConfig(seed=1, worker=WorkerConfig(split_rate=1.0))])
async def test_worker_splits_a_unit_on_its_first_turn_only(
    client: httpx.AsyncClient, project: Path
) -> None:
    unit = UnitSpec(id="u01", title="Big", files=["src/a.py", "src/b.py"], checks=["true"])
    sid, body = await _work(client, unit)
    report = WorkerReport.model_validate(body["info"]["structured"])
    assert report.outcome is WorkerOutcome.SPLIT
    assert [(s.id, s.files, s.checks) for s in report.subunits] == [
        ("part1", ["src/a.py"], ["true"]),
        ("part2", ["src/b.py"], ["true"]),
    ]
    assert not (project / "src").exists(), "a split writes nothing"
    _, again = await _work(client, unit, sid)
    assert WorkerReport.model_validate(again["info"]["structured"]).outcome is WorkerOutcome.DONE
    scopeless = UnitSpec(id="u02", title="Nothing to split")
    _, body = await _work(client, scopeless)
    assert WorkerReport.model_validate(body["info"]["structured"]).outcome is WorkerOutcome.DONE


@pytest.mark.parametrize(
    "sim_config", [SimConfig(seed=1, worker=WorkerConfig(tool_error_rate=1.0))]
)
async def test_worker_tool_error_ends_the_turn_without_a_report(
    client: httpx.AsyncClient, project: Path
) -> None:
    unit = UnitSpec(id="u01", title="First", files=["src/a.py"])
    async with events(client) as log:
        _, body = await _work(client, unit)
        await log.wait_for(lambda e: e["type"] == "session.idle")
    assert body["info"]["error"]["name"] == "StructuredOutputError"
    assert (project / "src/a.py").exists(), "the writes before the failing edit happened"
    ended = [
        (part["tool"], part["state"]["status"])
        for e in log.events
        if e["type"] == "message.part.updated"
        and (part := e["properties"]["part"])["type"] == "tool"
        and part["state"]["status"] in ("completed", "error")
    ]
    assert ended == [("write", "completed"), ("edit", "error")]


@pytest.mark.parametrize("sim_config", [SimConfig(seed=1, worker=WorkerConfig(no_report_rate=1.0))])
async def test_worker_without_report_answers_text(client: httpx.AsyncClient, project: Path) -> None:
    unit = UnitSpec(id="u01", title="First", files=["src/a.py"])
    _, body = await _work(client, unit)
    assert body["info"]["error"]["name"] == "StructuredOutputError"
    assert "structured" not in body["info"]
    assert (project / "src/a.py").exists()
