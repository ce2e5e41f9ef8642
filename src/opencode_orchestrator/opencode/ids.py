"""Identifiers in OpenCode's format: ``ses_``, ``msg_``, ``prt_``, ``evt_``, ``per_``.

OpenCode builds an id from a 6-byte big-endian number, ``milliseconds * 4096 +
counter`` (bit-inverted for "descending" kinds, so the newest session sorts
first), written as 12 hex digits, followed by 14 random base-62 characters.
Ids made here sort the same way. The simulator hands them out; the mission
engine makes its own user message ids with :func:`new_message_id`, so that the
id is written to the WAL *before* the prompt is sent and a resumed core can ask
OpenCode whether that exact message arrived (404 = never delivered).
"""

from __future__ import annotations

import enum
import os
import random
import threading
import time
from typing import Final

__all__ = ["IdKind", "new_id", "new_message_id"]

_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RANDOM_CHARS: Final = 14
_MASK_48: Final = (1 << 48) - 1


class IdKind(enum.Enum):
    """The kinds of id the simulator hands out: prefix, and whether they sort newest-first."""

    SESSION = ("ses", True)
    MESSAGE = ("msg", False)
    PART = ("prt", False)
    EVENT = ("evt", False)
    PERMISSION = ("per", False)
    TOOL_CALL = ("call", False)

    @property
    def prefix(self) -> str:
        """The id's prefix, before the underscore."""
        return self.value[0]

    @property
    def descending(self) -> bool:
        """Whether newer ids sort before older ones."""
        return self.value[1]


class _Clock:
    """Millisecond timestamp plus a counter, strictly increasing across calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def next(self) -> int:
        with self._lock:
            now = int(time.time() * 1000)
            if now != self._last_ms:
                self._last_ms, self._counter = now, 0
            self._counter += 1
            return now * 0x1000 + self._counter


_CLOCK: Final = _Clock()
_TAIL_SPACE: Final = 62**_RANDOM_CHARS
# The tail keeps ids of different processes apart; the clock already orders a
# process's own. It needs no secrecy, so it comes from a generator seeded once
# from the OS (again in a forked child): ``secrets`` made a ``getrandom`` call
# per id, and that call lets go of the GIL, which the event loop then waited
# to get back from the log and WAL threads.
_TAIL: Final = random.Random()  # noqa: S311 (unique, not secret)
os.register_at_fork(after_in_child=_TAIL.seed)


def new_id(kind: IdKind) -> str:
    """A fresh id of ``kind`` in OpenCode's format."""
    number = _CLOCK.next()
    if kind.descending:
        number = ~number & _MASK_48
    head = (number & _MASK_48).to_bytes(6, "big").hex()
    draw = _TAIL.randrange(_TAIL_SPACE)
    chars = []
    for _ in range(_RANDOM_CHARS):
        draw, digit = divmod(draw, 62)
        chars.append(_BASE62[digit])
    return f"{kind.prefix}_{head}{''.join(chars)}"


def new_message_id() -> str:
    """A fresh ``msg_`` id that sorts after every message id made before it."""
    return new_id(IdKind.MESSAGE)
