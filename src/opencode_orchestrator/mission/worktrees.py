"""Git worktrees for racing a unit, and the project's change for review and progress.

A unit raced by k strategies runs each strategy in a worktree of its own,
started from the project's *current* state (uncommitted and untracked changes
included); the first verified one wins and its change is applied back::

    create_worktree ──► worker edits ──► worktree_patch ──► apply_patch(project)
                                                       └──► remove_worktree

The starting state is committed inside the worktree (on its detached HEAD, so
no branch is created), which makes :func:`worktree_patch` exactly the
strategy's own change. :func:`project_diff` is what the master reviewer reads;
:func:`diff_fingerprint` tells the engine whether a round changed anything.

Two rules hold throughout:

* Untracked files under ``.opencode/`` (the orchestrator's state, OpenCode's
  own files) are never copied, listed, hashed or carried in a patch, and
  ``.opencode/orchestrator/`` is left out of every diff.
* Git runs through :func:`anyio.run_process`, never on the event loop, with
  the user's diff configuration (external diff, colour, prefixes, textconv)
  and hooks overridden, so a patch is always one that ``git apply`` takes.
  Any failure is a :class:`WorktreeError` naming the command and its stderr.

The worktree functions expect ``project`` to be the repository's top level.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Final

import anyio

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.errors import WorktreeError

__all__ = [
    "GIT_DIFF",
    "SCOPE",
    "WORKTREES_DIR",
    "PatchConflictError",
    "apply_patch",
    "create_worktree",
    "diff_fingerprint",
    "empty_tree",
    "head_commit",
    "is_git_repo",
    "project_diff",
    "remove_worktree",
    "run_git",
    "untracked_files",
    "worktree_patch",
]

WORKTREES_DIR: Final = Path(".opencode", "orchestrator", "worktrees")
"""Where worktrees live, relative to the project."""

_NAME: Final = re.compile(r"[A-Za-z0-9._-]+")
_OPENCODE: Final = ".opencode/"
_SKIPPED_DIRS: Final = frozenset({".git", ".opencode"})
SCOPE: Final = (".", ":(exclude).opencode/orchestrator")
"""Pathspecs, relative to the project, of everything outside the orchestrator's own state."""
GIT_DIFF: Final = (
    "diff",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--ignore-submodules=dirty",
)
"""``git diff`` whatever the user's configuration says (a patch ``git apply`` takes)."""
_APPLY: Final = ("apply", "--binary", "--whitespace=nowarn")
_COMMIT: Final = (
    *("-c", "user.name=orchestrator", "-c", "user.email=orchestrator@localhost"),
    *("-c", "commit.gpgsign=false", "-c", f"core.hooksPath={os.devnull}"),
    *("commit", "--no-verify", "--allow-empty", "-qam"),
)
# Variables that would point git at another repository than the one given with -C.
_GIT_LOCATION_VARS: Final = frozenset(
    {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY"}
)

_log = get_logger(__name__)


class PatchConflictError(WorktreeError):
    """A patch does not apply to the project: it conflicts with what is there now.

    ``files`` are the paths git named as conflicting (relative to the project,
    in git's order; empty if its message named none).
    """

    def __init__(self, message: str, files: tuple[str, ...]) -> None:
        super().__init__(message)
        self.files = files


def _conflicting_files(stderr: str) -> tuple[str, ...]:
    """The paths named by ``git apply --check``'s ``error:`` lines, each once."""
    files: dict[str, None] = {}
    for line in stderr.splitlines():
        if not line.startswith("error: "):
            continue
        rest = line.removeprefix("error: ")
        if rest.startswith("patch failed: "):
            # "patch failed: <path>:<line>"
            name = rest.removeprefix("patch failed: ").rsplit(":", 1)[0]
        elif ": " in rest:
            # "<path>: already exists in working directory", "<path>: patch does not apply"
            name = rest.rsplit(": ", 1)[0]
        else:
            continue
        files.setdefault(name, None)
    return tuple(files)


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARS}
    # Reads must not take index.lock: racers and the engine run git concurrently.
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


