"""``POST /api/jobs`` under concurrency: submissions in flight together share
one enqueue call, and each still gets its own job, or its own error."""

from __future__ import annotations

import coredis
import trio

from boltq.coalesce import SubmissionCoalescer
from boltq.job import JobSpec
from boltq.web import create_app
from tests.helpers import record_round_trips

CONCURRENT = 20


async def post_concurrently(client, bodies: list[dict]) -> list:
    answers: list = [None] * len(bodies)

    async def post(index: int) -> None:
        answers[index] = await client.post("/api/jobs", json=bodies[index])

    async with trio.open_nursery() as nursery:
        for index in range(len(bodies)):
            nursery.start_soon(post, index)
    return answers


async def test_concurrent_posts_share_round_trips_and_each_gets_its_own_job(
        store, clock, monkeypatch):
    client = create_app(store, default_max_attempts=3).test_client()
    bodies = [{"type": "test", "payload": {"n": n}, "priority": n % 3}
              for n in range(CONCURRENT)]
    sent = record_round_trips(monkeypatch, store.client)
    answers = await post_concurrently(client, bodies)
    monkeypatch.undo()

    assert [a.status_code for a in answers] == [202] * CONCURRENT
    job_ids = [(await a.get_json())["job_id"] for a in answers]
    assert len(set(job_ids)) == CONCURRENT
    assert len(sent) < CONCURRENT  # shared calls, not one per request
    for n, job_id in enumerate(job_ids):
        job = await store.get(job_id)
        assert (job.payload, job.priority, job.status.value) == ({"n": n}, n % 3, "pending")
    assert (await store.stats()).pending == CONCURRENT


async def test_a_redis_error_answers_503_to_every_request_of_the_shared_call(
        store, clock, monkeypatch):
    client = create_app(store, default_max_attempts=3).test_client()
    calls: list[int] = []

    async def refuse(specs):
        calls.append(len(specs))
        await trio.sleep(0.01)  # in flight long enough for others to pile up
        raise coredis.exceptions.ConnectionError("connection refused")

    monkeypatch.setattr(store, "enqueue", refuse)
    answers = await post_concurrently(client, [{"type": "test"}] * CONCURRENT)
    monkeypatch.undo()

    assert len(calls) < CONCURRENT and sum(calls) == CONCURRENT  # shared, each job once
    assert [a.status_code for a in answers] == [503] * CONCURRENT
    for answer in answers:
        assert "unreachable" in (await answer.get_json())["error"]


class SlowStore:
    """Answers enqueues after a second, like a Redis under load."""

    def __init__(self) -> None:
        self.written: list[str] = []

    async def enqueue(self, specs: list[JobSpec]) -> list[str]:
        await trio.sleep(1)
        ids = [f"job-{len(self.written) + i}" for i in range(len(specs))]
        self.written += ids
        return ids


async def test_a_caller_that_goes_away_does_not_cancel_the_others_jobs(clock):
    store = SlowStore()
    coalescer = SubmissionCoalescer(store)  # type: ignore[arg-type]
    got: dict[str, str] = {}

    async def submit(name: str, scope: trio.CancelScope | None = None) -> None:
        with scope or trio.CancelScope():
            got[name] = await coalescer.enqueue(JobSpec("test"))

    first_scope = trio.CancelScope()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(submit, "first", first_scope)
        await trio.sleep(0.1)  # "first" is writing, alone
        nursery.start_soon(submit, "second")
        nursery.start_soon(submit, "third")
        await trio.sleep(0.1)
        first_scope.cancel()  # its client disconnects mid-call

    # the cancelled caller's own write went through too: it was already in Redis
    assert store.written == ["job-0", "job-1", "job-2"]
    assert got["first"] == "job-0"
    assert {got["second"], got["third"]} == {"job-1", "job-2"}


async def test_a_caller_that_goes_away_before_its_turn_writes_nothing(clock):
    store = SlowStore()
    coalescer = SubmissionCoalescer(store)  # type: ignore[arg-type]
    waiting_scope = trio.CancelScope()

    async def submit_then_give_up() -> None:
        with waiting_scope:
            await coalescer.enqueue(JobSpec("test"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(coalescer.enqueue, JobSpec("test"))
        await trio.sleep(0.1)  # the first call is in flight
        nursery.start_soon(submit_then_give_up)
        await trio.sleep(0.1)
        waiting_scope.cancel()  # gone while waiting for its turn
        nursery.start_soon(coalescer.enqueue, JobSpec("test"))  # goes next, alone

    assert store.written == ["job-0", "job-1"]
