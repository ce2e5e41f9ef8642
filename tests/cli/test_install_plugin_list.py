"""Editing the ``plugin`` list in place: only our entry changes, everything else stays."""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opencode_orchestrator.cli.install.plugin_list import (
    ConfigShapeError,
    install_entry,
    list_entries,
    remove_entries,
)
from opencode_orchestrator.config.jsonc import JsoncError, JsonValue, parse, to_python

SHIM = "/opt/oo/shim/index.ts"
COMMAND = ["/venv/bin/python", "-m", "opencode_orchestrator", "serve"]
ENTRY: list[Any] = [SHIM, {"command": COMMAND}]
ENTRY_TEXT = json.dumps(ENTRY)


def ours(value: JsonValue) -> bool:
    return (isinstance(value, list) and value[:1] == [SHIM]) or value == SHIM


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def inserted(before: str, after: str) -> str:
    """What was added to ``before`` to make ``after``, asserting nothing else changed."""
    ops = difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes()
    assert all(tag in ("equal", "insert") for tag, *_ in ops), ops
    return "".join(after[j1:j2] for tag, _, _, j1, j2 in ops if tag == "insert")


def test_an_entry_goes_after_the_last_one_of_a_commented_list_with_trailing_commas() -> None:
    before = """{
  // my settings
  "$schema": "https://opencode.ai/config.json",
  "model": "anthropic/claude-sonnet-4", /* the default */
  "plugin": [
    "opencode-wakatime", // time tracking
    ["./local.js", {"verbose": true,},],   // mine
  ],
  "agent": {},
}
"""
    after, outcome = install_entry(before, ENTRY, ours)
    assert outcome == "added"
    assert after == before.replace("   // mine\n", f"   // mine\n    {ENTRY_TEXT},\n")
    assert list_entries(after)[-1] == ENTRY


def test_without_a_trailing_comma_the_comma_goes_before_the_comment() -> None:
    before = '{\n  "plugin": [\n    "a" // note on a\n  ]\n}\n'
    after, _ = install_entry(before, ENTRY, ours)
    assert after == f'{{\n  "plugin": [\n    "a", // note on a\n    {ENTRY_TEXT}\n  ]\n}}\n'


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        ('{"plugin": []}', f'{{"plugin": [{ENTRY_TEXT}]}}'),
        ('{"plugin": [ ]}', f'{{"plugin": [{ENTRY_TEXT} ]}}'),
        ('{"plugin": ["a"]}', f'{{"plugin": ["a", {ENTRY_TEXT}]}}'),
        ('{"plugin": ["a",]}', f'{{"plugin": ["a", {ENTRY_TEXT},]}}'),
        ('{"plugin": [/* none */]}', f'{{"plugin": [/* none */ {ENTRY_TEXT}]}}'),
        ('{"plugin": [\n]}', f'{{"plugin": [\n  {ENTRY_TEXT}\n]}}'),
        ('{"a": 1}', f'{{"a": 1, "plugin": [{ENTRY_TEXT}]}}'),
        ('{"a": 1,}', f'{{"a": 1, "plugin": [{ENTRY_TEXT}],}}'),
        ("{}", f'{{\n  "plugin": [\n    {ENTRY_TEXT}\n  ]\n}}'),
        ("", f'{{\n  "plugin": [\n    {ENTRY_TEXT}\n  ]\n}}\n'),
        ("\n\n", f'{{\n  "plugin": [\n    {ENTRY_TEXT}\n  ]\n}}\n'),
        (
            '{\n\t"theme": "dark"\n}',
            f'{{\n\t"theme": "dark",\n\t"plugin": [\n\t\t{ENTRY_TEXT}\n\t]\n}}',
        ),
        (
            '{\r\n    "theme": "dark",\r\n}\r\n',
            f'{{\r\n    "theme": "dark",\r\n    "plugin": [\r\n        {ENTRY_TEXT}\r\n    ],'
            "\r\n}\r\n",
        ),
        (
            "{\n  // nothing yet\n}",
            f'{{\n  "plugin": [\n    {ENTRY_TEXT}\n  ]\n  // nothing yet\n}}',
        ),
    ],
)
def test_new_text_follows_the_file_s_style(before: str, expected: str) -> None:
    after, outcome = install_entry(before, ENTRY, ours)
    assert (after, outcome) == (expected, "added")


