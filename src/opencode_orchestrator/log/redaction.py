"""Secrets out of log records: applied to every record before it is rendered, anywhere."""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any, Final

__all__ = ["REDACTED", "redact", "redact_processor"]

REDACTED: Final = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"(authori[sz]ation|auth$|api[-_]?key|apikey|private[-_]?key|password|passwd|secret|token"
    r"|cookie|credential)",
    re.IGNORECASE,
)
# ``tokens=1234``, ``max_tokens=None`` are LLM token counts (or their absence),
# not credentials; a string under such a key is still redacted.
_TOKEN_COUNT = re.compile(r"\w*tokens", re.IGNORECASE)
# Values that look like credentials even under an innocent key. The scheme of
# an Authorization header is case-insensitive (RFC 9110); written in lower case
# it is also a common word ("a basic setup."), so then the credential must hold
# what a lower-case word does not: a digit or a capital.
_CREDENTIAL = r"[A-Za-z0-9+/=._~-]+"
_SECRET_VALUE = re.compile(
    rf"\b(?:Basic|Bearer|BASIC|BEARER)\s+{_CREDENTIAL}"
    rf"|\b(?i:basic|bearer)\s+(?=[a-z+/=._~-]*[A-Z0-9]){_CREDENTIAL}"
    r"|\bsk-[A-Za-z0-9_-]{6,}"
)


def redact(value: Any) -> Any:
    """Return ``value`` with secrets replaced by :data:`REDACTED`, recursively."""
    if isinstance(value, Mapping):
        return {k: (REDACTED if _is_secret(k, v) else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _SECRET_VALUE.sub(REDACTED, value)
    return value


def _is_secret(key: object, value: object) -> bool:
    if not isinstance(key, str) or not _SECRET_KEY.search(key):
        return False
    is_count = value is None or (isinstance(value, int | float) and not isinstance(value, bool))
    return not (is_count and _TOKEN_COUNT.fullmatch(key))


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The structlog processor form of :func:`redact`."""
    return redact(event_dict)  # type: ignore[no-any-return]
