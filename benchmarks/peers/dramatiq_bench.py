"""Dramatiq (Redis broker) measured the way ``benchmarks/common.py`` defines, in one process.

Dramatiq's worker is threads: one consumer thread per queue prefetches into an
in-memory queue, worker threads run the actors. Its Redis consumer backs off
exponentially (up to the 1 s worker timeout) while the queue is empty; that is
kept, so the latency figure shows Dramatiq's polling as it is.

Each scenario gets a broker of its own: a Worker registers itself on its
broker as a middleware and stays there after it stops, so a second Worker on
the same broker would be wired twice.
"""

from __future__ import annotations

import importlib.metadata
import logging
import time

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

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


def start_worker(broker: RedisBroker, threads: int) -> dramatiq.Worker:
    """Boot the broker as ``dramatiq``'s CLI does for a worker process, then start a Worker."""
    broker.emit_after("process_boot")  # starts the TimeLimit watchdog, as the CLI would
    worker = dramatiq.Worker(broker, worker_threads=threads)
    worker.start()
    return worker


def latency(scale: Scale, figures: Figures) -> None:
    """Idle worker, jobs one at a time; also reads the idle RSS."""
    stamps = Stamps()
    broker = RedisBroker(url=scale.redis_url)

    def mark(index: int) -> None:
        stamps.start(index)

    actor = dramatiq.actor(mark, broker=broker, actor_name="mark")
    worker = start_worker(broker, LATENCY_CONCURRENCY)
    try:
        time.sleep(IDLE_SETTLE_S)
        figures.idle_rss_mb = rss_mb()
        warm_up(actor.send, stamps, scale)
        submitted: dict[int, float] = {}
        for index in range(scale.latency_jobs):
            submitted[index] = time.perf_counter()
            actor.send(index)
            time.sleep(scale.latency_gap_s)
        wait_until(lambda: len(stamps.started) == scale.latency_jobs, "latency jobs")
    finally:
        worker.stop()
        broker.close()
    found = latency_figures(submitted, stamps)
    figures.latency_p50_ms = found["latency_p50_ms"]
    figures.latency_p99_ms = found["latency_p99_ms"]


def bulk_and_drain(scale: Scale, client: redis.Redis, figures: Figures) -> None:
    """Queue the no-op jobs with ``Actor.send`` in a loop, then drain them with one Worker."""
    stamps = Stamps()
    broker = RedisBroker(url=scale.redis_url)

    def noop() -> None:
        stamps.start()
        stamps.finish()

    actor = dramatiq.actor(noop, broker=broker, actor_name="noop")

    client.flushdb()
    before = client.info("memory")
    began = time.perf_counter()
    for _ in range(scale.jobs):
        actor.send()
    figures.bulk_enqueue_jobs_per_s = scale.jobs / (time.perf_counter() - began)
    figures.bulk_enqueue_method = "Actor.send() in a loop (no bulk API; group().run() loops too)"
    figures.redis_bytes_per_job = job_bytes(before, client.info("memory"), scale.jobs)

    worker = start_worker(broker, DRAIN_CONCURRENCY)
    try:
        wait_until(lambda: stamps.finished == scale.jobs, "the drain")
        figures.drain_rss_mb = rss_mb()
    finally:
        worker.stop()
        broker.close()
    figures.drain_jobs_per_s = stamps.drain_rate(scale.jobs)


def measure(scale: Scale) -> Figures:
    """Latency first (on an empty Redis), then bulk enqueue and the drain of those jobs."""
    # Dramatiq logs per message only at DEBUG, but its worker start/stop at INFO
    logging.getLogger("dramatiq").setLevel(logging.WARNING)
    figures = Figures(queue="dramatiq", version=importlib.metadata.version("dramatiq"))
    figures.notes += [
        "RedisBroker has no bulk enqueue: Actor.send() one job at a time, each an EVALSHA "
        "of its dispatch script (ZADD heartbeat, HSET message, RPUSH id); a loop beat "
        "4-16 sending threads in a trial",
        "worker: dramatiq.Worker in this process (threads), defaults kept: prefetch 2 x "
        "threads, empty-queue backoff up to worker_timeout 1000 ms, default middleware; "
        "process_boot emitted as the dramatiq CLI does",
        "no result backend by default (Results middleware not added), so no results stored",
        "dramatiq logger set to WARNING",
    ]
    client = redis.Redis.from_url(scale.redis_url)
    try:
        client.flushdb()
        latency(scale, figures)
        bulk_and_drain(scale, client, figures)
    finally:
        client.close()
    return figures


if __name__ == "__main__":
    run_peer(measure)
