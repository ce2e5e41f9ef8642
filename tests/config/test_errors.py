"""Every way a configuration is refused, and the exact words a person reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencode_orchestrator.config import (
    ConfigError,
    ConfigFileError,
    ConfigValueError,
    flag_layer,
    load_config,
)
from tests.config.support import Places, plugin_file, write


@pytest.fixture
def places(tmp_path: Path) -> Places:
    return Places(tmp_path)


def _refused(places: Places, environ: dict[str, str] | None = None) -> ConfigValueError:
    with pytest.raises(ConfigValueError) as caught:
        load_config(places.project, environ=places.environ | (environ or {}))
    assert caught.value.code == "config.invalid"
    assert isinstance(caught.value, ConfigError)
    return caught.value


def _file_refused(places: Places) -> ConfigFileError:
    with pytest.raises(ConfigFileError) as caught:
        load_config(places.project, environ=places.environ)
    assert caught.value.code == "config.file"
    return caught.value


def test_a_value_out_of_range_names_key_value_file_position_and_what_is_allowed(
    places: Places,
) -> None:
    path = write(places.dot / "orchestrator.jsonc", '{\n  "limits": {"concurrency": 0}\n}\n')
    error = _refused(places)
    assert str(error) == (
        f"{path}:2:14: limits.concurrency = 0 is not allowed: it must be an integer from 1 to 500"
    )
    [problem] = error.problems
    assert (problem.key, problem.where) == ("limits.concurrency", f"{path}:2:14")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"wal": {"fsync": "none"}},
            'wal.fsync = "none" is not allowed: it must be one of "always", "interval"',
        ),
        (
            {"permissions": "maybe"},
            'permissions = "maybe" is not allowed: it must be one of "reject", "allow", "ask"',
        ),
        (
            {"budget": {"max_tokens": "lots"}},
            'budget.max_tokens = "lots" is not allowed: it must be an integer from 1 to '
            "9223372036854775807, or null",
        ),
        (
            {"timeouts": {"silence": -1}},
            "timeouts.silence = -1 is not allowed: it must be a number greater than 0",
        ),
        (
            {"checks": "pytest"},
            'checks = "pytest" is not allowed: it must be a list, each item a string '
            "matching `\\S`",
        ),
        (
            {"checks": ["pytest", " "]},
            'checks[1] = " " is not allowed: it must be a string matching `\\S`',
        ),
        (
            {"budget": {"max_tokens": 2**63}},
            "budget.max_tokens = 9223372036854775808 is not allowed: it must be an integer from "
            "1 to 9223372036854775807, or null",
        ),
        (
            {"limits": {"per_model": {"anthropic/claude": "x"}}},
            'limits.per_model."anthropic/claude" = "x" is not allowed: '
            "it must be an integer from 1 to 500",
        ),
        (
            # 0 would never admit a turn of that provider: the mission would hang.
            {"limits": {"per_model": {"anthropic": 0}}},
            "limits.per_model.anthropic = 0 is not allowed: it must be an integer from 1 to 500",
        ),
        (
            {"models": {"worker": "gpt-4.1"}},
            'models.worker = "gpt-4.1" is not allowed: it must be a string matching '
            r"`^[^/\s]+/\S+$` (e.g. "
            '"anthropic/claude-sonnet-4", "openai/gpt-4.1"), or null',
        ),
        (
            {"log": {"level": "loud"}},
            'log.level = "loud" is not allowed: '
            'it must be one of "debug", "info", "warning", "error"',
        ),
    ],
)
def test_each_kind_of_refused_value(places: Places, settings: object, message: str) -> None:
    path = write(places.dot / "orchestrator.json", settings)  # type: ignore[arg-type]
    error = _refused(places)
    assert str(error).startswith(f"{path}:1:")
    assert str(error).split(": ", 1)[1] == message


def test_a_missing_field_of_a_list_item(places: Places) -> None:
    rule = {"permission": "bash", "pattern": "git push*"}
    path = write(places.dot / "orchestrator.json", {"session_permissions": [rule]})
    assert str(_refused(places)) == (
        f"{path}:1:26: session_permissions[0].action is missing: "
        'it must be one of "allow", "deny", "ask"'
    )


def test_an_unknown_key_names_the_closest_valid_ones(places: Places) -> None:
    path = write(places.dot / "orchestrator.jsonc", '{"limits": {"concurency": 4}}')
    assert str(_refused(places)) == (
        f"{path}:1:13: unknown key limits.concurency (did you mean limits.concurrency?)"
    )


def test_a_misspelt_role_of_models_is_refused(places: Places) -> None:
    path = write(places.dot / "orchestrator.json", {"models": {"plannr": "anthropic/claude"}})
    assert str(_refused(places)) == (
        f"{path}:1:13: unknown key models.plannr (did you mean models.planner?)"
    )


def test_an_unknown_key_with_nothing_close_lists_the_valid_ones(places: Places) -> None:
    path = write(places.dot / "orchestrator.json", {"wal": {"colour": "red"}})
    assert str(_refused(places)) == (
        f"{path}:1:10: unknown key wal.colour (valid keys of wal: fsync, sync_interval)"
    )


def test_an_unknown_top_level_key_in_the_plugin_options(places: Places) -> None:
    path = plugin_file(places.project / "opencode.json", {"limit": {"concurrency": 4}})
    assert str(_refused(places)) == (
        f"{path}:1:76 (plugin options): unknown key limit (did you mean limits?)"
    )


def test_every_problem_is_reported_at_once(places: Places) -> None:
    write(places.dot / "orchestrator.json", {"limits": {"concurrency": 0, "max_depth": 99}})
    error = _refused(places)
    assert [p.key for p in error.problems] == ["limits.concurrency", "limits.max_depth"]
    assert "; " in str(error)


def test_environment_and_flag_values_name_their_variable_and_flag(places: Places) -> None:
    error = _refused(places, {"OPENCODE_ORCHESTRATOR_WAL_FSYNC": "sometimes"})
    assert str(error) == (
        'environment OPENCODE_ORCHESTRATOR_WAL_FSYNC: wal.fsync = "sometimes" is not allowed: '
        'it must be one of "always", "interval"'
    )
    flags = flag_layer({("limits", "max_depth"): ("--max-depth", 11)})
    with pytest.raises(ConfigValueError) as caught:
        load_config(places.project, environ=places.environ, flags=flags)
    assert str(caught.value) == (
        "flag --max-depth: limits.max_depth = 11 is not allowed: it must be an integer from 0 to 10"
    )


def test_malformed_jsonc_says_file_line_and_column(places: Places) -> None:
    path = write(
        places.dot / "orchestrator.jsonc", '{\n  "limits": {"concurrency": 4}\n  "wal": {}\n}'
    )
    error = _file_refused(places)
    assert str(error) == f"{path}:3:3: not valid JSONC: comma expected"
    assert (error.path, error.line, error.column) == (path, 3, 3)


def test_malformed_content_variable_names_the_variable(places: Places) -> None:
    environ = places.environ | {"OPENCODE_ORCHESTRATOR_CONFIG_CONTENT": "{limits: 1}"}
    with pytest.raises(ConfigFileError) as caught:
        load_config(places.project, environ=environ)
    assert str(caught.value) == (
        "OPENCODE_ORCHESTRATOR_CONFIG_CONTENT:1:2: not valid JSONC: property name expected"
    )


def test_a_file_that_holds_no_object(places: Places) -> None:
    path = write(places.user / "orchestrator.json", "\n  [1, 2]")
    assert str(_file_refused(places)) == f"{path}:2:3: must hold a JSON object"


def test_a_malformed_opencode_json_is_reported_too(places: Places) -> None:
    path = write(places.project / "opencode.json", '{"plugin": [}')
    assert str(_file_refused(places)) == f"{path}:1:13: not valid JSONC: value expected"


def test_unreadable_files(places: Places) -> None:
    path = places.dot / "orchestrator.json"
    path.mkdir()
    assert str(_file_refused(places)) == f"{path}: cannot be read: Is a directory"
    path.rmdir()
    path.write_bytes(b'{"checks": ["caf\xe9"]}')
    assert str(_file_refused(places)).startswith(f"{path}: not UTF-8 text (")
