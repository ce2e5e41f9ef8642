"""Reading one source into a layer: its values and the origin of each."""

from __future__ import annotations

from pathlib import Path

from opencode_orchestrator.config import load_config
from opencode_orchestrator.config.sources import DEFAULT, Origin, orchestrator_file_layers
from tests.config.support import Places, write


def test_a_key_written_twice_counts_its_last_time_alone(tmp_path: Path) -> None:
    places = Places(tmp_path)
    text = '{"limits": {"concurrency": 2},\n "limits": {"max_depth": 1}}\n'
    path = write(places.dot / "orchestrator.json", text)
    [layer] = orchestrator_file_layers(places.dot)
    assert layer.values == {"limits": {"max_depth": 1}}
    assert layer.origins[("limits",)] == Origin("file", str(path), 2, 2)
    assert ("limits", "concurrency") not in layer.origins

    effective = load_config(places.project, environ=places.environ)
    assert effective.config.limits.concurrency == 8
    assert effective.origin(("limits", "concurrency")) == DEFAULT
    assert effective.origin(("limits", "max_depth")) == Origin("file", str(path), 2, 13)


def test_an_array_under_a_key_written_twice_cites_only_the_last_elements(tmp_path: Path) -> None:
    places = Places(tmp_path)
    text = '{"checks": ["a", "b", "c"],\n "checks": ["d"]}\n'
    path = write(places.dot / "orchestrator.json", text)
    effective = load_config(places.project, environ=places.environ)
    assert effective.config.checks == ["d"]
    assert effective.origin(("checks", 0)) == Origin("file", str(path), 2, 13)
    assert ("checks", 1) not in effective.origins
