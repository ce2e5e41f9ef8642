"""The project knowledge file: round trip, dedupe, truncation, permissions, concurrent adds."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import anyio
import pytest

from opencode_orchestrator.mission.knowledge import MAX_ENTRY_CHARS, KnowledgeFile, knowledge_path

pytestmark = pytest.mark.anyio


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


async def test_a_missing_file_reads_as_empty(tmp_path: Path) -> None:
    knowledge = KnowledgeFile(tmp_path)
    assert await knowledge.read() == ""
    assert not knowledge.path.parent.exists()  # reading creates nothing


async def test_entries_round_trip_with_source_and_date(tmp_path: Path) -> None:
    knowledge = KnowledgeFile(tmp_path)
    added = await knowledge.add(
        ["Tests run with `pytest -q`.", "Config lives in {root}/conf ($HOME is not used)."],
        source="worker u03",
    )
    assert added == 2
    assert knowledge.path == tmp_path / ".opencode" / "orchestrator" / "knowledge.md"
    assert await KnowledgeFile(tmp_path).read() == (
        f"- Tests run with `pytest -q`. (worker u03, {_today()})\n"
        f"- Config lives in {{root}}/conf ($HOME is not used). (worker u03, {_today()})\n"
    )
    assert knowledge.path.read_text().startswith("# Project knowledge\n")


async def test_duplicates_and_blanks_are_skipped(tmp_path: Path) -> None:
    knowledge = KnowledgeFile(tmp_path)
    assert await knowledge.add(["Use  ruff\nfor lint", "", "   \n"], source="planner") == 1
    again = ["use ruff for LINT", "USE RUFF  FOR LINT ", "New fact", "new   fact"]
    assert await knowledge.add(again, source="worker u01") == 1
    assert await knowledge.add([], source="x") == 0
    assert await knowledge.read() == (
        f"- Use ruff for lint (planner, {_today()})\n- New fact (worker u01, {_today()})\n"
    )


async def test_entries_are_one_line_and_capped(tmp_path: Path) -> None:
    knowledge = KnowledgeFile(tmp_path)
    await knowledge.add(["x" * 5000, "a\nb\r\nc\td"], source="work(er)\nu9")
    lines = (await knowledge.read()).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("- " + "x" * (MAX_ENTRY_CHARS - 1) + "… (work[er] u9, ")
    assert lines[1] == f"- a b c d (work[er] u9, {_today()})"


async def test_read_keeps_the_newest_entries_within_max_chars(tmp_path: Path) -> None:
    writer = KnowledgeFile(tmp_path)
    for n in range(20):
        await writer.add([f"fact number {n:02d}"], source="s")
    line = len(f"- fact number 00 (s, {_today()})\n")
    reader = KnowledgeFile(tmp_path, max_chars=5 * line + 3)
    text = await reader.read()
    assert len(text) <= reader.max_chars
    assert [entry.split()[3] for entry in text.splitlines()] == ["15", "16", "17", "18", "19"]
    assert await KnowledgeFile(tmp_path, max_chars=line - 1).read() == ""


async def test_hand_edits_are_kept_and_respected(tmp_path: Path) -> None:
    path = knowledge_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("# Notes\nsome prose\n- Never touch vendor/ (really)")  # no final newline
    knowledge = KnowledgeFile(tmp_path)
    added = await knowledge.add(["never touch VENDOR/ (really)", "Docs are in docs/"], source="me")
    assert added == 1
    text = path.read_text()
    assert text.startswith("# Notes\nsome prose\n- Never touch vendor/ (really)\n- Docs are in")
    assert await knowledge.read() == (
        f"- Never touch vendor/ (really)\n- Docs are in docs/ (me, {_today()})\n"
    )


async def test_file_and_directory_are_private(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        knowledge = KnowledgeFile(tmp_path)
        await knowledge.add(["secret-ish fact"], source="s")
    finally:
        os.umask(old)
    directory = knowledge.path.parent
    assert stat.S_IMODE(knowledge.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for entry in directory.iterdir():
        assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert sorted(p.name for p in directory.iterdir()) == ["knowledge.lock", "knowledge.md"]


async def test_a_dead_writers_temporary_file_is_removed(tmp_path: Path) -> None:
    knowledge = KnowledgeFile(tmp_path)
    await knowledge.add(["first"], source="s")
    leftover = knowledge.path.parent / ".knowledge.md.deadbeef.tmp"
    leftover.write_text("half")
    await knowledge.add(["second"], source="s")
    assert not leftover.exists()


async def test_concurrent_adds_from_two_instances_lose_nothing(tmp_path: Path) -> None:
    first, second = KnowledgeFile(tmp_path), KnowledgeFile(tmp_path)
    counts: list[int] = []

    async def add(knowledge: KnowledgeFile, name: str, n: int) -> None:
        counts.append(await knowledge.add([f"{name} fact {n}", f"shared fact {n}"], source=name))

    async with anyio.create_task_group() as tg:
        for n in range(40):
            tg.start_soon(add, first, "first", n)
            tg.start_soon(add, second, "second", n)
    entries = (await KnowledgeFile(tmp_path, max_chars=1_000_000).read()).splitlines()
    texts = {entry.rsplit(" (", 1)[0][2:] for entry in entries}
    expected = {f"{name} fact {n}" for name in ("first", "second") for n in range(40)}
    expected |= {f"shared fact {n}" for n in range(40)}
    assert texts == expected
    assert len(entries) == len(expected) == sum(counts)  # each shared fact added exactly once
    assert not list(knowledge_path(tmp_path).parent.glob("*.tmp"))
