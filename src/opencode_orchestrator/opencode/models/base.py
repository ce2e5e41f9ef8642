"""The base of every response model: tolerant of fields a newer server adds."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["OpenCodeModel", "RequestModel"]


class OpenCodeModel(BaseModel):
    """A model of something the server sends.

    ``extra="allow"`` keeps unknown fields (reachable through ``model_extra``)
    so a newer OpenCode never breaks parsing; fields use Python names with
    OpenCode's camelCase as aliases, and both are accepted on input.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class RequestModel(BaseModel):
    """A model of something we send; unknown fields are a bug on our side."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    def to_wire(self) -> dict[str, object]:
        """The JSON body: OpenCode's field names, unset optional fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
