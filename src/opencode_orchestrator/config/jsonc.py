r"""A strict JSONC parser that keeps where every value sits in the text.

OpenCode reads its config files with Microsoft's ``jsonc-parser``
(``allowTrailingComma: true``) and refuses a file with any parse error. This
module accepts exactly that language, so a file it accepts OpenCode accepts
too: JSON (RFC 8259) plus ``//`` and ``/* */`` comments and one trailing comma
before a closing ``}`` or ``]``. Like that parser it knows only space and tab as
whitespace besides ``\n`` and ``\r`` (a form feed or a no-break space is an
error), and a leading byte order mark is skipped.

The result is a concrete tree: each node has its ``start`` and ``end`` offsets
in the text (a half-open range, in characters), and each member and element
the offset of the comma after it, if any. Edits are made on the text at those
offsets (:mod:`opencode_orchestrator.cli.install.plugin_list`), so whatever the
edit does not touch, comments and formatting included, stays byte for byte.

Errors say where, as OpenCode does: line and column, both from 1, lines
counted by ``\n``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, TypeAlias

__all__ = [
    "JsonArray",
    "JsonObject",
    "JsonScalar",
    "JsoncError",
    "Member",
    "Node",
    "parse",
    "to_python",
]

MAX_DEPTH: Final = 256
"""Deeper nesting is refused rather than risking the interpreter's recursion limit."""

_BOM: Final = "\ufeff"
_ESCAPES: Final = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
# The JSON number grammar; what follows a match is the next token's business
# (``01`` is the number 0 and then a stray 1, as in jsonc-parser).
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBER_PREFIX: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][+-]?[0-9]*)?")
# A run of characters that cannot start or end a token: reported whole.
_SYMBOL: Final = re.compile(r"[^ \t\r\n{}\[\]\":,/]+")
_LINE_BREAK: Final = re.compile(r"[\r\n]")

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"


class JsoncError(ValueError):
    r"""The text is not JSONC that OpenCode would read.

    Attributes:
        reason: what is wrong, e.g. ``comma expected``.
        offset: where, in characters from the start of the text.
        line: where, counted from 1 (lines end at ``\n``).
        column: where, counted from 1.
    """

    def __init__(self, reason: str, text: str, offset: int) -> None:
        self.reason = reason
        self.offset = offset
        self.line = text.count("\n", 0, offset) + 1
        self.column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        super().__init__(f"{reason} at line {self.line}, column {self.column}")


