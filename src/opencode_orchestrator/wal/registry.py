"""Which record types may be appended and replayed, and how payloads are checked.

Later layers register their types at import time on :data:`DEFAULT_REGISTRY`;
tests build their own with ``RecordRegistry(["a", "b"])``. A model is optional:
when one is given, payloads are validated against it on append (never on replay,
which must stay fast and must accept what was once valid).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from opencode_orchestrator.wal.errors import (
    WalInvalidPayloadError,
    WalRegistryError,
    WalUnknownRecordTypeError,
)

if TYPE_CHECKING:
    # Imported lazily: a crash-recovery process should not pay for pydantic
    # unless a payload model is actually registered.
    import pydantic

__all__ = ["DEFAULT_REGISTRY", "RecordRegistry"]


class RecordRegistry:
    """A set of record type names, each with an optional pydantic payload model."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        """Create a registry holding ``names`` (without models)."""
        self._models: dict[str, type[pydantic.BaseModel] | None] = {}
        self.unchecked: Final[set[str]] = set()
        """Names registered without a model (live): an append of a plain dict under
        one of them needs no further check, which the log tests with one ``in``."""
        for name in names:
            self.register(name)

    def register(self, name: str, model: type[pydantic.BaseModel] | None = None) -> None:
        """Allow ``name``; with ``model``, payloads appended under it must validate.

        Registering the same name with the same model again is a no-op, so modules
        may be re-imported.

        Raises:
            WalRegistryError: ``name`` is empty or already registered with another model.
        """
        if not name:
            raise WalRegistryError("record type name must not be empty")
        if name in self._models and self._models[name] is not model:
            raise WalRegistryError(f"record type {name!r} is already registered")
        self._models[name] = model
        if model is None:
            self.unchecked.add(name)

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def names(self) -> frozenset[str]:
        """Every registered type name."""
        return frozenset(self._models)

    def check_append(self, name: str, data: Any) -> None:
        """Validate an append of ``data`` under ``name``.

        Raises:
            WalUnknownRecordTypeError: ``name`` is not registered.
            WalInvalidPayloadError: ``data`` is not a dict or fails the model.
        """
        if name not in self._models:
            raise WalUnknownRecordTypeError(name)
        if not isinstance(data, dict):
            raise WalInvalidPayloadError(f"payload of {name!r} must be a dict, not {type(data)}")
        model = self._models[name]
        if model is not None:
            try:
                model.model_validate(data)
            except ValueError as exc:  # pydantic.ValidationError derives from it
                raise WalInvalidPayloadError(f"payload of {name!r} is invalid: {exc}") from exc


DEFAULT_REGISTRY: Final = RecordRegistry()
"""The package-wide registry that :meth:`WriteAheadLog.open` uses by default."""
