"""Following a mission while it runs: the rich view on a terminal, plain lines elsewhere.

:class:`Progress` reads a :class:`MissionModel` each time :meth:`Progress.update`
is called (:meth:`Progress.run` calls it every ``interval``) and draws it.
It must be called on the thread that changes the model (the engine's journal
folds records in on the event loop; ``status --watch`` folds them in between
two draws), so it never reads a model mid-change. That is also why rich's own
refresh thread is off: every redraw happens here.

Which of the two renderings: the rich view (:mod:`.view`) when the stream is
a terminal whose ``TERM`` is neither ``dumb`` nor ``unknown``; plain lines
(:mod:`.plain`) otherwise. rich honours ``NO_COLOR`` (the view says
everything in words too). While the view is drawn, whatever is written to
stderr (a notice, ``-v``'s log lines) is printed above it, when stderr is the
view's stream or the same terminal.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import IO, TextIO

import anyio
from rich.console import Console
from rich.live import Live

from opencode_orchestrator.cli.live.plain import plain_body, plain_line
from opencode_orchestrator.cli.live.snapshot import Snapshot, take_snapshot
from opencode_orchestrator.cli.live.view import render
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.states import MissionState

__all__ = ["Progress", "is_live_terminal", "same_terminal"]

_FIXED_ROWS = 13
"""Rows of the view besides the running units' (header, phases, spend, table head)."""


def is_live_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal that can take a redrawn view.

    Not one whose ``TERM`` is ``dumb`` or ``unknown`` (no cursor movement to count on).
    """
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
    return tty and os.environ.get("TERM", "").lower() not in ("dumb", "unknown")


def same_terminal(first: IO[str], second: IO[str]) -> bool:
    """Whether both streams are one terminal (``status --watch``'s stdout and stderr, say)."""
    try:
        one, other = first.fileno(), second.fileno()
        if not (os.isatty(one) and os.isatty(other)):
            return False
        # A terminal is a character device: the same device number is the same screen.
        return os.fstat(one).st_rdev == os.fstat(other).st_rdev
    except (AttributeError, ValueError, OSError):  # no descriptor (a StringIO), or closed
        return False


class Progress:
    """Draws a mission's progress to ``stream`` while it runs."""

    def __init__(
        self,
        model: MissionModel,
        stream: TextIO,
        *,
        tty: bool | None = None,
        interval: float = 0.25,
        min_gap: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        elapsed: Callable[[], float] | None = None,
        limit: int = 8,
        console: Console | None = None,
    ) -> None:
        """Follow ``model`` on ``stream``.

        Args:
            model: the mission (replace :attr:`model` to follow a reloaded one).
            stream: where to draw.
            tty: the rich view (True) or plain lines (False); by default, what
                :func:`is_live_terminal` says of ``stream``.
            interval: seconds between two draws in :meth:`run` (4 Hz by default).
            min_gap: plain lines: at least this many seconds between two lines.
            clock: monotonic time, for ``min_gap``.
            wall_clock: seconds since the epoch, for the units' elapsed times.
            elapsed: the mission's wall time so far (the engine's budget knows
                it across resumes); by default from the model's timestamps.
            limit: at most this many running units listed (fewer on a short terminal).
            console: the rich console to draw on (tests give one of a fixed size).
        """
        self.model = model
        self.stream = stream
        self.tty = is_live_terminal(stream) if tty is None else tty
        self.interval = interval
        self.min_gap = min_gap
        self.limit = limit
        self._clock = clock
        self._wall_clock = wall_clock
        self._elapsed = elapsed
        self._console = console
        self._live: Live | None = None
        self._last_body: str | None = None
        self._last_state: MissionState | None = None
        self._last_print = float("-inf")
        # A mission already ended (FAILED, say) says nothing of where it stopped: guessed.
        self._phase: MissionState | None = None if model.state.final else model.state
        self._finished = False

    def snapshot(self, limit: int | None = None) -> Snapshot:
        """What the model says now."""
        model = self.model
        if not model.state.final:
            self._phase = model.state  # where an unsealed end happened, for its bar
        return take_snapshot(
            model,
            now=self._wall_clock(),
            wall=self._elapsed() if self._elapsed is not None else None,
            limit=self.limit if limit is None else limit,
            stopped_in=self._phase,
        )

    def line(self) -> str:
        """The plain line for now."""
        return plain_line(self.snapshot(limit=0))

    def update(self) -> None:
        """Draw, if due: every call on a terminal; off one, on a change, rate-limited."""
        if self._finished:
            return
        if self.tty:
            self._redraw()
            return
        snapshot = self.snapshot(limit=0)
        body, now = plain_body(snapshot), self._clock()
        state_changed = snapshot.state is not self._last_state
        if body == self._last_body or (now - self._last_print < self.min_gap and not state_changed):
            return
        self._emit(snapshot, body)

    def finish(self) -> None:
        """Draw the last state and stop (idempotent; leaves the cursor on a fresh line)."""
        if self._finished:
            return
        if self.tty:
            self._redraw(refresh=False)
            assert self._live is not None  # started by the redraw
            self._live.stop()  # draws the last view once more, leaves it, shows the cursor
        else:
            snapshot = self.snapshot(limit=0)
            body = plain_body(snapshot)
            if body != self._last_body:
                self._emit(snapshot, body)
        self._finished = True

    async def run(self) -> None:
        """Draw every ``interval`` until cancelled (run it beside the mission)."""
        while True:
            self.update()
            await anyio.sleep(self.interval)

    def _emit(self, snapshot: Snapshot, body: str) -> None:
        self._last_body, self._last_state = body, snapshot.state
        self._last_print = self._clock()
        self.stream.write(plain_line(snapshot) + "\n")
        self.stream.flush()

    def _redraw(self, *, refresh: bool = True) -> None:
        if self._live is None:
            console = self._console or Console(file=self.stream, force_terminal=True)
            screen = console.file is sys.stderr or same_terminal(console.file, sys.stderr)
            # Not stdout: it carries results a script may be reading. Writes to
            # stderr (a cancel notice, log lines) are printed above the view, not
            # through it, when they would land on the same screen.
            self._live = Live(
                console=console,
                auto_refresh=False,
                redirect_stdout=False,
                redirect_stderr=screen,
            )
            self._live.start()
        rows = max(1, self._live.console.height - _FIXED_ROWS)
        self._live.update(render(self.snapshot(limit=min(self.limit, rows))), refresh=refresh)
