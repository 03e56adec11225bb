"""Prometheus metrics of one supervisor process (prometheus-client).

Counters and histograms are counted where things happen in this process;
summed over every process by Prometheus they give the cluster's totals.
Queue depths come from Redis when scraped: one pipelined round trip, cached
briefly so several scrapers cost no more. Labels are queue and job type
(bounded by what users register), never job ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import attrs
import trio
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from boltq.constants import HEARTBEAT_TIMEOUT_S
from boltq.store import STORE_ERRORS, Store

#: Scrapes within this many seconds share one Redis read.
DEPTH_CACHE_S = 1.0
#: Seconds; from sub-millisecond no-op jobs to hour-long ones.
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
                    300, 900, 3600)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _QueueDepths(Collector):
    """Gauges read from Redis at scrape time (see :meth:`Metrics.refresh`)."""

    def __init__(self, local: Callable[[], dict[str, int]]) -> None:
        self.values: dict[str, dict[str, int]] = {}
        self.live: dict[str, int] = {}
        self._local = local

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("boltq_queue_jobs", "Jobs in each place of a queue",
                                  labels=["queue", "state"])
        for queue, states in sorted(self.values.items()):
            for state, count in states.items():
                depth.add_metric([queue, state], count)
        yield depth
        live = GaugeMetricFamily("boltq_live_supervisors",
                                 "Supervisor processes that heartbeated recently",
                                 labels=["queue"])
        for queue, count in sorted(self.live.items()):
            live.add_metric([queue], count)
        yield live
        local = self._local()
        yield GaugeMetricFamily("boltq_in_flight_jobs", "Jobs this process holds",
                                value=local["in_flight"])
        yield GaugeMetricFamily("boltq_busy_workers", "Workers of this process running a job",
                                value=local["busy"])


def _no_local_load() -> dict[str, int]:
    return {"in_flight": 0, "busy": 0}


@attrs.define
class Metrics:
    """Every metric of one process, in its own registry."""

    registry: CollectorRegistry
    submitted: Counter
    started: Counter
    completed: Counter
    failed_attempts: Counter
    retried: Counter
    dead_lettered: Counter
    cancelled: Counter
    reclaimed: Counter
    queue_wait: Histogram
    run_time: Histogram
    actor_restarts: Counter
    _depths: _QueueDepths
    _stores: list[Store] = attrs.field(factory=list)
    _read_at: float | None = None
    _lock: trio.Lock = attrs.field(factory=trio.Lock)
    _children: dict[tuple[int, str, str], Any] = attrs.field(factory=dict)

    def of(self, metric: Counter | Histogram, queue: str, job_type: str) -> Any:
        """``metric.labels(queue, job_type)``, looked up once per type: ``labels()``
        validates and locks on every call, which a per-job path cannot afford."""
        key = (id(metric), queue, job_type)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(queue, job_type)
        return child

    def watch(self, store: Store) -> None:
        """Report this queue's depths (the API's queue, or a worker's queues)."""
        if all(s.keys.queue != store.keys.queue for s in self._stores):
            self._stores.append(store)

    async def refresh(self) -> None:
        """Read queue depths from Redis, unless read in the last DEPTH_CACHE_S."""
        async with self._lock:
            now = trio.current_time()
            if self._read_at is not None and now - self._read_at < DEPTH_CACHE_S:
                return
            if self._stores:
                try:
                    depths = await self._stores[0].depths(self._stores, HEARTBEAT_TIMEOUT_S)
                except STORE_ERRORS:
                    return  # Redis is away: serve the last depths and this process's counts
                for queue, (places, live) in depths.items():
                    self._depths.values[queue] = places
                    self._depths.live[queue] = live
            self._read_at = now

    async def exposition(self) -> bytes:
        """The text format, as ``/metrics`` serves it."""
        await self.refresh()
        return generate_latest(self.registry)


def new_metrics(local_load: Callable[[], dict[str, int]] = _no_local_load) -> Metrics:
    """A fresh registry with every BoltQ metric in it."""
    registry = CollectorRegistry()
    by_type = ["queue", "type"]

    def counter(name: str, doc: str, labels: list[str] = by_type) -> Counter:
        return Counter(name, doc, labels, registry=registry)

    def histogram(name: str, doc: str) -> Histogram:
        return Histogram(name, doc, by_type, buckets=DURATION_BUCKETS, registry=registry)

    depths = _QueueDepths(local_load)
    registry.register(depths)
    return Metrics(
        registry=registry,
        submitted=counter("boltq_jobs_submitted", "Jobs accepted by this API process"),
        started=counter("boltq_jobs_started", "Attempts started by this process"),
        completed=counter("boltq_jobs_completed", "Jobs completed by this process"),
        failed_attempts=counter("boltq_job_attempts_failed",
                                "Attempts that failed (error or timeout) in this process"),
        retried=counter("boltq_jobs_retried", "Failed attempts scheduled for a retry"),
        dead_lettered=counter("boltq_jobs_dead_lettered", "Jobs moved to the dead letter queue"),
        cancelled=counter("boltq_jobs_cancelled", "Jobs cancelled through this API process"),
        reclaimed=counter("boltq_jobs_reclaimed",
                          "Jobs whose lease expired, reclaimed by this process's scheduler"),
        queue_wait=histogram("boltq_job_queue_wait_seconds",
                             "From runnable (created or retry due) to started"),
        run_time=histogram("boltq_job_run_seconds", "Processor run time of one attempt"),
        actor_restarts=counter("boltq_actor_restarts", "Actors restarted after a crash",
                               ["actor"]),
        depths=depths,
    )


def observe_outcomes(metrics: Metrics, queue: str, types: dict[str, str],
                     completed: list[str], failed: list[str], stale: set[str],
                     dead: set[str]) -> None:
    """Count a written batch of outcomes (``types`` maps job id to type)."""
    for job_id in completed:
        if job_id not in stale:
            metrics.of(metrics.completed, queue, types[job_id]).inc()
    for job_id in failed:
        if job_id in stale:
            continue
        metrics.of(metrics.failed_attempts, queue, types[job_id]).inc()
        target = metrics.dead_lettered if job_id in dead else metrics.retried
        metrics.of(target, queue, types[job_id]).inc()


__all__: list[Any] = ["CONTENT_TYPE", "Metrics", "new_metrics", "observe_outcomes"]
