"""BoltQ measured the way ``benchmarks/common.py`` defines, plus its HTTP API.

The queue scenarios run an in-process supervisor (workers only), as the
peers run their worker in-process. The HTTP scenarios talk to a real
``boltq run --role api`` process, so the server has a process of its own
and the client's cost does not count against it.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import trio

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
    wait_until_async,
    warm_up_async,
)
from boltq.job import JobSpec
from boltq.processors import JobContext, register_processor
from boltq.roles import RoleSpec
from boltq.store import Store, open_store
from boltq.testing import open_supervisor

WORKERS_ONLY = RoleSpec("worker", frozenset({"workers"}))
BULK_CHUNK = 1000
HTTP_CONNECTIONS = 50
HTTP_SINGLE_POSTS = 5000


async def latency(store: Store, scale: Scale) -> dict[str, float]:
    """An idle supervisor with 10 workers; jobs one at a time; also the idle RSS."""
    stamps = Stamps()

    async def mark(job: JobContext) -> None:
        stamps.start(job.payload)

    register_processor("mark", mark)
    submitted: dict[int, float] = {}
    async with open_supervisor(store, role=WORKERS_ONLY, num_workers=LATENCY_CONCURRENCY):
        await trio.sleep(IDLE_SETTLE_S)
        idle_rss = rss_mb()
        await warm_up_async(lambda key: store.enqueue([JobSpec("mark", payload=key)]),
                            stamps, scale, trio.sleep)
        for index in range(scale.latency_jobs):
            submitted[index] = time.perf_counter()
            await store.enqueue([JobSpec("mark", payload=index)])
            await trio.sleep(scale.latency_gap_s)
        await wait_until_async(lambda: len(stamps.started) == scale.latency_jobs,
                               "latency jobs", trio.sleep)
    return {**latency_figures(submitted, stamps), "idle_rss_mb": idle_rss}


async def drain(store: Store, scale: Scale) -> dict[str, float]:
    """Bulk-enqueue through the store API (timed, with Redis memory), then drain."""
    stamps = Stamps()

    async def noop(job: JobContext) -> None:
        stamps.start()
        stamps.finish()

    register_processor("noop", noop)
    before = await store.client.info("memory")
    began = time.perf_counter()
    for first in range(0, scale.jobs, BULK_CHUNK):
        await store.enqueue([JobSpec("noop")] * min(BULK_CHUNK, scale.jobs - first))
    bulk_rate = scale.jobs / (time.perf_counter() - began)
    after = await store.client.info("memory")
    async with open_supervisor(store, role=WORKERS_ONLY, num_workers=DRAIN_CONCURRENCY):
        await wait_until_async(lambda: stamps.finished == scale.jobs, "the drain", trio.sleep)
        drain_rss = rss_mb()
    return {"bulk_enqueue_jobs_per_s": bulk_rate,
            "redis_bytes_per_job": job_bytes(before, after, scale.jobs),
            "drain_jobs_per_s": stamps.drain_rate(scale.jobs), "drain_rss_mb": drain_rss}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def api_process(redis_url: str) -> Iterator[str]:
    """A real ``boltq run --role api`` on a free port; yields its base URL."""
    import httpx  # the harness's own client: loaded after the RSS readings, not before
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "API_PORT": str(port),
           "LOG_LEVEL": "warning", "API_TOKENS": ""}
    env.pop("REDIS_ADDR", None)
    server = subprocess.Popen([sys.executable, "-m", "boltq", "run", "--role", "api"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"boltq api did not start: {server.stderr.read().decode()}")
            time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(10)


async def http_batch(base: str, scale: Scale) -> float:
    """Jobs per second through ``POST /api/jobs/batch``, 1,000 jobs a request."""
    import httpx
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        body = {"jobs": [{"type": "noop"}] * BULK_CHUNK}
        batches = max(1, scale.jobs // BULK_CHUNK)
        began = time.perf_counter()
        for _ in range(batches):
            (await client.post("/api/jobs/batch", json=body)).raise_for_status()
        return batches * BULK_CHUNK / (time.perf_counter() - began)


def http_single_wrk(base: str, seconds: int) -> float:
    """Requests per second of ``POST /api/jobs`` from wrk at 50 connections.

    wrk is a separate process, so the figure is the server's, not the client's.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write('wrk.method = "POST"\nwrk.body = \'{"type":"noop"}\'\n'
                     'wrk.headers["Content-Type"] = "application/json"\n')
        script.flush()
        done = subprocess.run(
            ["wrk", "-t1", f"-c{HTTP_CONNECTIONS}", f"-d{seconds}s", "-s", script.name,
             f"{base}/api/jobs"], capture_output=True, text=True, check=True)
    if "Non-2xx" in done.stdout:
        raise RuntimeError(f"wrk saw error answers:\n{done.stdout}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if match is None:
        raise RuntimeError(f"no rate in wrk's output:\n{done.stdout}")
    return float(match[1])


async def http_single_httpx(base: str, scale: Scale) -> float:
    """The same with an in-process client: a floor, since the client's cost counts."""
    import httpx
    limits = httpx.Limits(max_connections=HTTP_CONNECTIONS)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        singles = min(scale.jobs, HTTP_SINGLE_POSTS)
        left = singles

        async def poster() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                (await client.post("/api/jobs", json={"type": "noop"})).raise_for_status()

        began = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(HTTP_CONNECTIONS):
                nursery.start_soon(poster)
        return singles / (time.perf_counter() - began)


async def measure_async(scale: Scale) -> Figures:
    figures = Figures(queue="boltq", version=importlib.metadata.version("boltq"))
    async with open_store(scale.redis_url) as store:
        await store.client.flushdb()
        found: dict[str, Any] = await latency(store, scale)
        await store.client.flushdb()
        found |= await drain(store, scale)
        await store.client.flushdb()
    with api_process(scale.redis_url) as base:
        found["http_batch_enqueue_jobs_per_s"] = await http_batch(base, scale)
        if shutil.which("wrk"):
            seconds = 5 if scale.jobs >= 10_000 else 1
            found["http_single_post_per_s"] = http_single_wrk(base, seconds)
            single = f"wrk, {HTTP_CONNECTIONS} connections, {seconds} s"
        else:
            found["http_single_post_per_s"] = await http_single_httpx(base, scale)
            single = (f"httpx in this process ({HTTP_CONNECTIONS} connections; wrk not "
                      "installed): the client's cost counts, so this is a floor")
    for name, value in found.items():
        setattr(figures, name, value)
    figures.bulk_enqueue_method = f"Store.enqueue x{BULK_CHUNK} (one script call each)"
    figures.notes += [
        "workers-only supervisor in this process; HTTP against a separate "
        "`boltq run --role api` process, client in this one",
        f"HTTP single POST: {single}",
    ]
    return figures


def measure(scale: Scale) -> Figures:
    return trio.run(measure_async, scale)


if __name__ == "__main__":
    run_peer(measure)
