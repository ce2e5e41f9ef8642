"""The README's main job, run as a user runs it: a real process, real children."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess


def test_demo_runs_offline_and_proves_recovery(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "opencode_orchestrator", "demo", "--project", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
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
    # What it says it wrote is really there, and sound.
    wal_root = tmp_path / ".opencode" / "orchestrator" / "missions"
    assert sorted(p.name for p in wal_root.iterdir()) == ["demo-crash", "demo-group-commit"]
    for mission in wal_root.iterdir():
        verify = subprocess.run(
            [sys.executable, "-m", "opencode_orchestrator", "wal", "verify", str(mission / "wal")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
