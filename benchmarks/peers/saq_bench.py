"""SAQ measured the way ``benchmarks/common.py`` defines, in one asyncio process.

SAQ has no bulk enqueue (``Queue.map`` also waits for results, ``Queue.batch``
only groups jobs for abort), so the bulk figure comes from concurrent
``Queue.enqueue`` calls. Producer and worker use separate ``RedisQueue``
objects, as they would in separate processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import time
from collections.abc import Callable
from typing import Any

from saq import Worker
from saq.queue.redis import RedisQueue

from benchmarks.common import (
    DRAIN_CONCURRENCY,
    IDLE_SETTLE_S,
    LATENCY_CONCURRENCY,
    POLL_S,
    WAIT_LIMIT_S,
    Figures,
    Scale,
    Stamps,
    job_bytes,
    latency_figures,
    rss_mb,
    run_peer,
    wait_until_async,
    warm_up_async,
)

BULK_CHUNK = 1000


class RunningWorker:
    """One SAQ worker, on a queue object of its own, on this event loop."""

    def __init__(self, url: str, job: Callable[..., Any], name: str, concurrency: int) -> None:
        self.queue = RedisQueue.from_url(url)
        self.worker = Worker(self.queue, functions=[(name, job)], concurrency=concurrency)
        self.task: asyncio.Task[None] | None = None
        self.client: RedisQueue | None = None

    async def start(self, client: RedisQueue) -> None:
        """Start the worker; it is up once its worker info is registered in Redis."""
        self.client = client
        await self.queue.connect()
        self.task = asyncio.create_task(self.worker.start())
        deadline = time.perf_counter() + WAIT_LIMIT_S
        while self.worker.id not in (await client.info())["workers"]:
            if self.task.done() or time.perf_counter() > deadline:
                raise RuntimeError("saq worker did not come up")
            await asyncio.sleep(POLL_S)

    async def stop(self) -> None:
        """SAQ's own shutdown, once no job is still being finished, then close its connections.

        ``Worker.stop`` cancels its tasks (with the default grace period of 0
        it logs a warning saying so), so it waits first for the queue's
        incomplete set to empty: SAQ removes a job from it in the transaction
        that stores the finished job.
        """
        if self.client is not None and (self.task is None or not self.task.done()):
            deadline = time.perf_counter() + WAIT_LIMIT_S
            while await self.client.count("incomplete"):
                if time.perf_counter() > deadline:
                    raise TimeoutError("saq: the queue did not empty")
                await asyncio.sleep(POLL_S)
        await self.worker.stop()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.queue.disconnect()


async def latency(client: RedisQueue, scale: Scale) -> dict[str, float]:
    """Idle worker, jobs one at a time; also reads the idle RSS."""
    stamps = Stamps()

    async def mark(ctx: dict[str, Any], *, index: int) -> None:
        stamps.start(index)

    running = RunningWorker(scale.redis_url, mark, "mark", LATENCY_CONCURRENCY)
    await running.start(client)
    try:
        await asyncio.sleep(IDLE_SETTLE_S)
        idle_rss = rss_mb()
        await warm_up_async(lambda key: client.enqueue("mark", index=key), stamps, scale)
        submitted: dict[int, float] = {}
        for index in range(scale.latency_jobs):
            submitted[index] = time.perf_counter()
            await client.enqueue("mark", index=index)
            await asyncio.sleep(scale.latency_gap_s)
        await wait_until_async(lambda: len(stamps.started) == scale.latency_jobs, "latency jobs")
    finally:
        await running.stop()
    return {**latency_figures(submitted, stamps), "idle_rss_mb": idle_rss}


async def bulk_enqueue(client: RedisQueue, jobs: int) -> float:
    """Concurrent Queue.enqueue calls, BULK_CHUNK at a time (SAQ has no batch call)."""
    began = time.perf_counter()
    for first in range(0, jobs, BULK_CHUNK):
        count = min(BULK_CHUNK, jobs - first)
        await asyncio.gather(*(client.enqueue("noop") for _ in range(count)))
    return jobs / (time.perf_counter() - began)


async def drain(client: RedisQueue, scale: Scale) -> dict[str, float]:
    """One worker with DRAIN_CONCURRENCY over the queued no-op jobs."""
    stamps = Stamps()

    async def noop(ctx: dict[str, Any]) -> None:
        stamps.start()
        stamps.finish()

    running = RunningWorker(scale.redis_url, noop, "noop", DRAIN_CONCURRENCY)
    await running.start(client)
    try:
        await wait_until_async(lambda: stamps.finished == scale.jobs, "the drain")
        drain_rss = rss_mb()
    finally:
        await running.stop()
    return {"drain_jobs_per_s": stamps.drain_rate(scale.jobs), "drain_rss_mb": drain_rss}


async def measure_async(scale: Scale) -> Figures:
    # SAQ logs "Enqueuing", "Processing" and "Finished" at INFO for every job
    logging.getLogger("saq").setLevel(logging.WARNING)
    figures = Figures(queue="saq", version=importlib.metadata.version("saq"))
    figures.notes += [
        "SAQ has no bulk enqueue: concurrent Queue.enqueue calls, 1000 at a time "
        "(SAQ itself throttles them to max_concurrent_ops=20 in flight)",
        "worker defaults kept apart from concurrency (blocking BLMOVE dequeue, "
        "dequeue_timeout 0)",
        "SAQ keeps each finished job for its ttl, 600 s by default (kept); finished "
        "jobs are written during the drain, after the Redis memory reading",
        "saq logger set to WARNING (it logs each job's enqueue, start and end at INFO)",
    ]
    client = RedisQueue.from_url(scale.redis_url)
    await client.connect()
    redis = client.redis
    try:
        await redis.flushdb()
        found = await latency(client, scale)
        figures.latency_p50_ms = found["latency_p50_ms"]
        figures.latency_p99_ms = found["latency_p99_ms"]
        figures.idle_rss_mb = found["idle_rss_mb"]

        await redis.flushdb()
        before = await redis.info("memory")
        figures.bulk_enqueue_jobs_per_s = await bulk_enqueue(client, scale.jobs)
        figures.bulk_enqueue_method = f"Queue.enqueue x{BULK_CHUNK} concurrent (asyncio.gather)"
        figures.redis_bytes_per_job = job_bytes(before, await redis.info("memory"), scale.jobs)

        found = await drain(client, scale)
        figures.drain_jobs_per_s = found["drain_jobs_per_s"]
        figures.drain_rss_mb = found["drain_rss_mb"]
    finally:
        await client.disconnect()
    return figures


def measure(scale: Scale) -> Figures:
    """SAQ runs on asyncio only."""
    return asyncio.run(measure_async(scale))


if __name__ == "__main__":
    run_peer(measure)
