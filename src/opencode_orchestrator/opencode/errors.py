"""Errors of the OpenCode HTTP client, each with a stable string ``code``.

The tree, all of it below :class:`~opencode_orchestrator.errors.OrchestratorError`::

    OpenCodeError                      opencode
    ├── OpenCodeConnectionError        opencode.connection      unreachable after retries
    ├── OpenCodeTimeoutError           opencode.timeout         no answer within the timeout
    ├── OpenCodeHTTPError              opencode.http            any other non-2xx status
    │   ├── OpenCodeBadRequestError    opencode.http.bad_request    400
    │   ├── OpenCodeAuthError          opencode.http.auth           401
    │   ├── OpenCodeNotFoundError      opencode.http.not_found      404
    │   ├── OpenCodeConflictError      opencode.http.conflict       409 (session busy)
    │   ├── OpenCodeRateLimitedError   opencode.http.rate_limited   429, after retries
    │   └── OpenCodeServerError        opencode.http.server         5xx
    ├── OpenCodeAPIError               opencode.api             error object in a message
    │   ├── OpenCodeProviderAPIError       opencode.api.provider          APIError
    │   ├── OpenCodeAbortedError           opencode.api.aborted           MessageAbortedError
    │   ├── OpenCodeStructuredOutputError  opencode.api.structured_output StructuredOutputError
    │   ├── OpenCodeContextOverflowError   opencode.api.context_overflow  ContextOverflowError
    │   ├── OpenCodeProviderAuthError      opencode.api.provider_auth     ProviderAuthError
    │   ├── OpenCodeOutputLengthError      opencode.api.output_length     MessageOutputLengthError
    │   ├── OpenCodeContentFilterError     opencode.api.content_filter    ContentFilterError
    │   └── OpenCodeUnknownError           opencode.api.unknown           UnknownError
    ├── OpenCodeProtocolError          opencode.protocol        response of an unexpected shape
    └── OpenCodeStateError             opencode.state           client used before it was opened
        └── OpenCodeClosedError        opencode.closed          client used after close

An :class:`OpenCodeAPIError` whose ``name`` is not one of the eight above keeps
the base class and code ``opencode.api``; match on :attr:`OpenCodeAPIError.name`
then. Codes are part of the public contract (logs, the JSON-RPC layer may surface
them); renaming one is a breaking change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from opencode_orchestrator.errors import OrchestratorError

__all__ = [
    "OpenCodeAPIError",
    "OpenCodeAbortedError",
    "OpenCodeAuthError",
    "OpenCodeBadRequestError",
    "OpenCodeClosedError",
    "OpenCodeConflictError",
    "OpenCodeConnectionError",
    "OpenCodeContentFilterError",
    "OpenCodeContextOverflowError",
    "OpenCodeError",
    "OpenCodeHTTPError",
    "OpenCodeNotFoundError",
    "OpenCodeOutputLengthError",
    "OpenCodeProtocolError",
    "OpenCodeProviderAPIError",
    "OpenCodeProviderAuthError",
    "OpenCodeRateLimitedError",
    "OpenCodeServerError",
    "OpenCodeStateError",
    "OpenCodeStructuredOutputError",
    "OpenCodeTimeoutError",
    "OpenCodeUnknownError",
    "api_error_for",
    "http_error_for",
]


class OpenCodeError(OrchestratorError):
    """Root of every error of the OpenCode client."""

    code: ClassVar[str] = "opencode"


class OpenCodeConnectionError(OpenCodeError):
    """The server could not be reached (or the connection broke) after the allowed attempts."""

    code: ClassVar[str] = "opencode.connection"

    def __init__(self, url: str, attempts: int, detail: str) -> None:
        self.url = url
        self.attempts = attempts
        self.detail = detail
        super().__init__(
            f"OpenCode server at {url} is unreachable after {attempts} attempt(s) "
            f"({detail}); the server looks dead or is not listening"
        )


class OpenCodeTimeoutError(OpenCodeError):
    """The server accepted the connection but did not answer in time."""

    code: ClassVar[str] = "opencode.timeout"

    def __init__(self, method: str, url: str, detail: str) -> None:
        self.method = method
        self.url = url
        super().__init__(f"{method} {url} timed out ({detail})")


class OpenCodeHTTPError(OpenCodeError):
    """The server answered with a non-2xx status.

    Attributes:
        status: The HTTP status code.
        body: The decoded JSON body, or the text when it is not JSON.
        method: The request method.
        url: The request URL.
    """

    code: ClassVar[str] = "opencode.http"

    def __init__(self, method: str, url: str, status: int, body: object) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.body = body
        super().__init__(f"{method} {url} -> {status}: {_describe_body(body)}")


class OpenCodeBadRequestError(OpenCodeHTTPError):
    """400: the server rejected the request's parameters or body."""

    code: ClassVar[str] = "opencode.http.bad_request"


