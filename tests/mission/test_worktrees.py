"""Worktrees for racing, patches back to the project, diffs and fingerprints, on real git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from opencode_orchestrator.mission.errors import WorktreeError
from opencode_orchestrator.mission.worktrees import (
    WORKTREES_DIR,
    apply_patch,
    create_worktree,
    diff_fingerprint,
    is_git_repo,
    project_diff,
    remove_worktree,
    worktree_patch,
)

pytestmark = pytest.mark.anyio


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "commit.gpgsign", "false")
    (root / ".gitignore").write_text("*.log\n")
    (root / "a.txt").write_text("one\ntwo\nthree\n")
    (root / "b.txt").write_text("bee\n")
    (root / "gone.txt").write_text("to be deleted\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "initial")
    return root


def files(root: Path) -> dict[str, bytes]:
    """Every file outside .git and .opencode, with its content."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and not {".git", ".opencode"} & set(path.relative_to(root).parts)
        and path.name != ".git"
    }


async def test_is_git_repo(project: Path, tmp_path: Path) -> None:
    assert await is_git_repo(project)
    plain = tmp_path / "plain"
    plain.mkdir()
    assert not await is_git_repo(plain)
    assert not await is_git_repo(tmp_path / "missing")


async def test_worktree_starts_from_the_current_state(project: Path) -> None:
    (project / "a.txt").write_text("one\nTWO\nthree\n")  # modified, unstaged
    (project / "staged.txt").write_text("staged\n")
    git(project, "add", "staged.txt")  # new, staged only
    (project / "gone.txt").unlink()  # deleted
    (project / "sub").mkdir()
    (project / "sub" / "new.bin").write_bytes(b"\x00\x01\xff")  # untracked
    (project / "debug.log").write_text("ignored\n")
    (project / ".opencode" / "orchestrator").mkdir(parents=True)
    (project / ".opencode" / "orchestrator" / "state").write_text("ours\n")
    head = git(project, "rev-parse", "HEAD").strip()
    branches = git(project, "branch", "--list")

    worktree = await create_worktree(project, "unit-1.a")

    assert worktree == project / WORKTREES_DIR / "unit-1.a"
    expected = files(project)
    del expected["debug.log"]
    assert files(worktree) == expected
    assert not (worktree / ".opencode").exists()
    # The starting state is a commit on a detached HEAD, child of the project's HEAD.
    assert git(worktree, "rev-parse", "HEAD~1").strip() == head
    assert git(worktree, "status", "--porcelain") == ""
    assert git(project, "branch", "--list") == branches
    assert await worktree_patch(worktree) == b""


async def test_patch_from_a_worktree_applies_to_the_project(project: Path) -> None:
    (project / "b.txt").write_text("bee, uncommitted\n")
    worktree = await create_worktree(project, "w")
    (worktree / "a.txt").write_text("one\ntwo\nthree\nfour\n")
    (worktree / "gone.txt").unlink()
    (worktree / "pkg").mkdir()
    (worktree / "pkg" / "mod.py").write_text("x = 1\n")
    (worktree / "blob.bin").write_bytes(bytes(range(256)) * 4)
    (worktree / ".opencode").mkdir()
    (worktree / ".opencode" / "tool-state").write_text("not the strategy's work\n")

    patch = await worktree_patch(worktree)
    await apply_patch(project, patch)

    assert files(project) == files(worktree)
    assert (project / "b.txt").read_text() == "bee, uncommitted\n"
    assert b"tool-state" not in patch
    assert not (project / ".opencode" / "tool-state").exists()


async def test_patch_survives_user_diff_configuration_and_hooks(project: Path) -> None:
    git(project, "config", "diff.noprefix", "true")
    git(project, "config", "color.ui", "always")
    git(project, "config", "diff.mnemonicPrefix", "true")
    hook = project / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    (project / "a.txt").write_text("changed\n")
    worktree = await create_worktree(project, "w")
    (worktree / "b.txt").write_text("changed too\n")
    await apply_patch(project, await worktree_patch(worktree))
    assert (project / "b.txt").read_text() == "changed too\n"


async def test_conflicting_patch_raises_and_leaves_the_project_untouched(project: Path) -> None:
    worktree = await create_worktree(project, "w")
    (worktree / "a.txt").write_text("one\nfrom the worktree\nthree\n")
    (worktree / "b.txt").write_text("would apply on its own\n")
    patch = await worktree_patch(worktree)
    (project / "a.txt").write_text("one\nfrom the project\nthree\n")
    before = files(project)

    with pytest.raises(WorktreeError, match=r"git -C .* apply") as caught:
        await apply_patch(project, patch)

    assert caught.value.code == "mission.worktree"
    assert "a.txt" in str(caught.value)
    assert files(project) == before


async def test_empty_patch_is_a_no_op(project: Path) -> None:
    before = files(project)
    await apply_patch(project, b"")
    assert files(project) == before


async def test_remove_is_idempotent(project: Path) -> None:
    worktree = await create_worktree(project, "w")
    (worktree / "dirty.txt").write_text("uncommitted work\n")
    await remove_worktree(project, worktree)
    assert not worktree.exists()
    await remove_worktree(project, worktree)
    assert git(project, "worktree", "list", "--porcelain").count("worktree ") == 1


