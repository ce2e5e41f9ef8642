"""Calls under the default timeout, timed out by the shared deadline watcher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencode_orchestrator.jsonrpc import (
    Endpoint,
    RequestTimeoutError,
    memory_stream_pair,
)
from opencode_orchestrator.jsonrpc import messages as wire

pytestmark = pytest.mark.anyio

started: list[anyio.Event] = []  # set when the server's ``hang`` starts (one per test)


@asynccontextmanager
async def serving(request_timeout: float | None) -> AsyncIterator[tuple[Endpoint, anyio.Event]]:
    """A client with ``request_timeout`` and a server whose ``hang`` waits until cancelled.

    Yields the client and the event set when ``hang`` was cancelled.
    """
    a, b = memory_stream_pair()
    server, client = Endpoint(a), Endpoint(b, request_timeout=request_timeout)
    cancelled = anyio.Event()
    started[:] = [anyio.Event()]

    @server.method("hang")
    async def hang(params: object) -> None:
        started[0].set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    @server.method("echo")
    def echo(params: object) -> object:
        return params

    async with server, client:
        yield client, cancelled
    await a.aclose()


async def test_a_hanging_call_times_out_while_others_are_answered() -> None:
    async with serving(0.05) as (client, cancelled):
        outcomes: dict[str, object] = {}

        async def hang() -> None:
            with pytest.raises(RequestTimeoutError):
                await client.call("hang")
            outcomes["hang"] = "timed out"

        async with anyio.create_task_group() as tg:
            tg.start_soon(hang)
            for i in range(20):
                assert await client.call("echo", [i]) == [i]
        assert outcomes == {"hang": "timed out"}
        with anyio.fail_after(5):
            await cancelled.wait()  # the timeout sent $/cancelRequest
        # The watcher, idle again, wakes for the next call.
        assert await client.call("echo", {"again": True}) == {"again": True}
        with pytest.raises(RequestTimeoutError):
            await client.call("hang")


async def test_caller_cancellation_under_the_default_timeout_cancels_the_remote_request() -> None:
    async with serving(30.0) as (client, cancelled):
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.call, "hang")
            with anyio.fail_after(5):
                await started[0].wait()
            tg.cancel_scope.cancel()
        with anyio.fail_after(5):
            await cancelled.wait()  # the cancelled call sent $/cancelRequest
        assert await client.call("echo", [1]) == [1]


async def test_no_default_timeout_waits_for_the_answer() -> None:
    async with serving(None) as (client, _cancelled):
        assert await client.call("echo", {"a": 1}) == {"a": 1}


_ids = st.sampled_from([1, "a", None, True, 1.5, [1]])
_responses = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0", None]),
        "id": _ids,
        "method": st.sampled_from(["echo", None]),
        "params": st.none() | st.lists(st.integers(0, 9), max_size=2),
        "result": st.none() | st.integers(-(2**63), 2**63 - 1),
        "error": st.none() | st.just({"code": 1, "message": "m"}),
    },
)


@given(message=_responses)
def test_the_classification_shortcuts_decide_as_the_general_rules(message: dict[str, Any]) -> None:
    line = orjson.dumps(message)
    assert wire.parse_line(line) == wire._classify_slowly(orjson.loads(line))
