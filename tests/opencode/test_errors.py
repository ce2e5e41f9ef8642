"""The error tree: stable codes, one root, the maps from status and name to class."""

from __future__ import annotations

import inspect

import pytest

from opencode_orchestrator.errors import OrchestratorError
from opencode_orchestrator.opencode import errors
from opencode_orchestrator.opencode.errors import (
    OpenCodeAbortedError,
    OpenCodeAPIError,
    OpenCodeAuthError,
    OpenCodeBadRequestError,
    OpenCodeConflictError,
    OpenCodeError,
    OpenCodeHTTPError,
    OpenCodeNotFoundError,
    OpenCodeServerError,
    OpenCodeStructuredOutputError,
    api_error_for,
    http_error_for,
)


def _error_classes() -> list[type[OpenCodeError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, OpenCodeError)
    ]


def test_every_error_has_a_unique_code_under_the_root() -> None:
    classes = _error_classes()
    assert len(classes) == 22
    codes = [cls.code for cls in classes]
    assert len(set(codes)) == len(codes)
    assert all(code == "opencode" or code.startswith("opencode.") for code in codes)
    assert all(issubclass(cls, OrchestratorError) for cls in classes)


def test_every_code_is_drawn_in_the_module_docstring() -> None:
    doc = errors.__doc__ or ""
    for cls in _error_classes():
        assert cls.__name__ in doc
        assert cls.code in doc


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, OpenCodeBadRequestError),
        (401, OpenCodeAuthError),
        (404, OpenCodeNotFoundError),
        (409, OpenCodeConflictError),
        (418, OpenCodeHTTPError),
        (503, OpenCodeServerError),
    ],
)
def test_http_status_maps_to_its_class(status: int, cls: type[OpenCodeHTTPError]) -> None:
    error = http_error_for("GET", "http://x/s", status, {"name": "E", "data": {"message": "m"}})
    assert type(error) is cls
    assert error.status == status
    assert "E: m" in str(error)


def test_api_error_name_maps_to_its_class_and_unknown_names_keep_the_base() -> None:
    aborted = api_error_for("MessageAbortedError", {"message": "stop"}, session_id="ses_1")
    assert type(aborted) is OpenCodeAbortedError
    assert aborted.detail == "stop"
    assert aborted.session_id == "ses_1"
    assert type(api_error_for("StructuredOutputError", {})) is OpenCodeStructuredOutputError
    novel = api_error_for("BrandNewError", {"message": "?"})
    assert type(novel) is OpenCodeAPIError
    assert novel.name == "BrandNewError"
    assert novel.code == "opencode.api"
