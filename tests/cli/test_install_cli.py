"""``install`` / ``uninstall`` on real files: which file, what it holds after, what is said."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

import opencode_orchestrator
import opencode_orchestrator.cli.install as install_cli
from opencode_orchestrator.cli import build_parser, main
from opencode_orchestrator.cli.install import files
from opencode_orchestrator.cli.install.plugin_list import list_entries

pytestmark = pytest.mark.usefixtures("home")

COMMAND = [sys.executable, "-m", "opencode_orchestrator", "serve"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def entry(shim: Path) -> list[Any]:
    return [str(shim), {"command": COMMAND}]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def temp_files(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.endswith(".tmp")]


COMMENTED = """{
  // my OpenCode settings
  "$schema": "https://opencode.ai/config.json",
  "model": "anthropic/claude-sonnet-4", /* default */
  "plugin": [
    "opencode-wakatime", // time tracking
  ],
}
"""


def test_a_project_without_config_gets_a_new_opencode_json(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path, umask: None
) -> None:
    code, out, err = run(capsys, "install", "--project", str(project))
    assert (code, err) == (0, "")
    config = project / "opencode.json"
    assert json.loads(config.read_text()) == {
        "$schema": "https://opencode.ai/config.json",
        "plugin": [entry(shim)],
    }
    assert stat.S_IMODE(config.stat().st_mode) == 0o644
    assert f"created {config} with the plugin entry" in out
    assert f"plugin: {shim}" in out
    assert f"{sys.executable} -m opencode_orchestrator serve" in out
    assert f"next: start `opencode` in {project}" in out
    assert sorted(p.name for p in project.iterdir()) == ["opencode.json"]


def test_the_current_directory_is_the_default_project(
    capsys: pytest.CaptureFixture[str],
    shim: Path,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(project)
    assert run(capsys, "install")[0] == 0
    assert list_entries((project / "opencode.json").read_text()) == [entry(shim)]


def test_a_commented_jsonc_keeps_every_byte_but_the_new_entry(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    config = project / "opencode.jsonc"
    config.write_text(COMMENTED)
    code, out, _ = run(capsys, "install", "--project", str(project))
    assert code == 0
    line = json.dumps(entry(shim))
    assert config.read_text() == COMMENTED.replace(
        "// time tracking\n", f"// time tracking\n    {line},\n"
    )
    assert f"added the plugin entry to {config}" in out
    assert not (project / "opencode.json").exists()


def test_installing_twice_leaves_one_entry_and_does_not_touch_the_file(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    run(capsys, "install", "--project", str(project))
    config = project / "opencode.json"
    before = config.stat()
    code, out, _ = run(capsys, "install", "--project", str(project))
    assert code == 0
    assert f"the plugin entry is already in {config}; nothing to do" in out
    assert list_entries(config.read_text()) == [entry(shim)]
    after = config.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_an_entry_from_another_install_is_updated_not_duplicated(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    old = "/old/venv/lib/python3.11/site-packages/opencode_orchestrator/shim/index.ts"
    config = project / "opencode.json"
    config.write_text(
        json.dumps(
            {
                "plugin": [
                    "other-plugin",
                    [old, {"command": ["/old/venv/bin/python"], "logFile": "/tmp/shim.log"}],
                ]
            },
            indent=2,
        )
    )
    code, out, _ = run(capsys, "install", "--project", str(project))
    assert code == 0
    assert f"updated the plugin entry in {config}" in out
    assert list_entries(config.read_text()) == [
        "other-plugin",
        [str(shim), {"command": COMMAND, "logFile": "/tmp/shim.log"}],
    ]


def test_uninstall_removes_ours_and_keeps_everything_else(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    config = project / "opencode.jsonc"
    config.write_text(COMMENTED)
    run(capsys, "install", "--project", str(project))
    code, out, _ = run(capsys, "uninstall", "--project", str(project))
    assert code == 0
    assert config.read_text() == COMMENTED
    assert f"removed the plugin entry from {config}" in out
    code, out, _ = run(capsys, "uninstall", "--project", str(project))
    assert code == 0
    assert "no orchestrator plugin entry in" in out
    assert "nothing to do" in out
    assert config.read_text() == COMMENTED


def test_uninstall_leaves_no_empty_plugin_list_behind(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    # OpenCode 1.18.33 reads an empty "plugin" list as "no plugins at all": left
    # behind, it stopped the user's global plugins from loading in the project.
    config = project / "opencode.json"
    original = '{\n  "model": "x/y"\n}\n'
    config.write_text(original)
    run(capsys, "install", "--project", str(project))
    assert list_entries(config.read_text()) == [entry(shim)]
    code, out, _ = run(capsys, "uninstall", "--project", str(project))
    assert code == 0
    assert json.loads(config.read_text()) == {"model": "x/y"}
    assert 'and the "plugin" list it left empty' in out
    # A list that keeps other plugins stays, of course.
    config.write_text(json.dumps({"plugin": ["a"]}))
    run(capsys, "install", "--project", str(project))
    run(capsys, "uninstall", "--project", str(project))
    assert list_entries(config.read_text()) == ["a"]


def test_install_warns_of_an_empty_plugin_list_read_after_its_entry(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    # OpenCode reads .opencode/opencode.json after opencode.json: its empty list
    # means no plugins, ours included, and install said it was done.
    (project / "opencode.json").write_text("{}")
    later = project / ".opencode" / "opencode.json"
    later.parent.mkdir()
    later.write_text('{"plugin": []}')
    code, out, _ = run(capsys, "install", "--project", str(project))
    assert code == 0
    assert f'warning: {later} has an empty "plugin" list' in out
    assert later.read_text() == '{"plugin": []}', "not ours to remove"
    later.write_text('{"plugin": ["a"]}')
    _, out, _ = run(capsys, "install", "--project", str(project))
    assert "warning" not in out


def test_global_goes_to_xdg_config_home(
    capsys: pytest.CaptureFixture[str], shim: Path, tmp_path: Path, project: Path
) -> None:
    code, out, _ = run(capsys, "install", "--global")
    assert code == 0
    config = tmp_path / "xdg" / "opencode" / "opencode.json"
    assert list_entries(config.read_text()) == [entry(shim)]
    assert f"created {config}" in out
    assert not (project / "opencode.json").exists()
    assert run(capsys, "uninstall", "--global")[0] == 0
    assert list_entries(config.read_text()) == []


def test_global_without_xdg_config_home_is_under_home_config(
    capsys: pytest.CaptureFixture[str],
    shim: Path,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "")  # empty counts as unset, as in OpenCode
    assert run(capsys, "install", "--global")[0] == 0
    config = home / ".config" / "opencode" / "opencode.json"
    assert list_entries(config.read_text()) == [entry(shim)]


def test_global_edits_the_opencode_jsonc_opencode_wrote_on_its_first_start(
    capsys: pytest.CaptureFixture[str], shim: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "xdg" / "opencode"
    directory.mkdir(parents=True)
    (directory / "opencode.jsonc").write_text(
        '{\n  "$schema": "https://opencode.ai/config.json"\n}'
    )
    (directory / "config.json").write_text('{"theme": "legacy"}')
    assert run(capsys, "install", "--global")[0] == 0
    assert list_entries((directory / "opencode.jsonc").read_text()) == [entry(shim)]
    assert not (directory / "opencode.json").exists()
    assert (directory / "config.json").read_text() == '{"theme": "legacy"}'


def test_with_both_json_and_jsonc_the_json_is_edited_as_opencode_does(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    (project / "opencode.json").write_text("{}")
    (project / "opencode.jsonc").write_text(COMMENTED)
    assert run(capsys, "install", "--project", str(project))[0] == 0
    assert list_entries((project / "opencode.json").read_text()) == [entry(shim)]
    assert (project / "opencode.jsonc").read_text() == COMMENTED


def test_an_entry_already_in_the_jsonc_is_kept_there(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    (project / "opencode.json").write_text("{}")
    jsonc = project / "opencode.jsonc"
    jsonc.write_text(json.dumps({"plugin": [entry(shim)]}))
    code, out, _ = run(capsys, "install", "--project", str(project))
    assert code == 0
    assert "already in" in out
    assert (project / "opencode.json").read_text() == "{}"


def test_a_config_in_dot_opencode_is_used_when_it_is_the_only_one(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    config = project / ".opencode" / "opencode.jsonc"
    config.parent.mkdir()
    config.write_text(COMMENTED)
    assert run(capsys, "install", "--project", str(project))[0] == 0
    assert list_entries(config.read_text())[-1] == entry(shim)
    assert not (project / "opencode.json").exists()


def test_a_second_entry_in_another_file_of_the_scope_is_removed(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    (project / "opencode.json").write_text(json.dumps({"plugin": [str(shim)]}))
    other = project / ".opencode" / "opencode.json"
    other.parent.mkdir()
    other.write_text(json.dumps({"plugin": ["keep-me", entry(shim)]}))
    code, out, _ = run(capsys, "install", "--project", str(project))
    assert code == 0
    assert list_entries((project / "opencode.json").read_text()) == [entry(shim)]
    assert list_entries(other.read_text()) == ["keep-me"]
    assert f"removed a second plugin entry from {other}" in out
    code, out, _ = run(capsys, "uninstall", "--project", str(project))
    assert list_entries((project / "opencode.json").read_text()) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{\n  "plugin": []\n  "model": "x"\n}\n',
            "not valid JSONC: comma expected at line 3, column 3",
        ),
        (
            '{\n  "plugin": [\n    "a",,\n  ]\n}\n',
            "not valid JSONC: value expected at line 3, column 9",
        ),
        ("{'plugin': []}", "not valid JSONC: property name expected at line 1, column 2"),
        ('{"plugin": "a"}', '"plugin" is not a list'),
        ('["a"]', "the top level is not an object"),
    ],
)
@pytest.mark.parametrize("command", ["install", "uninstall"])
def test_a_malformed_file_is_reported_where_and_left_as_it_was(
    capsys: pytest.CaptureFixture[str],
    shim: Path,
    project: Path,
    text: str,
    message: str,
    command: str,
) -> None:
    config = project / "opencode.json"
    config.write_text(text)
    code, out, err = run(capsys, command, "--project", str(project))
    assert code == 1
    assert out == ""
    assert err == f"opencode-orchestrator {command}: {config}: {message}; nothing was changed\n"
    assert config.read_text() == text
    assert temp_files(project) == []


def test_a_file_that_is_not_utf8_is_refused(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path
) -> None:
    config = project / "opencode.json"
    config.write_bytes(b'{"model": "caf\xe9"}')
    code, _, err = run(capsys, "install", "--project", str(project))
    assert code == 1
    assert "not UTF-8 (byte 14)" in err
    assert config.read_bytes() == b'{"model": "caf\xe9"}'


def test_the_file_mode_is_kept_and_a_symlink_stays_a_symlink(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path, tmp_path: Path
) -> None:
    real = tmp_path / "dotfiles" / "opencode.json"
    real.parent.mkdir()
    real.write_text("{}")
    real.chmod(0o600)
    link = project / "opencode.json"
    link.symlink_to(real)
    assert run(capsys, "install", "--project", str(project))[0] == 0
    assert link.is_symlink()
    assert list_entries(real.read_text()) == [entry(shim)]
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert temp_files(real.parent) == []


def test_a_read_only_file_is_refused(
    capsys: pytest.CaptureFixture[str],
    shim: Path,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = project / "opencode.json"
    config.write_text("{}")
    config.chmod(0o444)
    access = os.access
    # root may write anything: ask as a user would be answered.
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if Path(p) == config else access(p, mode)
    )
    code, _, err = run(capsys, "install", "--project", str(project))
    assert code == 1
    assert err.endswith(f": {config} is read-only; nothing was changed\n")
    assert config.read_text() == "{}"


def test_an_unwritable_directory_is_refused_before_anything_is_written(
    capsys: pytest.CaptureFixture[str],
    shim: Path,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if Path(p) == project else access(p, mode)
    )
    code, _, err = run(capsys, "install", "--project", str(project))
    assert code == 1
    assert f"the directory {project} is not writable" in err
    assert list(project.iterdir()) == []


def test_a_failed_rename_leaves_the_file_and_no_temporary_file(
    capsys: pytest.CaptureFixture[str],
    shim: Path,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = project / "opencode.json"
    config.write_text(COMMENTED)

    def refuse(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    code, _, err = run(capsys, "install", "--project", str(project))
    assert code == 1
    assert f"cannot write {config}: No space left on device" in err
    assert config.read_text() == COMMENTED
    assert temp_files(project) == []


def test_a_project_that_is_not_a_directory_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], shim: Path, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["install", "--project", str(tmp_path / "missing")])
    assert exit_info.value.code == 2
    assert "not a directory" in capsys.readouterr().err


def test_global_and_project_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["install", "--global", "--project", "."])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["install", "uninstall"])
def test_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: opencode-orchestrator {command}")
    assert "--global" in out
    assert "--project DIR" in out


def test_a_project_install_says_when_the_global_config_loads_the_plugin_too(
    capsys: pytest.CaptureFixture[str], shim: Path, project: Path, tmp_path: Path
) -> None:
    run(capsys, "install", "--global")
    code, out, _ = run(capsys, "install", "--project", str(project))
    assert code == 0
    assert f"note: {tmp_path / 'xdg' / 'opencode' / 'opencode.json'} loads the plugin" in out


# -- the shim, the entry, and what counts as ours ---------------------------------------------


def test_without_a_shim_install_fails_clearly_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> Path:
        raise files.ShimNotFoundError("the plugin shim is missing: neither a nor b exists")

    monkeypatch.setattr(install_cli, "shim_path", missing)
    code, _, err = run(capsys, "install", "--project", str(project))
    assert code == 1
    assert "the plugin shim is missing" in err
    assert list(project.iterdir()) == []


def test_uninstall_works_when_the_shim_is_gone(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> Path:
        raise files.ShimNotFoundError("gone")

    monkeypatch.setattr(install_cli, "shim_path", missing)
    config = project / "opencode.json"
    gone = ["/deleted/checkout/plugin-shim/src/index.ts", {"command": COMMAND}]
    config.write_text(json.dumps({"plugin": ["a", gone]}))
    assert run(capsys, "uninstall", "--project", str(project))[0] == 0
    assert list_entries(config.read_text()) == ["a"]


def test_the_packaged_shim_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site-packages" / "opencode_orchestrator"
    (package / "shim").mkdir(parents=True)
    (package / "shim" / "index.ts").write_text("")
    monkeypatch.setattr(resources, "files", lambda _: package)
    assert files.shim_path() == package / "shim" / "index.ts"


def test_a_checkout_s_shim_is_the_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "files", lambda _: tmp_path / "nowhere")
    checkout = tmp_path / "repo"
    (checkout / "src" / "opencode_orchestrator").mkdir(parents=True)
    (checkout / "plugin-shim" / "src").mkdir(parents=True)
    (checkout / "plugin-shim" / "src" / "index.ts").write_text("")
    init = checkout / "src" / "opencode_orchestrator" / "__init__.py"
    monkeypatch.setattr(opencode_orchestrator, "__file__", str(init))
    assert files.shim_path() == checkout / "plugin-shim" / "src" / "index.ts"
    (checkout / "plugin-shim" / "src" / "index.ts").unlink()
    with pytest.raises(files.ShimNotFoundError, match="plugin shim is missing"):
        files.shim_path()


def test_the_core_runs_on_this_interpreter_without_path() -> None:
    assert files.core_command() == COMMAND
    assert Path(files.core_command()[0]).is_absolute()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/here/shim/index.ts", True),
        (["/here/shim/index.ts"], True),
        (["file:///here/shim/index.ts", {}], True),
        (["./shim/index.ts", {}], True),  # relative to the config file's directory
        (["/other/venv/site-packages/opencode_orchestrator/shim/index.ts"], True),
        (["/old/checkout/plugin-shim/src/index.ts", {"command": COMMAND}], True),
        ("/another/checkout/plugin-shim/src/index.ts", True),
        (["/x/y.ts", {"command": ["/usr/local/bin/opencode-orchestrator", "serve"]}], True),
        (["/x/y.ts", {"command": ["opencode-orchestrator-fork", "serve"]}], False),
        ("/x/plugin-shim/src/other.ts", False),
        (["/x/y.ts", {"command": ["python3", "-m", "opencode_orchestrator", "serve"]}], True),
        ("opencode-wakatime", False),
        (["/x/y.ts", {"command": ["python3", "-m", "something_else"]}], False),
        (["./shim/other.ts"], False),
        ("./index.ts", False),
        ([1, 2], False),
        ({"plugin": "x"}, False),
    ],
)
def test_which_entries_are_ours(value: Any, expected: bool) -> None:
    shim = Path("/here/shim/index.ts")
    assert files.is_our_entry(value, Path("/here"), shim) is expected
