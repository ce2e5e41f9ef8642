"""Add, update and remove one entry of a config file's ``"plugin"`` list, in place.

Every change is a small insertion, replacement or deletion at offsets the
:mod:`opencode_orchestrator.config.jsonc` parser found, so the rest of the
text, comments, trailing commas, blank lines and indentation included, is
left exactly as it was. After each change the text is parsed again and the
next change planned on the new tree; a change that would leave text OpenCode
cannot read is a bug and raises.

New text follows the file's own style: its line ending, its indentation unit,
one line per element where the list has one line per element, and a trailing
comma where the last element had one.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from opencode_orchestrator.config.jsonc import (
    AnyNode,
    Element,
    JsonArray,
    JsoncError,
    JsonObject,
    JsonScalar,
    JsonValue,
    Member,
    parse,
    to_python,
)

__all__ = [
    "ConfigShapeError",
    "Outcome",
    "drop_empty_list",
    "install_entry",
    "list_entries",
    "remove_entries",
]

Outcome = Literal["added", "updated", "unchanged"]
IsOurs = Callable[[JsonValue], bool]

_MAX_STEPS: Final = 1000


class ConfigShapeError(ValueError):
    """The file is JSONC but not a config OpenCode could read (e.g. ``plugin`` is no list)."""


@dataclass(frozen=True, slots=True)
class _Edit:
    start: int
    end: int
    text: str


def dumps(value: Any) -> str:
    """``value`` as JSON on one line, non-ASCII characters kept as they are."""
    return json.dumps(value, ensure_ascii=False)


def list_entries(text: str) -> list[JsonValue]:
    """The entries of the ``plugin`` list (empty if there is none).

    Raises:
        JsoncError: the text is not JSONC.
        ConfigShapeError: the top level is not an object, or ``plugin`` is not a list.
    """
    plugins = _plugin_list(_root(text))
    return [] if plugins is None else [to_python(e.value) for e in plugins.elements]


def install_entry(text: str, entry: list[Any], is_ours: IsOurs) -> tuple[str, Outcome]:
    """Make ``entry`` (``[spec, {"command": [...], ...}]``) the one entry of ours in the list.

    With no entry of ours, it is appended (and the list created if missing). With
    one, its spec and the options ``entry`` names are set to ours (objects member
    by member) and its other options kept. Any further entries of ours are
    removed, the first one staying.

    Raises:
        JsoncError: the text is not JSONC.
        ConfigShapeError: the top level is not an object, or ``plugin`` is not a list.
    """
    spec, options = entry
    had_ours = any(is_ours(value) for value in list_entries(text))
    changed = False
    for _ in range(_MAX_STEPS):
        edits = _next_install_edits(text, spec, options, is_ours)
        if not edits:
            if not changed:
                return text, "unchanged"
            return text, "updated" if had_ours else "added"
        text = _apply(text, edits)
        changed = True
    raise AssertionError("install_entry did not converge")  # pragma: no cover


def remove_entries(text: str, is_ours: IsOurs) -> tuple[str, int]:
    """Remove every entry of ours from the list; the new text and how many went.

    Raises:
        JsoncError: the text is not JSONC.
        ConfigShapeError: the top level is not an object, or ``plugin`` is not a list.
    """
    for removed in range(_MAX_STEPS):
        plugins = _plugin_list(_root(text))
        ours = [] if plugins is None else _ours(plugins, is_ours)
        if not ours:
            return text, removed
        assert plugins is not None
        text = _apply(text, _remove_element(text, plugins, ours[-1]))
    raise AssertionError("remove_entries did not converge")  # pragma: no cover


def drop_empty_list(text: str) -> tuple[str, bool]:
    """Remove the ``plugin`` member if its list is empty; the new text and whether it went.

    OpenCode 1.18.33 reads an empty ``plugin`` list in a config file as "no
    plugins at all" unless a file it reads later lists some (the plugins of the
    files before it, the global ones included, are dropped), where no ``plugin``
    key leaves them be. A list that is not the only ``plugin`` member (JSONC
    allows a key twice) is left alone: removing it would bring the other back.

    Raises:
        JsoncError: the text is not JSONC.
        ConfigShapeError: the top level is not an object, or ``plugin`` is not a list.
    """
    root = _root(text)
    plugins = _plugin_list(root)
    if plugins is None or plugins.elements:
        return text, False
    named = [i for i, m in enumerate(root.members) if m.key == "plugin"]
    if len(named) != 1:
        return text, False
    return _apply(text, _remove_item(text, root.members, named[0])), True


# -- planning -------------------------------------------------------------------------------------


def _root(text: str) -> JsonObject:
    if not text.strip(" \t\r\n\ufeff"):
        text = "{}"
    root = parse(text)
    if not isinstance(root, JsonObject):
        raise ConfigShapeError("the top level is not an object")
    return root


def _plugin_list(root: JsonObject) -> JsonArray | None:
    member = root.last("plugin")
    if member is None:
        return None
    if not isinstance(member.value, JsonArray):
        raise ConfigShapeError('"plugin" is not a list')
    return member.value


def _ours(plugins: JsonArray, is_ours: IsOurs) -> list[int]:
    return [i for i, e in enumerate(plugins.elements) if is_ours(to_python(e.value))]


def _next_install_edits(
    text: str, spec: str, options: dict[str, Any], is_ours: IsOurs
) -> list[_Edit]:
    if not text.strip(" \t\r\n\ufeff"):
        # OpenCode reads an empty file as {}; so do we, and write a real object.
        return [_Edit(0, len(text), "{}" + _newline(text))]
    root = _root(text)
    plugins = _plugin_list(root)
    entry_text = dumps([spec, options])
    if plugins is None:
        return _insert_member(text, root, "plugin", entry_text)
    ours = _ours(plugins, is_ours)
    if not ours:
        return _append_element(text, plugins, entry_text)
    if len(ours) > 1:
        return _remove_element(text, plugins, ours[-1])
    return _update_entry(text, plugins.elements[ours[0]].value, spec, options)


def _update_entry(text: str, node: AnyNode, spec: str, options: dict[str, Any]) -> list[_Edit]:
    """Edits that make ``node`` (an entry of ours) say ``spec`` and ``options``, or none."""
    whole = [_Edit(node.start, node.end, dumps([spec, options]))]
    if not isinstance(node, JsonArray) or not node.elements:
        return whole
    first = node.elements[0]
    if not isinstance(first.value, JsonScalar) or not isinstance(first.value.value, str):
        return whole
    if first.value.value != spec:
        return [_Edit(first.value.start, first.value.end, dumps(spec))]
    if len(node.elements) == 1:
        if first.comma is not None:
            return [_Edit(first.comma + 1, first.comma + 1, " " + dumps(options))]
        return [_Edit(first.value.end, first.value.end, ", " + dumps(options))]
    opts = node.elements[1].value
    if not isinstance(opts, JsonObject):
        return whole
    return _set_members(text, opts, options)


def _set_members(text: str, obj: JsonObject, values: dict[str, Any]) -> list[_Edit]:
    """Edits that make ``obj`` hold ``values``, or none; its other members stay.

    An object in ``values`` whose member is an object too is set member by
    member, so what is written inside it (comments, other keys) stays.
    """
    for key, value in values.items():
        member = obj.last(key)
        if member is None:
            return _insert_member(text, obj, key, dumps(value), nested=False)
        if isinstance(value, dict) and isinstance(member.value, JsonObject):
            edits = _set_members(text, member.value, value)
            if edits:
                return edits
        elif to_python(member.value) != value:
            return [_Edit(member.value.start, member.value.end, dumps(value))]
    return []


# -- text surgery ---------------------------------------------------------------------------------


def _apply(text: str, edits: list[_Edit]) -> str:
    ordered = sorted(edits, key=lambda e: e.start)
    assert all(a.end <= b.start and a.start < b.start for a, b in itertools.pairwise(ordered))
    for edit in reversed(ordered):
        text = text[: edit.start] + edit.text + text[edit.end :]
    try:
        parse(text)
    except JsoncError as exc:  # pragma: no cover - a bug here, never the user's file
        raise AssertionError(f"an edit left text OpenCode cannot read: {exc}") from exc
    return text


def _newline(text: str, at: int | None = None) -> str:
    """The line break to write: the one at ``at`` if there is one, else the file's."""
    if at is not None:
        for newline in ("\r\n", "\n", "\r"):
            if text.startswith(newline, at):
                return newline
    return "\r\n" if "\r\n" in text else "\n"


