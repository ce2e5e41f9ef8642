"""``run``, ``resume``, ``status`` and ``cancel``, driven through the CLI's ``main``.

Missions run on the in-process simulator (``--sim``). Where another process
must hold a mission's WAL, the test opens the WAL itself (that takes the lock
exactly as a running mission does) and runs the command in a worker thread,
which gets its own event loop as the real process would.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import anyio
import orjson
import pytest

from opencode_orchestrator import runtime
from opencode_orchestrator.cli import main, status
from opencode_orchestrator.cli.runner import (
    RunOptions,
    RunResult,
    Target,
    load_sim_settings,
    print_outcome,
    save_sim_settings,
)
from opencode_orchestrator.mission.cancelling import cancel_request_path
from opencode_orchestrator.mission.contracts import UnitSpec
from opencode_orchestrator.mission.engine import MissionEngine
from opencode_orchestrator.mission.model import MissionModel, UnitModel
from opencode_orchestrator.mission.states import MissionState, UnitState
from opencode_orchestrator.mission.store import load_mission, mission_dir
from opencode_orchestrator.opencode import OpenCodeClient
from opencode_orchestrator.sim import SimConfig, SimServer
from opencode_orchestrator.testing.real_opencode import free_port
from opencode_orchestrator.wal.log import Durability
from opencode_orchestrator.wal.paths import list_segments
from tests.mission import journals


def _run_sim(project: Path, *extra: str) -> list[str]:
    return ["run", "add a feature", "--sim", "--project", str(project), "--sim-units", "3", *extra]


def test_run_sim_seals_a_small_mission_and_says_where_everything_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_run_sim(tmp_path, "--check", "true", "--max-attempts", "2")) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("mission ")
    mission_id = lines[0].split()[1]
    assert "SEALED: every seal condition verified" in out
    assert "3 of 3 verified" in out
    directory = mission_dir(tmp_path, mission_id)
    assert f"wal       {directory / 'wal'}" in out
    assert f"log       {directory / 'mission.log'}" in out
    assert (directory / "mission.log").is_file()
    assert f"report    {directory / 'report.md'}" in out
    assert (directory / "report.md").is_file()
    assert (directory / "report.json").is_file()
    assert "sealed  iteration 1  verified 3/3" in err  # the progress line ends on the outcome
    model = load_mission(tmp_path, mission_id)
    assert model.state is MissionState.SEALED
    assert model.config["limits"]["max_attempts"] == 2
    assert [c["command"] for c in model.check_results] == ["true"]


def test_run_json_prints_one_document_and_status_json_matches_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*_run_sim(tmp_path), "--json"]) == 0
    out, err = capsys.readouterr()
    document = orjson.loads(out)
    mission_id = document["mission_id"]
    assert err.startswith(f"mission {mission_id}\n")
    assert (document["state"], document["error"]) == ("sealed", None)
    report = Path(document["files"]["report_json"])
    assert report.is_file()
    assert Path(document["files"]["report_md"]).is_file()
    assert Path(document["files"]["wal"]).is_dir()
    assert Path(document["files"]["log"]).is_file()

    assert main(["status", mission_id, "--json", "--project", str(tmp_path)]) == 0
    status = orjson.loads(capsys.readouterr().out)
    assert status == orjson.loads(report.read_bytes())
    assert status["totals"]["verified"] == 3

    assert main(["status", "--project", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert listing.startswith(mission_id)
    assert "sealed" in listing
    assert "3/3" in listing


def test_status_of_one_mission_shows_each_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.run(journals.sealed_mission, tmp_path, "m1")
    assert main(["status", "m1", "--project", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "m1  SEALED" in out
    header = next(line for line in out.splitlines() if line.startswith("unit"))
    assert header.split()[:8] == [
        "unit",
        "state",
        "attempts",
        "rounds",
        "sessions",
        "tokens",
        "cost",
        "duration",
    ]
    u1 = next(line for line in out.splitlines() if line.startswith("u1 "))
    assert u1.split()[:7] == ["u1", "verified", "2", "1", "1", "1,000", "$0.0100"]


@pytest.mark.anyio
async def test_status_works_while_another_process_holds_the_lock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await journals.unfinished_mission(tmp_path, "m1")
    journal = await journals.open_journal(tmp_path, "m1")
    try:
        await journals.verify_unit(journal, "u2")
        capsys.readouterr()  # unconfigured structlog prints the test's own WAL logs
        code = await anyio.to_thread.run_sync(
            main, ["status", "m1", "--json", "--project", str(tmp_path)]
        )
        assert code == 0
        status = orjson.loads(capsys.readouterr().out)
        code = await anyio.to_thread.run_sync(main, ["status", "--project", str(tmp_path)])
        assert code == 0
        assert capsys.readouterr().out.split()[:3] == ["m1", "running", "2/2"]
    finally:
        await journal.close()
    assert (status["state"], status["totals"]["verified"]) == ("running", 2)


def test_status_json_replays_the_journal_once_and_names_what_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime.run(journals.sealed_mission, tmp_path, "m1")

    def second_read(project: Path, mission_id: str) -> None:
        raise AssertionError("status --json read the journal a second time")

    monkeypatch.setattr(status, "load_mission", second_read)
    capsys.readouterr()
    assert main(["status", "m1", "--json", "--project", str(tmp_path)]) == 0
    assert orjson.loads(capsys.readouterr().out)["state"] == "sealed"
    with pytest.raises(SystemExit) as exited:
        main(["status", "m-nope", "--json", "--project", str(tmp_path)])
    assert exited.value.code == 2
    assert "m-nope" in capsys.readouterr().err
    [(_first, segment)] = list_segments(mission_dir(tmp_path, "m1") / "wal")
    segment.write_bytes(b"not a record\n" + segment.read_bytes())
    assert main(["status", "m1", "--json", "--project", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("m1: ")


def test_cancel_of_a_mission_nobody_runs_records_it_cancelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.run(journals.unfinished_mission, tmp_path, "m1")
    assert main(["cancel", "m1", "--project", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "mission m1 was not running: recorded it cancelled" in out
    assert "1 session(s) may still be busy: pass --server URL to abort them" in out
    model = load_mission(tmp_path, "m1")
    assert (model.state, model.cancel_requested) == (MissionState.CANCELLED, True)
    unfinished = {u.id: (u.state, u.reason) for u in model.units.values() if u.id != "u1"}
    assert unfinished == {"u2": (UnitState.CANCELLED, "the mission was cancelled")}
    assert model.units["u1"].state is UnitState.VERIFIED
    assert model.open_turns() == []  # u2's work turn: nothing will ever follow it
    assert cancel_request_path(tmp_path, "m1").exists()
    report = orjson.loads((mission_dir(tmp_path, "m1") / "report.json").read_bytes())
    assert report["state"] == "cancelled"

    assert main(["cancel", "m1", "--project", str(tmp_path)]) == 0  # idempotent
    assert "already ended cancelled" in capsys.readouterr().out


def test_cancel_of_a_finished_mission_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.run(journals.sealed_mission, tmp_path, "m1")
    assert main(["cancel", "m1", "--project", str(tmp_path)]) == 1
    assert "already ended sealed; nothing to cancel" in capsys.readouterr().out
    assert load_mission(tmp_path, "m1").state is MissionState.SEALED
    assert not cancel_request_path(tmp_path, "m1").exists()


@pytest.mark.anyio
async def test_cancel_of_a_running_mission_leaves_the_request_to_its_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await journals.unfinished_mission(tmp_path, "m1")
    journal = await journals.open_journal(tmp_path, "m1")
    capsys.readouterr()
    try:
        code = await anyio.to_thread.run_sync(main, ["cancel", "m1", "--project", str(tmp_path)])
        assert journal.model.state is MissionState.RUNNING  # the CLI recorded nothing
    finally:
        await journal.close()
    assert code == 0
    out = capsys.readouterr().out
    assert f"cancel requested: mission m1 is running (pid {os.getpid()})" in out
    assert cancel_request_path(tmp_path, "m1").exists()


def test_resume_picks_the_newest_unfinished_mission(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.run(partial(journals.planning_mission, tmp_path, "older", created_at=1000.0))
    runtime.run(partial(journals.planning_mission, tmp_path, "newer", created_at=2000.0))
    runtime.run(partial(journals.sealed_mission, tmp_path, "finished", created_at=3000.0))
    capsys.readouterr()
    assert main(["resume", "--sim", "--project", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "mission newer"
    assert "SEALED" in out
    assert load_mission(tmp_path, "newer").state is MissionState.SEALED
    assert load_mission(tmp_path, "older").state is MissionState.PLANNING


def test_resume_with_nothing_unfinished_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.run(journals.sealed_mission, tmp_path, "m1")
    assert main(["resume", "--sim", "--project", str(tmp_path)]) == 1
    assert "no unfinished mission" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "goal"], "one of the arguments --server --sim is required"),
        (["run", "goal", "--sim", "--server", "http://h"], "not allowed with argument"),
        (["run", "goal", "--server", "http://h", "--sim-units", "3"], "only apply with --sim"),
        (["run", "goal", "--server", "http://h", "--state-dir", "x"], "only apply with --sim"),
        (["run", "goal", "--sim", "--password", "p"], "--password only applies with --server"),
        (["run", "goal", "--sim", "--sim-shape", "blob"], "invalid choice: 'blob'"),
        (["run", "  ", "--sim"], "GOAL must not be empty"),
        (["run", "goal", "--sim", "--project", "/no/such/dir"], "not a directory"),
        (["status", "nope"], "no mission 'nope'"),
        (["status", "../x"], "invalid mission id"),
        (["resume", "nope", "--sim"], "no mission 'nope'"),
        (["cancel"], "the following arguments are required: MISSION"),
        (["cancel", "nope"], "no mission 'nope'"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # --project defaults to the current directory
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"opencode-orchestrator {argv[0]}: error:" in err
    assert message in err
    assert not (tmp_path / ".opencode").exists()  # nothing was started


@pytest.mark.anyio
async def test_a_running_mission_cancels_itself_when_the_cli_asks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Slow agents and a long chain: the mission is still running when the
    # request lands, and the engine's own watcher must be what stops it.
    config = SimConfig.model_validate(
        {"latency": {"mean": 0.05, "jitter": 0.0}, "planner": {"units": 30, "shape": "chain"}}
    )
    running = anyio.Event()
    with anyio.fail_after(60):
        async with (
            SimServer.running(tmp_path / "sim", config=config, directory=str(tmp_path)) as sim,
            OpenCodeClient(sim.base_url, directory=str(tmp_path)) as client,
            MissionEngine.create(
                tmp_path, "long", client, mission_id="m1", durability=Durability.NONE
            ) as engine,
        ):

            def on_event(_event: object) -> None:
                if engine.ctx.model.state is MissionState.RUNNING:
                    running.set()

            engine.ctx.router.observe(on_event)
            async with anyio.create_task_group() as tg:
                outcome: list[MissionState] = []

                async def run() -> None:
                    outcome.append(await engine.run())

                tg.start_soon(run)
                await running.wait()
                capsys.readouterr()
                argv = ["cancel", "m1", "--project", str(tmp_path)]
                assert await anyio.to_thread.run_sync(main, argv) == 0
    assert "cancel requested: mission m1 is running" in capsys.readouterr().out
    assert outcome == [MissionState.CANCELLED]
    assert load_mission(tmp_path, "m1").counts().get("verified", 0) < 30


@pytest.mark.anyio
async def test_resume_of_a_mission_another_process_runs_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await journals.unfinished_mission(tmp_path, "m1")
    journal = await journals.open_journal(tmp_path, "m1")
    capsys.readouterr()
    try:
        argv = ["resume", "m1", "--sim", "--project", str(tmp_path)]
        code = await anyio.to_thread.run_sync(main, argv)
    finally:
        await journal.close()
    assert code == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == ["mission m1", "mission m1 did not run"]
    assert f"write-ahead log is locked by pid {os.getpid()} [wal.locked]" in err
    assert load_mission(tmp_path, "m1").state is MissionState.RUNNING


def test_the_summary_counts_the_plans_units_not_the_racing_strategies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A race won by u1.r2: u1.r1 and the sub-unit it split into end cancelled by
    # design, and must not read as units the mission failed to verify.
    model = MissionModel()
    model.created = True
    model.state = MissionState.SEALED
    for uid, state, strategy in (
        ("u1", UnitState.VERIFIED, None),
        ("u2", UnitState.VERIFIED, None),
        ("u1.r1", UnitState.CANCELLED, "u1.r1"),
        ("u1.r1.part1", UnitState.CANCELLED, "u1.r1"),
        ("u1.r2", UnitState.VERIFIED, "u1.r2"),
    ):
        model.units[uid] = UnitModel(
            spec=UnitSpec(id=uid, title=uid), state=state, strategy=strategy
        )
    result = RunResult("m1", tmp_path / "wal", model=model, state=MissionState.SEALED)
    print_outcome(result, RunOptions(tmp_path, Target()), resume_hint="")
    out = capsys.readouterr().out
    assert "units     2 of 2 verified (and 3 in racing strategies); " in out


def test_a_run_opencode_never_answered_points_at_no_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --json named a WAL and a log that the failed start had removed.
    project = tmp_path / "project"
    project.mkdir()
    dead = f"http://127.0.0.1:{free_port()}"
    argv = ["run", "goal", "--server", dead, "--project", str(project), "--json"]
    assert main(argv) == 1
    document = orjson.loads(capsys.readouterr().out)
    assert "unreachable" in document["error"]
    assert set(document["files"].values()) == {None}
    assert not mission_dir(project, document["mission_id"]).exists()


def test_a_moved_project_takes_its_simulator_along(tmp_path: Path) -> None:
    # sim.json held the absolute path: resumed after a move, the mission got an
    # empty simulator at the old place, and every open session was gone.
    old, new = tmp_path / "old", tmp_path / "new"
    save_sim_settings(old, "m1", SimConfig(seed=7), mission_dir(old, "m1") / "sim")
    outside = tmp_path / "elsewhere"
    save_sim_settings(old, "m2", SimConfig(), outside)
    old.rename(new)
    config, state = load_sim_settings(new, "m1")
    assert (config.seed, state) == (7, mission_dir(new, "m1") / "sim")
    assert load_sim_settings(new, "m2")[1] == outside  # a --state-dir of one's own stays