async def run_git(
    directory: Path, *args: str, stdin: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """``git -C directory *args``, off the event loop.

    Variables that would point git at another repository are dropped, and
    reads take no optional lock (racers and the engine run git at once).

    Raises:
        WorktreeError: git is not installed or could not be run, or (``check``)
            it exited non-zero (the message names the command and its stderr).
    """
    command = ["git", "-C", str(directory), *args]
    try:
        result = await anyio.run_process(command, input=stdin, check=False, env=_git_env())
    except FileNotFoundError as exc:
        raise WorktreeError("git is not installed (no `git` on PATH)") from exc
    except OSError as exc:
        raise WorktreeError(f"`{shlex.join(command)}` could not be run: {exc}") from exc
    if check and result.returncode != 0:
        stderr = result.stderr.decode("utf-8", errors="replace").strip()
        raise WorktreeError(
            f"`{shlex.join(command)}` failed with exit code {result.returncode}: {stderr}"
        )
    return result


async def is_git_repo(path: Path) -> bool:
    """Whether ``path`` is inside a git work tree (False if it does not exist).

    Raises:
        WorktreeError: git is not installed.
    """
    if not await anyio.to_thread.run_sync(path.is_dir):
        return False
    result = await run_git(path, "rev-parse", "--is-inside-work-tree", check=False)
    return result.returncode == 0 and result.stdout.strip() == b"true"


async def head_commit(project: Path) -> str | None:
    """HEAD's commit id; ``None`` in a repository without a commit yet.

    Raises:
        WorktreeError: git is not installed.
    """
    head = await run_git(project, "rev-parse", "--verify", "-q", "HEAD", check=False)
    return head.stdout.decode().strip() if head.returncode == 0 else None


async def empty_tree(project: Path) -> str:
    """The id of the empty tree in the repository's own hash (SHA-1 or SHA-256).

    Raises:
        WorktreeError: git failed.
    """
    empty = await run_git(project, "hash-object", "-t", "tree", "--stdin", stdin=b"")
    return empty.stdout.decode().strip()


async def _base(project: Path) -> str:
    """HEAD, or the empty tree in a repository without a commit yet."""
    return await head_commit(project) or await empty_tree(project)


async def untracked_files(project: Path) -> list[str]:
    """Untracked, non-ignored files relative to ``project``, sorted, none under ``.opencode/``.

    A nested repository (listed by git as ``name/``) is left out: it is not a
    file that can be carried, hashed or counted.

    Raises:
        WorktreeError: git is missing or failed.
    """
    out = await run_git(project, "ls-files", "--others", "--exclude-standard", "-z")
    names = [os.fsdecode(raw) for raw in out.stdout.split(b"\0") if raw]
    # A trailing slash is a nested repository: not a file we can carry or hash.
    return sorted(n for n in names if not n.startswith(_OPENCODE) and not n.endswith("/"))


def _copy_files(source: Path, target: Path, names: list[str]) -> None:
    for name in names:
        src, dst = source / name, target / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        elif src.is_file():
            shutil.copy2(src, dst)
        # Else it vanished since it was listed: nothing to carry.


async def _discard(project: Path, path: Path) -> None:
    """Remove a worktree whose creation failed, without masking why it failed."""
    with anyio.CancelScope(shield=True):
        try:
            await remove_worktree(project, path)
        except WorktreeError as exc:
            _log.warning("worktree.cleanup_failed", worktree=str(path), error=str(exc))


async def create_worktree(project: Path, name: str) -> Path:
    """A detached worktree at ``project/.opencode/orchestrator/worktrees/<name>``.

    It starts from the project's current state: HEAD, plus the uncommitted
    changes to tracked files, plus untracked, non-ignored files (none under
    ``.opencode/``). That state is committed on the worktree's detached HEAD,
    so :func:`worktree_patch` later returns only what was done in it.

    Raises:
        ValueError: ``name`` is not ``[A-Za-z0-9._-]+`` (or is ``.``/``..``).
        WorktreeError: not the top level of a git repository with a commit,
            the worktree exists already, or a git command failed.
    """
    if not _NAME.fullmatch(name) or name in {".", ".."}:
        raise ValueError(f"invalid worktree name {name!r}: expected [A-Za-z0-9._-]+")
    if not await is_git_repo(project):
        raise WorktreeError(f"{project} is not a git repository: cannot create a worktree")
    prefix = await run_git(project, "rev-parse", "--show-prefix")
    if prefix.stdout.strip():
        raise WorktreeError(f"{project} is not the top level of its git repository")
    path = project / WORKTREES_DIR / name
    if await anyio.to_thread.run_sync(os.path.lexists, path):
        raise WorktreeError(f"worktree {path} exists already")
    await anyio.to_thread.run_sync(lambda: path.parent.mkdir(parents=True, exist_ok=True))
    try:
        await run_git(project, "worktree", "add", "--detach", str(path), "HEAD")
    except WorktreeError:
        raise  # git undid its own partial work (and the path may be someone else's)
    except BaseException:
        await _discard(project, path)  # cancelled mid-checkout
        raise
    try:
        changes = await run_git(project, *GIT_DIFF, "--binary", "HEAD", "--", *SCOPE)
        if changes.stdout:
            await run_git(path, *_APPLY, stdin=changes.stdout)
        untracked = await untracked_files(project)
        await anyio.to_thread.run_sync(_copy_files, project, path, untracked)
        await run_git(path, "add", "-A")
        await run_git(path, *_COMMIT, f"orchestrator: starting state of worktree {name}")
    except BaseException:
        await _discard(project, path)
        raise
    _log.info("worktree.created", project=str(project), worktree=str(path))
    return path


async def worktree_patch(worktree: Path) -> bytes:
    """The change made in ``worktree`` since its creation, new files included, as a patch.

    New files under ``.opencode/`` are left out (tracked ones that changed are
    not): they are the tools' state, not the strategy's work.

    Raises:
        WorktreeError: a git command failed.
    """
    await run_git(worktree, "add", "-u")
    await run_git(worktree, "add", "-A", "--", ".", ":(exclude).opencode")
    patch = await run_git(worktree, *GIT_DIFF, "--binary", "--cached", "HEAD", "--", *SCOPE)
    return patch.stdout


async def apply_patch(project: Path, patch: bytes) -> None:
    """Apply ``patch`` (from :func:`worktree_patch`) to the project's working tree.

    All or nothing: the patch is checked first, and a conflict leaves the
    project untouched. An empty patch does nothing.

    Raises:
        PatchConflictError: the patch does not apply (the message has git's
            reasons, ``files`` the paths it named).
        WorktreeError: git is missing or could not be run.
    """
    if not patch:
        return
    checked = await run_git(project, *_APPLY, "--check", stdin=patch, check=False)
    if checked.returncode != 0:
        stderr = checked.stderr.decode("utf-8", errors="replace").strip()
        command = shlex.join(["git", "-C", str(project), *_APPLY, "--check"])
        raise PatchConflictError(
            f"`{command}` failed with exit code {checked.returncode}: {stderr}",
            _conflicting_files(stderr),
        )
    # Once started, let it finish: a git apply killed half-way leaves the
    # project half-patched.
    with anyio.CancelScope(shield=True):
        await run_git(project, *_APPLY, stdin=patch)
    _log.info("worktree.patch_applied", project=str(project), bytes=len(patch))


def _is_ours(project: Path, worktree: Path) -> bool:
    return (project / WORKTREES_DIR).resolve() in worktree.resolve().parents


async def remove_worktree(project: Path, worktree: Path) -> None:
    """Remove ``worktree`` and git's record of it; a worktree already gone is fine.

    Only the orchestrator's own worktrees (under :data:`WORKTREES_DIR`) are
    removed, with whatever uncommitted work they hold.

    Raises:
        WorktreeError: ``worktree`` is not under the project's
            :data:`WORKTREES_DIR`, or git failed.
    """
    if not await anyio.to_thread.run_sync(_is_ours, project, worktree):
        raise WorktreeError(f"cannot remove {worktree}: not under {project / WORKTREES_DIR}")
    removed = await run_git(project, "worktree", "remove", "--force", str(worktree), check=False)
    if removed.returncode != 0 and await anyio.to_thread.run_sync(os.path.lexists, worktree):
        # Git does not know it (a creation cut short, say): delete it ourselves.
        await anyio.to_thread.run_sync(shutil.rmtree, worktree)
    await run_git(project, "worktree", "prune")
    _log.info("worktree.removed", project=str(project), worktree=str(worktree))


def _walk(project: Path) -> Iterator[Path]:
    """Every file and symlink under ``project``, sorted, outside ``.git``/``.opencode``."""
    for root, dirs, files in os.walk(project):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        here = Path(root)
        # Symlinked directories are not descended into: listed like files.
        links = [d for d in dirs if (here / d).is_symlink()]
        dirs[:] = [d for d in dirs if d not in links]
        for name in sorted([*files, *links]):
            yield here / name


def _listing(project: Path) -> str:
    return "\n".join(str(path.relative_to(project)) for path in _walk(project))


def _truncate(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = len(text) - max_chars
    return f"{text[:max_chars]}\n[truncated: {cut} of {len(text)} characters cut]\n"


async def project_diff(project: Path, *, max_chars: int = 60_000) -> str:
    """The project's current change as text, for the master reviewer.

    In a git repository: the names of untracked files (none under
    ``.opencode/``), then ``git diff`` against HEAD. Otherwise, a note that
    no diff is available and the list of files. Either way at most
    ``max_chars`` characters, plus a note saying how much was cut.

    Raises:
        WorktreeError: git is missing or a git command failed.
    """
    if not await is_git_repo(project):
        files = await anyio.to_thread.run_sync(_listing, project)
        text = f"(not a git repository: no diff is available)\nFiles in the project:\n{files}\n"
        return _truncate(text, max_chars)
    base = await _base(project)
    untracked = await untracked_files(project)
    diff = await run_git(project, *GIT_DIFF, "--relative", base, "--", *SCOPE)
    parts = []
    if untracked:
        parts.append("Untracked files:\n" + "".join(f"  {name}\n" for name in untracked))
    parts.append(diff.stdout.decode("utf-8", errors="replace") or "(no changes to tracked files)\n")
    return _truncate("\n".join(parts), max_chars)


def _field(update: Callable[[bytes], object], data: bytes) -> None:
    # Length-prefixed, so no two different sequences of fields hash alike.
    update(len(data).to_bytes(8, "big"))
    update(data)


def _files_digest(project: Path, paths: Iterable[Path]) -> bytes:
    """A digest of the files' paths (relative to ``project``) and contents."""
    digest = hashlib.sha256()
    for path in paths:
        _field(digest.update, os.fsencode(path.relative_to(project)))
        if path.is_symlink():
            _field(digest.update, b"link:" + os.fsencode(os.readlink(path)))
        elif path.is_file():
            content = hashlib.sha256()
            with path.open("rb") as file:
                while chunk := file.read(1 << 20):
                    content.update(chunk)
            _field(digest.update, b"file:" + content.digest())
        else:
            _field(digest.update, b"gone")
    return digest.digest()


async def diff_fingerprint(project: Path) -> str:
    """A sha256 hex digest of the project's current change, for no-progress detection.

    The same fingerprint twice means nothing changed in between. In a git
    repository it covers HEAD, the diff against it and the untracked files
    (names and contents); otherwise every file's path and content. Files are
    read in a worker thread.

    Raises:
        WorktreeError: git is missing or a git command failed.
    """
    digest = hashlib.sha256()
    if not await is_git_repo(project):
        files = await anyio.to_thread.run_sync(lambda: _files_digest(project, _walk(project)))
        _field(digest.update, files)
        return digest.hexdigest()
    base = await _base(project)
    diff = await run_git(project, *GIT_DIFF, "--binary", base, "--", *SCOPE)
    untracked = await untracked_files(project)
    files = await anyio.to_thread.run_sync(
        _files_digest, project, [project / name for name in untracked]
    )
    for field in (base.encode(), diff.stdout, files):
        _field(digest.update, field)
    return digest.hexdigest()