class OpenCodeAuthError(OpenCodeHTTPError):
    """401: wrong or missing password (``OPENCODE_SERVER_PASSWORD``)."""

    code: ClassVar[str] = "opencode.http.auth"


class OpenCodeNotFoundError(OpenCodeHTTPError):
    """404: the session, message, or permission request does not exist."""

    code: ClassVar[str] = "opencode.http.not_found"


class OpenCodeConflictError(OpenCodeHTTPError):
    """409: e.g. ``SessionBusyError``, a shell command sent to a busy session."""

    code: ClassVar[str] = "opencode.http.conflict"


class OpenCodeRateLimitedError(OpenCodeHTTPError):
    """429 on every allowed attempt; ``retry_after`` is the server's last hint in seconds."""

    code: ClassVar[str] = "opencode.http.rate_limited"

    def __init__(
        self, method: str, url: str, status: int, body: object, retry_after: float | None
    ) -> None:
        super().__init__(method, url, status, body)
        self.retry_after = retry_after


class OpenCodeServerError(OpenCodeHTTPError):
    """5xx: the server failed (after retries when the call was idempotent)."""

    code: ClassVar[str] = "opencode.http.server"


class OpenCodeAPIError(OpenCodeError):
    """An error object ``{name, data: {message, ...}}`` carried by an assistant message.

    Attributes:
        name: OpenCode's error name, e.g. ``"MessageAbortedError"``; match on this.
        data: The error's ``data`` object as sent.
        session_id: The session of the message, when known.
        message_id: The message carrying the error, when known.
    """

    code: ClassVar[str] = "opencode.api"
    error_name: ClassVar[str | None] = None

    def __init__(
        self,
        name: str,
        data: Mapping[str, Any] | None = None,
        *,
        session_id: str | None = None,
        message_id: str | None = None,
    ) -> None:
        self.name = name
        self.data: dict[str, Any] = dict(data or {})
        self.session_id = session_id
        self.message_id = message_id
        detail = self.data.get("message")
        where = f" in {session_id}" if session_id else ""
        super().__init__(f"{name}{where}: {detail}" if detail else f"{name}{where}")

    @property
    def detail(self) -> str | None:
        """The human-readable ``data.message``, if the server sent one."""
        value = self.data.get("message")
        return value if isinstance(value, str) else None


class OpenCodeProviderAPIError(OpenCodeAPIError):
    """``APIError``: the model provider's API failed (see ``data['statusCode']``)."""

    code: ClassVar[str] = "opencode.api.provider"
    error_name: ClassVar[str | None] = "APIError"


class OpenCodeAbortedError(OpenCodeAPIError):
    """``MessageAbortedError``: the turn was aborted."""

    code: ClassVar[str] = "opencode.api.aborted"
    error_name: ClassVar[str | None] = "MessageAbortedError"


class OpenCodeStructuredOutputError(OpenCodeAPIError):
    """The model did not produce output matching the requested schema.

    Raised when the message carries ``StructuredOutputError`` and also when the
    ``structured`` data does not validate against the requested model locally;
    then :attr:`validation_error` holds the pydantic error.
    """

    code: ClassVar[str] = "opencode.api.structured_output"
    error_name: ClassVar[str | None] = "StructuredOutputError"

    def __init__(
        self,
        name: str,
        data: Mapping[str, Any] | None = None,
        *,
        session_id: str | None = None,
        message_id: str | None = None,
        validation_error: Exception | None = None,
    ) -> None:
        super().__init__(name, data, session_id=session_id, message_id=message_id)
        self.validation_error = validation_error


