"""The pooled HTTP connection to one OpenCode server: auth, timeouts, retries, error mapping.

Requests go out through a :class:`~.wire.Wire`: aiohttp's pool
(:class:`~.transport.AiohttpWire`) when the client owns its network, or an
injected httpx transport (:class:`~.wire.HttpxWire`, e.g. ``httpx.MockTransport``
in tests). Neither is an :class:`httpx.AsyncClient`: its machinery (URL merging,
auth flow, cookie jar, redirects) was half of the CPU a call cost and none of
it is needed here: the URL, query and auth header are built once or by
:meth:`OpenCodeHttp._target`, OpenCode sets no cookies and does not redirect its API.

Every request carries ``?directory=`` when a directory is set, and basic auth
(user ``opencode``) when a password is given or ``OPENCODE_SERVER_PASSWORD`` is
set. What is retried::

    failure                          idempotent call        non-idempotent call
    connect error / connect timeout  retry                  retry (never sent)
    read error / read timeout        retry                  raise at once
    5xx                              retry                  raise at once
    429                              retry after Retry-After (capped), every call
    other 4xx                        raise at once          raise at once
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final
from urllib.parse import urlencode

import anyio
import httpx
import orjson
from httpx_sse import EventSource

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.opencode.errors import (
    OpenCodeConnectionError,
    OpenCodeProtocolError,
    OpenCodeRateLimitedError,
    OpenCodeTimeoutError,
    http_error_for,
)
from opencode_orchestrator.opencode.retry import RandomSource, RetryPolicy, Sleep, parse_retry_after
from opencode_orchestrator.opencode.transport import AiohttpWire
from opencode_orchestrator.opencode.wire import HttpxWire, Reply, Timeouts, Wire

__all__ = ["AUTH_USER", "PASSWORD_ENV", "OpenCodeHttp", "Timeouts"]

AUTH_USER: Final = "opencode"
PASSWORD_ENV: Final = "OPENCODE_SERVER_PASSWORD"  # noqa: S105 - a variable name, not a secret

_log = get_logger(__name__)

_JSON_HEADERS: Final = {"content-type": "application/json"}

# The request was never sent: safe to try again whatever the method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class OpenCodeHttp:
    """Requests to one server through one pooled wire.

    Args:
        base_url: e.g. ``http://127.0.0.1:4096``.
        password: Basic-auth password; defaults to ``$OPENCODE_SERVER_PASSWORD``.
        directory: Project directory sent as ``?directory=`` on every request.
        transport: Replaces the network (``httpx.MockTransport`` in tests); without
            one, requests go straight to aiohttp.
        timeouts: Per-phase timeouts.
        retry: Attempts and backoff for retryable failures.
        sleep: The sleep between attempts (injectable for tests).
        rand: The jitter source (injectable for tests).
    """

    def __init__(
        self,
        base_url: str,
        *,
        password: str | None = None,
        directory: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = anyio.sleep,
        rand: RandomSource = random.random,
    ) -> None:
        secret = password if password is not None else os.environ.get(PASSWORD_ENV)
        self.base_url = base_url.rstrip("/")
        self.directory = directory
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rand = rand
        self._directory_query = f"?{urlencode({'directory': directory})}" if directory else ""
        self._wire: Wire = (
            AiohttpWire(self.timeouts) if transport is None else HttpxWire(transport, self.timeouts)
        )
        auth = httpx.BasicAuth(AUTH_USER, secret) if secret else None
        self._headers = _auth_headers(auth)
        self._json_headers = {**self._headers, **_JSON_HEADERS}

    def _params(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        merged = {k: v for k, v in (params or {}).items() if v is not None}
        if self.directory is not None:
            merged.setdefault("directory", self.directory)
        return merged

    def _target(self, path: str, params: Mapping[str, Any] | None) -> str:
        """The absolute URL with its query, encoded as httpx would (bools as true/false).

        Built here rather than by httpx from ``base_url`` and ``params``: merging
        and re-encoding them was a tenth of the client's CPU per request.
        """
        if not params:
            return f"{self.base_url}{path}{self._directory_query}"
        query = {
            k: ("true" if v else "false") if isinstance(v, bool) else v
            for k, v in self._params(params).items()
        }
        return f"{self.base_url}{path}?{urlencode(query)}" if query else self.url(path)

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (for messages)."""
        return f"{self.base_url}{path}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        long: bool = False,
    ) -> Reply:
        """Send a request with retries; return the 2xx reply (body read) or raise a mapped error.

        Args:
            method: HTTP method.
            path: Path below the base URL, e.g. ``/session``.
            idempotent: Whether sending it twice is harmless; decides what is retried.
            json: The JSON body, if any.
            params: Query parameters (``None`` values dropped).
            long: Use the turn-long read timeout (:attr:`Timeouts.prompt`).

        Raises:
            OpenCodeConnectionError: Unreachable after the allowed attempts.
            OpenCodeTimeoutError: No answer within the read timeout.
            OpenCodeHTTPError: A non-2xx status (a subclass per status).
        """
        url = self.url(path)
        target = self._target(path, params)
        body = None if json is None else orjson.dumps(json)
        headers = self._headers if body is None else self._json_headers
        attempt = 0
        while True:
            attempt += 1
            may_retry = attempt < self.retry.max_attempts
            try:
                response = await self._wire.send(
                    method, target, body=body, headers=headers, long=long
                )
            except _NOT_SENT as exc:
                if not may_retry:
                    raise OpenCodeConnectionError(url, attempt, _describe(exc)) from exc
                await self._pause(method, url, attempt, _describe(exc))
                continue
            except httpx.TimeoutException as exc:
                if not (idempotent and may_retry):
                    raise OpenCodeTimeoutError(method, url, _describe(exc)) from exc
                await self._pause(method, url, attempt, _describe(exc))
                continue
            except httpx.TransportError as exc:
                if not (idempotent and may_retry):
                    # The request may have reached the server; its outcome is unknown.
                    raise OpenCodeConnectionError(
                        url, attempt, f"{_describe(exc)} after the request was sent"
                    ) from exc
                await self._pause(method, url, attempt, _describe(exc))
                continue
            status = response.status
            if status == 429:
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                if not may_retry:
                    raise OpenCodeRateLimitedError(
                        method, url, status, _body(response), retry_after
                    )
                delay = self.retry.retry_after_delay(retry_after, attempt, self._rand)
                await self._pause(method, url, attempt, "429 rate limited", delay)
                continue
            if status >= 500 and idempotent and may_retry:
                await self._pause(method, url, attempt, f"status {status}")
                continue
            if status >= 400:
                raise http_error_for(method, url, status, _body(response))
            return response

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        long: bool = False,
    ) -> Any:
        """:meth:`request`, then decode the JSON body.

        Raises:
            OpenCodeProtocolError: The body is not JSON.
        """
        response = await self.request(
            method, path, idempotent=idempotent, json=json, params=params, long=long
        )
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise OpenCodeProtocolError(
                f"{method} {self.url(path)}: response is not JSON: {response.text[:200]!r}"
            ) from exc

    @asynccontextmanager
    async def open_sse(self, path: str) -> AsyncIterator[EventSource]:
        """Open an SSE stream once (no retries: the caller owns reconnecting).

        The read timeout is off; the caller's watchdog decides when a silent
        stream is dead.

        Raises:
            OpenCodeConnectionError: The server could not be reached.
            OpenCodeHTTPError: The server answered the subscription with an error status.
        """
        url = self.url(path)
        try:
            async with self._wire.stream(self._target(path, None), self._headers) as response:
                if response.status_code >= 400:
                    reply = Reply(response.status_code, response.headers, await response.aread())
                    raise http_error_for("GET", url, reply.status, _body(reply))
                yield EventSource(response)
        except (httpx.ConnectError, httpx.TimeoutException) as exc:
            raise OpenCodeConnectionError(url, 1, _describe(exc)) from exc

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._wire.aclose()

    async def _pause(
        self, method: str, url: str, attempt: int, reason: str, delay: float | None = None
    ) -> None:
        wait = delay if delay is not None else self.retry.backoff(attempt, self._rand)
        _log.info(
            "opencode.http.retry",
            method=method,
            url=url,
            attempt=attempt,
            reason=reason,
            delay=round(wait, 3),
        )
        await self._sleep(wait)


def _auth_headers(auth: httpx.BasicAuth | None) -> dict[str, str]:
    """The ``Authorization`` header ``auth`` adds to every request (none without a password)."""
    if auth is None:
        return {}
    flow = auth.sync_auth_flow(httpx.Request("GET", "http://opencode.invalid/"))
    return {"authorization": next(flow).headers["authorization"]}


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _body(response: Reply) -> object:
    try:
        return response.json()
    except ValueError:
        return response.text
