"""Running a unit's (or the mission's) check commands and keeping the evidence.

A check is a shell command (``/bin/sh -c``) run in the project or a worktree.
Its result is :class:`CheckEvidence`: the exit code and the tail of its
combined output, which goes back to the worker when the check fails. A check
that runs and fails is evidence, not an error; :class:`CheckError` is raised
only when the command cannot be started at all.

Each command runs in a session of its own, so that everything it starts
belongs to one process group and can be killed together: on timeout, on
cancellation, and once the shell has exited (a background process a check
left behind must not outlive it, nor hold its output pipe open)::

    shell exits ─────────────► SIGKILL what is left of the group
    deadline / cancellation ─► SIGTERM the group, grace, SIGKILL the group

Output is read as it comes and only a bounded tail is kept, so a check that
prints 100 MB costs ``tail_bytes`` of memory, not 100 MB.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import anyio
from anyio.abc import ByteReceiveStream, Process
from pydantic import BaseModel, ConfigDict

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.errors import CheckError

__all__ = [
    "KILL_GRACE",
    "CheckEvidence",
    "all_passed",
    "check_outcome",
    "record_passed",
    "record_view",
    "run_check",
    "run_checks",
]

KILL_GRACE: Final = 2.0
"""Seconds between SIGTERM and SIGKILL when a check's process group is stopped."""

_DRAIN_GRACE: Final = 2.0
# Once the shell has exited and its group is killed, the pipe closes at once;
# this bound only matters if something that left the group holds it open.
_SHELL: Final = "/bin/sh"

_log = get_logger(__name__)


class CheckEvidence(BaseModel):
    """What one check command did: its exit code and the tail of its output."""

    model_config = ConfigDict(frozen=True)

    command: str
    exit_code: int | None
    """None when the command was killed (timeout or cancellation); negative when
    a signal from elsewhere ended the shell."""
    output_tail: str
    """The last ``tail_bytes`` of stdout and stderr combined, decoded as UTF-8
    (invalid bytes replaced)."""
    duration: float
    """Wall-clock seconds from start to exit (or kill)."""
    timed_out: bool
    cwd: str

    @property
    def passed(self) -> bool:
        """True when the command exited with 0 within its timeout."""
        return self.exit_code == 0 and not self.timed_out

    def to_prompt(self) -> dict[str, object]:
        """The part of the evidence shown to an agent."""
        return record_view(self.to_record(None))

    def to_record(self, unit: str | None) -> dict[str, Any]:
        """The ``check.result`` payload of this evidence (``unit`` ``None``: a mission check)."""
        return {
            "unit": unit,
            "command": self.command,
            "exit_code": self.exit_code,
            "output_tail": self.output_tail,
            "duration": self.duration,
            "timed_out": self.timed_out,
        }


def record_passed(record: Mapping[str, Any]) -> bool:
    """Whether a journaled ``check.result`` passed (exit 0, not timed out)."""
    return record.get("exit_code") == 0 and not record.get("timed_out")


def record_view(record: Mapping[str, Any]) -> dict[str, object]:
    """The part of a journaled ``check.result`` shown to an agent."""
    return {
        "command": record["command"],
        "exit_code": record.get("exit_code"),
        "output_tail": record.get("output_tail", ""),
    }


def all_passed(evidence: Sequence[CheckEvidence]) -> bool:
    """True when every check passed (vacuously true for no checks)."""
    return all(item.passed for item in evidence)


