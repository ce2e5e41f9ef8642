"""Check commands: exit codes, bounded output, and no process outliving its check."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import anyio
import pytest

from opencode_orchestrator.mission import checks
from opencode_orchestrator.mission.checks import CheckEvidence, all_passed, run_check, run_checks
from opencode_orchestrator.mission.errors import CheckError

pytestmark = pytest.mark.anyio


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie nobody reaped yet counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    # The state follows the parenthesised command name.
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


async def _wait_dead(pid: int) -> None:
    # SIGKILL is delivered asynchronously: poll the condition, bounded.
    with anyio.fail_after(10):
        while _alive(pid):
            await anyio.sleep(0.01)


async def _wait_lines(path: Path, count: int) -> list[str]:
    with anyio.fail_after(10):
        while True:
            lines = path.read_text().split() if path.exists() else []
            if len(lines) >= count:
                return lines
            await anyio.sleep(0.01)


async def test_exit_zero_passes(tmp_path: Path) -> None:
    evidence = await run_check("echo hello", cwd=tmp_path, timeout=30)
    assert evidence.passed
    assert evidence.exit_code == 0
    assert not evidence.timed_out
    assert evidence.output_tail == "hello\n"
    assert evidence.cwd == str(tmp_path)
    assert evidence.duration >= 0


async def test_nonzero_exit_fails_and_keeps_stderr(tmp_path: Path) -> None:
    evidence = await run_check("echo out; echo err >&2; exit 3", cwd=tmp_path, timeout=30)
    assert not evidence.passed
    assert evidence.exit_code == 3
    assert evidence.output_tail == "out\nerr\n"
    assert evidence.to_prompt() == {
        "command": evidence.command,
        "exit_code": 3,
        "output_tail": "out\nerr\n",
    }


async def test_runs_in_cwd(tmp_path: Path) -> None:
    evidence = await run_check("pwd", cwd=tmp_path, timeout=30)
    assert Path(evidence.output_tail.strip()).resolve() == tmp_path.resolve()


async def test_huge_output_keeps_only_a_bounded_tail(tmp_path: Path) -> None:
    size = 50_000_000
    tracemalloc.start()
    try:
        evidence = await run_check(
            f"head -c {size} /dev/zero | tr '\\0' x; printf END",
            cwd=tmp_path,
            timeout=120,
            tail_bytes=1000,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert evidence.passed
    assert evidence.output_tail == "x" * 997 + "END"
    assert peak < 5_000_000


async def test_tail_decodes_invalid_utf8_with_replacement(tmp_path: Path) -> None:
    evidence = await run_check("printf 'ok \\377\\n'", cwd=tmp_path, timeout=30)
    assert evidence.output_tail == "ok \ufffd\n"


async def test_zero_tail_bytes_keeps_nothing(tmp_path: Path) -> None:
    evidence = await run_check("echo hello", cwd=tmp_path, timeout=30, tail_bytes=0)
    assert evidence.output_tail == ""


async def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    evidence = await run_check("sleep 100 & echo $!; sleep 100", cwd=tmp_path, timeout=0.5)
    assert evidence.timed_out
    assert evidence.exit_code is None
    assert not evidence.passed
    await _wait_dead(int(evidence.output_tail.split()[0]))


async def test_timeout_kills_a_group_that_ignores_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checks, "KILL_GRACE", 0.1)
    evidence = await run_check("trap '' TERM; sleep 100 & echo $!; wait", cwd=tmp_path, timeout=0.5)
    assert evidence.timed_out
    await _wait_dead(int(evidence.output_tail.split()[0]))


async def test_background_process_left_behind_does_not_outlive_the_check(tmp_path: Path) -> None:
    # The straggler holds the output pipe open: without the group kill the
    # check would wait for it and report a timeout.
    evidence = await run_check("sleep 100 & echo $!", cwd=tmp_path, timeout=60)
    assert evidence.passed
    assert not evidence.timed_out
    await _wait_dead(int(evidence.output_tail.split()[0]))


async def test_cancellation_kills_the_group_and_propagates(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    results: list[CheckEvidence] = []

    async def run() -> None:
        results.append(
            await run_check(
                f"echo $$ > {pids}; sleep 100 & echo $! >> {pids}; wait", cwd=tmp_path, timeout=60
            )
        )

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        shell, grandchild = (int(pid) for pid in await _wait_lines(pids, 2))
        tg.cancel_scope.cancel()
    assert results == []
    await _wait_dead(shell)
    await _wait_dead(grandchild)


async def test_missing_cwd_is_a_check_error(tmp_path: Path) -> None:
    with pytest.raises(CheckError, match="not a directory") as caught:
        await run_check("true", cwd=tmp_path / "missing", timeout=30)
    assert caught.value.code == "mission.check"


async def test_unstartable_shell_is_a_check_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checks, "_SHELL", str(tmp_path / "no-such-shell"))
    with pytest.raises(CheckError, match="cannot run check"):
        await run_check("true", cwd=tmp_path, timeout=30)


async def test_env_is_added_to_the_inherited_environment(tmp_path: Path) -> None:
    evidence = await run_check(
        'printf "%s %s" "$CHECK_VAR" "$PATH"', cwd=tmp_path, timeout=30, env={"CHECK_VAR": "v1"}
    )
    assert evidence.output_tail == f"v1 {os.environ['PATH']}"


async def test_invalid_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timeout"):
        await run_check("true", cwd=tmp_path, timeout=0)
    with pytest.raises(ValueError, match="tail_bytes"):
        await run_check("true", cwd=tmp_path, timeout=1, tail_bytes=-1)


async def test_run_checks_runs_every_command_in_order(tmp_path: Path) -> None:
    evidence = await run_checks(
        ["echo one >> log", "exit 1", "echo three >> log"], cwd=tmp_path, timeout=30
    )
    assert [item.exit_code for item in evidence] == [0, 1, 0]
    assert (tmp_path / "log").read_text() == "one\nthree\n"
    assert not all_passed(evidence)
    assert all_passed(evidence[:1])
    assert all_passed([])


async def test_evidence_is_frozen(tmp_path: Path) -> None:
    evidence = await run_check("true", cwd=tmp_path, timeout=30)
    with pytest.raises(ValueError, match="frozen"):
        evidence.exit_code = 1
