"""When to try a request again, and how long to wait first.

Delays use exponential backoff with *full jitter* (a uniform draw in
``[0, min(max_delay, base_delay * 2**(n-1))]``): many clients that failed at
the same moment spread out instead of hammering a recovering server together.
A ``Retry-After`` header, when present, wins over the computed delay but is
capped, so a confused server cannot park us for an hour.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeAlias

__all__ = ["Backoff", "RandomSource", "RetryPolicy", "Sleep", "parse_retry_after"]

_MAX_DOUBLINGS = 64
"""Past this many, every delay is ``max_delay`` anyway (for any sane base and cap)."""

Sleep: TypeAlias = Callable[[float], Awaitable[None]]
"""An awaitable sleep, ``anyio.sleep`` in production; injectable for tests."""

RandomSource: TypeAlias = Callable[[], float]
"""Returns a float in ``[0, 1)``, ``random.random`` in production."""


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to try, and the backoff between tries.

    Attributes:
        max_attempts: Total tries including the first; 1 disables retries.
        base_delay: The cap of the first backoff draw, in seconds.
        max_delay: The largest backoff draw, in seconds.
        max_retry_after: The largest ``Retry-After`` honoured, in seconds.
    """

    max_attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, attempt: int, rand: RandomSource = random.random) -> float:
        """The full-jitter delay before try ``attempt + 1``, after ``attempt`` failures (>= 1)."""
        # The exponent is capped: a stream retries for as long as its patience, and
        # 2.0 ** 1024 overflows (an outage of a few hours at a 15 s cap got there).
        doubling = min(max(0, attempt - 1), _MAX_DOUBLINGS)
        ceiling = min(self.max_delay, self.base_delay * (2.0**doubling))
        return ceiling * rand()

    def retry_after_delay(
        self, retry_after: float | None, attempt: int, rand: RandomSource
    ) -> float:
        """The server's ``Retry-After`` capped by :attr:`max_retry_after`, else :meth:`backoff`."""
        if retry_after is None:
            return self.backoff(attempt, rand)
        return min(retry_after, self.max_retry_after)


@dataclass
class Backoff:
    """The running delay between reconnects of a long-lived stream.

    Unlike a request, a stream retries forever; :meth:`reset` after a
    successful connect so a server that blips once a day does not inherit the
    delay of yesterday's outage.
    """

    policy: RetryPolicy
    rand: RandomSource = field(default=random.random)
    failures: int = 0

    def next_delay(self) -> float:
        """Count one more failure and return the delay before the next try."""
        self.failures += 1
        return self.policy.backoff(self.failures, self.rand)

    def reset(self) -> None:
        """Forget past failures (call after a successful connect)."""
        self.failures = 0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Returns ``None`` when the header is absent or unparseable; a date in the
    past gives ``0.0``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # NaN and infinities are not delays a server can mean.
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())
