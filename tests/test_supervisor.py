"""A whole supervisor in-process, on virtual time: retries, dead letters,
priorities, cancellation, timeouts, crashes and graceful shutdown."""

from __future__ import annotations

import threading

import httpx
import trio

from boltq.builtin_processors import register_builtin_processors
from boltq.config import Settings
from boltq.invariants import find_breaches
from boltq.job import JobSpec
from boltq.processors import JobContext
from boltq.supervisor import Shutdown, run_supervisor
from boltq.testing import open_supervisor
from tests.helpers import events_of, registered, wait_for_status


async def submit(client: httpx.AsyncClient, body: dict) -> str:
    answer = await client.post("/api/jobs", json=body)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "pending"
    return answer.json()["job_id"]


async def test_a_job_failing_twice_completes_on_its_third_attempt_after_growing_delays(
        store, clock):
    async with open_supervisor(store) as running, \
            httpx.AsyncClient(base_url=running.base_url) as client:
        job_id = await submit(client, {"type": "test", "payload": {"fail": 2, "result": "ok"},
                                       "max_attempts": 3})
        await wait_for_status(store, job_id, "completed")
        job = (await client.get(f"/api/jobs/{job_id}")).json()
    assert (job["status"], job["attempts"], job["result"], job["error"]) == (
        "completed", 3, "ok", None)
    events = await events_of(store, job_id)
    kinds = [e["event"] for e in events]
    assert kinds == ["created", "started", "retrying", "pending", "started", "retrying",
                     "pending", "started", "completed"]
    retries = [e for e in events if e["event"] == "retrying"]
    restarted_at = [int(e["ts"]) for e in events if e["event"] == "started"][1:]
    delays = [(int(e["next_retry_at"]) - int(e["ts"])) / 1000 for e in retries]
    # RETRY_BACKOFF_BASE 1s, doubling, each scaled by a jitter in [0.8, 1.0)
    assert 0.8 <= delays[0] < 1.0
    assert 1.6 <= delays[1] < 2.0
    # and no retry starts before it is due
    assert all(start >= int(e["next_retry_at"])
               for start, e in zip(restarted_at, retries, strict=True))
    assert await find_breaches(store) == []


async def test_a_job_failing_every_attempt_is_dead_lettered_counted_and_can_be_retried(
        store, clock):
    async with open_supervisor(store) as running, \
            httpx.AsyncClient(base_url=running.base_url) as client:
        job_id = await submit(client, {"type": "test", "payload": {"fail": True},
                                       "max_attempts": 3})
        job = await wait_for_status(store, job_id, "dead_letter")
        assert job.attempts == 3
        assert job.error == "test job failed on attempt 3 as asked"
        stats = (await client.get("/api/stats")).json()
        assert (stats["dead_letter"], stats["failed"], stats["retry"]) == (1, 3, 2)

        answer = await client.post(f"/api/jobs/{job_id}/retry")
        assert answer.status_code == 200
        assert answer.json() == {"job_id": job_id, "status": "retrying"}
        job = await wait_for_status(store, job_id, "dead_letter")
    assert job.attempts == 3
    assert sum(e["event"] == "started" for e in await events_of(store, job_id)) == 6
    assert await find_breaches(store) == []


async def test_one_worker_starts_queued_jobs_by_priority_then_in_arrival_order(store, clock):
    priorities = [3, 0, 7, 7, 1, 3, 100, 0, 50, 7, 2, 3, 0, 9, 9, 1, 100, 4, 3, 0]
    started: list[int] = []
    all_started = trio.Event()

    async def record(job: JobContext) -> None:
        started.append(job.payload)
        if len(started) == len(priorities):
            all_started.set()

    with registered("record", record):
        await store.enqueue([JobSpec("record", i, priority=p) for i, p in enumerate(priorities)])
        async with open_supervisor(store, num_workers=1):
            with trio.fail_after(30):
                await all_started.wait()
    expected = sorted(range(len(priorities)), key=lambda i: (-priorities[i], i))
    assert started == expected


async def test_a_running_job_cancelled_through_the_api_stops_within_two_seconds(store, clock):
    cancelled_at: list[float] = []
    saw_cancel = trio.Event()

    async def sleeper(job: JobContext) -> None:
        try:
            await trio.sleep(60)
        except trio.Cancelled:
            cancelled_at.append(trio.current_time())
            saw_cancel.set()
            raise

    with registered("sleeper", sleeper):
        async with open_supervisor(store) as running, \
                httpx.AsyncClient(base_url=running.base_url) as client:
            job_id = await submit(client, {"type": "sleeper", "max_attempts": 3})
            await wait_for_status(store, job_id, "running")
            asked_at = trio.current_time()
            answer = await client.post(f"/api/jobs/{job_id}/cancel")
            assert answer.status_code == 200
            assert answer.json() == {"job_id": job_id, "status": "cancelled"}
            with trio.fail_after(5):
                await saw_cancel.wait()
            await trio.sleep(5)
            job = (await client.get(f"/api/jobs/{job_id}")).json()
    assert cancelled_at[0] - asked_at <= 2.0
    assert (job["status"], job["attempts"]) == ("cancelled", 1)
    assert [e["event"] for e in await events_of(store, job_id)] == [
        "created", "started", "cancelled"]
    assert await find_breaches(store) == []


