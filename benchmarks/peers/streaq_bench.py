"""streaq measured the way ``benchmarks/common.py`` defines, in one process on trio.

streaq runs on anyio; it is run here on the trio backend, as BoltQ is. A
streaq ``Worker`` is both the client and the runner, but one object can be
run only once (its lifespan is made in ``__init__``) and entered only once,
so the producer is a ``Worker`` entered as a client and never run, and each
scenario runs a fresh ``Worker`` on the same queue name.
"""

from __future__ import annotations

import importlib.metadata
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from streaq import Worker

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
BACKEND = "trio"


@asynccontextmanager
async def running_worker(url: str, job: Callable[..., Awaitable[None]], name: str,
                         concurrency: int) -> AsyncIterator[Worker[Any]]:
    """A fresh streaq worker running in this process until the block ends.

    ``run_async`` reports started once its consumer group exists and its
    producer and consumers are spawned. Stopping cancels it, but only once its
    stream is empty: streaq deletes a task's stream entry in the same
    transaction that stores its result, so by then no task is still writing,
    and cancelling cannot cut a result write off from its connection.
    """
    worker: Worker[Any] = Worker(redis_url=url, concurrency=concurrency)
    worker.task(name=name)(job)
    async with anyio.create_task_group() as group:
        await group.start(worker.run_async)
        try:
            yield worker
            with anyio.fail_after(WAIT_LIMIT_S):
                while await worker.queue_size(include_scheduled=False):  # noqa: ASYNC110
                    await anyio.sleep(POLL_S)  # Redis state: nothing in-process to wait on
        finally:
            group.cancel_scope.cancel()


async def latency(client: Worker[Any], scale: Scale) -> dict[str, float]:
    """Idle worker, jobs one at a time; also reads the idle RSS."""
    stamps = Stamps()

    async def mark(index: int) -> None:
        stamps.start(index)

    submit = client.task(name="mark")(mark)
    async with running_worker(scale.redis_url, mark, "mark", LATENCY_CONCURRENCY):
        await anyio.sleep(IDLE_SETTLE_S)
        idle_rss = rss_mb()
        await warm_up_async(submit.enqueue, stamps, scale, anyio.sleep)
        submitted: dict[int, float] = {}
        for index in range(scale.latency_jobs):
            submitted[index] = time.perf_counter()
            await submit.enqueue(index)
            await anyio.sleep(scale.latency_gap_s)
        await wait_until_async(lambda: len(stamps.started) == scale.latency_jobs,
                               "latency jobs", sleep=anyio.sleep)
    return {**latency_figures(submitted, stamps), "idle_rss_mb": idle_rss}


async def drain(client: Worker[Any], scale: Scale) -> dict[str, float]:
    """Bulk-enqueue (timed, with Redis memory around it), then drain with one worker."""
    stamps = Stamps()

    async def noop() -> None:
        stamps.start()
        stamps.finish()

    submit = client.task(name="noop")(noop)
    redis = client.redis
    await redis.flushdb()
    before = await redis.info("memory")
    began = time.perf_counter()
    for first in range(0, scale.jobs, BULK_CHUNK):
        count = min(BULK_CHUNK, scale.jobs - first)
        await client.enqueue_many([submit.enqueue() for _ in range(count)])
    bulk_rate = scale.jobs / (time.perf_counter() - began)
    after = await redis.info("memory")

    async with running_worker(scale.redis_url, noop, "noop", DRAIN_CONCURRENCY):
        await wait_until_async(lambda: stamps.finished == scale.jobs, "the drain",
                               sleep=anyio.sleep)
        drain_rss = rss_mb()
    return {
        "bulk_enqueue_jobs_per_s": bulk_rate,
        "redis_bytes_per_job": job_bytes(before, after, scale.jobs),
        "drain_jobs_per_s": stamps.drain_rate(scale.jobs),
        "drain_rss_mb": drain_rss,
    }


async def measure_async(scale: Scale) -> Figures:
    # streaq logs each task's start and end at INFO; that is not what we measure
    logging.getLogger("streaq").setLevel(logging.WARNING)
    figures = Figures(queue="streaq", version=importlib.metadata.version("streaq"))
    figures.notes += [
        f"run on anyio's {BACKEND} backend (streaq's run_sync defaults to asyncio)",
        f"bulk enqueue: Worker.enqueue_many, one pipeline per {BULK_CHUNK} tasks",
        "worker defaults kept apart from concurrency (prefetch = concurrency, "
        "idle_timeout 60 s)",
        "streaq keeps each task's result for 5 min by default (kept); results are "
        "written during the drain, after the Redis memory reading",
        "streaq logger set to WARNING (it logs each task's start and end at INFO)",
    ]
    client: Worker[Any] = Worker(redis_url=scale.redis_url)
    async with client:
        await client.redis.flushdb()
        found = await latency(client, scale)
        figures.latency_p50_ms = found["latency_p50_ms"]
        figures.latency_p99_ms = found["latency_p99_ms"]
        figures.idle_rss_mb = found["idle_rss_mb"]

        found = await drain(client, scale)
        figures.bulk_enqueue_jobs_per_s = found["bulk_enqueue_jobs_per_s"]
        figures.bulk_enqueue_method = f"Worker.enqueue_many x{BULK_CHUNK} (one pipeline each)"
        figures.redis_bytes_per_job = found["redis_bytes_per_job"]
        figures.drain_jobs_per_s = found["drain_jobs_per_s"]
        figures.drain_rss_mb = found["drain_rss_mb"]
    return figures


def measure(scale: Scale) -> Figures:
    """streaq on anyio's trio backend."""
    return anyio.run(measure_async, scale, backend=BACKEND)


if __name__ == "__main__":
    run_peer(measure)
