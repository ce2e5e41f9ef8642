"""``status --watch``: a mission followed live while another process writes it, to its end."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from opencode_orchestrator.cli import main, status
from opencode_orchestrator.cli.live import watch
from opencode_orchestrator.cli.live.watch import lock_held, watch_mission
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.wal.lock import DirectoryLock
from tests.mission import journals

MISSION = "m-watched"


class Watcher:
    """``status --watch`` in a child process, its stdout (a pipe: plain lines) read line by line."""

    def __init__(self, process: Process) -> None:
        self.process = process
        assert process.stdout is not None
        self._stdout = BufferedByteReceiveStream(process.stdout)
        self.lines: list[str] = []

    async def line_with(self, predicate: Callable[[str], bool]) -> str:
        while True:
            line = (await self._stdout.receive_until(b"\n", 1 << 20)).decode()
            self.lines.append(line)
            if predicate(line):
                return line

    async def exit(self) -> tuple[int, str, str]:
        """Wait for the end; the exit code, all of stdout, and stderr."""
        rest = bytearray()
        try:
            while True:
                rest += await self._stdout.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            pass
        code = await self.process.wait()
        assert self.process.stderr is not None
        err = b""
        try:
            while True:
                err += await self.process.stderr.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            pass
        out = "\n".join(self.lines) + ("\n" if self.lines else "") + rest.decode()
        return code, out, err.decode()


async def _watch(project: Path, *args: str) -> Watcher:
    command = [sys.executable, "-m", "opencode_orchestrator", "status", *args]
    command += ["--watch", "--interval", "0.05", "--project", str(project)]
    env = {**os.environ, "TERM": "xterm-256color"}  # a pipe is plain whatever the terminal
    process = await anyio.open_process(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    return Watcher(process)


@pytest.mark.subprocess
@pytest.mark.anyio
async def test_watch_follows_a_mission_another_process_runs_until_it_seals(tmp_path: Path) -> None:
    journal = await journals.open_journal(tmp_path, MISSION)  # the writer holds the lock
    try:
        await journals.create(journal, MISSION, tmp_path)
        await journals.plan(journal, ["u1", "u2"])
        with anyio.fail_after(60):
            watcher = await _watch(tmp_path, MISSION)
            async with watcher.process:
                await watcher.line_with(lambda line: " running  iteration 1  verified 0/2" in line)
                await journals.start_unit(journal, "u1")
                await journals.verify_unit(journal, "u1")
                await watcher.line_with(lambda line: "verified 1/2" in line)
                await journals.start_unit(journal, "u2")
                await journals.verify_unit(journal, "u2", tokens=500)
                await journals.seal(journal)
                code, out, err = await watcher.exit()
    finally:
        await journal.close()
    assert (code, err) == (0, "")
    assert "\x1b" not in out  # a pipe gets plain lines
    last_line = next(line for line in reversed(out.splitlines()) if line.startswith("["))
    assert " sealed  iteration 1  verified 2/2  in flight 0  failed 0  tokens 1,500" in last_line
    assert f"mission    {MISSION}  SEALED" in out
    assert "progress   iteration 1, 2 of 2 units verified" in out


@pytest.mark.subprocess
@pytest.mark.anyio
async def test_watch_without_a_mission_follows_the_newest_unfinished_one(tmp_path: Path) -> None:
    await journals.unfinished_mission(tmp_path, "m-older", created_at=1_700_000_000.0)
    await journals.unfinished_mission(tmp_path, MISSION, created_at=1_700_000_100.0)
    await journals.sealed_mission(tmp_path, "m-newest-but-sealed", created_at=1_700_000_200.0)
    journal = await journals.open_journal(tmp_path, MISSION)
    try:
        with anyio.fail_after(60):
            watcher = await _watch(tmp_path)
            async with watcher.process:
                await watcher.line_with(lambda line: "verified 1/2  in flight 1" in line)
                await journals.finish(journal, MissionState.FAILED, "the reviewer gave up")
                code, out, _err = await watcher.exit()
    finally:
        await journal.close()
    assert code == 1  # ended, not sealed
    assert f"mission    {MISSION}  FAILED  (the reviewer gave up)" in out


@pytest.mark.subprocess
@pytest.mark.anyio
async def test_ctrl_c_stops_the_watch_with_130(tmp_path: Path) -> None:
    await journals.unfinished_mission(tmp_path, MISSION)
    journal = await journals.open_journal(tmp_path, MISSION)  # running: the watch goes on
    try:
        with anyio.fail_after(60):
            watcher = await _watch(tmp_path, MISSION)
            async with watcher.process:
                await watcher.line_with(lambda line: "] running" in line)
                watcher.process.send_signal(signal.SIGINT)
                code, _out, err = await watcher.exit()
    finally:
        await journal.close()
    assert code == 130
    assert "interrupted" in err


@pytest.mark.anyio
async def test_a_mission_nobody_runs_ends_the_watch_with_how_to_resume_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cut off mid-run, its journal closed: the lock is free, as after a crash.
    await journals.unfinished_mission(tmp_path, MISSION)
    capsys.readouterr()
    monkeypatch.setattr(status, "WATCH_IDLE", 0.2)
    argv = ["status", "--watch", "--interval", "0.05", "--project", str(tmp_path)]
    with anyio.fail_after(30):  # a watch that never ends fails here instead of hanging
        code = await anyio.to_thread.run_sync(main, argv, abandon_on_cancel=True)
    assert code == 1
    out = capsys.readouterr().out
    assert f"mission    {MISSION}  RUNNING" in out
    assert out.endswith(
        f"mission {MISSION} is not running (no process holds its journal); resume it with:\n"
        f"  opencode-orchestrator resume {MISSION} --project {tmp_path} --server URL\n"
    )


@pytest.mark.anyio
async def test_a_quiet_mission_whose_lock_is_held_is_watched_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await journals.unfinished_mission(tmp_path, MISSION)
    asked = anyio.Event()
    answers: list[bool] = []

    def counted(directory: Path) -> bool:
        answers.append(lock_held(directory))
        if len(answers) == 3:
            anyio.from_thread.run_sync(asked.set)
        return answers[-1]

    monkeypatch.setattr(watch, "lock_held", counted)
    journal = await journals.open_journal(tmp_path, MISSION)
    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                ended: list[MissionModel] = []

                async def watching() -> None:
                    model = await watch_mission(
                        tmp_path, MISSION, io.StringIO(), interval=0.02, tty=False, idle=0.05
                    )
                    ended.append(model)

                group.start_soon(watching)
                await asked.wait()  # asked three times: quiet, but someone holds the lock
                assert not ended
                await journals.verify_unit(journal, "u2")
                await journals.seal(journal)
    finally:
        await journal.close()
    assert answers[:3] == [True, True, True]
    assert ended[0].state is MissionState.SEALED


def test_the_lock_probe_tells_a_held_lock_from_a_free_one(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    directory.mkdir()
    assert not lock_held(directory)  # no LOCK file: never opened
    lock = DirectoryLock.acquire(directory)
    try:
        assert lock_held(directory)
    finally:
        lock.release()
    assert not lock_held(directory)
    DirectoryLock.acquire(directory).release()  # the probe left nothing behind


def test_watching_an_ended_mission_prints_its_end_and_exits_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anyio.run(journals.sealed_mission, tmp_path, MISSION)
    capsys.readouterr()  # the journal's own log lines
    assert main(["status", MISSION, "--watch", "--project", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split("] ", 1)[1].startswith("sealed  iteration 1  verified 2/2")
    assert f"mission    {MISSION}  SEALED" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["status", "m-nope", "--watch"], "no mission 'm-nope'"),
        (["status", "../escape", "--watch"], "invalid mission id"),
        (["status", "--watch"], "no unfinished mission in"),
        (["status", MISSION, "--watch", "--json"], "pick one"),
        (["status", MISSION, "--interval", "1"], "--interval goes with --watch"),
        (["status", MISSION, "--watch", "--interval", "0"], "between 0.05 and 60"),
        (["status", MISSION, "--watch", "--interval", "soon"], "not a number"),
    ],
)
def test_watch_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    anyio.run(journals.sealed_mission, tmp_path, MISSION)  # ended: not one to watch by default
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--project", str(tmp_path)])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
