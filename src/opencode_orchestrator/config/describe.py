"""What the schema allows at a key, in words: for error messages and the reference.

``limits.concurrency`` → ``an integer from 1 to 500``; ``wal.fsync`` →
``one of "always", "interval"``. The words come from the fields' types and
their constraints (``ge``, ``gt``, ``le``, ``lt``, ``pattern``, and the
``examples`` beside them), wherever they are written (on the field, or in an
``Annotated`` type inside a dict or an optional), so they cannot drift from
what validation enforces.
"""

from __future__ import annotations

import enum
import json
import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

__all__ = ["Slot", "describe", "field_keys", "slot_at"]


@dataclass(frozen=True, slots=True)
class Slot:
    """What a key path holds: its type (``None`` and ``Annotated`` removed) and its constraints.

    Attributes:
        annotation: the type, without ``| None`` or ``Annotated``.
        metadata: the constraints (``annotated_types.Ge``, a ``pattern``, ``examples``...).
        nullable: whether ``null`` is allowed.
    """

    annotation: Any
    metadata: Sequence[Any] = ()
    nullable: bool = False


def _slot(annotation: Any, metadata: Sequence[Any] = ()) -> Slot:
    nullable = False
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            annotation, nullable = args[0], len(args) < len(get_args(annotation))
    found = list(metadata)
    if get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        for item in extra:
            # Field(...) inside Annotated: its constraints, and itself for its examples.
            found += [*item.metadata, item] if isinstance(item, FieldInfo) else [item]
    return Slot(annotation, found, nullable)


def slot_at(model: type[BaseModel], path: Sequence[str | int]) -> Slot | None:
    """The slot at ``path`` under ``model``; ``None`` if the schema has no such key."""
    slot = Slot(model)
    for key in path:
        annotation = slot.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(str(key))
            if info is None:
                return None
            slot = _slot(info.annotation, info.metadata)
        elif get_origin(annotation) is dict:
            slot = _slot(get_args(annotation)[1])
        elif get_origin(annotation) is list and isinstance(key, int):
            slot = _slot(get_args(annotation)[0])
        else:
            return None
    return slot


def field_keys(model: type[BaseModel], path: Sequence[str | int]) -> list[str]:
    """The keys the object at ``path`` may have (empty when any key goes, or none)."""
    slot = slot_at(model, path)
    if slot is None:
        return []
    annotation = slot.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _bounds(metadata: Sequence[Any]) -> str:
    low = high = ""
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            low = f"at least {_number(item.ge)}"
        elif isinstance(item, annotated_types.Gt):
            low = f"greater than {_number(item.gt)}"
        elif isinstance(item, annotated_types.Le):
            high = f"at most {_number(item.le)}"
        elif isinstance(item, annotated_types.Lt):
            high = f"less than {_number(item.lt)}"
    if low.startswith("at least") and high.startswith("at most"):
        return f"from {low.removeprefix('at least ')} to {high.removeprefix('at most ')}"
    return " and ".join(part for part in (low, high) if part)


def _form(metadata: Sequence[Any]) -> str:
    """``matching <pattern>`` and ``(e.g. <examples>)``, for a constrained string."""
    pattern = next((p for item in metadata if (p := getattr(item, "pattern", None))), None)
    examples = next(
        (e for item in metadata if isinstance(item, FieldInfo) and (e := item.examples)), None
    )
    parts = [f"matching `{pattern}`"] if pattern else []
    if examples:
        parts.append("(e.g. " + ", ".join(json.dumps(e) for e in examples) + ")")
    return " ".join(parts)


def _choices(values: Sequence[Any]) -> str:
    return "one of " + ", ".join(json.dumps(v) for v in values)


def describe(slot: Slot) -> str:
    """What the slot allows, as a phrase (``an integer from 1 to 500``)."""
    annotation = slot.annotation
    text = _describe_type(annotation)
    for constraint in (_bounds(slot.metadata), _form(slot.metadata)):
        if constraint:
            text = f"{text} {constraint}"
    if slot.nullable:
        text = f"{text}, or null"
    return text


def _describe_type(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return _choices(get_args(annotation))
    if origin is dict:
        return f"an object whose values are each {describe(_slot(get_args(annotation)[1]))}"
    if origin is list:
        return f"a list, each item {describe(_slot(get_args(annotation)[0]))}"
    if isinstance(annotation, type):
        if issubclass(annotation, bool):
            return "true or false"
        if issubclass(annotation, enum.Enum):
            return _choices([member.value for member in annotation])
        if issubclass(annotation, int):
            return "an integer"
        if issubclass(annotation, float):
            return "a number"
        if issubclass(annotation, str):
            return "a string"
        if issubclass(annotation, BaseModel):
            return "an object with the keys " + ", ".join(annotation.model_fields)
    return str(annotation)
