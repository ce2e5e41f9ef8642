"""The generated reference: every key documented, and docs/configuration.md up to date."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from opencode_orchestrator.config import OrchestratorConfig, render_reference
from opencode_orchestrator.config.reference import BEGIN, END

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    nested = [
        info.annotation
        for info in model.model_fields.values()
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
    ]
    return [model, *nested]


def test_every_key_has_a_description_and_every_section_a_docstring() -> None:
    for model in _models(OrchestratorConfig):
        for name, info in model.model_fields.items():
            nested = isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
            assert nested or info.description, f"{model.__name__}.{name} has no description"
        assert model.__doc__, model.__name__


def test_the_reference_lists_every_key_once() -> None:
    text = render_reference()
    for model in _models(OrchestratorConfig)[1:]:
        section = next(
            name
            for name, info in OrchestratorConfig.model_fields.items()
            if info.annotation is model
        )
        for name in model.model_fields:
            assert text.count(f"| `{section}.{name}` |") == 1
    assert "| `limits.concurrency` | `8` | an integer from 1 to 500 |" in text


def test_docs_configuration_md_holds_the_generated_reference() -> None:
    doc = DOC.read_text(encoding="utf-8")
    start, end = doc.index(BEGIN), doc.index(END) + len(END)
    assert doc[start:end] + "\n" == render_reference(), (
        "docs/configuration.md is out of date: regenerate its reference with "
        "`opencode-orchestrator config --reference`"
    )
