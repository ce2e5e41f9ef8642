"""Log lines written while the live view draws on stderr come out above it, not through it."""

from __future__ import annotations

import io
import sys

import pytest
from rich.console import Console

from opencode_orchestrator.cli.live import Progress
from opencode_orchestrator.log import configure_logging, flush_logging, get_logger
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.states import MissionState

_ERASE_LINE = "\x1b[2K"


def test_a_warning_logged_during_the_live_view_is_printed_above_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stderr", terminal)
    configure_logging("warning")
    model = MissionModel(mission_id="m-log", goal="g", state=MissionState.RUNNING, created=True)
    console = Console(file=sys.stderr, force_terminal=True, width=100, height=30)
    progress = Progress(model, sys.stderr, tty=True, console=console)
    progress.update()  # the view is up: sys.stderr is now rich's proxy
    before = len(terminal.getvalue())

    get_logger("test").warning("pool.limit_decreased", provider="p")
    assert flush_logging()
    progress.update()
    progress.finish()

    drawn = terminal.getvalue()
    at = drawn.index('"event":"pool.limit_decreased"', before)
    line_start = drawn.rindex("{", before, at + 1)
    # rich moved the cursor up over the view and erased it before printing the
    # line; a handler writing to the original stream would append it to the
    # view's last row instead.
    assert drawn[:line_start].endswith(_ERASE_LINE)
    assert drawn.count('"event":"pool.limit_decreased"') == 1
    assert sys.stderr is terminal  # the view gave stderr back
