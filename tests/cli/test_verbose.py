"""``-v``/``-vv`` on every command: stderr's level, over the environment's."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from opencode_orchestrator.cli import build_parser, main


def _levels(err: str) -> set[str]:
    return {orjson.loads(line)["level"] for line in err.splitlines() if line.startswith("{")}


def _run(project: Path, *flags: str) -> list[str]:
    project.mkdir(exist_ok=True)
    return ["run", "add a feature", "--sim", "--project", str(project), "--sim-units", "2", *flags]


def test_without_verbose_stderr_shows_no_log_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENCODE_ORCHESTRATOR_LOG_LEVEL", raising=False)
    assert main(_run(tmp_path)) == 0
    assert _levels(capsys.readouterr().err) == set()


def test_v_shows_info_and_vv_debug(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_run(tmp_path / "a", "-v")) == 0
    levels = _levels(capsys.readouterr().err)
    assert "info" in levels
    assert "debug" not in levels
    assert main(_run(tmp_path / "b", "-vv")) == 0
    assert {"info", "debug"} <= _levels(capsys.readouterr().err)


def test_verbose_wins_over_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENCODE_ORCHESTRATOR_LOG_LEVEL", "error")
    assert main(_run(tmp_path / "a", "--verbose")) == 0
    assert "info" in _levels(capsys.readouterr().err)
    assert main(_run(tmp_path / "b")) == 0  # the environment, without -v
    assert _levels(capsys.readouterr().err) == set()
    monkeypatch.setenv("OPENCODE_ORCHESTRATOR_LOG_LEVEL", "loud")
    assert main(_run(tmp_path / "c", "-v")) == 0  # not even read under -v


@pytest.mark.parametrize(
    "argv",
    [
        ["-v", "wal", "verify", "X"],
        ["wal", "-v", "verify", "X"],
        ["wal", "verify", "X", "-v"],
        ["status", "-v"],
        ["serve", "-vv"],
        ["demo", "--verbose"],
        ["sim-server", "--state-dir", "S", "-v"],
        ["install", "-v"],
    ],
)
def test_every_command_accepts_verbose_wherever_it_is_written(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.verbose >= 1


def test_no_verbose_leaves_the_attribute_unset() -> None:
    # A default would let a subcommand's 0 overwrite a count given before it.
    assert not hasattr(build_parser().parse_args(["wal", "verify", "X"]), "verbose")
