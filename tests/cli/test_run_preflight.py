"""``run``/``resume --server``: OpenCode must have the mission agents (the plugin) first.

OpenCode 1.18.33 answers a prompt to an agent it does not have with 204, then
never runs it: without the orchestrator's plugin a mission used to wait at
"planning" until its turns were lost, naming no cause.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import orjson
import pytest
from structlog.testing import capture_logs

from opencode_orchestrator.cli import main
from opencode_orchestrator.cli.runner import MissingAgentsError, check_agents
from opencode_orchestrator.mission.contracts import AGENT_MASTER_REVIEWER, MISSION_AGENTS
from opencode_orchestrator.opencode.errors import OpenCodeAuthError
from opencode_orchestrator.sim import SimServer
from tests.contract.openapi import check_response
from tests.mission.enginesupport import sim_config
from tests.opencode.fakes import FakeOpenCode


def _agent(name: str) -> dict[str, object]:
    return {"name": name, "mode": "primary", "native": True, "permission": [], "options": {}}


@contextmanager
def _opencode_with_agents(names: list[str]) -> Iterator[tuple[str, list[str]]]:
    """A stand-in ``opencode serve``: ``GET /agent`` lists ``names``, anything else is 404.

    Yields its URL and the requests it got (``METHOD path?query``).
    """
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append(f"{self.command} {self.path}")
            body: object = {"name": "NotFoundError", "data": {"message": "no route"}}
            status = 404
            if self.command == "GET" and urlsplit(self.path).path == "/agent":
                status, body = 200, [_agent(name) for name in names]
            data = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_run_on_opencode_without_the_plugin_stops_at_once_naming_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    with _opencode_with_agents(["build", "plan", "general"]) as (url, seen):
        code = main(["run", "add a feature", "--server", url, "--project", str(project)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "did not run" in out
    assert "Traceback" not in err
    for name in MISSION_AGENTS:
        assert name in err
    assert f"opencode-orchestrator install --project {project}" in err
    assert "restart OpenCode" in err
    # Only the agents were asked for, for this project; no session was created...
    assert len(seen) == 1
    assert seen[0].startswith("GET /agent?")
    assert parse_qs(urlsplit(seen[0].split(" ", 1)[1]).query)["directory"] == [str(project)]
    # ...and no mission directory was left behind.
    assert not (project / ".opencode").exists()


def test_only_the_missing_agents_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    present = ["build", *(name for name in MISSION_AGENTS if name != AGENT_MASTER_REVIEWER)]
    with _opencode_with_agents(present) as (url, _seen):
        code = main(["run", "goal", "--server", url, "--project", str(project), "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    document = orjson.loads(out)
    assert document["files"]["wal"] is None
    assert f"has no {AGENT_MASTER_REVIEWER} agent for" in document["error"]
    assert "[cli.agents]" in document["error"]
    for name in MISSION_AGENTS:
        if name != AGENT_MASTER_REVIEWER:
            assert name not in document["error"]
    assert "error:" in err


def test_the_simulator_as_a_server_has_the_mission_agents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(
            SimServer.running(tmp_path / "sim", config=sim_config(planner={"units": 1}))
        ) as sim,
    ):
        code = main(["run", "add a feature", "--server", sim.base_url, "--project", str(project)])
    _out, err = capsys.readouterr()
    assert code == 0, err
    assert "opencode.agents.unchecked" not in err


def test_the_simulators_agent_list_has_opencodes_shape(tmp_path: Path) -> None:
    async def listed() -> object:
        async with (
            SimServer.running(tmp_path / "sim", config=sim_config()) as sim,
            httpx.AsyncClient() as http,
        ):
            answer = await http.get(f"{sim.base_url}/agent", params={"directory": "/x"})
            assert answer.status_code == 200
            return answer.json()

    agents = anyio.run(listed)
    check_response("GET", "/agent", 200, agents)
    assert isinstance(agents, list)
    assert {agent["name"] for agent in agents} >= {"build", "plan", *MISSION_AGENTS}


async def _check(fake: FakeOpenCode, tmp_path: Path) -> None:
    async with fake.client(directory=str(tmp_path)) as client:
        await check_agents(client, tmp_path)


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(404, json={"name": "NotFoundError", "data": {"message": "no route"}}),
        httpx.Response(400, json={"name": "BadRequestError", "data": {"message": "bad"}}),
        httpx.Response(200, json={"agents": ["mission-planner"]}),  # not a list
        httpx.Response(200, json=[{"mode": "primary"}]),  # no names
        httpx.Response(200, text="<html>not json</html>"),
    ],
)
def test_a_server_that_cannot_list_its_agents_does_not_block_a_run(
    tmp_path: Path, reply: httpx.Response
) -> None:
    fake = FakeOpenCode()
    fake.on("GET", "/agent", reply)
    with capture_logs() as logs:
        anyio.run(_check, fake, tmp_path)  # no error: the check is skipped
    assert [log["event"] for log in logs] == ["opencode.agents.unchecked"]
    assert logs[0]["log_level"] == "warning"


def test_the_check_passes_with_every_mission_agent_and_fails_without_one(
    tmp_path: Path,
) -> None:
    fake = FakeOpenCode()
    fake.on_json("GET", "/agent", [_agent(n) for n in ("build", *MISSION_AGENTS)])
    anyio.run(_check, fake, tmp_path)
    fake.on_json("GET", "/agent", [_agent(n) for n in ("build", *MISSION_AGENTS[1:])])
    with pytest.raises(MissingAgentsError, match=MISSION_AGENTS[0]):
        anyio.run(_check, fake, tmp_path)


def test_a_wrong_password_is_not_mistaken_for_an_unlistable_server(tmp_path: Path) -> None:
    fake = FakeOpenCode()
    fake.on("GET", "/agent", httpx.Response(401, text="Unauthorized"))
    with pytest.raises(OpenCodeAuthError):
        anyio.run(_check, fake, tmp_path)
