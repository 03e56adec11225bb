"""taskiq (taskiq-redis ``RedisStreamBroker``) measured the way ``benchmarks/common.py`` defines.

Of taskiq-redis's brokers only ``RedisStreamBroker`` acknowledges jobs (XACK
after the job's result is saved); ``ListQueueBroker`` BRPOPs them away and
``PubSubBroker`` broadcasts. Its worker is a ``taskiq.receiver.Receiver``
run on this process's event loop, as ``taskiq worker`` runs it, with async
no-op tasks.

Each scenario gets a broker of its own: the stream's consumer group is
declared by ``startup()`` from the stream's end (``$``), so after FLUSHDB it
must be declared again before any job is queued.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pydantic
import redis.asyncio
import taskiq.compat
from taskiq.receiver import Receiver


def _model_dump(instance: pydantic.BaseModel) -> dict[str, Any]:
    return instance.model_dump(mode="json")


def _model_validate(model: type[pydantic.BaseModel], data: dict[str, Any]) -> pydantic.BaseModel:
    return model.model_validate(data)


# taskiq-redis 1.0.9 (the version installed here) imports model_dump and
# model_validate from taskiq.compat in its package __init__ (for its result
# backend and schedule source); taskiq 0.13 dropped them, so `import
# taskiq_redis` fails. Put back what older taskiq defined for pydantic 2.
# RedisStreamBroker itself never calls them.
if not hasattr(taskiq.compat, "model_dump"):
    taskiq.compat.model_dump = _model_dump  # type: ignore[attr-defined]
    taskiq.compat.model_validate = _model_validate  # type: ignore[attr-defined]

from taskiq_redis import RedisStreamBroker  # noqa: E402

from benchmarks.common import (  # noqa: E402
    DRAIN_CONCURRENCY,
    IDLE_SETTLE_S,
    LATENCY_CONCURRENCY,
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

BULK_SUBMITTERS = 50


class RunningReceiver:
    """One taskiq Receiver on this loop, started and stopped as ``taskiq worker`` does.

    ``taskiq worker`` hands the Receiver a thread pool (for sync tasks) and
    stops it by setting the event ``listen`` waits on: it stops fetching,
    waits for running tasks, and returns.
    """

    def __init__(self, broker: RedisStreamBroker, concurrency: int) -> None:
        self.executor = ThreadPoolExecutor()
        # run_startup=False: the broker is started already (it also sends the jobs)
        self.receiver = Receiver(
            broker=broker, executor=self.executor, max_async_tasks=concurrency, run_startup=False
        )
        self.finish = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Listen in a task of its own; the caller's sleeps and awaits let it run."""
        self.task = asyncio.create_task(self.receiver.listen(self.finish))

    async def stop(self) -> None:
        """Stop fetching, let running jobs end (and be acked), then free the pool."""
        self.finish.set()
        if self.task is not None:
            await self.task
        self.executor.shutdown()


async def latency(scale: Scale, figures: Figures) -> None:
    """Idle worker, jobs one at a time; also reads the idle RSS."""
    stamps = Stamps()
    broker = RedisStreamBroker(url=scale.redis_url)

    @broker.task(task_name="mark")
    async def mark(index: int) -> None:
        stamps.start(index)

    await broker.startup()
    running = RunningReceiver(broker, LATENCY_CONCURRENCY)
    running.start()
    try:
        await asyncio.sleep(IDLE_SETTLE_S)
        figures.idle_rss_mb = rss_mb()
        await warm_up_async(mark.kiq, stamps, scale)
        submitted: dict[int, float] = {}
        for index in range(scale.latency_jobs):
            submitted[index] = time.perf_counter()
            await mark.kiq(index)
            await asyncio.sleep(scale.latency_gap_s)
        await wait_until_async(lambda: len(stamps.started) == scale.latency_jobs, "latency jobs")
    finally:
        await running.stop()
        await broker.shutdown()
    found = latency_figures(submitted, stamps)
    figures.latency_p50_ms = found["latency_p50_ms"]
    figures.latency_p99_ms = found["latency_p99_ms"]


async def bulk_and_drain(scale: Scale, client: redis.asyncio.Redis, figures: Figures) -> None:
    """Queue the no-op jobs with concurrent ``kiq`` calls, then drain them with one Receiver."""
    stamps = Stamps()
    broker = RedisStreamBroker(url=scale.redis_url)

    @broker.task(task_name="noop")
    async def noop() -> None:
        stamps.start()
        stamps.finish()

    await client.flushdb()
    await broker.startup()  # the consumer group (and its empty stream) must exist first
    try:
        before = await client.info("memory")
        left = scale.jobs

        async def submitter() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await noop.kiq()

        began = time.perf_counter()
        await asyncio.gather(*(submitter() for _ in range(BULK_SUBMITTERS)))
        figures.bulk_enqueue_jobs_per_s = scale.jobs / (time.perf_counter() - began)
        figures.bulk_enqueue_method = f"kiq() from {BULK_SUBMITTERS} concurrent coroutines"
        after = await client.info("memory")
        figures.redis_bytes_per_job = job_bytes(before, after, scale.jobs)

        running = RunningReceiver(broker, DRAIN_CONCURRENCY)
        running.start()
        try:
            await wait_until_async(lambda: stamps.finished == scale.jobs, "the drain")
            figures.drain_rss_mb = rss_mb()
        finally:
            await running.stop()
    finally:
        await broker.shutdown()
    figures.drain_jobs_per_s = stamps.drain_rate(scale.jobs)


async def measure_async(scale: Scale) -> Figures:
    # the Receiver logs "Executing task ..." at INFO for every job
    logging.getLogger("taskiq").setLevel(logging.WARNING)
    figures = Figures(queue="taskiq", version=importlib.metadata.version("taskiq"))
    figures.notes += [
        f"broker: taskiq-redis {importlib.metadata.version('taskiq-redis')} RedisStreamBroker "
        "(XADD, XREADGROUP, XACK), the taskiq-redis broker that acknowledges jobs",
        f"no bulk enqueue in taskiq: kiq() from {BULK_SUBMITTERS} concurrent coroutines "
        "(the broker's connection pool is unbounded by default)",
        "worker: taskiq.receiver.Receiver on this event loop, as `taskiq worker` runs it; "
        "defaults kept (xread_block 2000 ms, xread_count 100, max_prefetch 0, "
        "ack when saved); async no-op tasks",
        "each read of the stream is followed by a lock-guarded XAUTOCLAIM of stale "
        "deliveries (the broker's default)",
        "XACK does not delete: processed jobs stay in the stream (maxlen None by default), "
        "so Redis memory is not given back after the drain",
        "redis_bytes_per_job excludes the empty stream and consumer group, declared first",
        "default result backend is DummyResultBackend: no results stored",
        "taskiq-redis 1.0.9 does not import with taskiq 0.13 (taskiq.compat lost "
        "model_dump/model_validate); this module puts those two back before importing "
        "it; the stream broker does not use them",
        "taskiq logger set to WARNING",
    ]
    client = redis.asyncio.Redis.from_url(scale.redis_url)
    try:
        await client.flushdb()
        await latency(scale, figures)
        await bulk_and_drain(scale, client, figures)
    finally:
        await client.aclose()
    return figures


def measure(scale: Scale) -> Figures:
    """taskiq runs on asyncio only."""
    return asyncio.run(measure_async(scale))


if __name__ == "__main__":
    run_peer(measure)
