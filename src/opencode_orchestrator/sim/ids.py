"""Ids for the simulator's records and events, in OpenCode's format, made cheaply.

:func:`opencode_orchestrator.opencode.ids.new_id` draws each of an id's 14
random characters from :mod:`secrets`, ~15 µs an id; the simulator makes one
or two ids for every event it sends, which made id-making a sixth of its CPU.
Here the random tail is sliced from a pool drawn in bulk from a generator
seeded once by the OS: the simulator needs ids that do not collide, not ids
nobody can guess. The head (milliseconds and counter) comes from the same
clock ``new_id`` uses, so ids made here and by a client in the same process
(the tests) still sort in the order they were made.
"""

from __future__ import annotations

import random
from typing import Final

from opencode_orchestrator.opencode.ids import _CLOCK, IdKind

__all__ = ["IdKind", "new_id"]

_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RANDOM_CHARS: Final = 14
_MASK_48: Final = (1 << 48) - 1
_POOL_IDS: Final = 4096
"""Tails drawn at once: one ``choices`` call per 4,096 ids."""


class _Tails:
    """Random base-62 tails, sliced from a pool that is refilled when used up."""

    def __init__(self) -> None:
        self._rng = random.Random()  # noqa: S311 - unique ids, not secrets
        self._pool = ""
        self._at = 0

    def next(self) -> str:
        at = self._at
        if at + _RANDOM_CHARS > len(self._pool):
            self._pool = "".join(self._rng.choices(_BASE62, k=_RANDOM_CHARS * _POOL_IDS))
            at = 0
        self._at = at + _RANDOM_CHARS
        return self._pool[at : at + _RANDOM_CHARS]


_TAILS: Final = _Tails()


def new_id(kind: IdKind) -> str:
    """A fresh id of ``kind``, as :func:`opencode_orchestrator.opencode.ids.new_id` makes it."""
    number = _CLOCK.next()
    if kind.descending:
        number = ~number
    return f"{kind.prefix}_{number & _MASK_48:012x}{_TAILS.next()}"
