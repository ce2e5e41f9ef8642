"""A fixed pool of tasks that run incoming requests, handed over without a queue.

A pool rather than a task per request: spawning an anyio task costs more than
the whole of an echo. Jobs go straight to an idle worker through a plain event
(one task step), and :meth:`WorkerPool.submit` waits while every worker is busy,
which is how a flooded endpoint stops reading and pushes back on its peer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import anyio

__all__ = ["WorkerPool"]

Job = TypeVar("Job")


class _Worker(Generic[Job]):
    __slots__ = ("job", "wakeup")

    def __init__(self) -> None:
        self.job: Job | None = None
        self.wakeup = anyio.Event()

    def take_job(self) -> Job | None:
        job, self.job = self.job, None
        return job


class WorkerPool(Generic[Job]):
    """Workers that each run one job at a time; start :meth:`run_worker` ``size`` times."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.size = size
        self._idle: deque[_Worker[Job]] = deque()
        self._freed: anyio.Event | None = None
        self._closed = False

    async def submit(self, job: Job) -> None:
        """Hand ``job`` to an idle worker, waiting while all are busy.

        When a worker is idle this returns without a checkpoint, so a burst of
        jobs is handed out in one go and their results can be written together.
        """
        while not self._idle:
            self._freed = anyio.Event()
            await self._freed.wait()
        worker = self._idle.pop()
        worker.job = job
        worker.wakeup.set()

    async def run_worker(self, run_job: Callable[[Job], Awaitable[None]]) -> None:
        """Be one worker of the pool until :meth:`close`."""
        worker: _Worker[Job] = _Worker()
        while not self._closed:
            worker.wakeup = anyio.Event()
            self._idle.append(worker)
            if self._freed is not None:
                self._freed.set()
                self._freed = None
            await worker.wakeup.wait()
            job = worker.take_job()
            if job is None:
                return  # released by close()
            await run_job(job)

    def close(self) -> None:
        """Idle workers return now; busy ones return after their current job."""
        self._closed = True
        while self._idle:
            self._idle.pop().wakeup.set()
