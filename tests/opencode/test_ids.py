"""Ids in OpenCode's format: shape, order, and no two alike (a forked child included)."""

from __future__ import annotations

import os
import re

import pytest

from opencode_orchestrator.opencode.ids import IdKind, new_id, new_message_id

_SHAPE = re.compile(r"(?P<prefix>[a-z]+)_(?P<head>[0-9a-f]{12})(?P<tail>[0-9A-Za-z]{14})")


@pytest.mark.parametrize("kind", list(IdKind))
def test_an_id_has_its_prefix_twelve_hex_digits_and_fourteen_base62_characters(
    kind: IdKind,
) -> None:
    match = _SHAPE.fullmatch(new_id(kind))
    assert match is not None
    assert match["prefix"] == kind.prefix


def test_message_ids_sort_in_the_order_they_were_made_and_session_ids_newest_first() -> None:
    messages = [new_message_id() for _ in range(2_000)]
    sessions = [new_id(IdKind.SESSION) for _ in range(2_000)]
    assert messages == sorted(messages)
    assert sessions == sorted(sessions, reverse=True)


def test_no_two_ids_are_alike() -> None:
    made = [new_message_id() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    tails = {_SHAPE.fullmatch(m)["tail"] for m in made}  # type: ignore[index]
    assert len(tails) == len(made)


def test_a_forked_child_draws_other_tails_than_its_parent() -> None:
    # The tail comes from a generator seeded once; a child must not replay the
    # parent's sequence (two processes' ids would then differ by the clock alone).
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next tail, then out without running the test session's exit
        os.close(read)
        os.write(write, new_message_id()[-14:].encode())
        os._exit(0)
    os.close(write)
    parent_tail = new_message_id()[-14:]
    with os.fdopen(read, "rb") as pipe:
        child_tail = pipe.read().decode()
    os.waitpid(pid, 0)
    assert len(child_tail) == 14
    assert child_tail != parent_tail
