"""Validate JSON from either server against OpenCode's own OpenAPI document.

The document (``openapi-1.18.33.json``, the real server's ``GET /doc``) is
OpenAPI 3.1, whose schemas are JSON Schema 2020-12, so ``jsonschema`` checks
them as they are. Most object schemas say ``additionalProperties: false``:
a simulator that invents or misspells a field fails here.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = ["SpecMismatchError", "check_component", "check_event", "check_response", "spec"]

_DOC = Path(__file__).with_name("openapi-1.18.33.json")
_URI = "urn:opencode:openapi-1.18.33"


class SpecMismatchError(AssertionError):
    """A document does not match the schema the real server publishes."""


@functools.cache
def spec() -> dict[str, Any]:
    """The OpenAPI document."""
    doc: dict[str, Any] = orjson.loads(_DOC.read_bytes())
    return doc


@functools.cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(spec(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_URI, resource)
    return registry


@functools.cache
def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{_URI}#{pointer}"}, registry=_registry())


def _check(pointer: str, instance: object, what: str) -> None:
    errors = sorted(_validator(pointer).iter_errors(instance), key=lambda e: list(e.path))
    if errors:
        lines = [_describe(error) for error in errors[:5]]
        raise SpecMismatchError(f"{what} does not match {pointer}:\n" + "\n".join(lines))


def _describe(error: ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    # anyOf failures are vague at the top; the best-matching branch says why.
    context = min(error.context or [], key=lambda e: len(list(e.path)), default=None)
    detail = f" [{context.message}]" if context is not None else ""
    return f"  at {where}: {error.message[:300]}{detail[:300]}"


def check_component(name: str, instance: object) -> None:
    """Assert ``instance`` is valid as ``#/components/schemas/<name>``."""
    _check(f"/components/schemas/{name}", instance, f"a {name}")


def check_response(method: str, path: str, status: int, instance: object) -> None:
    """Assert ``instance`` is a valid ``status`` body of ``method path`` (a path template)."""
    operation = spec()["paths"][path][method.lower()]
    content = operation["responses"][str(status)].get("content", {})
    if "application/json" not in content:
        raise SpecMismatchError(f"{method} {path} documents no JSON body for status {status}")
    pointer = "/paths/{}/{}/responses/{}/content/application~1json/schema".format(
        path.replace("~", "~0").replace("/", "~1"), method.lower(), status
    )
    _check(pointer, instance, f"the {status} body of {method} {path}")


@functools.cache
def _event_components() -> dict[str, str]:
    """Event type -> the component that documents it (the ``Event`` union's branches)."""
    schemas = spec()["components"]["schemas"]
    by_type: dict[str, str] = {}
    for branch in schemas["Event"]["anyOf"]:
        name = branch["$ref"].rsplit("/", 1)[-1]
        for event_type in schemas[name]["properties"]["type"].get("enum", []):
            by_type.setdefault(event_type, name)
    return by_type


def check_event(event: dict[str, Any]) -> None:
    """Assert an ``/event`` payload is valid as the ``Event`` branch of its ``type``.

    ``server.connected`` and ``server.heartbeat`` are checked too; a type the
    document does not know fails, as a simulator must not invent events.
    """
    event_type = event.get("type")
    if event_type == "server.heartbeat":
        # Sent every 10 s by the real server but absent from its own document.
        if set(event) - {"id", "type", "properties"} or event.get("properties") != {}:
            raise SpecMismatchError(f"a heartbeat is {{id, type, properties: {{}}}}: {event}")
        return
    name = _event_components().get(str(event_type))
    if name is None:
        raise SpecMismatchError(f"event type {event_type!r} is not in the OpenAPI document")
    check_component(name, event)
