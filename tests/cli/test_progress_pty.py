"""The live view in a real pseudo-terminal, and plain lines when stderr is a pipe.

``demo`` runs a whole mission on the simulator in a child process whose
stdout and stderr are a pty (as in a terminal) or whose stderr is a pipe (as
under a script or CI).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import anyio
import pytest

pytestmark = [pytest.mark.subprocess, pytest.mark.anyio]

_ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
_UP = b"\x1b[1A"
"""What rich moves the cursor with to redraw the view in place."""


def _demo(project: Path) -> list[str]:
    module = [sys.executable, "-m", "opencode_orchestrator"]
    return [*module, "demo", "--units", "6", "--project", str(project)]


def _read_all(fd: int) -> bytes:
    out = bytearray()
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child side closed
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)


async def _in_pty(
    command: list[str], term: str, *, stderr_pipe: bool = False
) -> tuple[int, bytes, bytes]:
    """Run ``command`` with a 100x30 pty as its terminal; its code, the pty's bytes, stderr's."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["TERM"] = term
    process = subprocess.Popen(
        command,
        stdin=follower,
        stdout=follower,
        stderr=subprocess.PIPE if stderr_pipe else follower,
        env=env,
    )
    os.close(follower)
    try:
        with anyio.fail_after(120):
            read_pty = anyio.to_thread.run_sync(_read_all, leader, abandon_on_cancel=True)
            screen = await read_pty
            err = await anyio.to_thread.run_sync(
                lambda: process.stderr.read() if process.stderr else b"", abandon_on_cancel=True
            )
            code = await anyio.to_thread.run_sync(process.wait, abandon_on_cancel=True)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
        os.close(leader)
    return code, screen, err


async def test_on_a_terminal_demo_draws_the_live_view_and_ends_with_the_outcome(
    tmp_path: Path,
) -> None:
    code, screen, _ = await _in_pty(_demo(tmp_path), "xterm-256color")
    assert code == 0
    assert _UP in screen  # redrawn in place
    assert b"\x1b[?25l" in screen  # the cursor hidden while drawing
    text = _ANSI.sub(b"", screen).decode()
    assert "━" in text
    assert "6/6 verified" in text
    for phase in ("planning", "units", "barrier", "integration review", "sealed"):
        assert phase in text
    assert "tokens" in text
    assert "wall time" in text
    # The view ends (its last state kept, the cursor back) before the outcome is printed.
    view_end = screen.rindex(b"\x1b[?25h")
    outcome = _ANSI.sub(b"", screen[view_end:]).decode()
    assert "SEALED: every seal condition verified" in outcome
    assert outcome.rstrip().splitlines()[-1].startswith("  opencode-orchestrator wal inspect ")


async def test_with_stderr_to_a_pipe_the_progress_is_plain_lines(tmp_path: Path) -> None:
    code, screen, err = await _in_pty(_demo(tmp_path), "xterm-256color", stderr_pipe=True)
    assert code == 0
    assert b"SEALED: every seal condition verified" in screen  # stdout is still the terminal
    assert b"\x1b" not in err
    lines = err.decode().splitlines()
    assert lines
    assert all(
        re.match(r"\[ *\d+\.\ds\] \w+  iteration \d+  verified \d+/\d+", line) for line in lines
    )
    assert " sealed  iteration 1  verified 6/6" in lines[-1]


async def test_a_dumb_terminal_gets_plain_lines(tmp_path: Path) -> None:
    code, screen, _ = await _in_pty(_demo(tmp_path), "dumb")
    assert code == 0
    assert b"\x1b" not in screen
    assert b"verified 6/6" in screen
    assert b"SEALED: every seal condition verified" in screen
