"""The harness's hooks (extra config keys, ``prepare``), with a stand-in for the binary.

A small Python script takes the binary's place: it answers ``/global/health``
on the port it is given and records its environment, so the hooks are tested
without OpenCode.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from opencode_orchestrator.testing.real_opencode import RealOpenCode

pytestmark = pytest.mark.anyio

_STAND_IN = """\
import http.server, json, os, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
with open("seen-env.json", "w") as out:
    json.dump({k: v for k, v in os.environ.items() if k.startswith("XDG_")}, out)

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"healthy": true}')

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


@pytest.fixture
def binary(tmp_path: Path) -> Path:
    script = tmp_path / "opencode"
    script.write_text(f"#!{sys.executable}\n{_STAND_IN}")
    script.chmod(0o755)
    return script


async def test_extra_config_keys_and_prepare_run_before_the_server(
    tmp_path: Path, binary: Path
) -> None:
    project = tmp_path / "project"
    seen: list[tuple[bool, Path]] = []

    def prepare(server: RealOpenCode) -> None:
        config = orjson.loads((server.directory / "opencode.json").read_bytes())
        seen.append((config["agent"] == {"x": {}}, server.config_home))
        (server.config_home / "opencode").mkdir(parents=True)
        (server.config_home / "opencode" / "seeded").write_text("yes")

    agents: dict[str, Any] = {"agent": {"x": {}}}
    async with RealOpenCode.start(
        project, "http://127.0.0.1:9/v1", binary=binary, config=agents, prepare=prepare
    ) as server:
        [(has_agents, config_home)] = seen
        assert has_agents
        env = orjson.loads((project / "seen-env.json").read_bytes())
        assert env["XDG_CONFIG_HOME"] == str(config_home)
        assert (config_home / "opencode" / "seeded").read_text() == "yes"
        config = orjson.loads((project / "opencode.json").read_bytes())
        assert config["provider"]["fake"]["options"]["baseURL"] == "http://127.0.0.1:9/v1"
        await server.stop(grace=0.1)
        with pytest.raises(RuntimeError, match="not running"):
            _ = server.pid
