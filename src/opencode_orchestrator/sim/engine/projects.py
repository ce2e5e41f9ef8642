"""Project ids: OpenCode's id for a directory is the root commit of its git history.

Looked up once per directory and remembered. Concurrent lookups of the same
directory share one ``git`` process: a mission creating its first fifty
units' sessions at once used to start a hundred.
"""

from __future__ import annotations

import anyio

__all__ = ["GLOBAL_PROJECT", "ProjectIds"]

GLOBAL_PROJECT = "global"
"""The id of a directory outside any git repository."""


class ProjectIds:
    """The project id of every directory seen so far."""

    def __init__(self) -> None:
        self._known: dict[str, str] = {}
        self._looking: dict[str, anyio.Event] = {}

    def remember(self, directory: str, project_id: str) -> None:
        """Record ``directory``'s id (from a stored session)."""
        self._known[directory] = project_id

    def known(self, directory: str) -> str:
        """``directory``'s id if it was looked up, else ``global``."""
        return self._known.get(directory, GLOBAL_PROJECT)

    async def lookup(self, directory: str) -> str:
        """``directory``'s id: its git root commit (the smallest, if several), else ``global``."""
        while directory not in self._known:
            looking = self._looking.get(directory)
            if looking is not None:
                await looking.wait()  # then known, unless that lookup was cancelled
                continue
            done = self._looking[directory] = anyio.Event()
            try:
                result = await anyio.run_process(
                    ["git", "-C", directory, "rev-list", "--max-parents=0", "HEAD"], check=False
                )
                roots = result.stdout.decode().split() if result.returncode == 0 else []
                self._known[directory] = sorted(roots)[0] if roots else GLOBAL_PROJECT
            finally:
                del self._looking[directory]
                done.set()
        return self._known[directory]