def _indent_unit(text: str) -> str:
    """The file's indentation step: that of its first indented line (default two spaces)."""
    for line in text.splitlines():
        stripped = line.lstrip(" \t")
        if stripped and len(stripped) < len(line):
            lead = line[: len(line) - len(stripped)]
            return "\t" if lead.startswith("\t") else " " * len(lead)
    return "  "


def _line_indent(text: str, offset: int) -> str:
    """The leading whitespace of the line ``offset`` is on."""
    start = max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1
    end = start
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[start:end]


def _line_tail(text: str, offset: int) -> int:
    """The end of ``offset``'s line, past its comments: where a new line goes.

    A ``// note`` or ``/* note */`` after a value belongs to that value, so a new
    element goes after it, not between the two. If something else follows on
    the line (a token, or a comment that spans lines), the offset just past the
    last comment before it: the caller then continues the line instead.
    """
    pos = end = offset
    while pos < len(text):
        if text[pos] in " \t":
            pos += 1
        elif text[pos] in "\r\n":
            return pos
        elif text.startswith("//", pos):
            while pos < len(text) and text[pos] not in "\r\n":
                pos += 1
            return pos
        elif text.startswith("/*", pos):
            close = text.index("*/", pos + 2) + 2
            if _has_line_break(text, pos, close):
                return end
            pos = end = close
        else:
            return end
    return pos


