"""Ids for the simulator's records and events, in OpenCode's format, made cheaply.

:func:`opencode_orchestrator.opencode.ids.new_id` draws each of an id's 14
random characters from :mod:`secrets`, ~15 µs an id; the simulator makes one
or two ids for every event it sends, which made id-making a sixth of its CPU.
Here the random tail is sliced from a pool of OS-random characters made in
bulk: each random byte below 248 (four times 62) becomes one base-62 character, so
every character is equally likely, and a pool of 4,096 tails costs one
``os.urandom`` and one ``bytes.translate``. The head (milliseconds and
counter) comes from the same clock ``new_id`` uses, so ids made here and by a
client in the same process (the tests) still sort in the order they were made.
"""

from __future__ import annotations

import os
from typing import Final

from opencode_orchestrator.opencode.ids import _CLOCK, IdKind

__all__ = ["IdKind", "new_id"]

_BASE62: Final = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TO_BASE62: Final = bytes(_BASE62[byte % 62] for byte in range(256))
_UNEVEN: Final = bytes(range(4 * 62, 256))
"""Bytes dropped from the pool: kept, they would make the first eight characters likelier."""
_RANDOM_CHARS: Final = 14
_MASK_48: Final = (1 << 48) - 1
_POOL_BYTES: Final = _RANDOM_CHARS * 4096 * 256 // (4 * 62)
"""Random bytes drawn at once: ~4,096 tails once the uneven bytes are dropped."""


class _Tails:
    """Random base-62 tails, sliced from a pool that is refilled when used up."""

    def __init__(self) -> None:
        self._pool = ""
        self._at = 0

    def next(self) -> str:
        at = self._at
        if at + _RANDOM_CHARS > len(self._pool):
            self._pool = os.urandom(_POOL_BYTES).translate(_TO_BASE62, _UNEVEN).decode()
            at = 0
        self._at = at + _RANDOM_CHARS
        return self._pool[at : at + _RANDOM_CHARS]


_TAILS: Final = _Tails()


def new_id(kind: IdKind) -> str:
    """A fresh id of ``kind``, as :func:`opencode_orchestrator.opencode.ids.new_id` makes it."""
    # `_value_` is (prefix, descending); read directly, it skips two enum descriptors.
    prefix, descending = kind._value_
    number = _CLOCK.next()
    if descending:
        number = ~number
    return f"{prefix}_{number & _MASK_48:012x}{_TAILS.next()}"
