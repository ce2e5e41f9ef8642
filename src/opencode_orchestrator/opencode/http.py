"""The pooled HTTP connection to one OpenCode server: auth, timeouts, retries, error mapping.

One pooled transport per server keeps connections alive between calls.
Ordinary calls hand an :class:`httpx.Request` straight to it; only the event
stream goes through an :class:`httpx.AsyncClient` (on the same transport).
The client's own machinery (URL merging, auth flow, cookie jar, redirects)
was half of the CPU a call cost and none of it is needed here: the URL, query
and auth header are built once or by :meth:`OpenCodeHttp._target`, OpenCode
sets no cookies and does not redirect its API.

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
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

import anyio
import httpx
import orjson
from httpx_sse import EventSource, aconnect_sse

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.opencode.errors import (
    OpenCodeConnectionError,
    OpenCodeProtocolError,
    OpenCodeRateLimitedError,
    OpenCodeTimeoutError,
    http_error_for,
)
from opencode_orchestrator.opencode.retry import RandomSource, RetryPolicy, Sleep, parse_retry_after
from opencode_orchestrator.opencode.transport import OpenCodeTransport

__all__ = ["AUTH_USER", "PASSWORD_ENV", "OpenCodeHttp", "Timeouts"]

AUTH_USER: Final = "opencode"
PASSWORD_ENV: Final = "OPENCODE_SERVER_PASSWORD"  # noqa: S105 - a variable name, not a secret

_log = get_logger(__name__)

_JSON_HEADERS: Final = {"content-type": "application/json"}

# The request was never sent: safe to try again whatever the method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait, per phase of a request.

    Attributes:
        connect: Establishing the TCP connection; small, so a dead server is seen quickly.
        read: Waiting for a response to an ordinary call.
        write: Sending the request.
        pool: Waiting for a free pooled connection.
        prompt: Reading the answer of a call that runs a whole turn (blocking prompt,
            shell, command). 30 minutes: long enough for an agent turn with tools,
            bounded so a wedged server is reported rather than waited on forever.
            ``None`` waits forever.
    """

    connect: float = 2.0
    read: float = 30.0
    write: float = 30.0
    pool: float = 10.0
    prompt: float | None = 1800.0

    def httpx(self, read: float | None = None, *, long: bool = False) -> httpx.Timeout:
        """The :class:`httpx.Timeout` for an ordinary (or, with ``long``, a turn-long) call."""
        chosen = read if read is not None else (self.prompt if long else self.read)
        return httpx.Timeout(connect=self.connect, read=chosen, write=self.write, pool=self.pool)


class OpenCodeHttp:
    """Requests to one server through one pooled transport.

    Args:
        base_url: e.g. ``http://127.0.0.1:4096``.
        password: Basic-auth password; defaults to ``$OPENCODE_SERVER_PASSWORD``.
        directory: Project directory sent as ``?directory=`` on every request.
        transport: Replaces the network (``httpx.MockTransport`` in tests).
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
        # Request extensions carry the timeout as httpx's client would set it.
        self._call_timeouts = {
            False: {"timeout": self.timeouts.httpx().as_dict()},
            True: {"timeout": self.timeouts.httpx(long=True).as_dict()},
        }
        auth = httpx.BasicAuth(AUTH_USER, secret) if secret else None
        self._transport = transport if transport is not None else OpenCodeTransport()
        self._headers = _auth_headers(auth)
        self._json_headers = {**self._headers, **_JSON_HEADERS}
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            auth=auth,
            transport=self._transport,
            timeout=self.timeouts.httpx(),
        )

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
    ) -> httpx.Response:
        """Send a request with retries; return the 2xx response or raise a mapped error.

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
        extensions = self._call_timeouts[long]
        body = None if json is None else orjson.dumps(json)
        headers = self._headers if body is None else self._json_headers
        attempt = 0
        while True:
            attempt += 1
            may_retry = attempt < self.retry.max_attempts
            try:
                response = await self._send(
                    httpx.Request(
                        method, target, content=body, headers=headers, extensions=extensions
                    )
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
            status = response.status_code
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

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """One round trip: the response with its body read, the connection back in the pool."""
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        response.request = request
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
        timeout = httpx.Timeout(
            connect=self.timeouts.connect, read=None, write=self.timeouts.write, pool=None
        )
        try:
            async with aconnect_sse(
                self._client, "GET", path, params=self._params(None), timeout=timeout
            ) as source:
                response = source.response
                if response.status_code >= 400:
                    await response.aread()
                    raise http_error_for("GET", url, response.status_code, _body(response))
                yield source
        except (httpx.ConnectError, httpx.TimeoutException) as exc:
            raise OpenCodeConnectionError(url, 1, _describe(exc)) from exc

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()  # closes the shared transport too

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


def _body(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return response.text
