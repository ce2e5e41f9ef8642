"""How the flusher groups appends under load: pipelined batches or one batch per loop round.

When appenders keep the log saturated (each appends again as soon as it is
acknowledged), there are two ways to cut batches under ``always``:

* **pipelined** — the loop hands a batch off to the flusher at ``SPLIT_AT``
  lines, so its sync overlaps the loop's work on the next batch (two batches
  in flight: one syncing, one filling);
* **rounds** — no hand-off: the flusher takes everything the loop appended in
  one round of its event loop, so a sync serves twice the lines, but the disk
  waits while the loop encodes, and each batch costs two thread wake-ups
  instead of four.

Which one is faster depends on the disk's sync time against the loop's time
per append, and on what a thread wake-up costs. Measured on one 2-vCPU VM with
64 appenders (``bench/bench_wal.py``), rounds were 20 % faster on tmpfs, and on
ext4 anywhere from 17 % slower (quiet machine) to three times faster (other
processes busy on both CPUs). So the :class:`Pacer` measures instead of
guessing: it times windows of saturated writes in its current mode, now and
then tries the other mode for a couple of windows, and keeps whichever wrote
more lines per second. Windows of small writes (a light load, which either
mode keeps up with) decide nothing.
"""

from __future__ import annotations

import statistics
from typing import Final

__all__ = ["Pacer"]

WINDOW_WRITES: Final = 8
"""Saturated writes per measured window."""
PROBE_EVERY: Final = 6
"""Windows in the current mode between two tries of the other."""
PROBE_WINDOWS: Final = 2
"""Windows a try lasts."""
KEEP: Final = 5
"""Window rates remembered per mode."""
MARGIN: Final = 1.03
"""How much faster a try must be to switch: noise alone must not flip modes."""


class Pacer:
    """Chooses the flusher's mode from timed writes (flusher thread only)."""

    def __init__(self, busy_lines: int) -> None:
        """``busy_lines``: the mean lines a write from which the log counts as busy."""
        self.pipelined = True
        """The current mode: pipelined, or one batch per loop round."""
        self._busy_lines = busy_lines
        self._rates: dict[bool, list[float]] = {True: [], False: []}
        self._last_end: float | None = None
        self._window_start = 0.0
        self._window_lines = 0
        self._window_writes = 0
        self._windows = 0
        self._probing = 0
        self._skip = 0

    def wrote(self, lines: int, end: float) -> bool:
        """Account for a write of ``lines`` that ended at ``end`` (seconds).

        Returns whether the mode changed (read :attr:`pipelined`).
        """
        previous_end, self._last_end = self._last_end, end
        if previous_end is None or self._skip:
            # The first write after a switch: the batches are still re-forming.
            self._skip = max(self._skip - 1, 0)
            self._window_lines = self._window_writes = 0
            return False
        if self._window_writes == 0:
            self._window_start = previous_end
        self._window_lines += lines
        self._window_writes += 1
        if self._window_writes < WINDOW_WRITES:
            return False
        window_lines, self._window_lines, self._window_writes = self._window_lines, 0, 0
        if window_lines < WINDOW_WRITES * self._busy_lines:
            return False  # a light load: either mode keeps up with it
        return self._decide(window_lines / max(end - self._window_start, 1e-9))

    def _decide(self, rate: float) -> bool:
        rates = self._rates[self.pipelined]
        rates.append(rate)
        del rates[:-KEEP]
        if self._probing:
            self._probing -= 1
            if self._probing:
                return False
            tried = statistics.median(rates[-PROBE_WINDOWS:])
            incumbent = self._rates[not self.pipelined]
            if incumbent and tried <= statistics.median(incumbent) * MARGIN:
                self._switch()  # back to the incumbent
                return True
            return False
        self._windows += 1
        if self._windows % PROBE_EVERY:
            return False
        self._probing = PROBE_WINDOWS
        self._switch()
        return True

    def _switch(self) -> None:
        self.pipelined = not self.pipelined
        self._skip = 1
