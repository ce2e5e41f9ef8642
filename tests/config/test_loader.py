"""Precedence, merging and provenance of the effective configuration."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from opencode_orchestrator.config import (
    SHIM_OPTION_KEYS,
    OrchestratorConfig,
    Origin,
    flag_layer,
    load_config,
)
from opencode_orchestrator.mission.config import ModelsConfig
from opencode_orchestrator.wal.log import Durability
from tests.config.support import Places, plugin_file, write

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def places(tmp_path: Path) -> Places:
    return Places(tmp_path)


def _every_source(places: Places, key: str) -> None:
    """Set ``limits.<key>`` in every file, each to a different value."""
    plugin_file(places.user / "opencode.json", {"limits": {key: 2}})
    write(places.user / "orchestrator.json", {"limits": {key: 3}})
    plugin_file(places.project / "opencode.json", {"limits": {key: 4}})
    write(places.dot / "orchestrator.jsonc", {"limits": {key: 5}})


def test_defaults_when_no_source_sets_anything(places: Places) -> None:
    effective = load_config(places.project, environ=places.environ)
    assert effective.config == OrchestratorConfig()
    assert {str(origin) for _key, _value, origin in effective.entries()} == {"default"}


def test_each_source_beats_the_ones_below_it(places: Places) -> None:
    _every_source(places, "concurrency")
    flags = flag_layer({("limits", "concurrency"): ("--concurrency", 7)})
    content = '{"limits": {"concurrency": 6}}'
    environ = places.environ | {"OPENCODE_ORCHESTRATOR_CONFIG_CONTENT": content}
    expected = [
        (7, "flag --concurrency"),
        (6, "environment OPENCODE_ORCHESTRATOR_CONFIG_CONTENT:1:13"),
        (5, f"{places.dot / 'orchestrator.jsonc'}:1:13"),
        (4, f"{places.project / 'opencode.json'}:1:87 (plugin options)"),
        (3, f"{places.user / 'orchestrator.json'}:1:13"),
        (2, f"{places.user / 'opencode.json'}:1:87 (plugin options)"),
    ]
    removals: list[Callable[[], object]] = [
        lambda: None,  # the flags are simply not given from now on
        lambda: environ.pop("OPENCODE_ORCHESTRATOR_CONFIG_CONTENT"),
        (places.dot / "orchestrator.jsonc").unlink,
        (places.project / "opencode.json").unlink,
        (places.user / "orchestrator.json").unlink,
        (places.user / "opencode.json").unlink,
    ]
    for index, (value, source) in enumerate(expected):
        effective = load_config(
            places.project, environ=environ, flags=flags if index == 0 else None
        )
        assert effective.config.limits.concurrency == value
        assert str(effective.origin(("limits", "concurrency"))) == source
        removals[index]()
    effective = load_config(places.project, environ=environ)
    assert effective.config.limits.concurrency == 8
    assert str(effective.origin(("limits", "concurrency"))) == "default"


def test_the_one_key_variables_beat_the_content_variable(places: Places) -> None:
    environ = places.environ | {
        "OPENCODE_ORCHESTRATOR_CONFIG_CONTENT": '{"wal": {"fsync": "always"}}',
        "OPENCODE_ORCHESTRATOR_WAL_FSYNC": "interval",
    }
    effective = load_config(places.project, environ=environ)
    assert effective.config.wal.durability is Durability.INTERVAL
    assert str(effective.origin(("wal", "fsync"))) == "environment OPENCODE_ORCHESTRATOR_WAL_FSYNC"


def test_objects_merge_key_by_key_and_lists_replace(places: Places) -> None:
    write(
        places.user / "orchestrator.json",
        {"limits": {"per_model": {"anthropic": 4}, "max_depth": 1}, "checks": ["make lint"]},
    )
    write(places.dot / "orchestrator.json", {"limits": {"per_model": {"openai": 2}}, "checks": []})
    config = load_config(places.project, environ=places.environ).config
    assert config.limits.per_model == {"anthropic": 4, "openai": 2}
    assert config.limits.max_depth == 1
    assert config.checks == []


def test_a_value_replaced_whole_forgets_the_origins_beneath_it(places: Places) -> None:
    write(places.user / "orchestrator.json", {"models": {"worker": "a/b", "planner": "c/d"}})
    write(places.dot / "orchestrator.json", {"checks": ["pytest"], "models": {"worker": "e/f"}})
    effective = load_config(places.project, environ=places.environ)
    assert effective.config.models == ModelsConfig(worker="e/f", planner="c/d")
    assert effective.origin(("models", "planner")).name == str(places.user / "orchestrator.json")
    assert effective.origin(("models", "worker")).name == str(places.dot / "orchestrator.json")


def test_jsonc_comments_and_trailing_commas_with_exact_positions(places: Places) -> None:
    text = (
        "// the project's settings\n"
        "{\n"
        "  /* fewer at once */\n"
        '  "limits": {"concurrency": 2,},\n'
        '  "wal": {\n'
        '    "fsync": "interval", // fast disks lie anyway\n'
        "  },\n"
        "}\n"
    )
    path = write(places.dot / "orchestrator.jsonc", text)
    effective = load_config(places.project, environ=places.environ)
    assert effective.config.limits.concurrency == 2
    assert effective.origin(("limits", "concurrency")) == Origin("file", str(path), 4, 14)
    assert effective.origin(("wal", "fsync")) == Origin("file", str(path), 6, 5)
    entries = {key: (value, str(origin)) for key, value, origin in effective.entries()}
    assert entries["wal.fsync"] == ("interval", f"{path}:6:5")
    assert entries["limits.max_units"] == (200, "default")


def test_a_jsonc_file_is_read_after_the_json_one(places: Places) -> None:
    write(places.dot / "orchestrator.json", {"limits": {"concurrency": 2, "max_depth": 0}})
    write(places.dot / "orchestrator.jsonc", {"limits": {"concurrency": 3}})
    config = load_config(places.project, environ=places.environ).config
    assert (config.limits.concurrency, config.limits.max_depth) == (3, 0)


def test_the_user_config_follows_xdg_config_home_or_defaults_to_dot_config(
    places: Places, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(places.user / "orchestrator.json", {"limits": {"concurrency": 9}})
    assert load_config(None, environ=places.environ).config.limits.concurrency == 9
    home = tmp_path / "home"
    write_dir = home / ".config" / "opencode"
    write_dir.mkdir(parents=True)
    write(write_dir / "orchestrator.json", {"limits": {"concurrency": 11}})
    monkeypatch.setenv("HOME", str(home))
    for environ in ({}, {"XDG_CONFIG_HOME": ""}):
        assert load_config(None, environ=environ).config.limits.concurrency == 11


def test_plugin_options_skip_the_shims_keys_and_other_plugins(places: Places) -> None:
    shim_options = {
        "command": ["opencode-orchestrator", "serve"],
        "serverAccess": "auto",
        "requestTimeoutMs": 1000,
    }
    plugin_file(places.project / "opencode.json", shim_options | {"limits": {"max_units": 9}})
    # Not ours: the same keys are left alone.
    plugin_file(
        places.dot / "opencode.json",
        {"limits": {"max_units": 1}},
        spec="/elsewhere/other-plugin/index.ts",
    )
    effective = load_config(places.project, environ=places.environ)
    assert effective.config.limits.max_units == 9


def test_a_plugin_entry_known_by_its_command_and_options_that_are_no_object(
    places: Places,
) -> None:
    command = ["/usr/bin/python3", "-m", "opencode_orchestrator", "serve"]
    write(
        places.project / "opencode.jsonc",
        {"plugin": [["./anywhere.ts", {"command": command, "limits": {"max_depth": 0}}]]},
    )
    write(places.dot / "opencode.json", {"plugin": [[".opencode/plugin-shim/src/index.ts", 5]]})
    assert load_config(places.project, environ=places.environ).config.limits.max_depth == 0


def test_the_mission_part_is_what_a_mission_journals(places: Places) -> None:
    write(
        places.dot / "orchestrator.json",
        {"limits": {"concurrency": 3}, "wal": {"fsync": "interval"}},
    )
    config = load_config(places.project, environ=places.environ).config
    mission = config.mission()
    assert mission.limits.concurrency == 3
    assert "wal" not in mission.model_dump()
    assert config.wal.durability is Durability.INTERVAL


def test_the_core_and_the_shim_agree_on_whose_option_keys_are_whose() -> None:
    text = (REPO / "plugin-shim" / "src" / "options.ts").read_text()
    defaults = re.search(r"DEFAULT_OPTIONS[^=]*= \{(.*?)\n\}", text, re.S)
    assert defaults is not None
    shim_keys = set(re.findall(r"^\s+(\w+):", defaults.group(1), re.M))
    assert shim_keys == SHIM_OPTION_KEYS
    core = re.search(r"CORE_OPTION_KEYS[^=]*= \[(.*?)\]", text, re.S)
    assert core is not None
    assert re.findall(r'"(\w+)"', core.group(1)) == list(OrchestratorConfig.model_fields)
    assert not SHIM_OPTION_KEYS & set(OrchestratorConfig.model_fields)
