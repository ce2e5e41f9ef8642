"""Async client of OpenCode's HTTP API (measured against OpenCode 1.18.33).

Layers, each knowing only the ones below::

    errors, retry        the error tree with stable codes; backoff and Retry-After
    models               pydantic models of sessions, messages, parts, events
    wire, transport      what a request goes out through: aiohttp's pool, or an injected
                         httpx transport (tests)
    http                 the pooled connection to one server: auth, timeouts, retries
    structured           json_schema output format in, validated model out
    events               the SSE stream: reconnect, watchdog, resync
    calls                the message and project calls, as mixins over ``http``
    client               OpenCodeClient: lifecycle, sessions, events, and the mixins

Usage and the retry table are in ``docs/opencode-client.md``.
"""

from opencode_orchestrator.opencode.client import ClientState, OpenCodeClient, PromptParts
from opencode_orchestrator.opencode.errors import (
    OpenCodeAbortedError,
    OpenCodeAPIError,
    OpenCodeAuthError,
    OpenCodeBadRequestError,
    OpenCodeClosedError,
    OpenCodeConflictError,
    OpenCodeConnectionError,
    OpenCodeContentFilterError,
    OpenCodeContextOverflowError,
    OpenCodeError,
    OpenCodeHTTPError,
    OpenCodeNotFoundError,
    OpenCodeOutputLengthError,
    OpenCodeProtocolError,
    OpenCodeProviderAPIError,
    OpenCodeProviderAuthError,
    OpenCodeRateLimitedError,
    OpenCodeServerError,
    OpenCodeStateError,
    OpenCodeStructuredOutputError,
    OpenCodeTimeoutError,
    OpenCodeUnknownError,
)
from opencode_orchestrator.opencode.events import DEFAULT_RECONNECT, EventStream, StreamState
from opencode_orchestrator.opencode.http import AUTH_USER, PASSWORD_ENV, OpenCodeHttp, Timeouts
from opencode_orchestrator.opencode.models import (
    AssistantMessage,
    Event,
    Health,
    MessageError,
    MessageErrorName,
    MessageWithParts,
    ModelRef,
    Part,
    PermissionAction,
    PermissionReply,
    PermissionRequest,
    PermissionRule,
    Session,
    SessionModel,
    SessionStatus,
    SessionStatusType,
    StreamReconnected,
    ToastVariant,
    Todo,
    Tokens,
    UnknownEvent,
    UnparsedEvent,
    Worktree,
    parse_event,
)
from opencode_orchestrator.opencode.retry import Backoff, RetryPolicy, parse_retry_after
from opencode_orchestrator.opencode.structured import (
    StructuredResult,
    json_schema_format,
    parse_structured,
)

__all__ = [
    "AUTH_USER",
    "DEFAULT_RECONNECT",
    "PASSWORD_ENV",
    "AssistantMessage",
    "Backoff",
    "ClientState",
    "Event",
    "EventStream",
    "Health",
    "MessageError",
    "MessageErrorName",
    "MessageWithParts",
    "ModelRef",
    "OpenCodeAPIError",
    "OpenCodeAbortedError",
    "OpenCodeAuthError",
    "OpenCodeBadRequestError",
    "OpenCodeClient",
    "OpenCodeClosedError",
    "OpenCodeConflictError",
    "OpenCodeConnectionError",
    "OpenCodeContentFilterError",
    "OpenCodeContextOverflowError",
    "OpenCodeError",
    "OpenCodeHTTPError",
    "OpenCodeHttp",
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
    "Part",
    "PermissionAction",
    "PermissionReply",
    "PermissionRequest",
    "PermissionRule",
    "PromptParts",
    "RetryPolicy",
    "Session",
    "SessionModel",
    "SessionStatus",
    "SessionStatusType",
    "StreamReconnected",
    "StreamState",
    "StructuredResult",
    "Timeouts",
    "ToastVariant",
    "Todo",
    "Tokens",
    "UnknownEvent",
    "UnparsedEvent",
    "Worktree",
    "json_schema_format",
    "parse_event",
    "parse_retry_after",
    "parse_structured",
]
