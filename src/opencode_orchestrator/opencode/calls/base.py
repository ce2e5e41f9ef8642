"""What every group of calls shares: the transport they go through and the wire helpers.

The call groups (:mod:`.messages`, :mod:`.project`) are mixins of
:class:`~opencode_orchestrator.opencode.client.OpenCodeClient`; :class:`ClientCallsBase`
is the one thing they may assume about it, so each group type-checks on its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from opencode_orchestrator.opencode.errors import OpenCodeProtocolError
from opencode_orchestrator.opencode.http import OpenCodeHttp

__all__ = ["BOOL", "ClientCallsBase", "drop_nulls", "parse_as", "wire_flag"]

M = TypeVar("M")

BOOL: TypeAdapter[bool] = TypeAdapter(bool)
"""Most of OpenCode's mutations answer a bare ``true``/``false``."""


class ClientCallsBase(ABC):
    """The transport a call group sends through; the client supplies it."""

    @property
    @abstractmethod
    def http(self) -> OpenCodeHttp:
        """The transport; refuses use unless the client is OPEN."""


def drop_nulls(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` without its ``None`` values.

    OpenCode's bodies are ``additionalProperties: false`` and reject explicit nulls,
    so an unset option must be left out rather than sent as ``null``.
    """
    return {k: v for k, v in body.items() if v is not None}


def wire_flag(value: bool | None) -> str | None:
    """A boolean query parameter as OpenCode spells it (``"true"``/``"false"``), or unset."""
    return None if value is None else ("true" if value else "false")


def parse_as(adapter: TypeAdapter[M], data: Any, what: str) -> M:
    """Validate a response body, naming ``what`` it was meant to be when it is not.

    Raises:
        OpenCodeProtocolError: The body does not have the expected shape.
    """
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise OpenCodeProtocolError(f"unexpected {what} shape: {exc}") from exc