async def test_remove_deletes_a_leftover_git_does_not_know(project: Path) -> None:
    leftover = project / WORKTREES_DIR / "half-made"
    leftover.mkdir(parents=True)
    (leftover / "file").write_text("x\n")
    await remove_worktree(project, leftover)
    assert not leftover.exists()


async def test_remove_refuses_a_directory_outside_the_worktrees(
    project: Path, tmp_path: Path
) -> None:
    other = tmp_path / "users-own-worktree"
    git(project, "worktree", "add", "-q", "--detach", str(other))
    for path in (project, other, project / WORKTREES_DIR / ".." / "escape"):
        with pytest.raises(WorktreeError, match="not under"):
            await remove_worktree(project, path)
    assert (project / "a.txt").exists()
    assert (other / "a.txt").exists()


async def test_create_refuses_bad_names_existing_worktrees_and_non_git(
    project: Path, tmp_path: Path
) -> None:
    for name in ("", "..", "a/b", "a b"):
        with pytest.raises(ValueError, match="invalid worktree name"):
            await create_worktree(project, name)
    await create_worktree(project, "w")
    with pytest.raises(WorktreeError, match="exists already"):
        await create_worktree(project, "w")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(WorktreeError, match="not a git repository"):
        await create_worktree(plain, "w")
    (project / "sub").mkdir()
    with pytest.raises(WorktreeError, match="top level"):
        await create_worktree(project / "sub", "x")


async def test_git_missing_is_a_worktree_error(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(WorktreeError, match="git is not installed"):
        await is_git_repo(project)


async def test_project_diff_shows_changes_and_untracked_names(project: Path) -> None:
    (project / "a.txt").write_text("one\nTWO\nthree\n")
    (project / "new.txt").write_text("new\n")
    (project / ".opencode").mkdir()
    (project / ".opencode" / "state").write_text("ours\n")
    text = await project_diff(project)
    assert "Untracked files:\n  new.txt\n" in text
    assert "-two\n+TWO\n" in text
    assert ".opencode" not in text


async def test_project_diff_truncates_with_a_note(project: Path) -> None:
    (project / "a.txt").write_text("x" * 10_000 + "\n")
    full = await project_diff(project)
    text = await project_diff(project, max_chars=1000)
    assert text.startswith(full[:1000])
    assert f"[truncated: {len(full) - 1000} of {len(full)} characters cut]" in text
    assert len(text) < 1100


async def test_project_diff_without_git_lists_files(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("print()\n")
    (tmp_path / "README").write_text("hi\n")
    for hidden in (".git", ".opencode"):
        (tmp_path / hidden).mkdir()
        (tmp_path / hidden / "x").write_text("x\n")
    text = await project_diff(tmp_path)
    assert "no diff is available" in text
    assert text.endswith("README\nsrc/main.py\n")
    assert ".git" not in text
    assert ".opencode" not in text


async def test_fingerprint_follows_the_change(project: Path) -> None:
    clean = await diff_fingerprint(project)
    assert await diff_fingerprint(project) == clean

    (project / "a.txt").write_text("edited\n")
    edited = await diff_fingerprint(project)
    assert edited != clean
    assert await diff_fingerprint(project) == edited

    (project / "new.txt").write_text("v1\n")
    untracked = await diff_fingerprint(project)
    assert untracked != edited
    (project / "new.txt").write_text("v2\n")
    assert await diff_fingerprint(project) != untracked
    (project / "new.txt").write_text("v1\n")
    assert await diff_fingerprint(project) == untracked

    # Neither ignored files nor the orchestrator's own state are progress.
    (project / "run.log").write_text("noise\n")
    (project / ".opencode" / "orchestrator").mkdir(parents=True)
    (project / ".opencode" / "orchestrator" / "wal").write_text("record\n")
    assert await diff_fingerprint(project) == untracked

    # A commit of the change is a change too.
    git(project, "add", "-A")
    git(project, "commit", "-qm", "work")
    assert await diff_fingerprint(project) != untracked


async def test_fingerprint_and_diff_in_a_repository_without_commits(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "first.txt").write_text("first\n")
    before = await diff_fingerprint(tmp_path)
    assert "Untracked files:\n  first.txt\n" in await project_diff(tmp_path)
    (tmp_path / "first.txt").write_text("changed\n")
    assert await diff_fingerprint(tmp_path) != before


async def test_fingerprint_without_git(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a\n")
    first = await diff_fingerprint(tmp_path)
    assert await diff_fingerprint(tmp_path) == first
    (tmp_path / ".opencode").mkdir()
    (tmp_path / ".opencode" / "state").write_text("ours\n")
    assert await diff_fingerprint(tmp_path) == first
    (tmp_path / "a.txt").write_text("b\n")
    assert await diff_fingerprint(tmp_path) != first
    (tmp_path / "a.txt").write_text("a\n")
    assert await diff_fingerprint(tmp_path) == first
    (tmp_path / "b.txt").write_text("")
    assert await diff_fingerprint(tmp_path) != first