def _has_line_break(text: str, start: int, end: int) -> bool:
    return "\n" in text[start:end] or "\r" in text[start:end]


def _append(
    text: str,
    container: JsonObject | JsonArray,
    items: list[Member] | list[Element],
    item_text: str,
) -> list[_Edit]:
    """Edits that add ``item_text`` after the last of ``items`` (members or elements)."""
    close = container.end - 1
    if not items:
        inner_start = container.start + 1
        if not _has_line_break(text, inner_start, close):
            inner = text[inner_start:close]
            if not inner.strip(" \t"):
                return [_Edit(inner_start, inner_start, item_text)]  # [] -> [x]
            at = inner_start + len(inner.rstrip(" \t"))
            return [_Edit(at, at, " " + item_text)]  # [/* c */] -> [/* c */ x]
        indent = _line_indent(text, container.start) + _indent_unit(text)
        at = _line_tail(text, inner_start)
        return [_Edit(at, at, _newline(text, at) + indent + item_text)]
    last = items[-1]
    value: AnyNode = last.value
    after = last.comma + 1 if last.comma is not None else value.end
    at = _line_tail(text, after)
    if not _has_line_break(text, value.end, close) or not _at_line_end(text, at):
        # One line, or something more on the last element's line: continue the line.
        if last.comma is not None:
            return [_Edit(after, after, " " + item_text + ",")]  # "a",] -> "a", x,]
        return [_Edit(after, after, ", " + item_text)]  # "a"] -> "a", x]
    line = _newline(text, at) + _line_indent(text, _item_start(last)) + item_text
    if last.comma is not None:
        return [_Edit(at, at, line + ",")]
    if at == value.end:
        return [_Edit(at, at, "," + line)]
    return [_Edit(value.end, value.end, ","), _Edit(at, at, line)]


def _at_line_end(text: str, offset: int) -> bool:
    return offset == len(text) or text[offset] in "\r\n"


def _item_start(item: Member | Element) -> int:
    return item.key_start if isinstance(item, Member) else item.value.start


