"""The structured-output fields a role must return, written from its pydantic model.

Prompts never spell the fields out by hand: they are generated from the
model's JSON schema, so a change to :mod:`~opencode_orchestrator.mission.contracts`
shows up in every prompt (and a stale prompt cannot ask for a field that no
longer exists).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel

__all__ = ["describe_fields", "list_fields"]

_Schema = dict[str, Any]


def _resolve(node: _Schema, defs: _Schema) -> _Schema:
    ref = node.get("$ref")
    if isinstance(ref, str):
        resolved: _Schema = defs[ref.rsplit("/", 1)[-1]]
        return resolved
    return node


def _object_of(node: _Schema, defs: _Schema) -> _Schema | None:
    """The object schema ``node`` holds, directly or as the items of a list."""
    node = _resolve(node, defs)
    if node.get("type") == "array":
        node = _resolve(node.get("items", {}), defs)
    return node if "properties" in node else None


def _kind(node: _Schema, defs: _Schema) -> str:
    node = _resolve(node, defs)
    if "enum" in node:
        values = [f'"{value}"' for value in node["enum"]]
        return ", ".join(values[:-1]) + f" or {values[-1]}" if len(values) > 1 else values[0]
    if "anyOf" in node:
        return " or ".join(_kind(option, defs) for option in node["anyOf"])
    kind = node.get("type", "value")
    if kind == "array":
        least = f" (at least {node['minItems']})" if node.get("minItems") else ""
        return f"list of {_kind(node.get('items', {}), defs)}s{least}"
    if kind == "object" or "properties" in node:
        return "object"
    if kind == "string" and "pattern" in node:
        return f"string matching {node['pattern']}, at most {node.get('maxLength', '-')} chars"
    if "minimum" in node and "maximum" in node:
        return f"{kind} {node['minimum']}-{node['maximum']}"
    return str(kind)


def _describe(schema: _Schema, defs: _Schema, indent: str) -> list[str]:
    required = set(schema.get("required", ()))
    lines = []
    for name, node in schema["properties"].items():
        mark = " (required)" if name in required else ""
        line = f"{indent}- `{name}`{mark}: {_kind(node, defs)}"
        if "description" in node:
            line += f". {node['description']}"
        lines.append(line)
        nested = _object_of(node, defs)
        if nested is not None:
            lines.extend(_describe(nested, defs, indent + "  "))
    return lines


def _names(schema: _Schema, defs: _Schema) -> str:
    required = set(schema.get("required", ()))
    names = []
    for name, node in schema["properties"].items():
        text = f"`{name}`" + ("*" if name in required else "")
        nested = _object_of(node, defs)
        if nested is not None:
            text += f" [{_names(nested, defs)}]"
        names.append(text)
    return ", ".join(names)


@cache
def describe_fields(model: type[BaseModel]) -> str:
    """A Markdown list of ``model``'s fields: type, whether required, and meaning.

    Nested objects (a plan's units, a verdict's findings) are listed under
    their field, indented.
    """
    schema = model.model_json_schema()
    return "\n".join(_describe(schema, schema.get("$defs", {}), ""))


@cache
def list_fields(model: type[BaseModel]) -> str:
    """One line naming ``model``'s fields, nested ones in brackets, ``*`` marking required."""
    schema = model.model_json_schema()
    return _names(schema, schema.get("$defs", {})) + " (* required)"