class OpenCodeContextOverflowError(OpenCodeAPIError):
    """``ContextOverflowError``: the conversation no longer fits the model's context."""

    code: ClassVar[str] = "opencode.api.context_overflow"
    error_name: ClassVar[str | None] = "ContextOverflowError"


class OpenCodeProviderAuthError(OpenCodeAPIError):
    """``ProviderAuthError``: the provider refused the credentials."""

    code: ClassVar[str] = "opencode.api.provider_auth"
    error_name: ClassVar[str | None] = "ProviderAuthError"


class OpenCodeOutputLengthError(OpenCodeAPIError):
    """``MessageOutputLengthError``: the model hit its output limit."""

    code: ClassVar[str] = "opencode.api.output_length"
    error_name: ClassVar[str | None] = "MessageOutputLengthError"


class OpenCodeContentFilterError(OpenCodeAPIError):
    """``ContentFilterError``: the provider's content filter stopped the output."""

    code: ClassVar[str] = "opencode.api.content_filter"
    error_name: ClassVar[str | None] = "ContentFilterError"


class OpenCodeUnknownError(OpenCodeAPIError):
    """``UnknownError``: OpenCode could not classify the failure."""

    code: ClassVar[str] = "opencode.api.unknown"
    error_name: ClassVar[str | None] = "UnknownError"


class OpenCodeProtocolError(OpenCodeError):
    """A response did not have the shape the OpenAPI document promises."""

    code: ClassVar[str] = "opencode.protocol"


class OpenCodeStateError(OpenCodeError):
    """The client was used in a state that does not allow it (not opened yet)."""

    code: ClassVar[str] = "opencode.state"


class OpenCodeClosedError(OpenCodeStateError):
    """The client was closed; it cannot be used or opened again."""

    code: ClassVar[str] = "opencode.closed"


_API_ERRORS: dict[str, type[OpenCodeAPIError]] = {
    cls.error_name: cls
    for cls in (
        OpenCodeProviderAPIError,
        OpenCodeAbortedError,
        OpenCodeStructuredOutputError,
        OpenCodeContextOverflowError,
        OpenCodeProviderAuthError,
        OpenCodeOutputLengthError,
        OpenCodeContentFilterError,
        OpenCodeUnknownError,
    )
    if cls.error_name is not None
}

_HTTP_ERRORS: dict[int, type[OpenCodeHTTPError]] = {
    400: OpenCodeBadRequestError,
    401: OpenCodeAuthError,
    404: OpenCodeNotFoundError,
    409: OpenCodeConflictError,
}


def api_error_for(
    name: str,
    data: Mapping[str, Any] | None = None,
    *,
    session_id: str | None = None,
    message_id: str | None = None,
) -> OpenCodeAPIError:
    """The :class:`OpenCodeAPIError` subclass for OpenCode's error ``name``."""
    cls = _API_ERRORS.get(name, OpenCodeAPIError)
    return cls(name, data, session_id=session_id, message_id=message_id)


def http_error_for(method: str, url: str, status: int, body: object) -> OpenCodeHTTPError:
    """The :class:`OpenCodeHTTPError` subclass for ``status`` (429 aside, see the transport)."""
    if status >= 500:
        return OpenCodeServerError(method, url, status, body)
    cls = _HTTP_ERRORS.get(status, OpenCodeHTTPError)
    return cls(method, url, status, body)


def _describe_body(body: object) -> str:
    # OpenCode sends three error shapes: {name, data: {message}}, {_tag, message}, text.
    if isinstance(body, Mapping):
        data = body.get("data")
        if isinstance(data, Mapping) and isinstance(data.get("message"), str):
            return f"{body.get('name', 'error')}: {data['message']}"
        if isinstance(body.get("message"), str):
            return f"{body.get('_tag', 'error')}: {body['message']}"
        if "_tag" in body:
            return str(body["_tag"])
    text = str(body)
    return text if len(text) <= 300 else text[:300] + "..."
