"""huey (RedisHuey) measured the way ``benchmarks/common.py`` defines, in one process.

huey's consumer is threads here (its default worker type): each worker thread
BRPOPs the queue list itself (1 s read timeout), so an idle worker picks a job
up as soon as it is pushed. A BRPOP removes the job: huey does not
acknowledge jobs, so one lost with its worker is gone.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import signal
import time
from collections.abc import Iterator

import redis
from huey import RedisHuey

from benchmarks.common import (
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
    wait_until,
    warm_up,
)


@contextlib.contextmanager
def running_consumer(huey: RedisHuey, workers: int) -> Iterator[None]:
    """A huey Consumer (worker threads and its scheduler thread) for the block's duration.

    ``Consumer.start`` installs its own SIGINT/SIGTERM/SIGHUP handlers, which
    only its ``run`` loop reads; the previous handlers come back afterwards so
    Ctrl-C still stops the benchmark.
    """
    signums = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    saved = {signum: signal.getsignal(signum) for signum in signums}
    consumer = huey.create_consumer(workers=workers)
    consumer.start()
    try:
        yield
    finally:
        consumer.stop(graceful=True)  # joins the threads, each within its 1 s BRPOP
        for signum, handler in saved.items():
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(signum, handler)


def measure(scale: Scale) -> Figures:
    """Latency first (on an empty Redis), then bulk enqueue and the drain of those jobs."""
    # huey logs "Executing ..." and "... executed in ..." at INFO for every job
    logging.getLogger("huey").setLevel(logging.WARNING)
    figures = Figures(queue="huey", version=importlib.metadata.version("huey"))
    figures.notes += [
        "bulk: TaskWrapper.map(), huey's call for many jobs; it enqueues one at a time "
        "(one LPUSH each, no pipeline)",
        "worker: huey Consumer in this process with worker threads (huey's default "
        "worker_type), defaults kept: blocking BRPOP with read_timeout 1 s, scheduler "
        "thread every 1 s; Consumer's signal handlers restored after each run",
        "huey stores results by default (kept), but not None ones (store_none=False), so "
        "the no-op jobs store none; it still DELs a revoke key after every job",
        "no acknowledgement: BRPOP removes a job from Redis before it runs",
        "huey logger set to WARNING",
    ]
    huey = RedisHuey("bench", url=scale.redis_url)
    latency_stamps = Stamps()
    drain_stamps = Stamps()

    @huey.task()
    def mark(index: int) -> None:
        latency_stamps.start(index)

    @huey.task()
    def noop() -> None:
        drain_stamps.start()
        drain_stamps.finish()

    client = redis.Redis.from_url(scale.redis_url)
    try:
        client.flushdb()
        submitted: dict[int, float] = {}
        with running_consumer(huey, LATENCY_CONCURRENCY):
            time.sleep(IDLE_SETTLE_S)
            figures.idle_rss_mb = rss_mb()
            warm_up(mark, latency_stamps, scale)
            for index in range(scale.latency_jobs):
                submitted[index] = time.perf_counter()
                mark(index)
                time.sleep(scale.latency_gap_s)
            wait_until(lambda: len(latency_stamps.started) == scale.latency_jobs, "latency jobs")
        found = latency_figures(submitted, latency_stamps)
        figures.latency_p50_ms = found["latency_p50_ms"]
        figures.latency_p99_ms = found["latency_p99_ms"]

        client.flushdb()
        before = client.info("memory")
        began = time.perf_counter()
        noop.map([()] * scale.jobs)  # () = call with no arguments
        figures.bulk_enqueue_jobs_per_s = scale.jobs / (time.perf_counter() - began)
        figures.bulk_enqueue_method = "TaskWrapper.map() (loops LPUSH, one per job)"
        figures.redis_bytes_per_job = job_bytes(before, client.info("memory"), scale.jobs)

        with running_consumer(huey, DRAIN_CONCURRENCY):
            wait_until(lambda: drain_stamps.finished == scale.jobs, "the drain")
            figures.drain_rss_mb = rss_mb()
        figures.drain_jobs_per_s = drain_stamps.drain_rate(scale.jobs)
    finally:
        client.close()
    return figures


if __name__ == "__main__":
    run_peer(measure)
