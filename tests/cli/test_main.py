"""The command-line frame: subcommands, --help, logging set-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencode_orchestrator import __version__
from opencode_orchestrator.cli import build_parser, main


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    commands = [
        "serve",
        "demo",
        "run",
        "resume",
        "status",
        "cancel",
        "sim-server",
        "wal",
        "wal inspect",
        "wal verify",
        "wal repair",
    ]
    for command in commands:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([*command.split(), "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: opencode-orchestrator {command}")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"opencode-orchestrator {__version__}"


def test_a_bad_log_level_in_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENCODE_ORCHESTRATOR_LOG_LEVEL", "loud")
    assert main(["wal", "verify", str(tmp_path)]) == 2
    assert "unknown log level 'loud'" in capsys.readouterr().err
