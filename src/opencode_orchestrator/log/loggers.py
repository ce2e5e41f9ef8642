"""``get_logger``: structlog loggers that follow reconfiguration without rebuilding per call."""

from __future__ import annotations

from typing import Any, Final

import structlog

__all__ = ["get_logger"]


def get_logger(name: str, **initial: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger bound to ``name`` (conventionally the module's ``__name__``).

    It follows every later ``structlog.configure`` (levels change at run time,
    tests capture logs), as structlog's lazy proxy does, but builds its bound
    logger once per configuration rather than once per call.
    """
    proxy = structlog.get_logger(name, **initial)
    if _STRUCTLOG_CONFIG is None:  # a structlog without the attributes read below
        return proxy  # type: ignore[no-any-return]
    return _Logger(proxy)  # type: ignore[return-value]


_STRUCTLOG_CONFIG: Final[Any] = getattr(getattr(structlog, "_config", None), "_CONFIG", None)
"""structlog's global configuration object (private; :func:`get_logger` falls back without it)."""


class _Logger:
    """A bound logger rebuilt only when structlog's configuration changed.

    structlog's lazy proxy (``cache_logger_on_first_use`` off, since levels
    change at run time) assembles a bound logger on every call: a stdlib
    logger lookup, a context and a wrapper, a third of a journal record's
    logging cost on the event loop. This keeps the one it assembled, keyed on
    the configuration fields the assembly reads; ``configure`` replaces them.
    """

    __slots__ = ("_bound", "_key", "_proxy")

    def __init__(self, proxy: Any) -> None:
        self._proxy = proxy
        self._key: tuple[Any, ...] = ()
        self._bound: Any = None

    def _current(self) -> Any:
        config = _STRUCTLOG_CONFIG
        key = self._key
        if (
            not key
            or key[0] is not config.default_processors
            or key[1] is not config.default_wrapper_class
            or key[2] is not config.default_context_class
            or key[3] is not config.logger_factory
        ):
            self._bound = self._proxy.bind()
            self._key = (
                config.default_processors,
                config.default_wrapper_class,
                config.default_context_class,
                config.logger_factory,
            )
        return self._bound

    def __getattr__(self, name: str) -> Any:
        """The current bound logger's attribute (``info``, ``bind``, …)."""
        return getattr(self._current(), name)

    def __repr__(self) -> str:
        return f"<get_logger {self._proxy!r}>"
