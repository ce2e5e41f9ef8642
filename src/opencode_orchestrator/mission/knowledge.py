"""The project's knowledge file: findings worth keeping from one mission to the next.

``<project>/.opencode/orchestrator/knowledge.md`` is a Markdown list, one
finding a line (conventions, the test command, pitfalls), appended to from the
``learnings`` agents report and given to later planners and workers::

    - Tests run with `pytest -q`; the suite needs no network. (worker u03, 2025-01-31)

It is meant to be read and edited by people too: every line starting with
``- `` is an entry, anything else (the heading, notes) is kept but not handed
to agents.

Writes are atomic (temporary file in the same directory, fsync, ``os.replace``,
fsync of the directory), the file is 0600 and its directory 0700. Within one
instance, adds are serialised by an :class:`anyio.Lock`; across instances and
processes by ``fcntl.flock`` on a lock file next to it, held for the whole
read-modify-write, so two writers never lose each other's entries.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import anyio
import anyio.to_thread

from opencode_orchestrator.private_files import replace_private_file
from opencode_orchestrator.wal.paths import FILE_MODE, ensure_private_dir

__all__ = ["KNOWLEDGE_NAME", "MAX_ENTRY_CHARS", "KnowledgeFile", "knowledge_path"]

KNOWLEDGE_NAME: Final = "knowledge.md"
MAX_ENTRY_CHARS: Final = 500
"""Longer entries are cut: a finding is a sentence, not a report."""
_MAX_SOURCE_CHARS: Final = 80
_LOCK_NAME: Final = "knowledge.lock"
_TMP_PREFIX: Final = ".knowledge.md."
_HEADER: Final = (
    "# Project knowledge\n\n"
    "Findings the orchestrator's agents keep for later missions, one per line. Edit freely.\n\n"
)
_WHITESPACE: Final = re.compile(r"\s+")
_ENTRY: Final = re.compile(r"- (?P<text>.*?)(?: \((?P<source>[^()]*), \d{4}-\d{2}-\d{2}\))?")


def knowledge_path(project: Path) -> Path:
    """``<project>/.opencode/orchestrator/knowledge.md``."""
    return project / ".opencode" / "orchestrator" / KNOWLEDGE_NAME


def _one_line(text: str, limit: int) -> str:
    text = _WHITESPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _key(text: str) -> str:
    """What two entries must share to be the same finding."""
    return _WHITESPACE.sub(" ", text).strip().casefold()


def _entries(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("- ")]


def _known(text: str) -> set[str]:
    known = set()
    for line in _entries(text):
        match = _ENTRY.fullmatch(line)
        known.add(_key(match.group("text") if match is not None else line[2:]))
    return known


@contextlib.contextmanager
def _flocked(directory: Path) -> Iterator[None]:
    # A lock file rather than the knowledge file itself: os.replace swaps the
    # inode, so a lock on the old file would not exclude the next writer.
    fd = os.open(directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


class KnowledgeFile:
    """The knowledge file of ``project``; ``read`` returns at most ``max_chars`` of it."""

    def __init__(self, project: Path, *, max_chars: int = 16_000) -> None:
        if max_chars < 1:
            raise ValueError("max_chars must be positive")
        self.path = knowledge_path(project)
        self.max_chars = max_chars
        self._lock = anyio.Lock()

    async def read(self) -> str:
        """The newest entries that fit in ``max_chars``, oldest first; "" when there are none."""
        text = await anyio.to_thread.run_sync(self._read_text)
        kept: list[str] = []
        budget = self.max_chars
        for line in reversed(_entries(text)):
            budget -= len(line) + 1
            if budget < 0:
                break
            kept.append(line)
        return "".join(f"{line}\n" for line in reversed(kept))

    async def add(self, entries: Sequence[str], *, source: str) -> int:
        """Append ``entries`` found by ``source`` (e.g. ``"worker u03"``); returns how many.

        Each entry becomes one line ``- <text> (<source>, <date>)``: newlines are
        folded, long entries cut to :data:`MAX_ENTRY_CHARS`. Blank entries and
        ones already in the file (or earlier in ``entries``), compared without
        case or extra whitespace, are skipped.
        """
        cleaned = [_one_line(entry, MAX_ENTRY_CHARS) for entry in entries]
        cleaned = [entry for entry in cleaned if entry]
        if not cleaned:
            return 0
        label = _one_line(source, _MAX_SOURCE_CHARS).replace("(", "[").replace(")", "]")
        async with self._lock:
            return await anyio.to_thread.run_sync(self._append, cleaned, label or "unknown")

    def _read_text(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def _append(self, entries: list[str], source: str) -> int:
        directory = self.path.parent
        ensure_private_dir(directory)
        with _flocked(directory):
            self._remove_leftovers(directory)
            text = self._read_text()
            known = _known(text)
            today = dt.datetime.now(dt.UTC).date().isoformat()
            lines = []
            for entry in entries:
                if _key(entry) not in known:
                    known.add(_key(entry))
                    lines.append(f"- {entry} ({source}, {today})\n")
            if not lines:
                return 0
            if not text:
                text = _HEADER
            elif not text.endswith("\n"):
                text += "\n"
            data = (text + "".join(lines)).encode()
            replace_private_file(self.path, data, temporary_prefix=_TMP_PREFIX)
            return len(lines)

    @staticmethod
    def _remove_leftovers(directory: Path) -> None:
        # Only a writer holding the flock has a temporary file, so any found
        # now was left by one that died between writing and renaming.
        for entry in os.scandir(directory):
            if entry.name.startswith(_TMP_PREFIX) and entry.name.endswith(".tmp"):
                Path(entry.path).unlink(missing_ok=True)
