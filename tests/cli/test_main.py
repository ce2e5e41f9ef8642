"""The command-line frame: subcommands, --help, logging set-up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
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


def test_help_shows_no_markup_of_the_docstrings_it_is_made_of(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = build_parser()
    for command in ("", "demo", "run", "resume", "status", "cancel", "config", "install", "wal"):
        with pytest.raises(SystemExit):
            parser.parse_args([*command.split(), "--help"])
        out = capsys.readouterr().out
        assert "``" not in out, command
        assert re.search(r":[a-z]+:`", out) is None, command
    # What the markup marked is still there, as plain text.
    with pytest.raises(SystemExit):
        parser.parse_args(["status", "--help"])
    assert "`--json` prints the mission as the document `report.json` holds it" in " ".join(
        capsys.readouterr().out.split()
    )


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


def test_a_reader_that_closes_stdout_early_gets_no_traceback(tmp_path: Path) -> None:
    # `opencode-orchestrator … | head -1`: head exits, our next write meets a closed pipe.
    read_end, write_end = os.pipe()
    os.close(read_end)  # closed before the child writes anything
    try:
        done = subprocess.run(
            [sys.executable, "-m", "opencode_orchestrator", "config", "--reference"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert b"Traceback" not in done.stderr
    assert b"BrokenPipeError" not in done.stderr
