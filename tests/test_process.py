"""``boltq run`` as a real process: the quick start, signals, ``--import``.

These run in real time (a subprocess has no virtual clock), so each keeps
its jobs short and waits with a deadline.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.processes import BoltQProcess


@pytest.fixture
def start(tmp_path: Path) -> Iterator:
    started: list[BoltQProcess] = []

    def starter(env: dict[str, str] | None = None, *args: str) -> BoltQProcess:
        process = BoltQProcess(tmp_path, env or {}, *args)
        started.append(process)
        return process

    yield starter
    for process in started:
        process.close()


def test_the_quick_start_serves_the_original_contract_on_the_embedded_store(start):
    boltq = start()
    assert "embedded in-memory store" in boltq.log()

    submitted = boltq.http.post("/api/jobs", json={
        "type": "email", "payload": "Send welcome email to user@example.com",
        "priority": 2, "max_attempts": 3, "timeout": 60, "tags": ["welcome", "email"]})
    assert submitted.status_code == 202
    assert set(submitted.json()) == {"job_id", "status"}
    assert submitted.json()["status"] == "pending"
    job_id = submitted.json()["job_id"]

    job = boltq.wait_for_status(job_id, "completed")
    for field in ("id", "type", "payload", "status", "priority", "created_at", "started_at",
                  "completed_at", "next_retry_at", "attempts", "max_attempts", "worker_id"):
        assert field in job
    assert (job["id"], job["type"], job["priority"], job["tags"]) == (
        job_id, "email", 2, ["welcome", "email"])
    assert job["created_at"].endswith("+00:00") and job["next_retry_at"] is None

    stats = boltq.http.get("/api/stats").json()
    for field in ("published", "processed", "failed", "retry", "dead_letter", "pending",
                  "running", "delayed"):
        assert isinstance(stats[field], int)
    assert (stats["published"], stats["processed"]) == (1, 1)

    dead = boltq.http.post("/api/jobs", json={"type": "test", "payload": {"fail": True},
                                              "max_attempts": 1}).json()["job_id"]
    boltq.wait_for_status(dead, "dead_letter")
    assert boltq.http.post(f"/api/jobs/{dead}/retry").json() == {
        "job_id": dead, "status": "retrying"}

    slow = boltq.http.post("/api/jobs", json={"type": "test", "payload": {"sleep": 60}}).json()
    assert boltq.http.post(f"/api/jobs/{slow['job_id']}/cancel").json() == {
        "job_id": slow["job_id"], "status": "cancelled"}
    assert boltq.terminate() == 0


@pytest.fixture
def redis_env(private_redis) -> Callable[..., dict[str, str]]:
    """Settings for the private real Redis; each test picks its own REDIS_DB."""

    def env(**extra: str) -> dict[str, str]:
        return {"REDIS_ADDR": f"{private_redis.host}:{private_redis.port}", **extra}

    return env


def test_sigterm_during_a_three_second_job_lets_it_finish_and_exits_zero(start, redis_env):
    boltq = start(redis_env(REDIS_DB="1"))
    job_id = boltq.http.post("/api/jobs", json={"type": "test",
                                                "payload": {"sleep": 3}}).json()["job_id"]
    boltq.wait_for_status(job_id, "running")
    assert boltq.terminate() == 0
    assert "shutdown complete" in boltq.log()

    after = start(redis_env(REDIS_DB="1"))
    job = after.http.get(f"/api/jobs/{job_id}").json()
    assert (job["status"], job["attempts"]) == ("completed", 1)


SLOW_ONCE_MODULE = """
    import pathlib
    import trio
    import boltq

    @boltq.processor("slow_once")
    async def slow_once(job):
        marker = pathlib.Path(job.payload["marker"])
        if not marker.exists():
            marker.write_text("ran")
            await trio.sleep(60)
        return "finished on a later run"
"""


def test_a_job_interrupted_by_shutdown_is_put_back_and_finished_by_the_next_process(
        start, redis_env, tmp_path):
    (tmp_path / "slow_jobs.py").write_text(textwrap.dedent(SLOW_ONCE_MODULE))
    marker = tmp_path / "first-run-started"
    env = redis_env(REDIS_DB="2", SHUTDOWN_TIMEOUT="1s")

    first = start(env, "--import", "slow_jobs")
    job_id = first.http.post("/api/jobs", json={"type": "slow_once", "payload": {
        "marker": str(marker)}}).json()["job_id"]
    first.wait_for_status(job_id, "running")
    began = time.monotonic()
    assert first.terminate() == 0
    assert time.monotonic() - began < 10

    second = start(redis_env(REDIS_DB="2", BOLTQ_IMPORTS="slow_jobs"))
    job = second.wait_for_status(job_id, "completed")
    assert (job["attempts"], job["result"]) == (1, "finished on a later run")
    assert marker.exists()
