"""arq measured the way ``benchmarks/common.py`` defines, in one asyncio process.

arq has no bulk enqueue, so the bulk figure comes from concurrent
``ArqRedis.enqueue_job`` calls. Its worker polls the queue every 0.5 s by
default; that is kept, so the latency figure shows arq's polling as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import time
from collections.abc import Callable
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import Worker, func

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
    """One arq worker on this event loop, started and stopped around a scenario."""

    def __init__(self, settings: RedisSettings, job: Callable[..., Any], name: str,
                 concurrency: int) -> None:
        # handle_signals=False: the worker shares the benchmark's loop, so it
        # must not take over SIGINT/SIGTERM; everything else is arq's default
        self.worker = Worker(functions=[func(job, name=name)], redis_settings=settings,
                             max_jobs=concurrency, handle_signals=False)
        self.task: asyncio.Task[None] | None = None
        self.client: ArqRedis | None = None

    async def start(self, client: ArqRedis) -> None:
        """Start the worker; it is up once its first poll has written the health key."""
        self.client = client
        self.task = asyncio.create_task(self.worker.async_run())
        deadline = time.perf_counter() + WAIT_LIMIT_S
        while not await client.exists(self.worker.health_check_key):
            if self.task.done() or time.perf_counter() > deadline:
                raise RuntimeError("arq worker did not come up")
            await asyncio.sleep(POLL_S)

    async def stop(self) -> None:
        """arq's own shutdown, once no job is still being finished.

        ``close`` cancels unfinished job tasks, so it waits first for the queue
        to be empty: arq removes a job from it in the transaction that ends the
        job, so by then no job is still writing.
        """
        if self.client is not None and (self.task is None or not self.task.done()):
            deadline = time.perf_counter() + WAIT_LIMIT_S
            while await self.client.zcard(self.worker.queue_name):
                if time.perf_counter() > deadline:
                    raise TimeoutError("arq: the queue did not empty")
                await asyncio.sleep(POLL_S)
        await self.worker.close()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


async def latency(settings: RedisSettings, client: ArqRedis, scale: Scale) -> dict[str, float]:
    """Idle worker, jobs one at a time; also reads the idle RSS."""
    stamps = Stamps()

    async def mark(ctx: dict[str, Any], index: int) -> None:
        stamps.start(index)

    running = RunningWorker(settings, mark, "mark", LATENCY_CONCURRENCY)
    await running.start(client)
    try:
        await asyncio.sleep(IDLE_SETTLE_S)
        idle_rss = rss_mb()
        await warm_up_async(lambda key: client.enqueue_job("mark", key), stamps, scale)
        submitted: dict[int, float] = {}
        for index in range(scale.latency_jobs):
            submitted[index] = time.perf_counter()
            await client.enqueue_job("mark", index)
            await asyncio.sleep(scale.latency_gap_s)
        await wait_until_async(lambda: len(stamps.started) == scale.latency_jobs, "latency jobs")
    finally:
        await running.stop()
    return {**latency_figures(submitted, stamps), "idle_rss_mb": idle_rss}


async def bulk_enqueue(client: ArqRedis, jobs: int) -> float:
    """Concurrent enqueue_job calls, BULK_CHUNK at a time (arq has no batch call)."""
    began = time.perf_counter()
    for first in range(0, jobs, BULK_CHUNK):
        count = min(BULK_CHUNK, jobs - first)
        await asyncio.gather(*(client.enqueue_job("noop") for _ in range(count)))
    return jobs / (time.perf_counter() - began)


async def drain(settings: RedisSettings, client: ArqRedis, jobs: int) -> dict[str, float]:
    """One worker with DRAIN_CONCURRENCY over the queued no-op jobs."""
    stamps = Stamps()

    async def noop(ctx: dict[str, Any]) -> None:
        stamps.start()
        stamps.finish()

    running = RunningWorker(settings, noop, "noop", DRAIN_CONCURRENCY)
    await running.start(client)
    try:
        await wait_until_async(lambda: stamps.finished == jobs, "the drain")
        drain_rss = rss_mb()
    finally:
        await running.stop()
    return {"drain_jobs_per_s": stamps.drain_rate(jobs), "drain_rss_mb": drain_rss}


async def measure_async(scale: Scale) -> Figures:
    # arq logs two INFO lines per job ("→" and "←"); that is not what we measure
    logging.getLogger("arq").setLevel(logging.WARNING)
    figures = Figures(queue="arq", version=importlib.metadata.version("arq"))
    figures.notes += [
        "arq has no bulk enqueue: concurrent ArqRedis.enqueue_job calls, 1000 at a time",
        "worker defaults kept (poll_delay 0.5 s, queue_read_limit 5 x max_jobs); "
        "handle_signals=False so the in-process worker leaves signals alone",
        "arq keeps each job's result for 1 h by default (kept); results are written "
        "during the drain, after the Redis memory reading",
        "arq logger set to WARNING (it logs each job's start and end at INFO)",
    ]
    settings = RedisSettings.from_dsn(scale.redis_url)
    client = await create_pool(settings)
    try:
        await client.flushdb()
        found = await latency(settings, client, scale)
        figures.latency_p50_ms = found["latency_p50_ms"]
        figures.latency_p99_ms = found["latency_p99_ms"]
        figures.idle_rss_mb = found["idle_rss_mb"]

        await client.flushdb()
        before = await client.info("memory")
        figures.bulk_enqueue_jobs_per_s = await bulk_enqueue(client, scale.jobs)
        figures.bulk_enqueue_method = f"enqueue_job x{BULK_CHUNK} concurrent (asyncio.gather)"
        figures.redis_bytes_per_job = job_bytes(before, await client.info("memory"), scale.jobs)

        found = await drain(settings, client, scale.jobs)
        figures.drain_jobs_per_s = found["drain_jobs_per_s"]
        figures.drain_rss_mb = found["drain_rss_mb"]
    finally:
        await client.aclose(close_connection_pool=True)
    return figures


def measure(scale: Scale) -> Figures:
    """arq runs on asyncio only."""
    return asyncio.run(measure_async(scale))


if __name__ == "__main__":
    run_peer(measure)
