"""The strict JSONC parser: OpenCode's language exactly, with offsets and clear errors."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opencode_orchestrator.config.jsonc import (
    MAX_DEPTH,
    JsonArray,
    JsoncError,
    JsonObject,
    JsonScalar,
    parse,
    to_python,
)


def test_comments_and_trailing_commas_are_jsonc() -> None:
    text = """\ufeff// a config
{
  /* block
     comment */ "a": [1, 2.5, -3e2, true, false, null,],  // trailing comma
  "b": {"c": "d\\n\\u00e9\\ud83d\\ude00",},
}
"""
    assert to_python(parse(text)) == {
        "a": [1, 2.5, -300.0, True, False, None],
        "b": {"c": "d\né\U0001f600"},
    }


def test_nodes_know_where_they_are() -> None:
    text = '{"plugin": ["x" , ["y", {}]], "k": 1}'
    root = parse(text)
    assert isinstance(root, JsonObject)
    assert (root.start, root.end) == (0, len(text))
    plugin = root.members[0]
    assert plugin.key == "plugin"
    assert text[plugin.key_start] == '"'
    assert isinstance(plugin.value, JsonArray)
    assert text[plugin.value.start : plugin.value.end] == '["x" , ["y", {}]]'
    first, second = plugin.value.elements
    assert text[first.value.start : first.value.end] == '"x"'
    assert first.comma == text.index(",")
    assert second.comma is None
    assert text[second.value.start : second.value.end] == '["y", {}]'
    assert plugin.comma == text.index(', "k"')


def test_the_last_of_duplicate_keys_counts() -> None:
    root = parse('{"plugin": [1], "plugin": [2]}')
    assert isinstance(root, JsonObject)
    member = root.last("plugin")
    assert member is not None
    assert to_python(member.value) == [2]
    assert to_python(root) == {"plugin": [2]}


@pytest.mark.parametrize(
    ("text", "reason", "line", "column"),
    [
        ('{\n  "a": 1\n  "b": 2\n}', "comma expected", 3, 3),
        ('{"a": 1,,}', "value expected", 1, 9),
        ('{"a" 1}', "colon expected", 1, 6),
        ("{'a': 1}", "property name expected", 1, 2),
        ("{a: 1}", "property name expected", 1, 2),
        ('{"a": 01}', "comma expected", 1, 8),
        ('{"a": 1.}', "invalid number", 1, 7),
        ('{"a": .5}', "invalid symbol '.5'", 1, 7),
        ('{"a": +1}', "invalid symbol '+1'", 1, 7),
        ('{"a": NaN}', "invalid symbol 'NaN'", 1, 7),
        ('{"a": "x\ty"}', "control character U+0009 in string", 1, 9),
        ('{"a": "x\ny"}', "unterminated string", 1, 7),
        ('{"a": "\\x"}', "invalid escape character", 1, 8),
        ('{"a": "\\u12"}', "invalid \\u escape", 1, 8),
        ('{"a": 1} /* open', "unterminated /* comment", 1, 10),
        ('{"a": 1}\n{"b": 2}', "end of file expected", 2, 1),
        ('{"a": [1, 2}', "comma expected", 1, 12),
        ('{"a": [1, 2', "']' expected", 1, 12),
        ('{"a": 1', "'}' expected", 1, 8),
        ("", "value expected (the file holds no JSON)", 1, 1),
        ("// only a comment\n", "value expected (the file holds no JSON)", 2, 1),
        ('{"a":\f1}', "invalid symbol '\\x0c1'", 1, 6),
        ('{"a":\u00a01}', "invalid symbol '\\xa01'", 1, 6),
        ("{,}", "property name expected", 1, 2),
        ("[,]", "value expected", 1, 2),
    ],
)
def test_errors_say_what_and_where(text: str, reason: str, line: int, column: int) -> None:
    with pytest.raises(JsoncError) as caught:
        parse(text)
    assert (caught.value.reason, caught.value.line, caught.value.column) == (reason, line, column)
    assert str(caught.value) == f"{reason} at line {line}, column {column}"


def test_columns_count_characters_not_bytes_and_lines_count_line_feeds() -> None:
    with pytest.raises(JsoncError) as caught:
        parse('{\r\n  "é": 1 2}')
    assert (caught.value.line, caught.value.column) == (2, 10)


def test_nesting_is_bounded() -> None:
    parse("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    with pytest.raises(JsoncError, match="nested deeper"):
        parse("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))


def test_scalars_keep_their_types() -> None:
    root = parse('{"i": 10, "f": 1.0, "e": 1E+2, "big": 1e400, "neg": -0}')
    assert isinstance(root, JsonObject)
    values = {m.key: m.value for m in root.members}
    assert all(isinstance(v, JsonScalar) for v in values.values())
    assert to_python(root) == {"i": 10, "f": 1.0, "e": 100.0, "big": math.inf, "neg": 0}
    assert isinstance(to_python(values["i"]), int)
    assert isinstance(to_python(values["f"]), float)


# -- against the standard library's strict JSON parser ----------------------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _strict_loads(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(name)

    return json.loads(text, parse_constant=refuse)


@settings(max_examples=300)
@given(_json_values, st.booleans(), st.booleans())
def test_any_json_document_reads_as_the_standard_library_reads_it(
    value: Any, indent: bool, ascii_only: bool
) -> None:
    text = json.dumps(value, indent=2 if indent else None, ensure_ascii=ascii_only)
    assert to_python(parse(text)) == value


_TRAILING_COMMA = re.compile(r",([ \t\r\n]*[\]}])")


@settings(max_examples=1000)
@given(st.text(alphabet='{}[]":,01-.eE+ \t\n\r\\/*tfnrulsa\x00', max_size=24))
def test_plain_json_is_accepted_exactly_when_the_standard_library_accepts_it(text: str) -> None:
    try:
        got: Any = to_python(parse(text))
    except JsoncError:
        got = JsoncError
    if "/" in text:
        return  # comments: JSON has none to compare with (never another exception, though)
    try:
        expected: Any = _strict_loads(text)
    except ValueError:
        expected = JsoncError
    if expected is JsoncError and got is not JsoncError:
        # JSONC's one extension without comments: a trailing comma, and only that.
        assert _strict_loads(_TRAILING_COMMA.sub(r"\1", text)) == got
    else:
        assert got == expected
