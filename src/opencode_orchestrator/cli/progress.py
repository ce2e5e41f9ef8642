"""Live progress of a running mission: one line, redrawn or repeated sparingly.

:class:`Progress` polls the engine's :class:`MissionModel` (the journal folds
every record into it on the event loop, so reading it from another task of
the same loop is safe) and renders::

    [  4.2s] running  iteration 1  verified 12/20  in flight 4  failed 0  tokens 23,456  $0.0702

On a terminal the line is redrawn in place (a carriage return) every poll. Anywhere else
(a pipe, a log file, CI) a new line is printed only when something other than
the clock changed, and at most once a second, so a long mission leaves a
readable trail instead of thousands of lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

import anyio

from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.states import UnitState

__all__ = ["Progress"]

_STOPPED = frozenset({UnitState.FAILED, UnitState.SKIPPED, UnitState.CANCELLED})


class Progress:
    """Renders a mission's progress line to ``stream`` while the mission runs."""

    def __init__(
        self,
        model: MissionModel,
        stream: TextIO,
        *,
        tty: bool | None = None,
        interval: float = 0.2,
        min_gap: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Follow ``model``, polling every ``interval`` s (off a TTY: print every ``min_gap``)."""
        self.model = model
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.interval = interval
        self.min_gap = min_gap
        self._clock = clock
        self._started = clock()
        self._last_body: str | None = None
        self._last_state = model.state
        self._last_print = float("-inf")
        self._width = 0

    def body(self) -> str:
        """The line without the clock: state, units, tokens, cost."""
        model = self.model
        units = model.units.values()
        verified = sum(1 for u in units if u.state is UnitState.VERIFIED)
        in_flight = sum(1 for u in units if u.state.active)
        failed = sum(1 for u in units if u.state in _STOPPED)
        return (
            f"{model.state.value}  iteration {model.iteration}  "
            f"verified {verified}/{len(model.units)}  in flight {in_flight}  failed {failed}  "
            f"tokens {model.tokens:,}  ${model.cost:.4f}"
        )

    def line(self) -> str:
        """The whole line, elapsed time first."""
        return f"[{self._clock() - self._started:6.1f}s] {self.body()}"

    def update(self) -> None:
        """Print the line if it is due (every call on a TTY; on change, rate-limited, off one)."""
        if self.tty:
            self._redraw(self.line())
            return
        body, now = self.body(), self._clock()
        state_changed = self.model.state is not self._last_state
        if body == self._last_body or (now - self._last_print < self.min_gap and not state_changed):
            return
        self._emit(self.line())

    def finish(self) -> None:
        """Print the final line and end it (leaves the terminal's cursor on a fresh line)."""
        if self.tty:
            self._redraw(self.line())
            self.stream.write("\n")
            self.stream.flush()
        elif self.body() != self._last_body:
            self._emit(self.line())

    async def run(self) -> None:
        """Poll until cancelled (run it in the task group the mission runs in)."""
        while True:
            self.update()
            await anyio.sleep(self.interval)

    def _emit(self, line: str) -> None:
        self._last_body, self._last_state = self.body(), self.model.state
        self._last_print = self._clock()
        self.stream.write(line + "\n")
        self.stream.flush()

    def _redraw(self, line: str) -> None:
        # Pad over the remains of a longer previous line rather than relying on
        # an ANSI erase that a dumb terminal would print literally.
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
