"""``install`` with the plugin entry in more than one place of a scope: no option is lost.

OpenCode 1.18.33 loads a plugin named in several files once, with the options
of the last entry it reads; the core merges its own keys from every file,
object by object. ``install`` keeps one entry, holding what is in force today,
or refuses when two entries disagree.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from opencode_orchestrator.cli import main
from opencode_orchestrator.cli.install.duplicates import (
    Holder,
    OptionConflictError,
    merged_options,
)
from opencode_orchestrator.cli.install.plugin_list import drop_empty_list, list_entries
from opencode_orchestrator.config import load_config

pytestmark = pytest.mark.usefixtures("home")

COMMAND = [sys.executable, "-m", "opencode_orchestrator", "serve"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    (path / ".opencode").mkdir(parents=True)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n")


def effective(project: Path) -> dict[str, Any]:
    """What ``opencode-orchestrator config --show --project`` shows, values only."""
    return load_config(project).config.model_dump(mode="json")


def snapshot(*paths: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in paths}


def test_options_of_a_second_entry_are_moved_into_the_kept_one(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    # QA's case: a bare entry in opencode.json, the options in .opencode/opencode.json.
    config = project / "opencode.json"
    other = project / ".opencode" / "opencode.json"
    write(config, {"plugin": [str(shim)]})
    write(other, {"plugin": [[str(shim), {"budget": {"max_cost": 5}, "logFile": "/tmp/l"}]]})
    before = effective(project)
    assert before["budget"]["max_cost"] == 5.0

    code, out, err = run(capsys, "install", "--project", str(project))

    assert (code, err) == (0, "")
    assert effective(project) == before
    assert list_entries(config.read_text()) == [
        [str(shim), {"command": COMMAND, "budget": {"max_cost": 5}, "logFile": "/tmp/l"}]
    ]
    assert f"moved the options budget, logFile of {other} into {config}" in out
    assert f"removed a second plugin entry from {other}" in out
    # An empty "plugin" list read after the entry would make OpenCode load no plugin.
    assert json.loads(other.read_text()) == {}
    assert "nothing to do" in run(capsys, "install", "--project", str(project))[1]


def test_the_core_s_keys_of_several_files_merge_object_by_object(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    config = project / "opencode.jsonc"
    config.write_text(
        "{\n"
        '  "plugin": [\n'
        f'    ["{shim}", {{\n'
        '      "budget": {\n'
        '        "max_tokens": 1000, // my cap\n'
        "      },\n"
        "    }],\n"
        "  ],\n"
        "}\n"
    )
    other = project / ".opencode" / "opencode.json"
    write(
        other,
        {
            "plugin": [
                "keep-me",
                [str(shim), {"budget": {"max_cost": 5}, "limits": {"concurrency": 3}}],
            ]
        },
    )
    before = effective(project)
    assert (before["budget"]["max_tokens"], before["budget"]["max_cost"]) == (1000, 5.0)

    code, out, _ = run(capsys, "install", "--project", str(project))

    assert code == 0
    assert effective(project) == before
    assert "// my cap" in config.read_text()
    assert list_entries(config.read_text()) == [
        [
            str(shim),
            {
                "budget": {"max_tokens": 1000, "max_cost": 5},
                "command": COMMAND,
                "limits": {"concurrency": 3},
            },
        ]
    ]
    assert list_entries(other.read_text()) == ["keep-me"]
    assert f"moved the options budget, limits of {other} into {config}" in out


def test_the_same_options_in_both_entries_are_not_said_to_move(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    options = {"command": ["/old/python", "-m", "opencode_orchestrator", "serve"], "logFile": "/l"}
    config = project / "opencode.json"
    other = project / ".opencode" / "opencode.json"
    write(config, {"plugin": [[str(shim), options]]})
    write(other, {"plugin": [[str(shim), {**options, "command": ["/older/python"]}]]})
    code, out, _ = run(capsys, "install", "--project", str(project))
    assert code == 0
    assert "moved the option" not in out
    assert list_entries(config.read_text()) == [[str(shim), {"command": COMMAND, "logFile": "/l"}]]


def test_options_that_disagree_are_refused_and_nothing_changes(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    config = project / "opencode.json"
    other = project / ".opencode" / "opencode.json"
    write(config, {"plugin": [[str(shim), {"budget": {"max_cost": 10}}]]})
    write(other, {"plugin": [[str(shim), {"budget": {"max_cost": 5}}]]})
    files = snapshot(config, other)

    code, out, err = run(capsys, "install", "--project", str(project))

    assert code == 1
    assert out == ""
    assert f"budget.max_cost is 10 in {config}, but is 5 in {other}, which is in force" in err
    assert "nothing was changed" in err
    assert snapshot(config, other) == files


def test_a_shim_option_opencode_does_not_pass_today_is_refused(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    # OpenCode passes the options of the last entry only: logFile is not in force,
    # so keeping it would change what runs, and dropping it would lose it.
    config = project / "opencode.json"
    other = project / ".opencode" / "opencode.json"
    write(config, {"plugin": [[str(shim), {"logFile": "/tmp/mine.log"}]]})
    write(other, {"plugin": [str(shim)]})
    files = snapshot(config, other)

    code, _, err = run(capsys, "install", "--project", str(project))

    assert code == 1
    assert f'logFile is "/tmp/mine.log" in {config}, but is unset in {other}' in err
    assert snapshot(config, other) == files


def test_two_entries_in_one_file_keep_the_options_of_both(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    config = project / "opencode.json"
    write(config, {"plugin": [[str(shim), {}], "b", [str(shim), {"logFile": "/l"}]]})
    code, out, _ = run(capsys, "install", "--project", str(project))
    assert code == 0
    assert list_entries(config.read_text()) == [
        [str(shim), {"command": COMMAND, "logFile": "/l"}],
        "b",
    ]
    assert f"moved the option logFile of a second plugin entry in {config} into the first" in out


def test_two_entries_in_one_file_that_disagree_are_refused(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    config = project / "opencode.json"
    write(config, {"plugin": [[str(shim), {"budget": {"max_cost": 1}}], [str(shim), {}]]})
    files = snapshot(config)
    code, _, err = run(capsys, "install", "--project", str(project))
    assert code == 1
    assert f"budget.max_cost is 1 in an entry in {config}, but is unset in a later one" in err
    assert snapshot(config) == files


def test_globally_config_json_is_read_first(
    capsys: pytest.CaptureFixture[str], shim: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "xdg" / "opencode"
    directory.mkdir(parents=True)
    legacy = directory / "config.json"
    config = directory / "opencode.json"
    write(legacy, {"plugin": [[str(shim), {"logFile": "/a"}]]})
    write(config, {"plugin": [[str(shim), {"logFile": "/b"}]]})
    code, _, err = run(capsys, "install", "--global")
    assert code == 1
    assert f'logFile is "/a" in {legacy}, but is "/b" in {config}, which is in force' in err


def test_an_emptied_list_read_before_the_kept_entry_stays(
    capsys: pytest.CaptureFixture[str], shim: Path, tmp_path: Path
) -> None:
    # config.json is read before opencode.json, whose list is not empty: harmless.
    directory = tmp_path / "xdg" / "opencode"
    directory.mkdir(parents=True)
    legacy = directory / "config.json"
    write(legacy, {"plugin": [[str(shim), {"budget": {"max_cost": 2}}]]})
    write(directory / "opencode.json", {"plugin": [str(shim)]})
    before = load_config(None).config
    assert run(capsys, "install", "--global")[0] == 0
    assert json.loads(legacy.read_text()) == {"plugin": []}
    assert load_config(None).config == before


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"wal": {"fsync": True}}, {"wal": {"fsync": 1}}),  # true is not 1
        ({"models": {"x": "a"}}, {"models": "b"}),  # an object replaced whole
        ({"checks": ["a"]}, {"checks": ["a", "b"]}),  # a list replaced whole
    ],
)
def test_values_that_are_not_the_same_json_disagree(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    holders = [
        Holder(Path("/p/opencode.json"), [["/s", first]]),
        Holder(Path("/p/.opencode/opencode.json"), [["/s", second]]),
    ]
    with pytest.raises(OptionConflictError, match=re.escape("/p/opencode.json")):
        merged_options(holders)


def test_drop_empty_list_takes_the_key_out_and_nothing_else() -> None:
    text = '{\n  // mine\n  "model": "x",\n  "plugin": [\n  ],\n}\n'
    assert drop_empty_list(text) == ('{\n  // mine\n  "model": "x",\n}\n', True)
    assert drop_empty_list('{"plugin": []}') == ("{}", True)
    assert drop_empty_list('{"plugin": ["a"]}') == ('{"plugin": ["a"]}', False)
    twice = '{"plugin": ["a"], "plugin": []}'
    assert drop_empty_list(twice) == (twice, False)
