"""Our models against bodies recorded from a real OpenCode 1.18.33 (tests/contract/samples)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pydantic
import pytest

from opencode_orchestrator.opencode import MessageWithParts, UnknownEvent, parse_structured
from opencode_orchestrator.opencode.models import parse_event
from opencode_orchestrator.opencode.models.events import _MODELS

SAMPLES = Path(__file__).parents[1] / "contract" / "samples"

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="no recorded samples")


def _events(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        payload = node.get("payload")
        if isinstance(payload, dict) and "type" in payload:
            yield {**payload, "directory": node.get("directory"), "project": node.get("project")}
        elif isinstance(node.get("type"), str) and "properties" in node:
            yield node
        else:
            for value in node.values():
                yield from _events(value)
    elif isinstance(node, list):
        for value in node:
            yield from _events(value)


def test_every_recorded_event_of_a_modelled_type_parses_typed() -> None:
    seen: set[str] = set()
    for path in sorted(SAMPLES.glob("*.json")):
        for raw in _events(orjson.loads(path.read_bytes())):
            event = parse_event(raw)
            seen.add(raw["type"])
            if raw["type"] in _MODELS:
                assert not isinstance(event, UnknownEvent), (path.name, raw["type"])
    assert {"session.status", "session.idle", "session.error", "message.updated"} <= seen


def test_a_recorded_structured_answer_validates() -> None:
    class Answer(pydantic.BaseModel):
        a: str

    sample = orjson.loads((SAMPLES / "structured_output_blocking.json").read_bytes())
    result = MessageWithParts.model_validate(sample["plain"]["prompt_response"]["body"])
    assert parse_structured(result, Answer).value == Answer(a="x")
