"""Plan validation (every problem, one line each), cycles, topological order, critical path."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencode_orchestrator.mission.contracts import PlanOutput, UnitSpec
from opencode_orchestrator.mission.errors import PlanInvalidError
from opencode_orchestrator.mission.plan import (
    critical_path,
    normalize_scope,
    topological_order,
    validate_plan,
)


def unit(uid: str, *deps: str, files: Sequence[str] = (), checks: Sequence[str] = ()) -> UnitSpec:
    return UnitSpec(
        id=uid, title=f"do {uid}", depends_on=list(deps), files=list(files), checks=list(checks)
    )


def plan(*units: UnitSpec, checks: Sequence[str] = ()) -> PlanOutput:
    return PlanOutput(summary="s", units=list(units), checks=list(checks))


def problems(p: PlanOutput, *, max_units: int = 100, existing: Sequence[str] = ()) -> list[str]:
    with pytest.raises(PlanInvalidError) as caught:
        validate_plan(p, max_units=max_units, existing_ids=existing)
    assert caught.value.code == "mission.plan.invalid"
    return caught.value.problems


def test_a_sound_plan_passes() -> None:
    validate_plan(
        plan(
            unit("a", files=["src/a.py", "./docs/*.md"], checks=["pytest -q"]),
            unit("b", "a", "done-before", files=["src/**/b.py"]),
            checks=["make test"],
        ),
        max_units=2,
        existing_ids={"done-before"},
    )


def test_duplicate_and_existing_ids() -> None:
    assert problems(plan(unit("a"), unit("a"), unit("a"), unit("b")), existing=["b"]) == [
        "unit id 'a' is used by 3 units",
        "unit id 'b' is already used by a unit of the mission",
    ]


def test_unknown_and_self_dependencies() -> None:
    assert problems(plan(unit("a", "a", "ghost", "ghost"), unit("b", "a"))) == [
        "unit 'a' depends on itself",
        "unit 'a' depends on unknown unit 'ghost'",
    ]


def test_too_many_units() -> None:
    assert problems(plan(unit("a"), unit("b"), unit("c")), max_units=2) == [
        "the plan has 3 units; at most 2 are allowed"
    ]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "file scope '' is empty"),
        ("  ", "file scope '  ' is empty"),
        ("/etc/passwd", "file scope '/etc/passwd' is absolute (make it relative to the project)"),
        ("~/x", "file scope '~/x' starts with '~' (make it relative to the project)"),
        (
            "C:/x.py",
            "file scope 'C:/x.py' is a Windows drive path (make it relative to the project)",
        ),
        ("src/../x", "file scope 'src/../x' has a '..' component"),
        ("..", "file scope '..' has a '..' component"),
        ("src\\x.py", "file scope 'src\\\\x.py' contains a backslash (use '/')"),
        ("a\0b", "file scope 'a\\x00b' contains a NUL character"),
        ("./", "file scope './' names no path (use '**' for the whole project)"),
    ],
)
def test_bad_file_scopes(pattern: str, message: str) -> None:
    assert problems(plan(unit("u", files=["ok.py", pattern]))) == [f"unit 'u': {message}"]


def test_a_scope_with_several_faults_is_one_line() -> None:
    assert problems(plan(unit("u", files=["/a/../b\\c"]))) == [
        "unit 'u': file scope '/a/../b\\\\c' contains a backslash (use '/'), "
        "is absolute (make it relative to the project), has a '..' component"
    ]


def test_empty_checks() -> None:
    assert problems(plan(unit("u", checks=["ok", " "]), checks=["", "make"])) == [
        "unit 'u': check #2 is empty",
        "plan check #1 is empty",
    ]


def test_all_problems_are_reported_at_once() -> None:
    found = problems(
        plan(
            unit("a", "b", "nope", files=["/abs"]),
            unit("b", "a", checks=[""]),
            unit("a"),
            checks=[" "],
        ),
        max_units=2,
    )
    assert found == [
        "the plan has 3 units; at most 2 are allowed",
        "unit id 'a' is used by 2 units",
        "unit 'a' depends on unknown unit 'nope'",
        "unit 'a': file scope '/abs' is absolute (make it relative to the project)",
        "unit 'b': check #1 is empty",
        "plan check #1 is empty",
        "cycle: a -> b -> a",
    ]
    assert str(PlanInvalidError(found)).startswith("invalid plan: the plan has 3 units;")


def test_cycles_are_named() -> None:
    assert problems(plan(unit("a", "b"), unit("b", "a"))) == ["cycle: a -> b -> a"]
    assert problems(plan(unit("x"), unit("a", "b"), unit("b", "c"), unit("c", "a"))) == [
        "cycle: a -> b -> c -> a"
    ]
    # Two disjoint cycles, one line each, in the order of their first unit;
    # the second also has a chord (c -> b): a shortest cycle through its first unit is named.
    assert problems(
        plan(
            unit("p", "q"),
            unit("a", "b", "x"),
            unit("b", "c"),
            unit("c", "a", "b"),
            unit("q", "p"),
            unit("x"),
        )
    ) == ["cycle: p -> q -> p", "cycle: a -> b -> c -> a"]


def test_a_cycle_of_ten_thousand_units_needs_no_recursion() -> None:
    n = 10_000
    units = [unit(f"u{i}", f"u{(i + 1) % n}") for i in range(n)]
    (message,) = problems(plan(*units), max_units=n)
    assert message == "cycle: " + " -> ".join(f"u{i}" for i in [*range(n), 0])


def test_orders_of_a_long_chain() -> None:
    n = 10_000
    units = [unit(f"u{i}", *([f"u{i - 1}"] if i else [])) for i in range(n)]
    validate_plan(plan(*units), max_units=n)
    assert topological_order(units) == [f"u{i}" for i in range(n)]
    lengths = critical_path(units)
    assert lengths["u0"] == n
    assert lengths[f"u{n - 1}"] == 1


def test_topological_order_is_stable_and_ignores_finished_units() -> None:
    units = [unit("c", "a"), unit("b", "old"), unit("a"), unit("d", "c", "b")]
    assert topological_order(units) == ["b", "a", "c", "d"]
    already_ordered = [unit("a"), unit("b", "a"), unit("c")]
    assert topological_order(already_ordered) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="cycle"):
        topological_order([unit("a", "b"), unit("b", "a")])


def test_critical_path_counts_units_to_the_end() -> None:
    units = [unit("a"), unit("b", "a"), unit("c", "a"), unit("d", "c", "gone"), unit("e")]
    assert critical_path(units) == {"a": 3, "b": 1, "c": 2, "d": 1, "e": 1}
    with pytest.raises(ValueError, match="cycle"):
        critical_path([unit("a", "b"), unit("b", "a")])


def test_normalize_scope() -> None:
    assert normalize_scope("./src//a.py/") == "src/a.py"
    assert normalize_scope("src/./**") == "src/**"
    assert normalize_scope(".") == ""
    assert normalize_scope("/etc//x") == "/etc/x"
    assert normalize_scope("a/../b") == "a/../b"


# --- properties ---------------------------------------------------------------


@st.composite
def dags(draw: st.DrawFn) -> list[UnitSpec]:
    """Random DAGs: each unit depends only on earlier ones (plus, sometimes, a finished one)."""
    n = draw(st.integers(1, 9))
    units = []
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), unique=True)) if i else []
        extra = ["old"] if draw(st.booleans()) else []
        units.append(unit(f"n{i}", *[f"n{d}" for d in deps], *extra))
    return draw(st.permutations(units))


def brute_longest(units: Sequence[UnitSpec]) -> dict[str, int]:
    dependents = {u.id: [v.id for v in units if u.id in v.depends_on] for u in units}

    def longest(uid: str) -> int:
        return 1 + max((longest(d) for d in dependents[uid]), default=0)

    return {u.id: longest(u.id) for u in units}


@given(dags())
def test_random_dags_validate_and_order(units: list[UnitSpec]) -> None:
    validate_plan(plan(*units), max_units=len(units), existing_ids={"old"})
    assert critical_path(units) == brute_longest(units)
    order = topological_order(units)
    assert sorted(order) == sorted(u.id for u in units)
    place = {uid: i for i, uid in enumerate(order)}
    for u in units:
        assert all(place[d] < place[u.id] for d in u.depends_on if d in place)


def reaches(units: Sequence[UnitSpec], start: str) -> set[str]:
    deps = {u.id: u.depends_on for u in units}
    seen, todo = set(), [start]
    while todo:
        for d in deps.get(todo.pop(), []):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


@given(dags(), st.data())
def test_a_back_edge_is_named_as_a_cycle(units: list[UnitSpec], data: st.DataObject) -> None:
    pairs = [(u.id, v) for u in units for v in sorted(reaches(units, u.id)) if v != "old"]
    if not pairs:
        units = [*units, unit("extra", units[0].id)]
        pairs = [("extra", units[0].id)]
    later, earlier = data.draw(st.sampled_from(pairs))
    # earlier already comes before later; making it wait for later closes a loop.
    units = [
        u.model_copy(update={"depends_on": [*u.depends_on, later]}) if u.id == earlier else u
        for u in units
    ]
    cycles = [p for p in problems(plan(*units), existing=["old"]) if p.startswith("cycle: ")]
    assert len(cycles) == 1
    named = cycles[0].removeprefix("cycle: ").split(" -> ")
    assert named[0] == named[-1]
    assert len(set(named[:-1])) == len(named) - 1
    deps = {u.id: u.depends_on for u in units}
    assert all(b in deps[a] for a, b in itertools.pairwise(named))
    assert {earlier, later} <= set(named)
