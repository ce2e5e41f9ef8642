"""Running a shell command for ``bash`` tool calls and ``POST /session/{id}/shell``.

The command runs as a subprocess under anyio (never blocking the loop), in
the session's directory, with stderr merged into stdout as OpenCode reports
it, bounded by :data:`SHELL_TIMEOUT`.
"""

from __future__ import annotations

import subprocess
from typing import Final

import anyio

__all__ = ["SHELL_TIMEOUT", "run_command"]

SHELL_TIMEOUT: Final = 120.0


async def run_command(command: str, cwd: str) -> tuple[str, int]:
    """Run ``bash -c command`` in ``cwd``; return its output and exit code (124: timed out)."""
    with anyio.move_on_after(SHELL_TIMEOUT) as timeout:
        result = await anyio.run_process(
            ["bash", "-c", command],
            cwd=cwd,
            check=False,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        return result.stdout.decode(errors="replace"), result.returncode
    assert timeout.cancelled_caught
    return f"(timed out after {SHELL_TIMEOUT:.0f} s)", 124
