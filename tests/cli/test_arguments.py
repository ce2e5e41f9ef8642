"""Every numeric argument, ``--server`` and ``--check`` are checked as the command line is parsed.

A value out of range is a usage error (exit 2) naming what is allowed, never a
traceback from wherever the value would have ended up.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from opencode_orchestrator.cli.arguments import INT64_MAX, field_integer, http_url, integer
from opencode_orchestrator.cli.main import build_parser, main
from opencode_orchestrator.mission.config import LimitsConfig

SEEDS = f"must be an integer from 0 to {INT64_MAX}"

# Each: the command line, then what the error must say. Nothing may run.
BAD = [
    (
        ["run", "g", "--sim", "--sim-units", "100000"],
        "--sim-units: must be an integer from 1 to 10000",
    ),
    (["run", "g", "--sim", "--sim-units", "0"], "--sim-units: must be an integer from 1 to 10000"),
    (["run", "g", "--sim", "--sim-seed", "99999999999999999999999"], f"--sim-seed: {SEEDS}"),
    (["run", "g", "--sim", "--sim-seed", "-1"], f"--sim-seed: {SEEDS}"),
    (
        ["run", "g", "--sim", "--concurrency", "501"],
        "--concurrency: must be an integer from 1 to 500",
    ),
    (
        ["run", "g", "--sim", "--concurrency", "2.5"],
        "--concurrency: must be an integer from 1 to 500",
    ),
    (
        ["run", "g", "--sim", "--max-units", "100001"],
        "--max-units: must be an integer from 1 to 100000",
    ),
    (
        ["run", "g", "--sim", "--max-attempts", "21"],
        "--max-attempts: must be an integer from 1 to 20",
    ),
    (
        ["run", "g", "--sim", "--max-iterations", "51"],
        "--max-iterations: must be an integer from 1 to 50",
    ),
    (["run", "g", "--sim", "--max-depth", "-1"], "--max-depth: must be an integer from 0 to 10"),
    (["run", "g", "--sim", "--max-depth", "11"], "--max-depth: must be an integer from 0 to 10"),
    (
        ["run", "g", "--sim", "--max-tokens", "99999999999999999999999"],
        f"--max-tokens: must be an integer from 1 to {INT64_MAX}",
    ),
    (["run", "g", "--sim", "--max-cost", "0"], "--max-cost: must be a number greater than 0"),
    (
        ["run", "g", "--sim", "--max-cost", "inf"],
        "--max-cost: must be a finite number greater than 0, got 'inf'",
    ),
    (["run", "g", "--sim", "--max-wall", "nan"], "--max-wall: must be a finite number greater"),
    (["run", "g", "--sim", "--max-wall", "soon"], "--max-wall: must be a number greater than 0"),
    (
        ["sim-server", "--state-dir", "s", "--port", "99999"],
        "--port: must be an integer from 0 to 65535",
    ),
    (
        ["sim-server", "--state-dir", "s", "--port", "-1"],
        "--port: must be an integer from 0 to 65535",
    ),
    (["sim-server", "--state-dir", "s", "--seed", "1" + "0" * 30], f"--seed: {SEEDS}"),
    (
        ["sim-server", "--state-dir", "s", "--heartbeat", "0"],
        "--heartbeat: must be a number greater",
    ),
    (
        ["sim-server", "--state-dir", "s", "--heartbeat", "inf"],
        "--heartbeat: must be a finite number greater",
    ),
    (["demo", "--units", "1001"], "--units: must be an integer from 1 to 1000"),
    (["demo", "--units", "0"], "--units: must be an integer from 1 to 1000, got '0'"),
    (["run", "g", "--sim", "--concurrency", "0"], "--concurrency: must be an integer from 1 to"),
    (["run", "g", "--sim", "--max-cost", "-1"], "--max-cost: must be a number greater than 0"),
    (["demo", "--seed", "1" + "0" * 30], f"--seed: {SEEDS}"),
    (
        ["serve", "--max-line-bytes", "0"],
        "--max-line-bytes: must be an integer from 1 to 1073741824",
    ),
    (["serve", "--max-line-bytes", "9" * 25], "--max-line-bytes: must be an integer from 1 to"),
    (["serve", "--request-timeout=-inf"], "--request-timeout: must be a finite number"),
    (
        ["run", "g", "--server", "notaurl"],
        "--server: expected an http:// or https:// URL, got 'notaurl'",
    ),
    (["run", "g", "--server", "ftp://h/x"], "--server: expected an http:// or https:// URL"),
    (["run", "g", "--server", "http://"], "--server: expected an http:// or https:// URL"),
    (["run", "g", "--server", "http://h:99999"], "--server: expected an http:// or https:// URL"),
    (["resume", "--server", "localhost:4096"], "--server: expected an http:// or https:// URL"),
    (["cancel", "m1", "--server", "notaurl"], "--server: expected an http:// or https:// URL"),
    (["run", "g", "--sim", "--check", ""], "--check: expected a shell command, got ''"),
    (
        ["run", "g", "--sim", "--check", "true", "--check", " \t"],
        "--check: expected a shell command",
    ),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a) for a, _m in BAD])
def test_a_bad_argument_is_a_usage_error_naming_what_is_allowed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"opencode-orchestrator {argv[0]}: error: argument {message}" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing was started, nothing written


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "g", "--sim", "--sim-units", "10000", "--sim-seed", str(INT64_MAX)],
        ["run", "g", "--sim", "--concurrency", "500", "--max-depth", "0", "--max-units", "100000"],
        ["run", "g", "--sim", "--max-cost", "0.01", "--max-wall", "1e9", "--max-tokens", "1"],
        ["run", "g", "--sim", "--check", "make test"],
        ["run", "g", "--server", "http://127.0.0.1:4096"],
        ["run", "g", "--server", "https://opencode:pw@example.com/base"],
        ["sim-server", "--state-dir", "s", "--port", "65535", "--seed", "0", "--heartbeat", "0.5"],
        ["demo", "--units", "1000", "--seed", "0"],
        ["serve", "--max-line-bytes", "1073741824", "--request-timeout", "0.1"],
    ],
)
def test_values_at_the_ends_of_their_range_are_taken(argv: list[str]) -> None:
    build_parser().parse_args(argv)


def test_the_limits_flags_take_their_range_from_the_configuration_schema() -> None:
    parse = field_integer(LimitsConfig, "max_race")  # 1..8, whatever the schema says
    assert parse("8") == 8
    with pytest.raises(argparse.ArgumentTypeError, match="an integer from 1 to 8, got '9'"):
        parse("9")


def test_integer_refuses_what_is_not_an_integer() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="an integer from 0 to 3, got 'x'"):
        integer(0, 3)("x")


def test_http_url_keeps_a_valid_url() -> None:
    assert http_url(" http://127.0.0.1:4096 ") == "http://127.0.0.1:4096"