async def test_a_job_over_its_timeout_fails_the_attempt_with_the_timeout_error(store, clock):
    async with open_supervisor(store) as running, \
            httpx.AsyncClient(base_url=running.base_url) as client:
        job_id = await submit(client, {"type": "test", "payload": {"sleep": 5}, "timeout": 1,
                                       "max_attempts": 2})
        job = await wait_for_status(store, job_id, "retrying")
        assert job.error == "timeout after 1s"
        job = await wait_for_status(store, job_id, "dead_letter")
    assert (job.attempts, job.error) == (2, "timeout after 1s")
    assert 1 <= (job.completed_at - job.started_at).total_seconds() < 2  # not the 5s sleep


async def test_a_job_without_a_processor_fails_with_a_clear_error(store, clock):
    async with open_supervisor(store) as running, \
            httpx.AsyncClient(base_url=running.base_url) as client:
        job_id = await submit(client, {"type": "nope", "max_attempts": 1})
        job = await wait_for_status(store, job_id, "dead_letter")
    assert job.error == "no processor registered for type 'nope'"


async def test_a_plain_function_processor_runs_in_a_thread_and_its_result_is_stored(
        store, clock):
    def blocking(job: JobContext) -> dict:
        return {"in_thread": threading.current_thread() is not threading.main_thread(),
                "echo": job.payload}

    with registered("blocking", blocking):
        async with open_supervisor(store) as running, \
                httpx.AsyncClient(base_url=running.base_url) as client:
            job_id = await submit(client, {"type": "blocking", "payload": [1, "two"]})
            job = await wait_for_status(store, job_id, "completed")
    assert job.result == {"in_thread": True, "echo": [1, "two"]}


async def test_a_crashed_actor_is_restarted_and_keeps_doing_its_work(store, clock, monkeypatch):
    real_promote = store.promote_due
    crashes = []

    async def promote_that_crashes_once() -> int | None:
        if not crashes:
            crashes.append(trio.current_time())
            raise RuntimeError("scheduler bug")
        return await real_promote()

    monkeypatch.setattr(store, "promote_due", promote_that_crashes_once)
    async with open_supervisor(store) as running, \
            httpx.AsyncClient(base_url=running.base_url) as client:
        job_id = await submit(client, {"type": "test", "payload": {"fail": 1}})
        job = await wait_for_status(store, job_id, "completed")
    assert crashes and job.attempts == 2


# -- graceful shutdown -------------------------------------------------------------


async def start_supervisor(nursery: trio.Nursery, store, **settings) -> Shutdown:
    register_builtin_processors()
    shutdown = Shutdown()
    config = Settings(**{"api_port": 0, "worker_id": "test-worker", **settings})
    await nursery.start(run_supervisor, config, store, shutdown)
    return shutdown


async def test_shutdown_lets_a_running_job_finish_within_the_grace_period(store, clock):
    (job_id,) = await store.enqueue([JobSpec("test", {"sleep": 3})])
    async with trio.open_nursery() as nursery:
        shutdown = await start_supervisor(nursery, store)
        await wait_for_status(store, job_id, "running")
        shutdown.request()
        asked_at = trio.current_time()
    # the job had 2.5s left; the grace period is 30s
    assert 2.5 <= trio.current_time() - asked_at < 5
    job = await store.get(job_id)
    assert (job.status, job.attempts) == ("completed", 1)
    assert await find_breaches(store) == []


async def test_shutdown_past_the_grace_period_puts_the_job_back_and_the_next_run_finishes_it(
        store, clock):
    runs: list[float] = []

    async def slow_the_first_time(job: JobContext) -> str:
        runs.append(trio.current_time())
        if len(runs) == 1:
            await trio.sleep(60)
        return "done"

    with registered("slow_once", slow_the_first_time):
        (job_id,) = await store.enqueue([JobSpec("slow_once")])
        async with trio.open_nursery() as nursery:
            shutdown = await start_supervisor(nursery, store, shutdown_timeout=1.0)
            await wait_for_status(store, job_id, "running")
            shutdown.request()
            asked_at = trio.current_time()
        # a 1s grace period, against the 59s the job had left
        assert 1 <= trio.current_time() - asked_at < 3
        job = await store.get(job_id)
        assert (job.status, job.attempts) == ("pending", 0)
        assert await find_breaches(store) == []

        async with open_supervisor(store):
            job = await wait_for_status(store, job_id, "completed")
    assert (job.attempts, job.result, len(runs)) == (1, "done", 2)


async def test_a_second_shutdown_request_ends_the_grace_period_at_once(store, clock):
    (job_id,) = await store.enqueue([JobSpec("test", {"sleep": 60})])
    async with trio.open_nursery() as nursery:
        shutdown = await start_supervisor(nursery, store)
        await wait_for_status(store, job_id, "running")
        shutdown.request()
        await trio.sleep(2)
        shutdown.request()
        asked_again_at = trio.current_time()
    # far inside the 30s grace period and the job's remaining 58s
    assert trio.current_time() - asked_again_at < 2
    job = await store.get(job_id)
    assert (job.status, job.attempts) == ("pending", 0)
    assert await find_breaches(store) == []


async def test_a_stopped_supervisor_is_no_longer_handed_jobs(store, clock):
    ran: list[str] = []

    async def record(job: JobContext) -> None:
        ran.append(job.id)

    with registered("record", record):
        async with open_supervisor(store):
            (first,) = await store.enqueue([JobSpec("record")])  # handed to the idle fetcher
            await wait_for_status(store, first, "completed")
        # shutdown unregistered the fetcher: nothing is handed to a process that is gone
        assert await store.client.hlen(store.keys.waiters) == 0
        (later,) = await store.enqueue([JobSpec("record")])
        assert (await store.get(later)).status.value == "pending"
    assert ran == [first]
    assert await find_breaches(store) == []
