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
    kind = type(value)
    if kind is str:
        return _scrub(value)
    if kind in _PLAIN:
        return value
    if kind is dict or isinstance(value, Mapping):
        return {k: (REDACTED if _is_secret(k, v) else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _scrub(value)
    return value


def _scrub(text: str) -> str:
    # Every string of every record passes here: most hold none of the words a
    # credential follows, and finding that out is 5x cheaper than the regex.
    if len(text) < _SHORTEST_SECRET:
        return text
    folded = text.lower()
    if "sk-" not in folded and "basic" not in folded and "bearer" not in folded:
        return text
    return _SECRET_VALUE.sub(REDACTED, text)


_SHORTEST_SECRET: Final = len("Basic x")
_PLAIN: Final = frozenset({int, float, bool, type(None)})
_INNOCENT, _SECRET, _SECRET_UNLESS_COUNT = 0, 1, 2
# Every record is redacted, and its keys come from a few hundred call sites:
# a key's verdict is looked up once (bounded, in case keys are ever made up).
_KEY_VERDICTS: dict[str, int] = {}
_KEY_VERDICTS_MAX: Final = 4096


def _is_secret(key: object, value: object) -> bool:
    if not isinstance(key, str):
        return False
    verdict = _KEY_VERDICTS.get(key)
    if verdict is None:
        if not _SECRET_KEY.search(key):
            verdict = _INNOCENT
        elif _TOKEN_COUNT.fullmatch(key):
            verdict = _SECRET_UNLESS_COUNT
        else:
            verdict = _SECRET
        if len(_KEY_VERDICTS) < _KEY_VERDICTS_MAX:
            _KEY_VERDICTS[key] = verdict
    if verdict == _SECRET_UNLESS_COUNT:
        is_count = value is None or (isinstance(value, int | float) and not isinstance(value, bool))
        return not is_count
    return verdict == _SECRET


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The structlog processor form of :func:`redact`."""
    return redact(event_dict)  # type: ignore[no-any-return]
