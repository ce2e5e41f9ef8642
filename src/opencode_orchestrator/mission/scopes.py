"""File scopes: which paths a unit may change, and which units may touch the same file.

A unit's scope (:attr:`~opencode_orchestrator.mission.contracts.UnitSpec.files`)
is a list of paths or globs relative to the project, matched with
:func:`wcmatch.glob.globmatch` under :data:`GLOB_FLAGS`: ``**`` spans
directories, ``*``, ``?`` and ``[...]`` stay inside one component, and they
also match names starting with a dot. A *literal* entry (no glob character)
names a file or a directory: it covers that path and everything below it.

:func:`scopes_overlap` is conservative: it may say two scopes overlap when no
file is in both, never the reverse, because the scheduler uses it to keep
units that could write the same file from running at once.
:class:`ScopeIndex` answers the same question for one unit against thousands
without comparing every pair.

All of it assumes scopes that passed
:func:`~opencode_orchestrator.mission.plan.validate_plan` (relative, no
``..``, no backslash).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final, NamedTuple

from wcmatch import glob

__all__ = [
    "GLOB_FLAGS",
    "ScopeIndex",
    "is_literal",
    "literal_prefix",
    "normalize_scope",
    "scope_matches",
    "scopes_overlap",
]

GLOB_FLAGS: Final = glob.GLOBSTAR | glob.DOTGLOB | glob.FORCEUNIX
"""How scope globs are matched (case-sensitive, POSIX separators whatever the host)."""

# The backslash is wcmatch's escape character: validated scopes have none, but
# counting it as magic keeps the literal shortcuts below sound if one slips in.
_MAGIC: Final = frozenset("*?[\\")
# What may close or open a glob token; the characters after the last of these
# in a component are plain text every match must end with.
_TOKEN_EDGE: Final = frozenset("*?[]\\")


def normalize_scope(pattern: str) -> str:
    """``pattern`` cleaned up lexically: no ``.`` components, no doubled or trailing ``/``.

    ``./src//a.py/`` becomes ``src/a.py``; ``.`` becomes the empty string. A
    leading ``/`` is kept, so an absolute path stays recognisable. Nothing is
    validated or resolved (``..`` stays).
    """
    parts = [part for part in pattern.split("/") if part not in ("", ".")]
    joined = "/".join(parts)
    return "/" + joined if pattern.startswith("/") else joined


def is_literal(pattern: str) -> bool:
    """Whether ``pattern`` has no glob character (so it names one file or directory)."""
    return _MAGIC.isdisjoint(pattern)


def literal_prefix(pattern: str) -> tuple[str, ...]:
    """The components of the normalised ``pattern`` before its first one with a glob character."""
    prefix: list[str] = []
    for part in normalize_scope(pattern).split("/"):
        if not is_literal(part):
            break
        prefix.append(part)
    return tuple(prefix)


class _Pattern(NamedTuple):
    """One scope entry, split once for the overlap tests."""

    parts: tuple[str, ...]
    literal: bool
    prefix: tuple[str, ...]


def _parse(pattern: str) -> _Pattern | None:
    # An entry that normalises to nothing ("", ".") names no file: it covers nothing.
    normal = normalize_scope(pattern)
    if not normal:
        return None
    parts = tuple(normal.split("/"))
    literal = is_literal(normal)
    return _Pattern(parts, literal, parts if literal else literal_prefix(normal))


def _parse_scope(scope: Iterable[str]) -> tuple[_Pattern, ...]:
    return tuple(parsed for parsed in map(_parse, scope) if parsed is not None)


def scope_matches(scope: Sequence[str], path: str) -> bool:
    """Whether ``scope`` lets a unit change ``path`` (relative to the project).

    A literal entry covers itself and everything below it; a glob covers what
    it matches. A path that is absolute or climbs out with ``..`` is in no scope.
    """
    normal = normalize_scope(path)
    if not normal or normal.startswith("/") or ".." in normal.split("/"):
        return False
    for pattern in _parse_scope(scope):
        text = "/".join(pattern.parts)
        if pattern.literal:
            if normal == text or normal.startswith(text + "/"):
                return True
        elif glob.globmatch(normal, text, flags=GLOB_FLAGS):
            return True
    return False


def _runs(component: str) -> tuple[str, str]:
    """The plain text every match of a glob ``component`` starts and ends with."""
    start = next((i for i, char in enumerate(component) if char in _MAGIC), len(component))
    end = max((i for i, char in enumerate(component) if char in _TOKEN_EDGE), default=-1)
    return component[:start], component[end + 1 :]


def _components_compatible(a: str, b: str) -> bool:
    """Whether one path component may match both ``a`` and ``b`` (never a false ``False``)."""
    a_literal, b_literal = is_literal(a), is_literal(b)
    if a_literal and b_literal:
        return a == b
    if a_literal or b_literal:
        name, pattern = (a, b) if a_literal else (b, a)
        return glob.globmatch(name, pattern, flags=GLOB_FLAGS)
    # Two globs: deciding whether they intersect is costly; their fixed starts
    # and ends clash cheaply often enough ("*.py" against "*.md").
    a_start, a_end = _runs(a)
    b_start, b_end = _runs(b)
    starts_agree = a_start.startswith(b_start) or b_start.startswith(a_start)
    ends_agree = a_end.endswith(b_end) or b_end.endswith(a_end)
    return starts_agree and ends_agree


def _patterns_overlap(p: _Pattern, q: _Pattern) -> bool:
    # Walk both component by component: without "**", a glob component matches
    # exactly one path component, so any path both cover agrees with both here.
    p_parts, q_parts = p.parts, q.parts
    for i in range(max(len(p_parts), len(q_parts))):
        if i == len(p_parts):
            return p.literal or _may_match_nothing(q_parts[i:])
        if i == len(q_parts):
            return q.literal or _may_match_nothing(p_parts[i:])
        a, b = p_parts[i], q_parts[i]
        if "**" in a or "**" in b:
            return True  # a globstar absorbs any number of components: give up, overlap
        if not _components_compatible(a, b):
            return False
    return True


def _may_match_nothing(rest: Sequence[str]) -> bool:
    """Whether the trailing components ``rest`` of a glob may match zero path components."""
    return all("**" in part for part in rest)


def _parsed_overlap(a: Sequence[_Pattern], b: Sequence[_Pattern]) -> bool:
    return any(_patterns_overlap(p, q) for p in a for q in b)


def scopes_overlap(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether some file may be in both scopes ``a`` and ``b``.

    Never ``False`` when a path is in both (by :func:`scope_matches`); may be
    ``True`` when none is, for globs too costly to compare exactly. An empty
    scope writes nothing, so it overlaps nothing.
    """
    return _parsed_overlap(_parse_scope(a), _parse_scope(b))


