"""``/mission-status``'s table: a row per unit with its figures, totals against the caps."""

from __future__ import annotations

from opencode_orchestrator.core.missions.ledger import UnitLedger
from opencode_orchestrator.core.missions.table import ROW_LIMIT, mission_table
from opencode_orchestrator.mission.figures import duration_text
from opencode_orchestrator.mission.records import TurnKind
from opencode_orchestrator.mission.sessions import session_title
from tests.core.missions.modelsupport import Journaled, journaled


def rows(table: str) -> dict[str, list[str]]:
    """Unit id -> its cells, from the table's rows."""
    found = {}
    for line in table.splitlines():
        if line.startswith("| ") and not line.startswith("| Unit"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            found[cells[0]] = cells
    return found


def with_ledger(book: Journaled) -> UnitLedger:
    ledger = UnitLedger(book.model)
    book.observers.append(ledger.observe)
    return ledger


def test_every_unit_has_a_row_with_its_figures_kept_after_the_engine_released_them() -> None:
    book = journaled(["a", "b", "c"], budget={"max_tokens": 100_000, "max_cost": 5.0})
    ledger = with_ledger(book)
    book.unit("a", "ready", ts=1_010.0)
    book.unit("a", "dispatched", attempt=1, ts=1_011.0)
    book.turn("a", 1500, 0.02)
    book.turn("a", 500, 0.01, kind=TurnKind.REVIEW)
    book.unit("a", "verified", ts=1_076.0)
    book.unit("b", "ready")
    book.unit("b", "dispatched", attempt=1)
    book.unit("b", "ready", reason="the worker gave up")
    book.unit("b", "dispatched", attempt=2, ts=2_000.0)
    book.turn("b", 700, 0.004)
    model = book.model
    assert model.units["a"].tokens == 0  # released by the engine's model

    table = mission_table(model, ledger=ledger, now=2_090.0, wall_seconds=125.0, running=True)
    found = rows(table)
    assert list(found) == ["a", "b", "c"]
    assert found["a"] == [
        "a",
        "VERIFIED",
        "1",
        session_title(model.mission_id, "a", "worker", 1),
        "1m 05s",
        "2.0k",
        "$0.03",
    ]
    # b's elapsed time counts from its first dispatch, to now: it is under way.
    assert found["b"][1:3] == ["DISPATCHED", "2"]
    assert found["b"][3] == session_title(model.mission_id, "b", "worker", 2)
    started = model.units["b"].started_at
    assert started is not None
    assert found["b"][4:] == [duration_text(2_090.0 - started), "700", "$0.0040"]
    assert found["c"] == ["c", "PENDING", "—", "—", "—", "—", "—"]
    assert table.startswith("### Mission m-test1234 — RUNNING\nGoal: Build the thing\n")
    assert "Iteration 1 · 1/3 units verified · running here" in table
    assert table.endswith(
        "**Totals:** tokens 2.7k of 100.0k · cost $0.03 of $5.00 · wall 2m 05s (no cap)"
    )


def test_a_mission_read_from_its_wal_keeps_its_evidence_and_needs_no_ledger() -> None:
    book = journaled(["a"], keep_evidence=True)
    book.run_unit("a", tokens=3_200_000, cost=12.5)
    book.state("failed", reason="the budget ran out")
    table = mission_table(book.model, ledger=None, now=9e9, wall_seconds=7300.0, running=False)
    [row] = rows(table).values()
    assert row[1] == "VERIFIED"
    assert row[4:] == ["3.0s", "3.20M", "$12.50"]
    assert "· ended" in table
    assert "Reason: the budget ran out" in table
    assert table.endswith("tokens 3.20M (no cap) · cost $12.50 (no cap) · wall 2h 01m (no cap)")


def test_long_missions_list_the_units_under_way_and_failed_first_and_sum_up_the_rest() -> None:
    units = [f"u{i:04d}" for i in range(1000)]
    book = journaled(units)
    for unit in units[:950]:
        book.run_unit(unit, end="verified")
    for unit in units[950:960]:
        book.run_unit(unit, end="failed")
    for unit in units[960:963]:
        book.unit(unit, "ready")
        book.unit(unit, "dispatched", attempt=1)
    table = mission_table(book.model, ledger=None, now=book.ts, wall_seconds=1.0, running=True)
    found = rows(table)
    # Under way first, then failed, then the others in plan order up to the limit.
    assert list(found) == units[960:963] + units[950:960] + units[:27]
    assert len(found) == ROW_LIMIT
    assert "…and 960 more units: 37 PENDING, 923 VERIFIED" in table
    assert len(table.splitlines()) < ROW_LIMIT + 15


def test_a_long_sealed_mission_lists_its_first_units_not_an_empty_table() -> None:
    units = [f"u{i:02d}" for i in range(ROW_LIMIT + 5)]
    book = journaled(units, keep_evidence=True)
    for unit in units:
        book.run_unit(unit)
    book.state("sealed", reason="every seal condition verified")
    table = mission_table(book.model, ledger=None, now=book.ts, wall_seconds=1.0, running=False)
    assert list(rows(table)) == units[:ROW_LIMIT]
    assert "…and 5 more units: 5 VERIFIED" in table


def test_the_row_cap_is_a_parameter_and_a_small_mission_shows_every_unit() -> None:
    book = journaled(["a", "b", "c"])
    small = mission_table(book.model, ledger=None, now=0.0, wall_seconds=0.0, running=False)
    assert list(rows(small)) == ["a", "b", "c"]
    assert "more units" not in small
    book.unit("c", "ready")
    book.unit("c", "dispatched", attempt=1)
    capped = mission_table(
        book.model, ledger=None, now=0.0, wall_seconds=0.0, running=False, row_limit=2
    )
    assert list(rows(capped)) == ["c", "a"]
    assert "…and 1 more units: 1 PENDING" in capped


def test_a_mission_without_a_plan_and_a_stopped_one_say_so() -> None:
    book = journaled([], running=False)
    table = mission_table(
        book.model,
        ledger=None,
        now=0.0,
        wall_seconds=0.0,
        running=False,
        error="OpenCode went away",
    )
    assert "No units yet" in table
    assert "· not running" in table
    assert "⚠ stopped by an error: OpenCode went away" in table


def test_units_that_ended_before_a_resume_get_their_figures_from_the_journal() -> None:
    # After the core restarted, /mission-status showed "—" for every unit finished
    # before: the resumed engine's model had let their figures go, and the ledger
    # only sees records written after the resume.
    kept, released = journaled(["a", "b"], keep_evidence=True), journaled(["a", "b"])
    for book in (kept, released):  # the same journal, read with and without evidence
        book.run_unit("a", tokens=1_500, cost=0.02)
        book.unit("b", "ready")
    ledger = UnitLedger(released.model)  # a ledger made at the resume
    assert ledger.missing()
    ledger.seed(kept.model)
    assert not ledger.missing()
    table = mission_table(released.model, ledger=ledger, now=2e3, wall_seconds=9.0, running=True)
    assert rows(table)["a"][5:] == ["1.5k", "$0.02"]