@dataclass(frozen=True, slots=True)
class Node:
    """A value and the range ``[start, end)`` of the text it was parsed from."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class JsonScalar(Node):
    """A string, number, ``true``, ``false`` or ``null``."""

    value: bool | int | float | str | None


@dataclass(frozen=True, slots=True)
class Member:
    """One ``"key": value`` of an object, and the comma after it (``None``: none)."""

    key: str
    key_start: int
    value: JsonScalar | JsonArray | JsonObject
    comma: int | None


@dataclass(frozen=True, slots=True)
class Element:
    """One value of an array, and the comma after it (``None``: none)."""

    value: JsonScalar | JsonArray | JsonObject
    comma: int | None


@dataclass(frozen=True, slots=True)
class JsonObject(Node):
    """``{...}``: ``start`` is the offset of ``{``, ``end - 1`` that of ``}``."""

    members: list[Member] = field(default_factory=list)

    def last(self, key: str) -> Member | None:
        """The member named ``key`` that counts (the last one, as in every JSON parser)."""
        found = None
        for member in self.members:
            if member.key == key:
                found = member
        return found


@dataclass(frozen=True, slots=True)
class JsonArray(Node):
    """``[...]``: ``start`` is the offset of ``[``, ``end - 1`` that of ``]``."""

    elements: list[Element] = field(default_factory=list)


AnyNode: TypeAlias = "JsonScalar | JsonArray | JsonObject"


def to_python(node: AnyNode) -> JsonValue:
    """The plain Python value of ``node`` (dicts keep the last of duplicate keys)."""
    if isinstance(node, JsonScalar):
        return node.value
    if isinstance(node, JsonArray):
        return [to_python(element.value) for element in node.elements]
    return {member.key: to_python(member.value) for member in node.members}


def parse(text: str) -> AnyNode:
    """Parse a whole JSONC document.

    Raises:
        JsoncError: the text is not one JSONC value, with trivia around it.
    """
    return _Parser(text).document()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 1 if text.startswith(_BOM) else 0

    def fail(self, reason: str, offset: int | None = None) -> JsoncError:
        return JsoncError(reason, self.text, self.pos if offset is None else offset)

    def document(self) -> AnyNode:
        self.skip_trivia()
        if self.pos >= len(self.text):
            raise self.fail("value expected (the file holds no JSON)")
        node = self.value(0)
        self.skip_trivia()
        if self.pos < len(self.text):
            raise self.fail("end of file expected")
        return node

    def skip_trivia(self) -> None:
        """Move past whitespace and comments."""
        text, n = self.text, len(self.text)
        pos = self.pos
        while pos < n:
            char = text[pos]
            if char in " \t\r\n":
                pos += 1
            elif char == "/" and text.startswith("//", pos):
                line_break = _LINE_BREAK.search(text, pos)
                pos = line_break.start() if line_break else n
            elif char == "/" and text.startswith("/*", pos):
                close = text.find("*/", pos + 2)
                if close < 0:
                    raise self.fail("unterminated /* comment", pos)
                pos = close + 2
            else:
                break
        self.pos = pos

    def value(self, depth: int) -> AnyNode:
        text, pos = self.text, self.pos
        if pos >= len(text):
            raise self.fail("value expected")
        char = text[pos]
        if char == "{":
            return self.object(depth + 1)
        if char == "[":
            return self.array(depth + 1)
        if char == '"':
            string = self.string()
            return JsonScalar(pos, self.pos, string)
        if char == "-" or char.isdigit():
            return self.number()
        symbol = _SYMBOL.match(text, pos)
        word = symbol.group() if symbol else char
        literals: dict[str, bool | None] = {"true": True, "false": False, "null": None}
        if word in literals:
            self.pos = pos + len(word)
            return JsonScalar(pos, self.pos, literals[word])
        if char in "}],:":
            raise self.fail("value expected")
        raise self.fail(f"invalid symbol {word!r}")

    def object(self, depth: int) -> JsonObject:
        if depth > MAX_DEPTH:
            raise self.fail(f"nested deeper than {MAX_DEPTH} levels")
        start = self.pos
        self.pos += 1
        members: list[Member] = []
        while True:
            self.skip_trivia()
            if self.pos >= len(self.text):
                raise self.fail("'}' expected")
            if self.text[self.pos] == "}":
                self.pos += 1
                return JsonObject(start, self.pos, members)
            if members and members[-1].comma is None:
                raise self.fail("comma expected")
            if self.text[self.pos] != '"':
                raise self.fail("property name expected")
            key_start = self.pos
            key = self.string()
            self.skip_trivia()
            if self.pos >= len(self.text) or self.text[self.pos] != ":":
                raise self.fail("colon expected")
            self.pos += 1
            self.skip_trivia()
            value = self.value(depth)
            self.skip_trivia()
            comma = self.comma()
            members.append(Member(key, key_start, value, comma))

    def array(self, depth: int) -> JsonArray:
        if depth > MAX_DEPTH:
            raise self.fail(f"nested deeper than {MAX_DEPTH} levels")
        start = self.pos
        self.pos += 1
        elements: list[Element] = []
        while True:
            self.skip_trivia()
            if self.pos >= len(self.text):
                raise self.fail("']' expected")
            if self.text[self.pos] == "]":
                self.pos += 1
                return JsonArray(start, self.pos, elements)
            if elements and elements[-1].comma is None:
                raise self.fail("comma expected")
            value = self.value(depth)
            self.skip_trivia()
            elements.append(Element(value, self.comma()))

    def comma(self) -> int | None:
        """Consume a comma if one is next; a second one in a row is an error."""
        if self.pos >= len(self.text) or self.text[self.pos] != ",":
            return None
        comma = self.pos
        self.pos += 1
        self.skip_trivia()
        if self.pos < len(self.text) and self.text[self.pos] == ",":
            raise self.fail("value expected")
        return comma

    def string(self) -> str:
        text, n = self.text, len(self.text)
        start = self.pos
        pos = start + 1
        chunk = pos
        parts: list[str] = []
        while True:
            if pos >= n:
                raise self.fail("unterminated string", start)
            char = text[pos]
            if char == '"':
                parts.append(text[chunk:pos])
                self.pos = pos + 1
                return "".join(parts)
            if char == "\\":
                parts.append(text[chunk:pos])
                escape = text[pos + 1] if pos + 1 < n else ""
                if escape in _ESCAPES:
                    parts.append(_ESCAPES[escape])
                    pos += 2
                elif escape == "u":
                    code = self.hex4(pos + 2)
                    pos += 6
                    # A surrogate pair spelled as two escapes is one character.
                    if 0xD800 <= code < 0xDC00 and text.startswith("\\u", pos):
                        low = self.hex4(pos + 2)
                        if 0xDC00 <= low < 0xE000:
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                            pos += 6
                    parts.append(chr(code))
                else:
                    raise self.fail("invalid escape character", pos)
                chunk = pos
            elif char in "\r\n":
                raise self.fail("unterminated string", start)
            elif char < " ":
                raise self.fail(f"control character U+{ord(char):04X} in string", pos)
            else:
                pos += 1

    def hex4(self, offset: int) -> int:
        digits = self.text[offset : offset + 4]
        if len(digits) < 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise self.fail("invalid \\u escape", offset - 2)
        return int(digits, 16)

    def number(self) -> JsonScalar:
        start = self.pos
        match = _NUMBER.match(self.text, start)
        prefix = _NUMBER_PREFIX.match(self.text, start)
        if match is None or (prefix is not None and prefix.end() > match.end()):
            raise self.fail("invalid number", start)
        literal = match.group()
        self.pos = match.end()
        if any(c in literal for c in ".eE"):
            return JsonScalar(start, self.pos, float(literal))
        return JsonScalar(start, self.pos, int(literal))
