"""Argument types that check their range as the command line is parsed.

A value out of range is a usage error (exit 2) that names what is allowed,
in the words of the configuration's errors::

    run: error: argument --sim-units: must be an integer from 1 to 10000, got '100000'

rather than a traceback from whatever the value reaches first (a model's
validation, the journal's 64-bit integers, ``bind()``). Flags that set a
configuration key take its bounds from the schema (:func:`field_integer`,
:func:`field_number`), so the two cannot drift apart.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from typing import Any, Final, cast
from urllib.parse import urlsplit

import annotated_types
from pydantic import BaseModel

from opencode_orchestrator.config.describe import Slot, describe

__all__ = [
    "INT64_MAX",
    "command",
    "field_integer",
    "field_number",
    "http_url",
    "integer",
    "number",
    "positive_number",
]

INT64_MAX: Final = 2**63 - 1
"""The largest integer the journal and the JSON files (orjson) can hold."""


def integer(low: int, high: int = INT64_MAX) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high``."""
    allowed = describe(Slot(int, [annotated_types.Ge(low), annotated_types.Le(high)]))

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
        return value

    return parse


def number(bounds: Sequence[Any]) -> Callable[[str], float]:
    """An argparse type: a finite number within ``bounds`` (``annotated_types`` Ge, Gt, Le, Lt)."""
    allowed = describe(Slot(float, list(bounds)))

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) and text.strip().lower().lstrip("+-") in _NOT_FINITE:
            # float() reads "inf" and "nan": say why such a number is no answer.
            finite = allowed.replace("a number", "a finite number", 1)
            raise argparse.ArgumentTypeError(f"must be {finite}, got {text!r}")
        if not (math.isfinite(value) and all(_within(value, bound) for bound in bounds)):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
        return value

    return parse


_NOT_FINITE: Final = frozenset({"inf", "infinity", "nan"})

positive_number: Final = number([annotated_types.Gt(0)])
"""An argparse type: a finite number greater than 0."""


def _within(value: float, bound: Any) -> bool:
    limit = _limit(bound)
    if isinstance(bound, annotated_types.Ge):
        return value >= limit
    if isinstance(bound, annotated_types.Gt):
        return value > limit
    if isinstance(bound, annotated_types.Le):
        return value <= limit
    if isinstance(bound, annotated_types.Lt):
        return value < limit
    return True


def _limit(bound: Any) -> float:
    """The number in an ``annotated_types`` bound (``Ge(1).ge`` is 1)."""
    return cast("float", getattr(bound, type(bound).__name__.lower()))


def _bounds(model: type[BaseModel], name: str) -> list[Any]:
    kinds = (annotated_types.Ge, annotated_types.Gt, annotated_types.Le, annotated_types.Lt)
    return [item for item in model.model_fields[name].metadata if isinstance(item, kinds)]


def field_integer(model: type[BaseModel], name: str) -> Callable[[str], int]:
    """An integer within the bounds ``model`` gives its field ``name`` (64-bit at most)."""
    low, high = -INT64_MAX - 1, INT64_MAX
    for bound in _bounds(model, name):
        limit = int(_limit(bound))
        if isinstance(bound, annotated_types.Ge):
            low = limit
        elif isinstance(bound, annotated_types.Gt):
            low = limit + 1
        elif isinstance(bound, annotated_types.Le):
            high = limit
        elif isinstance(bound, annotated_types.Lt):
            high = limit - 1
    return integer(low, high)


def field_number(model: type[BaseModel], name: str) -> Callable[[str], float]:
    """A finite number within the bounds ``model`` gives its field ``name``."""
    return number(_bounds(model, name))


def http_url(text: str) -> str:
    """An argparse type: an ``http://`` or ``https://`` URL with a host (and a valid port)."""
    url = text.strip()
    try:
        parts = urlsplit(url)
        _ = parts.port  # ValueError: a port that is no number, or out of 0-65535
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {text!r}")
    return url


def command(text: str) -> str:
    """An argparse type: a shell command, not empty or blank."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a shell command, got {text!r}")
    return text
