"""``config --show/--check/--reference``, and ``run`` honouring the project's configuration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opencode_orchestrator.cli import main
from opencode_orchestrator.config import render_reference
from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.store import load_mission, missions_root
from opencode_orchestrator.wal.log import Durability
from tests.config.support import write


def _project(tmp_path: Path, settings: str | dict[str, object]) -> tuple[Path, Path]:
    project = tmp_path / "project"
    (project / ".opencode").mkdir(parents=True)
    return project, write(project / ".opencode" / "orchestrator.jsonc", settings)


def test_show_prints_every_value_with_its_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project, path = _project(tmp_path, '{\n  "limits": {"concurrency": 3},\n}')
    monkeypatch.setenv("OPENCODE_ORCHESTRATOR_WAL_FSYNC", "interval")
    assert main(["config", "--show", "--project", str(project)]) == 0
    lines = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()}
    assert lines["limits.concurrency"] == ["3", f"{path}:2:14"]
    assert lines["limits.max_units"] == ["200", "default"]
    assert lines["wal.fsync"] == ['"interval"', "environment", "OPENCODE_ORCHESTRATOR_WAL_FSYNC"]
    assert lines["log.level"] == ['"info"', "default"]


def test_show_json_is_one_document_of_values_and_sources(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, path = _project(tmp_path, {"checks": ["make test"]})
    assert main(["config", "--show", "--json", "--project", str(project)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["config"]["checks"] == ["make test"]
    assert document["config"]["limits"]["concurrency"] == 8
    assert document["sources"]["checks"] == f"{path}:1:2"
    assert document["sources"]["limits.concurrency"] == "default"


def test_check_exits_0_when_valid_and_1_with_the_error_when_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, path = _project(tmp_path, {"limits": {"concurrency": 2}})
    assert main(["config", "--check", "--project", str(project)]) == 0
    assert capsys.readouterr().out == "configuration valid\n"

    write(path, '{"limits": {"concurrency": 0, "max_dept": 1}}')
    assert main(["config", "--check", "--project", str(project)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"opencode-orchestrator config: {path}:1:13: limits.concurrency = 0 is not allowed: "
        "it must be an integer from 1 to 500",
        f"opencode-orchestrator config: {path}:1:31: unknown key limits.max_dept "
        "(did you mean limits.max_depth?)",
    ]

    write(path, "{,}")
    assert main(["config", "--show", "--project", str(project)]) == 1
    assert capsys.readouterr().err == (
        f"opencode-orchestrator config: {path}:1:2: not valid JSONC: property name expected\n"
    )


def test_a_project_that_is_no_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["config", "--check", "--project", str(tmp_path / "nowhere")])
    assert caught.value.code == 2
    assert "not a directory" in capsys.readouterr().err


def test_reference_prints_the_generated_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--reference"]) == 0
    assert capsys.readouterr().out == render_reference()


def test_run_takes_the_projects_configuration_under_its_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project, _path = _project(
        tmp_path,
        {
            "limits": {"concurrency": 3, "max_attempts": 4},
            "wal": {"fsync": "interval", "sync_interval": 0.2},
        },
    )
    opened: list[tuple[object, object]] = []
    original = Journal.open.__func__  # type: ignore[attr-defined]

    async def spy(cls: type[Journal], /, directory: Path, **kwargs: object) -> Journal:
        opened.append((kwargs["durability"], kwargs["sync_interval"]))
        journal: Journal = await original(cls, directory, **kwargs)
        return journal

    monkeypatch.setattr(Journal, "open", classmethod(spy))
    argv = ["run", "a goal", "--sim", "--project", str(project), "--sim-units", "2"]
    assert main([*argv, "--max-attempts", "2"]) == 0
    mission_id = capsys.readouterr().out.splitlines()[0].split()[1]
    limits = load_mission(project, mission_id).config["limits"]
    assert (limits["concurrency"], limits["max_attempts"]) == (3, 2)
    assert opened == [(Durability.INTERVAL, 0.2)]


def test_run_refuses_an_invalid_configuration_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, path = _project(tmp_path, {"wal": {"fsync": "never"}})
    with pytest.raises(SystemExit) as caught:
        main(["run", "a goal", "--sim", "--project", str(project)])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert (
        f'invalid configuration: {path}:1:10: wal.fsync = "never" is not allowed: '
        'it must be one of "always", "interval"'
    ) in err
    assert not missions_root(project).exists()
