"""BoltQ's own figures for the scenarios of the performance issue (#6).

A baseline, not the comparison: peers (arq, SAQ, streaq, Dramatiq, taskiq,
huey, BullMQ) are not run yet, so no ratio is printed. Usage:

    python benchmarks/boltq_baseline.py --redis redis://127.0.0.1:PORT/0 [--jobs 10000]

Use a private Redis you may fill (the script writes its own queue and
deletes its keys afterwards). It prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import statistics
import sys
import time
from pathlib import Path

import httpx
import trio

from boltq.builtin_processors import register_builtin_processors
from boltq.job import JobSpec
from boltq.processors import JobContext, register_processor
from boltq.roles import RoleSpec
from boltq.store import open_store
from boltq.testing import open_supervisor

WORKERS_ONLY = RoleSpec("worker", frozenset({"workers"}))


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def bulk_enqueue_store(url: str, jobs: int) -> float:
    async with open_store(url, queue=f"bench-{secrets.token_hex(4)}") as store:
        began = time.perf_counter()
        for start in range(0, jobs, 1000):
            await store.enqueue([JobSpec("noop") for _ in range(min(1000, jobs - start))])
        elapsed = time.perf_counter() - began
        await wipe(store)
    return jobs / elapsed


async def wipe(store) -> None:
    keys = [key async for key in store.client.scan_iter(
        match=store.keys.jobs.removesuffix("jobs") + "*")]
    if keys:
        await store.client.delete(keys)


async def http_scenarios(url: str, jobs: int) -> dict[str, float]:
    """Batch enqueue over HTTP, then single-job POSTs at 50 concurrent connections."""
    async with open_store(url, queue=f"bench-{secrets.token_hex(4)}") as store, \
            open_supervisor(store, role=RoleSpec("api", frozenset({"api"}))) as running, \
            httpx.AsyncClient(base_url=running.base_url, timeout=60,
                              limits=httpx.Limits(max_connections=50)) as client:
        body = {"jobs": [{"type": "noop"}] * 1000}
        began = time.perf_counter()
        for _ in range(jobs // 1000):
            answer = await client.post("/api/jobs/batch", json=body)
            answer.raise_for_status()
        batch_rate = (jobs // 1000) * 1000 / (time.perf_counter() - began)

        singles = min(jobs, 5000)
        sent = 0

        async def poster() -> None:
            nonlocal sent
            while sent < singles:
                sent += 1
                (await client.post("/api/jobs", json={"type": "noop"})).raise_for_status()

        began = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(50):
                nursery.start_soon(poster)
        single_rate = singles / (time.perf_counter() - began)
        await wipe(store)
    return {"http_batch_enqueue_jobs_per_s": batch_rate,
            "http_single_post_per_s": single_rate}


async def drain(url: str, jobs: int) -> dict[str, float]:
    """Jobs queued first, then one supervisor with 100 workers: first start to last finish."""
    async with open_store(url, queue=f"bench-{secrets.token_hex(4)}") as store:
        empty = int((await store.client.info("memory"))["used_memory"])
        for start in range(0, jobs, 1000):
            await store.enqueue([JobSpec("noop") for _ in range(min(1000, jobs - start))])
        queued = int((await store.client.info("memory"))["used_memory"])
        idle_rss = rss_mb()
        began = time.perf_counter()
        async with open_supervisor(store, role=WORKERS_ONLY, num_workers=100):
            while True:  # the stats read costs one round trip per 50 ms
                if (await store.stats()).processed >= jobs:
                    break
                await trio.sleep(0.05)
        elapsed = time.perf_counter() - began
        await wipe(store)
    return {"drain_jobs_per_s": jobs / elapsed, "supervisor_rss_mb_after_drain": rss_mb(),
            "process_rss_mb_before_drain": idle_rss,
            "redis_bytes_per_queued_job": (queued - empty) / jobs}


async def latency(url: str, count: int = 500) -> dict[str, float]:
    """An idle supervisor with 10 workers; jobs one at a time, 5 ms apart."""
    started: dict[str, float] = {}
    all_started = trio.Event()

    async def mark(job: JobContext) -> None:
        started[job.id] = time.time()
        if len(started) == count:
            all_started.set()

    register_processor("mark", mark)
    submitted: dict[str, float] = {}
    async with open_store(url, queue=f"bench-{secrets.token_hex(4)}") as store, \
            open_supervisor(store, role=WORKERS_ONLY, num_workers=10):
        await trio.sleep(0.5)
        for _ in range(count):
            submitted_at = time.time()
            (job_id,) = await store.enqueue([JobSpec("mark")])
            submitted[job_id] = submitted_at
            await trio.sleep(0.005)
        await all_started.wait()
        await wipe(store)
    waits = sorted((started[j] - submitted[j]) * 1000 for j in submitted)
    return {"latency_p50_ms": statistics.median(waits),
            "latency_p99_ms": waits[int(len(waits) * 0.99) - 1]}


async def main(url: str, jobs: int) -> dict[str, float]:
    register_builtin_processors()

    async def noop(job: JobContext) -> None:
        return None

    register_processor("noop", noop)
    results: dict[str, float] = {"process_rss_mb_at_start": rss_mb()}
    results["store_bulk_enqueue_jobs_per_s"] = await bulk_enqueue_store(url, jobs)
    results.update(await http_scenarios(url, jobs))
    results.update(await drain(url, jobs))
    results.update(await latency(url))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", required=True, help="redis:// URL of a Redis you may fill")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--out", default="benchmarks/results-boltq-baseline.json")
    args = parser.parse_args()
    figures = trio.run(main, args.redis, args.jobs)
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value:,.1f}")
    Path(args.out).write_text(json.dumps(
        {"jobs": args.jobs, "python": sys.version.split()[0], "cpus": os.cpu_count(),
         "figures": figures}, indent=2) + "\n")
