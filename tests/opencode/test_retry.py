"""Backoff with full jitter, Retry-After parsing, the reconnect backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from opencode_orchestrator.opencode.retry import Backoff, RetryPolicy, parse_retry_after


def test_backoff_grows_exponentially_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=0.5)
    ceilings = [policy.backoff(n, lambda: 1.0) for n in range(1, 6)]
    assert ceilings == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])


def test_backoff_after_thousands_of_failures_stays_at_its_cap() -> None:
    # A stream retries for as long as its patience: 2.0 ** 1024 overflowed after
    # a few hours of outage at a 15 s cap, and ended the mission with an OverflowError.
    backoff = Backoff(RetryPolicy(base_delay=0.5, max_delay=15.0), lambda: 1.0)
    delays = [backoff.next_delay() for _ in range(5000)]
    assert delays[-1] == 15.0
    assert RetryPolicy(max_delay=5.0).backoff(10**9, lambda: 1.0) == 5.0


def test_full_jitter_draws_between_zero_and_the_ceiling() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=10.0)
    assert policy.backoff(3, lambda: 0.0) == 0.0
    assert policy.backoff(3, lambda: 0.25) == pytest.approx(1.0)


def test_retry_after_wins_over_backoff_but_is_capped() -> None:
    policy = RetryPolicy(max_retry_after=60.0)
    assert policy.retry_after_delay(7.0, 1, lambda: 0.5) == 7.0
    assert policy.retry_after_delay(3600.0, 1, lambda: 0.5) == 60.0
    assert policy.retry_after_delay(None, 1, lambda: 0.5) == policy.backoff(1, lambda: 0.5)


@pytest.mark.parametrize("bad", [{"max_attempts": 0}, {"base_delay": -1.0}])
def test_policy_refuses_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is ours
        RetryPolicy(**bad)  # type: ignore[arg-type]


def test_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("-3") == 0.0
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(30.0)
    earlier = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "inf"])
def test_unparseable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_reconnect_backoff_resets_after_success() -> None:
    backoff = Backoff(RetryPolicy(base_delay=1.0, max_delay=100.0), rand=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(3)] == [1.0, 2.0, 4.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0