def _append_element(text: str, plugins: JsonArray, entry_text: str) -> list[_Edit]:
    return _append(text, plugins, plugins.elements, entry_text)


def _insert_member(
    text: str, obj: JsonObject, key: str, value_text: str, *, nested: bool = True
) -> list[_Edit]:
    """Edits that add ``"key": value`` to ``obj``; with ``nested``, the value is a new list."""
    if not nested:
        return _append(text, obj, obj.members, f"{dumps(key)}: {value_text}")
    multiline = _has_line_break(text, obj.start, obj.end) or not obj.members
    if not multiline:
        return _append(text, obj, obj.members, f"{dumps(key)}: [{value_text}]")
    newline = _newline(text)
    unit = _indent_unit(text)
    if obj.members:
        indent = _line_indent(text, obj.members[-1].key_start)
    else:
        indent = _line_indent(text, obj.start) + unit
    member_text = f"{dumps(key)}: [{newline}{indent}{unit}{value_text}{newline}{indent}]"
    if not obj.members and not text[obj.start + 1 : obj.end - 1].strip(" \t\r\n"):
        # An empty object: lay it out afresh.
        outer = _line_indent(text, obj.start)
        return [_Edit(obj.start + 1, obj.end - 1, newline + indent + member_text + newline + outer)]
    return _append(text, obj, obj.members, member_text)


def _remove_element(text: str, plugins: JsonArray, index: int) -> list[_Edit]:
    """Edits that remove element ``index`` and its comma, and its line if it had one to itself.

    Comments around it stay: they may be about its neighbours. Each case undoes
    what :func:`_append` inserts in the same layout, so install then uninstall
    gives the file back as it was.
    """
    return _remove_item(text, plugins.elements, index)


def _remove_item(text: str, items: Sequence[Member | Element], index: int) -> list[_Edit]:
    """:func:`_remove_element` for an array's elements or an object's members."""
    element = items[index]
    start, end = _item_start(element), element.value.end
    edits: list[_Edit] = []
    if element.comma is not None:
        end = element.comma + 1
    elif index > 0:
        # The last element goes, so the comma before it goes too.
        comma = items[index - 1].comma
        assert comma is not None
        if not text[comma + 1 : start].strip(" \t"):
            return [_Edit(comma, end, "")]  # "a", x] -> "a"]
        edits.append(_Edit(comma, comma + 1, ""))
    left = start
    while left > 0 and text[left - 1] in " \t":
        left -= 1
    right = end
    while right < len(text) and text[right] in " \t":
        right += 1
    at_line_start = left == 0 or text[left - 1] in "\r\n"
    at_line_end = right == len(text) or text[right] in "\r\n"
    if at_line_start and at_line_end:
        # The element had its line to itself: the line goes.
        right += 2 if text.startswith("\r\n", right) else int(right < len(text))
        edits.append(_Edit(left, right, ""))
    elif element.comma is not None:
        if at_line_start or index == 0:
            edits.append(_Edit(start, right, ""))  # "x, b" -> "b"
        else:
            edits.append(_Edit(left, end, ""))  # "a, x, b" -> "a, b"
    else:
        # Last in the list: the spaces before go, and the line break before if it
        # began its line (unless that break ends a // comment).
        if at_line_start and left > 0:
            brk = left - (2 if text.startswith("\r\n", left - 2) else 1)
            if text[:brk].rstrip(" \t")[-1:] in (",", "[", "{"):
                left = brk
        edits.append(_Edit(left, end, ""))
    return _merge(edits)


def _merge(edits: list[_Edit]) -> list[_Edit]:
    """Coalesce deletions that touch or overlap (the comma before and the element)."""
    merged: list[_Edit] = []
    for edit in sorted(edits, key=lambda e: e.start):
        if merged and edit.start <= merged[-1].end and not edit.text and not merged[-1].text:
            last = merged[-1]
            merged[-1] = _Edit(last.start, max(last.end, edit.end), "")
        else:
            merged.append(edit)
    return merged