def test_installing_twice_changes_nothing() -> None:
    once, _ = install_entry('{"plugin": ["a"]}', ENTRY, ours)
    twice, outcome = install_entry(once, ENTRY, ours)
    assert (twice, outcome) == (once, "unchanged")


def test_an_entry_of_ours_with_other_paths_and_options_is_updated_keeping_other_options() -> None:
    before = """{
  "plugin": [
    "a",
    [
      "/opt/oo/shim/index.ts", // ours, from an older install
      {
        "command": ["/old/python", "-m", "opencode_orchestrator", "serve"],
        "extra": {"keep": "me"}, // a user's option
      },
    ],
  ],
}"""
    after, outcome = install_entry(before, ENTRY, ours)
    assert outcome == "updated"
    assert after == before.replace('"/old/python"', '"/venv/bin/python"')
    entry = list_entries(after)[1]
    assert entry == [SHIM, {"command": COMMAND, "extra": {"keep": "me"}}]


def test_an_entry_without_command_gains_one_and_a_bare_path_gains_options() -> None:
    after, outcome = install_entry(f'{{"plugin": [["{SHIM}", {{"x": 1}}]]}}', ENTRY, ours)
    assert outcome == "updated"
    assert list_entries(after) == [[SHIM, {"x": 1, "command": COMMAND}]]
    after, _ = install_entry(f'{{"plugin": ["{SHIM}", "b"]}}', ENTRY, ours)
    assert list_entries(after) == [ENTRY, "b"]
    after, _ = install_entry(f'{{"plugin": [["{SHIM}",]]}}', ENTRY, ours)
    assert list_entries(after) == [ENTRY]


def test_a_moved_shim_gets_its_new_path() -> None:
    def any_of_ours(value: JsonValue) -> bool:
        return isinstance(value, list) and str(value[0]).endswith("shim/index.ts")

    before = '{"plugin": [["/old/site-packages/shim/index.ts", {"command": ["/old/py"]}]]}'
    after, outcome = install_entry(before, ENTRY, any_of_ours)
    assert outcome == "updated"
    assert list_entries(after) == [ENTRY]


def test_duplicates_of_ours_are_reduced_to_one() -> None:
    before = f'{{"plugin": ["{SHIM}", "a", ["{SHIM}", {{}}], "b"]}}'
    after, outcome = install_entry(before, ENTRY, ours)
    assert outcome == "updated"
    assert list_entries(after) == [ENTRY, "a", "b"]


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        (f'{{"plugin": [{ENTRY_TEXT}]}}', '{"plugin": []}'),
        (f'{{"plugin": ["a", {ENTRY_TEXT}]}}', '{"plugin": ["a"]}'),
        (f'{{"plugin": ["a", {ENTRY_TEXT},]}}', '{"plugin": ["a",]}'),
        (f'{{"plugin": [{ENTRY_TEXT}, "b"]}}', '{"plugin": ["b"]}'),
        (f'{{"plugin": ["a", {ENTRY_TEXT}, "b"]}}', '{"plugin": ["a", "b"]}'),
        (f'{{"plugin": ["a", /* c */ {ENTRY_TEXT}]}}', '{"plugin": ["a" /* c */]}'),
        (
            f'{{\n  "plugin": [\n    "a", // A\n    {ENTRY_TEXT}\n  ]\n}}',
            '{\n  "plugin": [\n    "a" // A\n  ]\n}',
        ),
        (
            f'{{\n  "plugin": [\n    "a",\n    {ENTRY_TEXT},\n  ],\n}}',
            '{\n  "plugin": [\n    "a",\n  ],\n}',
        ),
        (
            f'{{\r\n  "plugin": [\r\n    {ENTRY_TEXT},\r\n    "b"\r\n  ]\r\n}}',
            '{\r\n  "plugin": [\r\n    "b"\r\n  ]\r\n}',
        ),
        (
            f'{{\n  "plugin": [\n    {ENTRY_TEXT}, // ours\n    "b"\n  ]\n}}',
            '{\n  "plugin": [\n    // ours\n    "b"\n  ]\n}',
        ),
        (
            f'{{"plugin": ["{SHIM}", "a", ["{SHIM}"], "b", {ENTRY_TEXT}]}}',
            '{"plugin": ["a", "b"]}',
        ),
    ],
)
def test_uninstall_removes_ours_and_only_ours(before: str, expected: str) -> None:
    after, removed = remove_entries(before, ours)
    assert after == expected
    assert removed == sum(ours(e) for e in list_entries(before))


