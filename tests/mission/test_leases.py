"""Project leases: scopes shared by the missions one process runs in the same project."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencode_orchestrator.mission import leases as leases_module
from opencode_orchestrator.mission.leases import leases_for


def test_a_scope_another_mission_holds_is_refused_until_returned(tmp_path: Path) -> None:
    leases = leases_for(tmp_path)
    woken: list[str] = []
    leases.join("mA", lambda: woken.append("mA"))
    leases.join("mB", lambda: woken.append("mB"))
    try:
        assert leases.lease("mA", "u01", ["src/api/**"])
        # B's unit of the same name is another unit; its scope overlaps A's.
        assert not leases.lease("mB", "u01", ["src/api/routes.py"])
        assert not leases.holds("mB", "u01")
        assert leases.lease("mB", "u02", ["docs/**"])  # disjoint: no wait
        # A mission's own overlaps are its scheduler's to judge.
        assert leases.lease("mA", "u03", ["src/api/routes.py"])
        assert woken == []
        leases.release("mA", "u01")
        assert woken == ["mB"]  # only the others are woken
        assert not leases.lease("mB", "u01", ["src/api/routes.py"])  # A's u03 still holds
        leases.release("mA", "u03")
        assert leases.lease("mB", "u01", ["src/api/routes.py"])
        assert leases.lease("mB", "u01", ["src/api/routes.py"])  # held already: kept
    finally:
        leases.leave("mA")
        leases.leave("mB")


def test_leaving_returns_every_lease_and_the_last_to_leave_drops_the_project(
    tmp_path: Path,
) -> None:
    leases = leases_for(tmp_path / "." / "project" / "..")  # one key however it is spelt
    assert leases_for(tmp_path) is leases
    woken: list[str] = []
    leases.join("mA", lambda: None)
    leases.join("mB", lambda: woken.append("mB"))
    assert leases.lease("mA", "u01", ["src"])
    assert not leases.lease("mB", "u09", ["src/main.py"])
    leases.leave("mA")
    assert woken == ["mB"]
    assert leases.missions == frozenset({"mB"})
    assert leases.lease("mB", "u09", ["src/main.py"])
    leases.leave("mB")
    leases.leave("mB")  # idempotent
    assert tmp_path not in leases_module._REGISTRY
    assert leases_for(tmp_path) is not leases


def test_a_mission_cannot_join_twice(tmp_path: Path) -> None:
    leases = leases_for(tmp_path)
    leases.join("mA", lambda: None)
    try:
        with pytest.raises(ValueError, match="already takes part"):
            leases.join("mA", lambda: None)
    finally:
        leases.leave("mA")
