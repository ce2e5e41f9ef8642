"""What the core tells the user of a mission, and when: phases, coalesced failures, progress."""

from __future__ import annotations

from opencode_orchestrator.core.missions.narration import MissionNarrator, NarrationPolicy
from opencode_orchestrator.core.missions.wire import ProgressParams
from tests.core.missions.modelsupport import Journaled, journaled


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Told:
    """A mission whose records feed a narrator; what it said, in order."""

    def __init__(self, book: Journaled, policy: NarrationPolicy | None = None) -> None:
        self.book = book
        self.clock = Clock()
        self.narrator = MissionNarrator(book.model, policy or NarrationPolicy(), self.clock)
        self.said: list[ProgressParams] = []
        book.observers.append(
            lambda kind, data: self.said.extend(self.narrator.observe(kind, data))
        )

    def tick(self, seconds: float) -> list[ProgressParams]:
        """Move the clock on; what became due."""
        self.clock.now += seconds
        due = self.narrator.due()
        self.said += due
        return due


REPORT = ".opencode/orchestrator/missions/m-test1234/report.html"


def test_each_phase_change_is_a_toast_and_a_post_into_the_mission_session() -> None:
    told = Told(journaled(["a", "b"], running=False))
    book = told.book
    book.state("running")
    book.run_unit("a")
    book.run_unit("b")
    for state in ("barrier", "integration_review"):
        book.state(state)
    phases = [p for p in told.said if p.kind == "phase"]
    assert [p.state for p in phases] == ["RUNNING", "BARRIER", "INTEGRATION_REVIEW"]
    assert all(p.toast and p.post and p.session_id == "ses_parent" for p in phases)
    assert phases[0].text == "Mission m-test1234: plan accepted, 2 units; workers running"


def test_the_end_waits_for_the_report_and_its_post_says_where_the_report_is() -> None:
    told = Told(journaled(["a", "b"]))
    told.book.run_unit("a")
    told.book.run_unit("b")
    told.said.clear()
    told.book.state("sealed", reason="every seal condition verified")
    assert told.said == []  # the report is written first
    toast, post = told.narrator.ended(REPORT)
    assert (toast.kind, toast.state, post.kind, post.state) == ("phase", "SEALED") * 2
    assert (toast.toast, toast.post, post.toast, post.post) == (True, False, False, True)
    assert (toast.variant, toast.level) == ("success", "info")
    assert toast.text.startswith("Mission m-test1234 SEALED: 2 of 2 units verified")
    assert "2.0k tokens, $0.02" in toast.text
    assert post.text == f"{toast.text}\nReport: {REPORT}"
    assert post.session_id == "ses_parent"
    # Without a report, one notification: a toast and a post of the same text.
    [alone] = told.narrator.ended(None)
    assert (alone.toast, alone.post, alone.text) == (True, True, toast.text)


def test_a_final_failure_is_an_error_toast_and_without_a_session_nothing_is_posted() -> None:
    told = Told(journaled(["a"], parent=None))
    told.book.state("failed", reason="not sealed after 5 iteration(s)")
    assert told.said == []
    [failed] = told.narrator.ended(REPORT)  # nowhere to post where the report is
    assert failed.kind == "phase"
    assert (failed.level, failed.variant, failed.toast) == ("error", "error", True)
    assert failed.post is False
    assert failed.session_id is None
    assert failed.text.startswith("Mission m-test1234 FAILED: not sealed after 5 iteration(s)")
    assert "Report" not in failed.text


def test_failures_close_together_are_told_in_one_notification() -> None:
    told = Told(journaled(["a", "b", "c", "d"]), NarrationPolicy(failure_window=2.0))
    told.said.clear()
    for unit in ("a", "b", "c"):
        told.book.run_unit(unit, end="failed")
    assert told.said == []  # held back for the window
    assert told.narrator.deadline() == told.clock.now + 2.0
    assert told.tick(1.9) == []
    [failures] = told.tick(0.1)
    assert failures.kind == "failures"
    assert failures.text == "Mission m-test1234: 3 units failed: a, b, c"
    assert (failures.level, failures.toast, failures.post) == ("error", True, True)
    # A later failure starts a new window, told alone with its reason.
    told.book.run_unit("d", end="failed")
    [alone] = told.tick(2.0)
    assert alone.text == "Mission m-test1234: unit d failed: it broke"


def test_failures_are_told_before_the_phase_that_follows_them() -> None:
    told = Told(journaled(["a", "b"]))
    told.said.clear()
    told.book.run_unit("a", end="failed")
    told.book.state("failed", reason="unit a failed")
    told.said += told.narrator.ended(REPORT)
    assert [(p.kind, p.toast) for p in told.said] == [
        ("failures", True),
        ("phase", True),
        ("phase", False),
    ]
    assert told.narrator.deadline() is None


def test_failure_names_are_capped() -> None:
    units = [f"u{i}" for i in range(12)]
    told = Told(journaled(units), NarrationPolicy(names_shown=3))
    for unit in units:
        told.book.run_unit(unit, end="failed")
    [failures] = told.tick(5.0)
    assert failures.text == "Mission m-test1234: 12 units failed: u0, u1, u2 and 9 more"


def test_progress_is_posted_at_most_once_per_interval_and_only_when_changed() -> None:
    budget = {"max_tokens": 1_000_000, "max_cost": 5.0}
    told = Told(journaled(["a", "b", "c"], budget=budget), NarrationPolicy(progress_interval=30.0))
    told.said.clear()
    told.book.run_unit("a", tokens=45_000, cost=0.21)
    told.book.unit("b", "ready")
    told.book.unit("b", "dispatched", attempt=1)
    # Changed, but the RUNNING post was just now: the next is due 30 s after it.
    assert told.narrator.deadline() == told.clock.now + 30.0
    assert told.tick(29.0) == []
    [line] = told.tick(1.0)
    assert line.kind == "progress"
    assert (line.toast, line.post, line.session_id) == (False, True, "ses_parent")
    assert line.text == (
        "Mission m-test1234: 1/3 units verified, 1 running; 45.0k of 1.00M tokens, $0.21 of $5.00"
    )
    # Nothing changed since: nothing is due, however long we wait.
    assert told.narrator.deadline() is None
    assert told.tick(10.0) == []
    # A change now waits for the rest of the interval: 30 s after the last post.
    told.book.unit("c", "ready")
    told.book.unit("c", "dispatched", attempt=1)
    assert told.tick(5.0) == []
    [second] = told.tick(15.0)
    assert "1/3 units verified, 2 running" in second.text
    # Changes that end where they began within an interval: the same text, not posted again.
    told.book.unit("c", "ready", reason="attempt lost")
    told.book.unit("c", "dispatched", attempt=2)
    assert told.tick(30.0) == []


def test_a_phase_post_restarts_the_progress_interval() -> None:
    told = Told(journaled(["a"]), NarrationPolicy(progress_interval=30.0))
    told.book.unit("a", "ready")
    told.tick(20.0)
    told.book.state("barrier")
    told.book.unit("a", "dispatched", attempt=1)
    assert told.tick(10.0) == []  # 30 s since the RUNNING post, 10 since BARRIER's
    assert [p.kind for p in told.tick(20.0)] == ["progress"]


def test_nothing_is_held_back_once_the_mission_ended() -> None:
    told = Told(journaled(["a"]))
    told.book.unit("a", "ready")
    told.book.state("cancelled", reason="cancelled on request")
    assert told.narrator.finished
    assert [p.state for p in told.narrator.ended()] == ["CANCELLED"]
    assert told.narrator.deadline() is None
    assert told.tick(1000.0) == []
