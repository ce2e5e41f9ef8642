"""The README's main job, run as a user runs it: a real process, real children."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.subprocess


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opencode_orchestrator", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_demo_runs_a_whole_mission_offline(tmp_path: Path) -> None:
    result = _cli("demo", "--project", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "SEALED: every seal condition verified" in out
    assert "20 of 20 verified" in out
    mission_id = next(line for line in out.splitlines() if line.startswith("mission ")).split()[1]
    mission = tmp_path / ".opencode" / "orchestrator" / "missions" / mission_id
    assert f"wal       {mission / 'wal'}" in out
    assert f"report    {mission / 'report.md'}" in out
    assert (mission / "report.md").is_file()
    # What it says it wrote is really there, sound, and what `status` reads.
    verify = _cli("wal", "verify", str(mission / "wal"))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    status = _cli("status", mission_id, "--json", "--project", str(tmp_path))
    assert status.returncode == 0, status.stderr
    assert orjson.loads(status.stdout) == orjson.loads((mission / "report.json").read_bytes())


def test_demo_foundation_runs_offline_and_proves_recovery(tmp_path: Path) -> None:
    result = _cli("demo", "--foundation", "--project", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "sent a malformed line -> error -32700: parse error" in out
    assert "and the stream stays in sync" in out
    assert "process exited with code 0" in out
    assert "0 missing, 0 duplicated" in out
    assert "every acknowledged record survived, exactly once, in order" in out
    # Step 4: the client against the simulated OpenCode, files really written.
    assert (
        "a provider 429 twice: 2 retry statuses seen, then 'answered after the rate limit'" in out
    )
    assert "3 child sessions; 3 of 3 files on disk" in out
    wal_root = tmp_path / ".opencode" / "orchestrator" / "missions"
    assert sorted(p.name for p in wal_root.iterdir()) == ["demo-crash", "demo-group-commit"]
    for mission in wal_root.iterdir():
        verify = _cli("wal", "verify", str(mission / "wal"))
        assert verify.returncode == 0, verify.stdout + verify.stderr
