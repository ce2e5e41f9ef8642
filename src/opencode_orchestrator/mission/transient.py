"""Riding out a server that is briefly unreachable, failing or rate-limiting.

The client already retries each call a few times (about a second). A mission
runs for hours, so the engine is more patient: a call that still fails with a
*transient* error (connection refused or reset, timeout, 5xx, 429) is tried
again with a capped, jittered exponential backoff for up to
``timeouts.server_patience`` seconds; a 429 also lowers the provider's pool
limit. Past that the error propagates and the mission stops with it, its
journal intact, ready for ``resume``. Other errors (400, 404, ...) are never
retried here: they are answers, not outages.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import anyio

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.opencode.errors import (
    OpenCodeConnectionError,
    OpenCodeRateLimitedError,
    OpenCodeServerError,
    OpenCodeTimeoutError,
)

__all__ = ["TRANSIENT_ERRORS", "ride_out"]

_log = get_logger(__name__)
T = TypeVar("T")

TRANSIENT_ERRORS: Final = (
    OpenCodeConnectionError,
    OpenCodeTimeoutError,
    OpenCodeServerError,
    OpenCodeRateLimitedError,
)
_FIRST_DELAY: Final = 0.5
_MAX_DELAY: Final = 15.0


async def ride_out(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    patience: float,
    on_rate_limited: Callable[[], None] | None = None,
    retry: Callable[[], Awaitable[T]] | None = None,
) -> T:
    """``await call()``, tried again on transient errors for up to ``patience`` seconds.

    Args:
        call: The first try.
        what: Names the call in logs.
        patience: Seconds after which the last transient error is raised.
        on_rate_limited: Called on each 429.
        retry: What to await on later tries instead of ``call`` (e.g. check
            whether a non-idempotent request arrived before sending it again).
    """
    deadline = time.monotonic() + patience
    delay = _FIRST_DELAY
    attempt = call
    while True:
        try:
            return await attempt()
        except TRANSIENT_ERRORS as exc:
            if isinstance(exc, OpenCodeRateLimitedError) and on_rate_limited is not None:
                on_rate_limited()
            pause = delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto
            if time.monotonic() + pause > deadline:
                _log.error("mission.server.gave_up", call=what, error=str(exc))
                raise
            _log.warning("mission.server.transient", call=what, error=str(exc), retry_in=pause)
            await anyio.sleep(pause)
            delay = min(delay * 2, _MAX_DELAY)
            attempt = retry or call
