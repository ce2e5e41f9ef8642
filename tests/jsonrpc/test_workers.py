from __future__ import annotations

import anyio
import pytest

from opencode_orchestrator.jsonrpc.workers import WorkerPool

pytestmark = pytest.mark.anyio


async def test_submit_waits_while_every_worker_is_busy_and_close_ends_the_pool() -> None:
    pool: WorkerPool[str] = WorkerPool(1)
    release = anyio.Event()
    ran: list[str] = []
    submitted: list[str] = []

    async def run_job(job: str) -> None:
        ran.append(job)
        if job == "slow":
            await release.wait()

    async def submit(job: str) -> None:
        await pool.submit(job)
        submitted.append(job)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(pool.run_worker, run_job)
            await anyio.wait_all_tasks_blocked()
            await pool.submit("slow")
            tg.start_soon(submit, "next")
            await anyio.wait_all_tasks_blocked()
            assert ran == ["slow"]
            assert submitted == []  # the only worker is busy: submit waits
            release.set()
            await anyio.wait_all_tasks_blocked()
            assert ran == ["slow", "next"]
            assert submitted == ["next"]
            pool.close()  # the idle worker returns, so the task group can end


def test_a_pool_needs_workers() -> None:
    with pytest.raises(ValueError, match="at least one"):
        WorkerPool[int](0)