class _Node:
    """A trie node: one path component of some entries' literal prefixes."""

    __slots__ = ("children", "units")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.units: set[str] = set()


class ScopeIndex:
    """The units' scopes, indexed so that a unit's conflicts are found without a full scan.

    Each scope entry is filed in a trie under its literal prefix (its
    components before the first glob character). Two entries can only overlap
    if one prefix is a prefix of the other, so the candidates for a unit are
    the entries on the trie path to each of its prefixes and in the subtrees
    below them; only those are compared with :func:`scopes_overlap`.
    """

    def __init__(self, units: Mapping[str, Sequence[str]] | None = None) -> None:
        self._root = _Node()
        self._scopes: dict[str, tuple[_Pattern, ...]] = {}
        for unit_id, scope in (units or {}).items():
            self.add(unit_id, scope)

    def __len__(self) -> int:
        return len(self._scopes)

    def __contains__(self, unit_id: object) -> bool:
        return unit_id in self._scopes

    def add(self, unit_id: str, scope: Sequence[str]) -> None:
        """Index ``unit_id`` with ``scope`` (replacing the scope it had, if any)."""
        if unit_id in self._scopes:
            self.remove(unit_id)
        patterns = _parse_scope(scope)
        self._scopes[unit_id] = patterns
        for pattern in patterns:
            node = self._root
            for part in pattern.prefix:
                node = node.children.setdefault(part, _Node())
            node.units.add(unit_id)

    def remove(self, unit_id: str) -> None:
        """Forget ``unit_id``; :class:`KeyError` if it is not indexed."""
        # Once per prefix: two entries may share one, and the first pass may prune it.
        for prefix in dict.fromkeys(pattern.prefix for pattern in self._scopes.pop(unit_id)):
            path = [self._root]
            for part in prefix:
                path.append(path[-1].children[part])
            path[-1].units.discard(unit_id)
            # Prune the branch it leaves empty, so the trie does not only grow.
            for depth in range(len(prefix), 0, -1):
                node = path[depth]
                if node.units or node.children:
                    break
                del path[depth - 1].children[prefix[depth - 1]]

    def conflicts(self, unit_id: str) -> frozenset[str]:
        """The other indexed units whose scopes overlap ``unit_id``'s (:func:`scopes_overlap`)."""
        mine = self._scopes[unit_id]
        candidates: set[str] = set()
        for pattern in mine:
            candidates.update(self._candidates(pattern.prefix))
        candidates.discard(unit_id)
        return frozenset(c for c in candidates if _parsed_overlap(mine, self._scopes[c]))

    def _candidates(self, prefix: tuple[str, ...]) -> set[str]:
        """Units with an entry whose literal prefix is prefix-related to ``prefix``."""
        found: set[str] = set(self._root.units)
        node = self._root
        for part in prefix:
            child = node.children.get(part)
            if child is None:
                return found  # nothing is filed at or below prefix; its ancestors are collected
            node = child
            found.update(node.units)
        stack = list(node.children.values())
        while stack:
            below = stack.pop()
            found.update(below.units)
            stack.extend(below.children.values())
        return found
