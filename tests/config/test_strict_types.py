"""Values of the wrong JSON type are refused, not coerced; a variable's or flag's text is read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opencode_orchestrator.config import (
    ConfigValueError,
    KeyPath,
    flag_layer,
    load_config,
    resolve,
    sources,
)
from tests.config.support import Places, plugin_file, write


@pytest.fixture
def places(tmp_path: Path) -> Places:
    return Places(tmp_path)


@pytest.mark.parametrize(
    ("content", "key", "shown", "allowed"),
    [
        ({"limits": {"concurrency": "4"}}, "limits.concurrency", '"4"', "an integer from 1 to 500"),
        ({"limits": {"concurrency": True}}, "limits.concurrency", "true", "an integer"),
        ({"limits": {"concurrency": 4.0}}, "limits.concurrency", "4.0", "an integer"),
        ({"limits": {"per_model": {"anthropic": "2"}}}, "limits.per_model.anthropic", '"2"', ""),
        ({"shadow_review": "no"}, "shadow_review", '"no"', "true or false"),
        ({"shadow_review": 0}, "shadow_review", "0", "true or false"),
        ({"budget": {"max_cost": "5"}}, "budget.max_cost", '"5"', "a number greater than 0"),
        ({"budget": {"max_tokens": False}}, "budget.max_tokens", "false", "an integer"),
        ({"wal": {"sync_interval": "0.5"}}, "wal.sync_interval", '"0.5"', "a number"),
        ({"checks": [5]}, "checks[0]", "5", "a string"),
        ({"models": {"planner": 3}}, "models.planner", "3", "a string"),
        ({"log": {"backups": "3"}}, "log.backups", '"3"', "an integer from 1 to 100"),
    ],
)
def test_a_file_value_of_the_wrong_type_is_refused(
    places: Places, content: dict[str, Any], key: str, shown: str, allowed: str
) -> None:
    path = write(places.dot / "orchestrator.json", content)
    with pytest.raises(ConfigValueError) as caught:
        load_config(places.project, environ=places.environ)
    [problem] = caught.value.problems
    assert problem.key == key
    assert problem.where.startswith(f"{path}:1:")
    assert f"{key} = {shown} is not allowed: it must be {allowed}" in problem.text


def test_a_plugin_option_of_the_wrong_type_is_refused(places: Places) -> None:
    path = plugin_file(places.project / "opencode.json", {"limits": {"max_units": "10"}})
    with pytest.raises(ConfigValueError) as caught:
        load_config(places.project, environ=places.environ)
    [problem] = caught.value.problems
    assert problem.where == f"{path}:1:87 (plugin options)"
    assert 'limits.max_units = "10" is not allowed: it must be an integer' in problem.text


def test_the_content_variable_is_json_and_as_strict(places: Places) -> None:
    environ = places.environ | {sources.CONTENT_VARIABLE: '{"shadow_review": "false"}'}
    with pytest.raises(ConfigValueError, match='shadow_review = "false" is not allowed'):
        load_config(places.project, environ=environ)


def test_values_of_the_right_type_are_taken(places: Places) -> None:
    write(
        places.dot / "orchestrator.jsonc",
        """{
            "limits": {"concurrency": 4, "per_model": {"anthropic": 2}},
            "budget": {"max_cost": 5, "max_wall_seconds": 1.5, "max_tokens": null},
            "shadow_review": false,
            "permissions": "allow",
            "session_permissions": [{"permission": "bash", "pattern": "*", "action": "deny"}],
            "models": {"planner": "anthropic/claude-sonnet-4"},
            "wal": {"fsync": "interval", "sync_interval": 1},
            "log": {"level": "debug"},
        }""",
    )
    config = load_config(places.project, environ=places.environ).config
    assert type(config.limits.concurrency) is int
    assert config.limits.concurrency == 4
    assert config.limits.per_model == {"anthropic": 2}
    assert type(config.budget.max_cost) is float
    assert config.budget.max_cost == 5.0
    assert config.shadow_review is False
    assert config.permissions == "allow"
    assert config.session_permissions[0].action == "deny"
    assert config.wal.sync_interval == 1.0


def test_flag_values_given_as_text_are_read_as_their_keys_type() -> None:
    flags: dict[KeyPath, tuple[str, Any]] = {
        ("limits", "concurrency"): ("--concurrency", "4"),
        ("budget", "max_cost"): ("--max-cost", " 2.5 "),
        ("shadow_review",): ("--shadow-review", "false"),
    }
    effective = resolve([flag_layer(flags)])
    assert effective.config.limits.concurrency == 4
    assert effective.config.budget.max_cost == 2.5
    assert effective.config.shadow_review is False


def test_flag_text_that_is_no_such_value_is_refused_with_the_flag() -> None:
    flags: dict[KeyPath, tuple[str, Any]] = {("limits", "concurrency"): ("--concurrency", "four")}
    with pytest.raises(ConfigValueError) as caught:
        resolve([flag_layer(flags)])
    assert str(caught.value) == (
        'flag --concurrency: limits.concurrency = "four" is not allowed: '
        "it must be an integer from 1 to 500"
    )


def test_one_key_variables_are_text_read_as_their_keys_type(
    places: Places, monkeypatch: pytest.MonkeyPatch
) -> None:
    variables = {
        **sources.ENVIRONMENT,
        "OPENCODE_ORCHESTRATOR_LIMITS_CONCURRENCY": ("limits", "concurrency"),
        "OPENCODE_ORCHESTRATOR_SHADOW_REVIEW": ("shadow_review",),
    }
    monkeypatch.setattr(sources, "ENVIRONMENT", variables)
    environ = places.environ | {
        "OPENCODE_ORCHESTRATOR_LIMITS_CONCURRENCY": "4",
        "OPENCODE_ORCHESTRATOR_SHADOW_REVIEW": "false",
        "OPENCODE_ORCHESTRATOR_WAL_FSYNC": "interval",
    }
    effective = load_config(places.project, environ=environ)
    assert effective.config.limits.concurrency == 4
    assert effective.config.shadow_review is False
    assert effective.config.wal.fsync == "interval"
    assert str(effective.origin(("limits", "concurrency"))) == (
        "environment OPENCODE_ORCHESTRATOR_LIMITS_CONCURRENCY"
    )
    environ["OPENCODE_ORCHESTRATOR_LIMITS_CONCURRENCY"] = "0"
    with pytest.raises(ConfigValueError) as caught:
        load_config(places.project, environ=environ)
    assert str(caught.value) == (
        "environment OPENCODE_ORCHESTRATOR_LIMITS_CONCURRENCY: limits.concurrency = 0 "
        "is not allowed: it must be an integer from 1 to 500"
    )
