"""Scenarios shared by the end-to-end tests.

:func:`diamond` is the four-unit mission every scenario starts from::

    a (pkg/__init__.py, pkg/base.py)
    ├── b (pkg/left.py)     b and c run in parallel
    └── c (pkg/right.py)    c writes, then edits its file
        d (pkg/top.py)      after b and c

Each unit's check imports its module, so a check only passes once the units
it depends on are on disk; the plan's mission check runs the whole package.
"""

from __future__ import annotations

from typing import Any

from opencode_orchestrator.testing.scenario import (
    FileEdit,
    FileWrite,
    PlanScript,
    Scenario,
    UnitScript,
)

__all__ = ["MISSION_CHECK", "diamond", "single", "with_unit"]

MISSION_CHECK = "python3 -B -c 'import pkg.top, sys; sys.exit(pkg.top.total() != 5)'"


def _imports(module: str) -> str:
    return f"python3 -B -c 'import pkg.{module}'"


def diamond(**changes: Any) -> Scenario:
    """The four-unit diamond; ``changes`` replace fields of the :class:`Scenario`."""
    a = UnitScript(
        id="a",
        title="Base module",
        files=["pkg/__init__.py", "pkg/base.py"],
        checks=[_imports("base")],
        writes=[
            FileWrite(path="pkg/__init__.py", content='"""The scenario package."""\n'),
            FileWrite(path="pkg/base.py", content="BASE = 1\n"),
        ],
    )
    b = UnitScript(
        id="b",
        title="Left module",
        files=["pkg/left.py"],
        depends_on=["a"],
        checks=[_imports("left")],
        writes=[
            FileWrite(path="pkg/left.py", content="from pkg.base import BASE\n\nLEFT = BASE + 1\n")
        ],
    )
    c = UnitScript(
        id="c",
        title="Right module",
        files=["pkg/right.py"],
        depends_on=["a"],
        checks=[_imports("right")],
        writes=[FileWrite(path="pkg/right.py", content="from pkg.base import BASE\n\nRIGHT = 0\n")],
        edits=[FileEdit(path="pkg/right.py", old="RIGHT = 0", new="RIGHT = BASE + 1")],
    )
    d = UnitScript(
        id="d",
        title="Top module",
        files=["pkg/top.py"],
        depends_on=["b", "c"],
        checks=[_imports("top")],
        writes=[
            FileWrite(
                path="pkg/top.py",
                content=(
                    "from pkg.left import LEFT\nfrom pkg.right import RIGHT\n\n\n"
                    "def total() -> int:\n    return LEFT + RIGHT + 1\n"
                ),
            )
        ],
    )
    plan = PlanScript(
        summary="base, then left and right in parallel, then top",
        units=[a, b, c, d],
        checks=[MISSION_CHECK],
        learnings=["the package lives in pkg/; import it to check it"],
    )
    goal = "Build the pkg package: base, left, right and top."
    fields: dict[str, Any] = {"goal": goal, "plans": [plan]}
    return Scenario(**(fields | changes))


def single(**changes: Any) -> Scenario:
    """One unit that writes one file: the shortest mission (no master review)."""
    unit = UnitScript(
        id="only",
        title="The only unit",
        files=["only.txt"],
        checks=["test -s only.txt"],
        writes=[FileWrite(path="only.txt", content="the one file\n")],
    )
    fields: dict[str, Any] = {"goal": "Write only.txt.", "plans": [PlanScript(units=[unit])]}
    return Scenario(**(fields | changes))


def with_unit(scenario: Scenario, unit_id: str, **changes: Any) -> Scenario:
    """``scenario`` with the fields of its first plan's unit ``unit_id`` replaced."""
    first = scenario.plans[0]
    units = [u.model_copy(update=changes) if u.id == unit_id else u for u in first.units]
    plans = [first.model_copy(update={"units": units}), *scenario.plans[1:]]
    return scenario.model_copy(update={"plans": plans})
