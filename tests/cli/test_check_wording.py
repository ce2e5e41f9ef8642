"""A check that timed out reads "timed out after N s" on every page, never "exit None"."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from opencode_orchestrator.cli.main import main
from opencode_orchestrator.mission.report.evidence import check_outcome


@pytest.mark.parametrize(
    ("check", "words"),
    [
        ({"exit_code": 0, "timed_out": False, "duration": 0.2}, "exit 0"),
        ({"exit_code": 3, "timed_out": False}, "exit 3"),
        ({"exit_code": -9, "timed_out": False}, "exit -9"),
        ({"exit_code": None, "timed_out": True, "duration": 5.012}, "timed out after 5 s"),
        ({"exit_code": None, "timed_out": True, "duration": 0.46}, "timed out after 0.5 s"),
        ({"exit_code": None, "timed_out": True, "duration": 600.4}, "timed out after 600 s"),
        (
            {"exit_code": None, "timed_out": True, "start": 2.0, "end": 32.04},
            "timed out after 30 s",
        ),
        ({"exit_code": None, "timed_out": True, "duration": None}, "timed out"),
        ({"exit_code": None, "timed_out": True}, "timed out"),
        ({"exit_code": None, "timed_out": False, "duration": 1.0}, "killed, no exit code"),
    ],
)
def test_check_outcome_words(check: dict[str, Any], words: str) -> None:
    assert check_outcome(check) == words


def test_a_timed_out_check_reads_timed_out_in_every_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    (project / ".opencode").mkdir(parents=True)
    config = {"timeouts": {"check": 0.5}}
    (project / ".opencode" / "orchestrator.json").write_text(json.dumps(config))
    checks = ["sleep 5", "exit 3", "true"]
    argv = ["run", "g", "--sim", "--project", str(project), "--sim-units", "1"]
    argv += ["--max-iterations", "1", *(f"--check={c}" for c in checks)]
    assert main(argv) == 1  # the mission checks fail: not sealed
    mission_id = capsys.readouterr().out.splitlines()[0].split()[1]
    directory = project / ".opencode" / "orchestrator" / "missions" / mission_id
    after = r"timed out after 0\.[5-9] s|timed out after 1(\.\d)? s"

    markdown = (directory / "report.md").read_text()
    assert re.search(rf"^- `sleep 5`: (?:{after})$", markdown, re.MULTILINE)
    assert "- `exit 3`: exit 3" in markdown
    assert "- `true`: exit 0" in markdown

    html = (directory / "report.html").read_text()
    cell = r"<tr><td><code>sleep 5</code></td><td class=n>"
    assert re.search(rf"{cell}(?:{after})</td>", html)
    assert "<tr><td><code>exit 3</code></td><td class=n>3</td>" in html
    assert re.search(rf"check `sleep 5`: (?:{after})", html)  # the timeline's bar title
    assert "check `exit 3`: exit 3" in html

    for page in (markdown, html):
        assert "None" not in page
        assert "(timed out)" not in page
