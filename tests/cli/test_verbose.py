"""stderr's level: ``-v``/``-vv`` on every command, over a command's ``--log-level``, over the
environment's, over the command's default."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from opencode_orchestrator import runtime
from opencode_orchestrator.cli import build_parser, main
from opencode_orchestrator.log import get_logger


def _levels(err: str) -> set[str]:
    return {orjson.loads(line)["level"] for line in err.splitlines() if line.startswith("{")}


def _run(project: Path, *flags: str) -> list[str]:
    project.mkdir(exist_ok=True)
    return ["run", "add a feature", "--sim", "--project", str(project), "--sim-units", "2", *flags]


def test_without_verbose_stderr_shows_no_log_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_run(tmp_path)) == 0
    assert _levels(capsys.readouterr().err) == set()


def test_v_shows_info_and_vv_debug(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_run(tmp_path / "a", "-v")) == 0
    levels = _levels(capsys.readouterr().err)
    assert "info" in levels
    assert "debug" not in levels
    assert main(_run(tmp_path / "b", "-vv")) == 0
    assert {"info", "debug"} <= _levels(capsys.readouterr().err)


def test_the_environment_sets_the_level_without_verbose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENCODE_ORCHESTRATOR_LOG_LEVEL", "info")
    assert main(_run(tmp_path)) == 0
    levels = _levels(capsys.readouterr().err)
    assert "info" in levels
    assert "debug" not in levels


def test_verbose_wins_over_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENCODE_ORCHESTRATOR_LOG_LEVEL", "error")
    assert main(_run(tmp_path / "a", "--verbose")) == 0
    assert "info" in _levels(capsys.readouterr().err)
    monkeypatch.setenv("OPENCODE_ORCHESTRATOR_LOG_LEVEL", "loud")
    assert main(_run(tmp_path / "c", "-v")) == 0  # not even read under -v


def _serve_logging_every_level(monkeypatch: pytest.MonkeyPatch) -> None:
    # serve (or sim-server) without its server: what reaches stderr is the level's doing.
    def run(*_args: object) -> int:
        log = get_logger("tests.serve")
        log.debug("serve.debug")
        log.info("serve.info")
        log.warning("serve.warning")
        return 0

    monkeypatch.setattr(runtime, "run", run)


@pytest.mark.parametrize(
    ("environment", "flags", "expected"),
    [
        (None, [], {"info", "warning"}),  # serve's own default
        ("debug", [], {"debug", "info", "warning"}),  # the environment over that default
        ("warning", [], {"warning"}),
        ("debug", ["--log-level", "warning"], {"warning"}),  # the flag over the environment
        ("warning", ["-vv"], {"debug", "info", "warning"}),  # -v over everything
    ],
)
def test_serve_takes_its_level_from_the_flag_else_the_environment_else_info(
    environment: str | None,
    flags: list[str],
    expected: set[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if environment is not None:
        monkeypatch.setenv("OPENCODE_ORCHESTRATOR_LOG_LEVEL", environment)
    _serve_logging_every_level(monkeypatch)
    assert main(["serve", *flags]) == 0
    assert _levels(capsys.readouterr().err) == expected


def test_serve_refuses_a_log_file_it_cannot_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _serve_logging_every_level(monkeypatch)
    (tmp_path / "a-file").write_text("")
    assert main(["serve", "--log-file", str(tmp_path / "a-file" / "serve.log")]) == 2
    err = capsys.readouterr().err
    assert "--log-file" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("environment", "flags", "expected"),
    [
        (None, [], {"warning"}),
        ("info", [], {"info", "warning"}),
        ("info", ["--log-level", "warning"], {"warning"}),
    ],
)
def test_sim_server_takes_its_level_from_the_flag_else_the_environment_else_warning(
    environment: str | None,
    flags: list[str],
    expected: set[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if environment is not None:
        monkeypatch.setenv("OPENCODE_ORCHESTRATOR_LOG_LEVEL", environment)
    _serve_logging_every_level(monkeypatch)
    assert main(["sim-server", "--state-dir", str(tmp_path), *flags]) == 0
    assert _levels(capsys.readouterr().err) == expected


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