class _Tail:
    """The last ``limit`` bytes of a stream, in memory bounded by about twice that."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._buffer = bytearray()

    def add(self, data: bytes) -> None:
        self._buffer += data
        # Trimming on every chunk would copy the tail each time; trimming
        # only past twice the limit keeps the cost linear in the output.
        if len(self._buffer) > 2 * self._limit:
            del self._buffer[: len(self._buffer) - self._limit]

    def text(self) -> str:
        if self._limit == 0:
            return ""
        return bytes(self._buffer[-self._limit :]).decode("utf-8", errors="replace")


async def _drain(stream: ByteReceiveStream, tail: _Tail, done: anyio.Event) -> None:
    try:
        async for chunk in stream:
            tail.add(chunk)
    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
        pass
    finally:
        done.set()


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    # The group may already be gone (PermissionError: only zombies are left,
    # on some kernels); then there is nothing to stop.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


async def _stop_group(process: Process) -> None:
    """SIGTERM the process group, SIGKILL it after :data:`KILL_GRACE`; reap the shell."""
    if process.returncode is None:
        _signal_group(process.pid, signal.SIGTERM)
        with anyio.move_on_after(KILL_GRACE):
            await process.wait()
    # Unconditionally: the shell may have died of SIGTERM while children
    # that ignore it are still running.
    _signal_group(process.pid, signal.SIGKILL)
    await process.wait()


async def run_check(
    command: str,
    *,
    cwd: Path,
    timeout: float,  # noqa: ASYNC109 - a timeout is evidence (timed_out), not an exception
    env: Mapping[str, str] | None = None,
    tail_bytes: int = 4096,
) -> CheckEvidence:
    """Run ``/bin/sh -c command`` in ``cwd`` and return the evidence.

    Args:
        command: the shell command.
        cwd: the directory to run it in (the project or a worktree).
        timeout: seconds before the command's whole process group is killed;
            the evidence then says ``timed_out`` and has no exit code.
        env: variables set on top of the orchestrator's own environment
            (a check still needs ``PATH`` and ``HOME``).
        tail_bytes: how much of the end of the output to keep.

    Raises:
        CheckError: ``cwd`` is not a directory, or the shell could not be started.
        ValueError: ``timeout`` is not positive or ``tail_bytes`` is negative.

    On cancellation the process group is killed before the cancellation
    propagates.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, not {timeout}")
    if tail_bytes < 0:
        raise ValueError(f"tail_bytes must not be negative, not {tail_bytes}")
    if not await anyio.to_thread.run_sync(cwd.is_dir):
        raise CheckError(f"cannot run check {command!r}: {cwd} is not a directory")
    full_env = {**os.environ, **env} if env is not None else None
    started = time.monotonic()
    try:
        # Shielded: cancelled mid-spawn, the loop would kill only the shell,
        # and whatever it had started already would live on. Here any
        # cancellation arrives once we hold the process, inside the try below.
        with anyio.CancelScope(shield=True):
            process = await anyio.open_process(
                [_SHELL, "-c", command],
                cwd=cwd,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    except OSError as exc:
        raise CheckError(f"cannot run check {command!r} in {cwd}: {exc}") from exc

    tail = _Tail(tail_bytes)
    drained = anyio.Event()
    timed_out = False
    group_killed = False
    try:
        assert process.stdout is not None  # stdout=PIPE above
        async with anyio.create_task_group() as tg:
            tg.start_soon(_drain, process.stdout, tail, drained)
            with anyio.move_on_after(timeout):
                await process.wait()
            if process.returncode is None:
                timed_out = True
                with anyio.CancelScope(shield=True):
                    await _stop_group(process)
            else:
                _signal_group(process.pid, signal.SIGKILL)
            group_killed = True
            with anyio.move_on_after(_DRAIN_GRACE):
                await drained.wait()
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            if not group_killed:
                # Cancelled (or failed) before the group was dealt with.
                await _stop_group(process)
            await process.aclose()
    duration = time.monotonic() - started

    evidence = CheckEvidence(
        command=command,
        exit_code=None if timed_out else process.returncode,
        output_tail=tail.text(),
        duration=duration,
        timed_out=timed_out,
        cwd=str(cwd),
    )
    _log.info(
        "check.finished",
        command=command,
        cwd=str(cwd),
        exit_code=evidence.exit_code,
        timed_out=timed_out,
        duration=round(duration, 3),
    )
    return evidence


async def run_checks(
    commands: Sequence[str],
    *,
    cwd: Path,
    timeout: float,  # noqa: ASYNC109 - per command, as in run_check
    env: Mapping[str, str] | None = None,
) -> list[CheckEvidence]:
    """Run every command in order, each with its own ``timeout``; evidence for all.

    A failing check does not stop the others: the worker gets to see every
    failure at once.

    Raises:
        CheckError: a command could not be started (see :func:`run_check`).
    """
    return [await run_check(command, cwd=cwd, timeout=timeout, env=env) for command in commands]


def check_outcome(check: Mapping[str, Any]) -> str:
    """How a check ended, as every page says it: ``exit 1``, ``timed out after 5 s``.

    A check that timed out was killed and has no exit code: it is said so with
    how long it ran (its ``duration``, or its timeline ``start`` to ``end``).
    A check with no exit code that did not time out was killed some other way.
    """
    if check.get("timed_out"):
        seconds = _seconds(check)
        return "timed out" if seconds is None else f"timed out after {seconds:g} s"
    code = check.get("exit_code")
    return "killed, no exit code" if code is None else f"exit {code}"


def _seconds(check: Mapping[str, Any]) -> float | None:
    duration = check.get("duration")
    if duration is None and check.get("start") is not None and check.get("end") is not None:
        duration = check["end"] - check["start"]
    if not isinstance(duration, int | float) or duration <= 0:
        return None
    return round(float(duration), 1 if duration < 100 else None)
