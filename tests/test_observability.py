"""Metrics, readiness and JSON logs, as an operator's tools see them."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from boltq.job import JobSpec
from boltq.logs import JsonFormatter
from boltq.roles import RoleSpec
from boltq.store import open_store
from boltq.testing import open_supervisor
from boltq.web import create_app
from tests.helpers import record_round_trips, wait_for_status
from tests.processes import free_port


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_scrape_counts_completed_retried_dead_lettered_and_cancelled_jobs(
        store, clock):
    q = store.keys.queue
    async with open_supervisor(store) as running, \
            httpx.AsyncClient(base_url=running.base_url) as client:
        async def submit(body: dict) -> str:
            return (await client.post("/api/jobs", json=body)).json()["job_id"]

        done = [await submit({"type": "test"}) for _ in range(3)]
        flaky = await submit({"type": "test", "payload": {"fail": 1}, "max_attempts": 3})
        doomed = await submit({"type": "email", "payload": "nobody", "max_attempts": 2})
        slow = await submit({"type": "test", "payload": {"sleep": 60}})
        for job_id in [*done, flaky]:
            await wait_for_status(store, job_id, "completed")
        await wait_for_status(store, doomed, "dead_letter")
        await wait_for_status(store, slow, "running")
        assert (await client.post(f"/api/jobs/{slow}/cancel")).status_code == 200
        await trio.sleep(2)
        scrape = await client.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    found = samples(scrape.text)
    assert value(found, "boltq_jobs_submitted_total", queue=q, type="test") == 5
    assert value(found, "boltq_jobs_submitted_total", queue=q, type="email") == 1
    assert value(found, "boltq_jobs_started_total", queue=q, type="test") == 6
    assert value(found, "boltq_jobs_completed_total", queue=q, type="test") == 4
    assert value(found, "boltq_job_attempts_failed_total", queue=q, type="test") == 1
    assert value(found, "boltq_job_attempts_failed_total", queue=q, type="email") == 2
    assert value(found, "boltq_jobs_retried_total", queue=q, type="test") == 1
    assert value(found, "boltq_jobs_retried_total", queue=q, type="email") == 1
    assert value(found, "boltq_jobs_dead_lettered_total", queue=q, type="email") == 1
    assert value(found, "boltq_jobs_cancelled_total", queue=q, type="test") == 1
    # the cancelled attempt never reports a run time: 5 finished test attempts
    assert value(found, "boltq_job_run_seconds_count", queue=q, type="test") == 5
    assert value(found, "boltq_job_queue_wait_seconds_count", queue=q, type="test") == 6
    assert value(found, "boltq_queue_jobs", queue=q, state="dead_letter") == 1
    assert value(found, "boltq_queue_jobs", queue=q, state="pending") == 0
    assert value(found, "boltq_live_supervisors", queue=q) == 1
    assert not any("job_" in label for (_, labels) in found for _, label in labels)


async def test_a_worker_only_supervisor_serves_job_metrics_on_its_metrics_port(store, clock):
    role = RoleSpec("worker", frozenset({"workers"}))
    (job_id,) = await store.enqueue([JobSpec("test")])
    async with open_supervisor(store, role=role, metrics_port=0) as running:
        assert running.info.api_urls == ()
        await wait_for_status(store, job_id, "completed")
        async with httpx.AsyncClient(base_url=running.info.metrics_urls[0]) as client:
            found = samples((await client.get("/metrics")).text)
    q = store.keys.queue
    assert value(found, "boltq_jobs_completed_total", queue=q, type="test") == 1
    assert value(found, "boltq_job_run_seconds_count", queue=q, type="test") == 1


async def test_a_scrape_costs_one_redis_round_trip(store, clock, monkeypatch):
    client = create_app(store, default_max_attempts=3).test_client()
    sent = record_round_trips(monkeypatch, store.client)
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert sent == ["pipeline"]
    sent.clear()
    await client.get("/metrics")  # a second scrape within the cache period
    assert sent == []


class OwnRedis:
    """A redis-server this test may stop and start."""

    def __init__(self, tmp_path) -> None:
        self.port = free_port()
        self.dir = tmp_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
             str(self.dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def own_redis(tmp_path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_readyz_turns_503_while_redis_is_down_and_200_when_it_is_back(own_redis):
    async with open_store(f"redis://127.0.0.1:{own_redis.port}/0") as store:
        client = create_app(store, default_max_attempts=3).test_client()
        assert (await client.get("/readyz")).status_code == 200
        await trio.to_thread.run_sync(own_redis.stop)
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert "error" in await down.get_json()
        assert (await client.get("/healthz")).status_code == 200
        await trio.to_thread.run_sync(own_redis.start)
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.post("/api/jobs", json={"type": "test"})).status_code == 202


async def test_json_log_lines_carry_job_id_type_and_attempt(store, clock):
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect(level=logging.INFO)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        (job_id,) = await store.enqueue([JobSpec("test", {"fail": 1}, max_attempts=2)])
        async with open_supervisor(store):
            await wait_for_status(store, job_id, "completed")
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    parsed = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in parsed)
    about_job = [entry for entry in parsed if entry.get("job_id") == job_id]
    assert [(e["message"], e["attempt"]) for e in about_job if e["message"].startswith("job")][
        :4] == [("job started", 1), ("job attempt failed: test job failed on attempt 1 as "
                                     "asked", 1), ("job started", 2), ("job finished", 2)]
    assert all(e["type"] == "test" for e in about_job)