def test_nothing_to_remove_changes_nothing() -> None:
    for text in ('{"plugin": ["a"]}', '{"model": "x"}', "", "{}"):
        assert remove_entries(text, ours) == (text, 0)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"plugin": "a"}', '"plugin" is not a list'),
        ('{"plugin": {"a": 1}}', '"plugin" is not a list'),
        ('["a"]', "the top level is not an object"),
    ],
)
def test_configs_opencode_would_refuse_are_refused(text: str, error: str) -> None:
    with pytest.raises(ConfigShapeError, match=error):
        install_entry(text, ENTRY, ours)
    with pytest.raises(ConfigShapeError, match=error):
        remove_entries(text, ours)


def test_malformed_jsonc_is_refused_with_its_position() -> None:
    with pytest.raises(JsoncError, match="comma expected at line 3, column 3"):
        install_entry('{\n  "plugin": []\n  "model": "x"\n}', ENTRY, ours)


# -- any file, any style ----------------------------------------------------------------------

_trivia = st.lists(
    st.sampled_from(
        [" ", "  ", "\t", "\n", "\r\n", "\n    ", "// c\n", "/* c */", " /* multi\n line */ "]
    ),
    max_size=3,
).map("".join)
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.text("abc./@-", max_size=6)
).map(json.dumps)
_plugins = st.lists(
    st.one_of(
        st.sampled_from(['"opencode-foo"', '"@scope/bar@1.0.0"', '"./local.ts"']),
        st.just(json.dumps([SHIM, {"command": ["/x"]}])),
        st.just(json.dumps(SHIM)),
    ),
    max_size=4,
)


@st.composite
def _documents(draw: st.DrawFn) -> str:
    """A config with a ``plugin`` list (or none), laid out with random trivia."""

    def sep(items: list[str]) -> str:
        out = draw(_trivia)
        for i, item in enumerate(items):
            out += item + draw(_trivia)
            if i < len(items) - 1 or draw(st.booleans()):
                out += "," + draw(_trivia)
        return out

    members = [f'"k{i}":{draw(_trivia)}{draw(_scalars)}' for i in range(draw(st.integers(0, 3)))]
    plugins = draw(_plugins)
    if draw(st.booleans()):
        at = draw(st.integers(0, len(members)))
        members.insert(at, f'"plugin":{draw(_trivia)}[{sep(plugins)}]')
    return draw(_trivia) + "{" + sep(members) + "}" + draw(_trivia)


@settings(max_examples=400)
@given(_documents())
def test_install_only_inserts_and_then_uninstall_restores_the_list(text: str) -> None:
    before = list_entries(text)
    after, outcome = install_entry(text, ENTRY, ours)
    parse(after)
    entries = list_entries(after)
    assert [e for e in entries if ours(e)] == [ENTRY]
    assert [e for e in entries if not ours(e)] == [e for e in before if not ours(e)]
    if not any(ours(e) for e in before):
        assert outcome == "added"
        removed, count = remove_entries(after, ours)
        assert count == 1
        if '"plugin"' in text:
            inserted(text, after)
            # Whatever install inserted, uninstall takes out again: the text as it was
            # (in a layout no one writes, a list's first line broken inside a block
            # comment, up to where a line break or space sits).
            if "multi" in text:
                assert _squeezed(removed) == _squeezed(text)
            else:
                assert removed == text
        else:
            assert to_python(parse(removed)) == {**to_python(parse(text)), "plugin": []}  # type: ignore[dict-item]
    again, outcome = install_entry(after, ENTRY, ours)
    assert (again, outcome) == (after, "unchanged")
