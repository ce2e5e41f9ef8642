"""File scopes: matching, conservative overlap, and the index that finds conflicts."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wcmatch import glob

from opencode_orchestrator.mission.scopes import (
    GLOB_FLAGS,
    ScopeIndex,
    is_literal,
    literal_prefix,
    normalize_scope,
    scope_matches,
    scopes_overlap,
)


@pytest.mark.parametrize(
    ("scope", "path", "expected"),
    [
        (["src/a.py"], "src/a.py", True),
        (["src/a.py"], "./src//a.py", True),
        (["./src/a.py"], "src/a.py", True),
        (["src/a.py"], "src/a.pyc", False),
        (["src"], "src/deep/er/x.py", True),  # a literal may be a directory
        (["src/"], "src/x.py", True),
        (["src"], "srcx/a.py", False),
        (["src/*.py"], "src/a.py", True),
        (["src/*.py"], "src/sub/a.py", False),  # * stays inside one component
        (["src/*"], "src/sub/a.py", False),
        (["src/**/*.py"], "src/a.py", True),  # ** spans zero or more directories
        (["src/**/*.py"], "src/x/y/a.py", True),
        (["src/**"], "src/.hidden/x", True),  # dot files are not special
        (["*.md", "docs/**"], "docs/a/b.txt", True),
        (["src/[ab].py"], "src/c.py", False),
        (["src/**"], "src/../etc/passwd", False),
        (["**"], "/etc/passwd", False),
        (["."], "x", False),  # names no path: covers nothing
        ([], "x", False),
    ],
)
def test_scope_matches(scope: list[str], path: str, expected: bool) -> None:
    assert scope_matches(scope, path) is expected


def test_literal_helpers() -> None:
    assert is_literal("src/a.py")
    assert not is_literal("src/*.py")
    assert literal_prefix("./src/pkg/*.py") == ("src", "pkg")
    assert literal_prefix("src/a.py") == ("src", "a.py")
    assert literal_prefix("**/x") == ()
    assert normalize_scope("src//x/") == "src/x"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (["src/a.py"], ["src/a.py"], True),
        (["src/a.py"], ["./src/a.py"], True),
        (["src/a.py"], ["src/b.py"], False),
        (["src"], ["src/a.py"], True),
        (["src/a"], ["src/ab"], False),
        (["src/a.py"], ["src/*.py"], True),
        (["src/a.md"], ["src/*.py"], False),
        (["src/sub"], ["src/*.py"], False),
        (["src/sub"], ["src/*"], True),
        (["src/sub/a.py"], ["src/*"], False),
        (["src/x.py"], ["src/**/*.py"], True),
        (["docs/**"], ["src/**"], False),
        (["**/*.md"], ["src/a.py"], True),  # conservative: a globstar gives up
        (["src/*.py"], ["src/*.md"], False),
        (["src/test_*"], ["src/*_test"], True),
        (["src/a*"], ["src/b*"], False),
        (["src/*/x"], ["src/*/y"], False),
        (["src/*"], ["src/*/y"], False),
        (["src"], ["src/*/y"], True),
        (["src/**"], ["src"], True),
        ([], ["**"], False),  # an empty scope writes nothing
        (["."], ["**"], False),
        (["a.py", "docs/x.md"], ["b.py", "docs"], True),
    ],
)
def test_scopes_overlap(a: list[str], b: list[str], expected: bool) -> None:
    assert scopes_overlap(a, b) is expected
    assert scopes_overlap(b, a) is expected


def test_scope_index_add_remove_conflicts() -> None:
    index = ScopeIndex({"a": ["src/a.py"], "b": ["src/*.py"], "c": ["docs"], "d": []})
    assert len(index) == 4
    assert "a" in index
    assert index.conflicts("a") == {"b"}
    assert index.conflicts("b") == {"a"}
    assert index.conflicts("d") == frozenset()
    index.add("e", ["docs/x/y.md", "src"])
    assert index.conflicts("e") == {"a", "b", "c"}
    index.add("e", ["README.md"])  # a new scope replaces the old one
    assert index.conflicts("c") == frozenset()
    index.remove("a")
    assert "a" not in index
    assert index.conflicts("b") == frozenset()
    with pytest.raises(KeyError):
        index.remove("a")
    with pytest.raises(KeyError):
        index.conflicts("a")


def test_scope_index_of_ten_thousand_units() -> None:
    scopes: dict[str, list[str]] = {}
    for i in range(10_000):
        files = [f"pkg{i % 100}/mod{i}.py"]
        if i % 7 == 0:
            files.append(f"pkg{i % 100}/__init__.py")
        if i % 13 == 0:
            files.append(f"tests/test_mod{i % 50}.py")
        scopes[f"u{i}"] = files
    scopes["glob"] = ["pkg3/**/*.py"]
    scopes["dir"] = ["tests"]
    index = ScopeIndex(scopes)
    sample = [*random.Random(0).sample(sorted(scopes), 15), "u0", "u3", "glob", "dir"]
    for uid in sample:
        expected = {
            v for v, scope in scopes.items() if v != uid and scopes_overlap(scopes[uid], scope)
        }
        assert index.conflicts(uid) == expected, uid
    assert index.conflicts("u1") == set()
    assert "glob" in index.conflicts("u3")
    assert len(index.conflicts("dir")) == len([i for i in range(10_000) if i % 13 == 0])


# --- properties ---------------------------------------------------------------

NAMES = ["a", "b", ".h", "a.py", "ab.py", "b.md"]
GLOBS = ["*", "**", "a*", "*.py", "?", "[ab]", "*b*", ".*", "?.py", "[!a]*", "***"]
# Every path of up to three components over NAMES: small enough to try them all.
UNIVERSE = ["/".join(parts) for n in (1, 2, 3) for parts in itertools.product(NAMES, repeat=n)]

patterns = st.lists(st.sampled_from(NAMES + GLOBS), min_size=1, max_size=4).map("/".join)
scopes = st.lists(patterns, max_size=2)
deep_paths = st.lists(st.sampled_from(NAMES), min_size=4, max_size=6).map("/".join)


@given(scopes, scopes, st.lists(deep_paths, max_size=5))
def test_overlap_is_conservative(a: list[str], b: list[str], deeper: list[str]) -> None:
    for path in [*UNIVERSE, *deeper]:
        in_both = scope_matches(a, path) and scope_matches(b, path)
        by_glob = any(glob.globmatch(path, p, flags=GLOB_FLAGS) for p in a) and any(
            glob.globmatch(path, p, flags=GLOB_FLAGS) for p in b
        )
        if in_both or by_glob:
            assert scopes_overlap(a, b), path
            assert scopes_overlap(b, a), path
            return


unit_ids = st.sampled_from([f"u{i}" for i in range(12)])


@given(
    st.dictionaries(unit_ids, scopes, max_size=12),
    st.lists(st.tuples(unit_ids, st.none() | scopes), max_size=8),
)
def test_index_agrees_with_pairwise_overlap(
    initial: dict[str, list[str]], edits: list[tuple[str, list[str] | None]]
) -> None:
    index = ScopeIndex(initial)
    current = dict(initial)
    for uid, scope in edits:  # None: remove the unit (if it is there)
        if scope is None:
            if uid in current:
                index.remove(uid)
                del current[uid]
        else:
            index.add(uid, scope)
            current[uid] = scope
    assert len(index) == len(current)
    for uid, scope in current.items():
        expected = {v for v, other in current.items() if v != uid and scopes_overlap(scope, other)}
        assert index.conflicts(uid) == expected
