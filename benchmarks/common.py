"""What every queue's benchmark shares: the scenarios' sizes, the figures, the process shape.

Each queue's module in ``benchmarks/peers/`` runs in a process of its own
(``python -m benchmarks.peers.NAME --redis URL ...``), so one library's
imports, threads and memory never weigh on another's figures. It prints one
JSON object, the :class:`Figures`, on its last line of stdout.

Every queue is measured the same way:

* **bulk enqueue**: ``jobs`` no-op jobs through the library's fastest public
  way to submit many (a bulk call where it has one), timed from the first
  submit to the last acknowledged;
* **redis bytes per job**: Redis ``used_memory`` growth over those queued jobs,
  less client connection buffers (see :func:`job_bytes`);
* **drain**: those queued jobs, then one worker with ``DRAIN_CONCURRENCY``;
  time from the first job started to the last finished (both stamped by the
  no-op job itself with ``time.perf_counter``);
* **latency**: an idle worker with ``LATENCY_CONCURRENCY``; ``latency_jobs``
  jobs submitted one at a time ``latency_gap_s`` apart; each job's
  ``perf_counter`` at start minus the one taken just before its submit call.
  The first ``LATENCY_WARMUP_JOBS`` jobs, submitted the same way just before
  them, warm the worker and connections up and are not counted (see
  :func:`warm_up`);
* **rss**: the process's resident memory (VmRSS, MB) with the worker started
  and idle, and at the end of the drain.

Library defaults are kept except the worker's concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

DRAIN_CONCURRENCY = 100
LATENCY_CONCURRENCY = 10
LATENCY_WARMUP_JOBS = 10
IDLE_SETTLE_S = 0.5
WAIT_LIMIT_S = 300.0
POLL_S = 0.01


@attrs.define
class Scale:
    """How big one run is; the same for every queue."""

    redis_url: str
    jobs: int = 10_000
    latency_jobs: int = 500
    latency_gap_s: float = 0.005


@attrs.define
class Figures:
    """One queue's results; None where the queue has no such scenario."""

    queue: str
    version: str
    bulk_enqueue_jobs_per_s: float | None = None
    bulk_enqueue_method: str | None = None
    drain_jobs_per_s: float | None = None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    idle_rss_mb: float | None = None
    drain_rss_mb: float | None = None
    redis_bytes_per_job: float | None = None
    http_batch_enqueue_jobs_per_s: float | None = None
    http_single_post_per_s: float | None = None
    notes: list[str] = attrs.Factory(list)


class Stamps:
    """Start and finish times the no-op job writes; the drain and latency read them.

    Thread-safe, since some queues run jobs on many threads; the lock costs
    about the same for every queue.
    """

    def __init__(self) -> None:
        self.started: dict[Any, float] = {}
        self.first_start = math.inf
        self.last_finish = 0.0
        self.finished = 0
        self._lock = threading.Lock()

    def start(self, key: Any = None) -> None:
        now = time.perf_counter()
        with self._lock:
            if key is not None:
                self.started[key] = now
            self.first_start = min(self.first_start, now)

    def finish(self) -> None:
        now = time.perf_counter()
        with self._lock:
            self.last_finish = max(self.last_finish, now)
            self.finished += 1

    def drain_rate(self, jobs: int) -> float:
        return jobs / (self.last_finish - self.first_start)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` every POLL_S for up to WAIT_LIMIT_S, blocking this thread.

    The figures come from the jobs' stamps, not from this loop.
    """
    deadline = time.perf_counter() + WAIT_LIMIT_S
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(POLL_S)


async def wait_until_async(
    condition: Callable[[], bool],
    what: str,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """:func:`wait_until` in an event loop, pausing with ``sleep``: asyncio's by
    default, ``anyio.sleep`` on trio.

    ``sleep`` is passed in rather than always anyio's so that a queue on
    asyncio does not load anyio (about 1.5 MB) into the process whose RSS it
    reports.
    """
    deadline = time.perf_counter() + WAIT_LIMIT_S
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        await sleep(POLL_S)


def warmup_keys() -> range:
    """The warm-up jobs' keys: -1 down to -LATENCY_WARMUP_JOBS, never a measured index."""
    return range(-1, -LATENCY_WARMUP_JOBS - 1, -1)


def forget_warmup(stamps: Stamps) -> None:
    """Drop the warm-up jobs' stamps once all have started, so only measured jobs count.

    Each warm-up job has written its stamp by then and no measured job is
    submitted yet, so nothing else writes ``stamps.started`` meanwhile.
    """
    for key in warmup_keys():
        del stamps.started[key]


def warm_up(submit: Callable[[int], object], stamps: Stamps, scale: Scale) -> None:
    """The latency scenario's unmeasured warm-up, before its measured loop.

    Submits LATENCY_WARMUP_JOBS jobs as the measured ones are (``submit(key)``
    one at a time, ``latency_gap_s`` apart), waits until all have started,
    then forgets their stamps.
    """
    for key in warmup_keys():
        submit(key)
        time.sleep(scale.latency_gap_s)
    wait_until(lambda: all(key in stamps.started for key in warmup_keys()), "warm-up jobs")
    forget_warmup(stamps)


async def warm_up_async(
    submit: Callable[[int], Awaitable[object]],
    stamps: Stamps,
    scale: Scale,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """:func:`warm_up` in an event loop, pausing with ``sleep`` (see :func:`wait_until_async`)."""
    for key in warmup_keys():
        await submit(key)
        await sleep(scale.latency_gap_s)
    await wait_until_async(lambda: all(key in stamps.started for key in warmup_keys()),
                           "warm-up jobs", sleep)
    forget_warmup(stamps)


def rss_mb() -> float:
    """This process's resident memory now (not its peak), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latency_figures(submitted: dict[Any, float], stamps: Stamps) -> dict[str, float]:
    waits = [(stamps.started[key] - at) * 1000 for key, at in submitted.items()]
    return {"latency_p50_ms": percentile(waits, 0.50), "latency_p99_ms": percentile(waits, 0.99)}


def used_memory(info: dict[str, Any]) -> int:
    """``used_memory`` from an INFO memory reply, whatever client decoded it."""
    value = info.get("used_memory", info.get(b"used_memory"))
    return int(value)


def run_peer(measure: Callable[[Scale], Figures]) -> None:
    """The command line every peer module shares: parse the scale, measure, print JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True, help="redis:// URL of a private, empty Redis")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--latency-jobs", type=int, default=500)
    parser.add_argument("--latency-gap", type=float, default=0.005)
    args = parser.parse_args()
    figures = measure(Scale(args.redis, args.jobs, args.latency_jobs, args.latency_gap))
    print(json.dumps(attrs.asdict(figures)), flush=True)


def job_bytes(before: dict[str, Any], after: dict[str, Any], jobs: int) -> float:
    """Redis memory per queued job from two INFO memory replies.

    Client connection buffers (``mem_clients_normal``) are taken out: they
    are counted in ``used_memory`` but belong to connections, not jobs, and
    a client that opened many connections would otherwise look heavier.
    """
    def data(info: dict[str, Any]) -> int:
        return used_memory(info) - int(info.get("mem_clients_normal",
                                                info.get(b"mem_clients_normal", 0)))
    return (data(after) - data(before)) / jobs
