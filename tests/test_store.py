"""Every transition script, on real Redis and on the embedded store.

Each test ends by checking the invariant: every job id in exactly one place.
"""

from __future__ import annotations

import time

import pytest
import trio

from boltq.constants import WAITER_TTL_S
from boltq.errors import JobNotFoundError, JobStateError
from boltq.invariants import find_breaches
from boltq.job import JobSpec, JobStatus
from boltq.store import Completion, Failure, Store, StorePolicy


async def assert_invariant(store: Store) -> None:
    assert await find_breaches(store) == []


async def test_a_submitted_job_reads_back_as_pending_with_its_fields(store, clock):
    spec = JobSpec("test", {"x": [1, 2.5, None], "y": {}}, priority=7, max_attempts=5,
                   timeout=2.5, tags=("a", "b"))
    (job_id,) = await store.enqueue([spec])
    job = await store.get(job_id)
    assert job.id == job_id and job.id.startswith("job_")
    assert (job.status, job.type) == ("pending", "test")
    assert job.payload == {"x": [1, 2.5, None], "y": {}}
    assert (job.priority, job.max_attempts, job.timeout, job.tags) == (7, 5, 2.5, ("a", "b"))
    assert job.attempts == 0 and job.created_at is not None and job.started_at is None
    stats = await store.stats()
    assert (stats.published, stats.pending) == (1, 1)
    await assert_invariant(store)


async def test_claims_take_higher_priority_first_and_fifo_within_a_priority(store, clock):
    priorities = [0, 5, 5, 1, 100, 0, 5]
    ids = await store.enqueue([JobSpec("test", i, priority=p) for i, p in enumerate(priorities)])
    claimed = await store.claim("w", 100)
    order = [c.job.id for c in claimed]
    expected = [ids[i] for i in sorted(range(len(ids)), key=lambda i: (-priorities[i], i))]
    assert order == expected
    assert all(c.job.status == "running" and c.job.attempts == 1 for c in claimed)
    assert len({c.token for c in claimed}) == len(claimed)
    await assert_invariant(store)


async def test_a_corrupt_record_is_quarantined_and_the_rest_of_the_batch_is_claimed(
        store, clock):
    first, second = await store.enqueue([JobSpec("test"), JobSpec("test")])
    await store.client.hset(store.keys.jobs, {first: "{not json"})
    claimed = await store.claim("w", 10)
    assert [c.job.id for c in claimed] == [second]
    assert await store.client.zscore(store.keys.dead, first) is not None
    breaches = await find_breaches(store)
    assert [(b.job_id, b.problem) for b in breaches] == [
        (first, "record is not a valid job record")]


async def test_a_claim_takes_no_more_than_asked(store, clock):
    await store.enqueue([JobSpec("test") for _ in range(5)])
    assert len(await store.claim("w", 2)) == 2
    assert (await store.stats()).pending == 3


async def test_completing_stores_the_result_and_finishes_the_job(store, clock):
    (job_id,) = await store.enqueue([JobSpec("test")])
    (c,) = await store.claim("w-1", 1)
    assert (await store.ack([Completion(job_id, c.token, {"ok": [1.25]})], [])).stale == []
    job = await store.get(job_id)
    assert (job.status, job.result, job.worker_id, job.attempts) == ("completed", {"ok": [1.25]},
                                                                     "w-1", 1)
    assert job.completed_at is not None
    stats = await store.stats()
    assert (stats.processed, stats.running, stats.pending) == (1, 0, 0)
    await assert_invariant(store)


async def test_an_outcome_with_a_stale_token_changes_nothing_and_is_counted(store, clock):
    (job_id,) = await store.enqueue([JobSpec("test")])
    await store.claim("w", 1)
    result = await store.ack([Completion(job_id, "not-the-token", 1)],
                             [Failure(job_id, "also-wrong", "boom")])
    assert (result.stale, result.dead_lettered) == ([job_id, job_id], [])
    assert (await store.get(job_id)).status == "running"
    assert (await store.stats()).stale_writes == 2
    await assert_invariant(store)


@pytest.fixture
def policy() -> StorePolicy:
    return StorePolicy(retry_backoff_base=1.0, retry_backoff_max=5.0, lease_timeout=30.0,
                       job_status_ttl=60.0)


async def fail_once(store: Store, job_id: str, error: str = "boom") -> None:
    (c,) = await store.claim("w", 1)
    assert c.job.id == job_id
    assert (await store.ack([], [Failure(job_id, c.token, error)])).stale == []


async def test_failed_attempts_back_off_exponentially_up_to_the_cap(store, clock):
    (job_id,) = await store.enqueue([JobSpec("test", max_attempts=10)])
    delays = []
    for _ in range(5):
        await fail_once(store, job_id)
        job = await store.get(job_id)
        assert job.status == "retrying" and job.error == "boom"
        delay = (job.next_retry_at.timestamp() * 1000 - store.clock.now_ms()) / 1000
        delays.append(delay)
        await trio.sleep(delay - 0.01)
        await store.promote_due()
        assert (await store.get(job_id)).status == "retrying", "promoted before it was due"
        await trio.sleep(0.02)
        await store.promote_due()
        assert (await store.get(job_id)).status == "pending"
    # base 1s doubling, capped at 5s, each scaled by a jitter in [0.8, 1.0)
    for delay, nominal in zip(delays, [1, 2, 4, 5, 5], strict=True):
        assert 0.8 * nominal - 0.002 <= delay <= nominal
    stats = await store.stats()
    assert (stats.failed, stats.retry) == (5, 5)
    await assert_invariant(store)


async def test_a_job_goes_to_dead_letter_after_max_attempts_and_retry_brings_it_back(store, clock):
    (job_id,) = await store.enqueue([JobSpec("test", max_attempts=2)])
    await fail_once(store, job_id, "first")
    await trio.sleep(1)
    await store.promote_due()
    await fail_once(store, job_id, "second")
    job = await store.get(job_id)
    assert (job.status, job.attempts, job.error) == ("dead_letter", 2, "second")
    assert (await store.stats()).dead_letter == 1
    await assert_invariant(store)

    await store.retry_dead(job_id)
    job = await store.get(job_id)
    assert (job.status, job.attempts) == ("retrying", 0)
    await store.promote_due()
    (c,) = await store.claim("w", 1)
    assert (c.job.id, c.job.attempts) == (job_id, 1)
    assert (await store.stats()).dead_letter == 0
    await assert_invariant(store)


async def test_retry_is_refused_unless_the_job_is_in_dead_letter(store, clock):
    (job_id,) = await store.enqueue([JobSpec("test")])
    with pytest.raises(JobStateError) as refused:
        await store.retry_dead(job_id)
    assert refused.value.status == "pending"
    with pytest.raises(JobNotFoundError):
        await store.retry_dead("job_missing")


async def test_an_expired_lease_is_reclaimed_as_a_failed_attempt(store, clock):
    (job_id,) = await store.enqueue([JobSpec("test")])
    (c,) = await store.claim("w", 1)
    await trio.sleep(29.9)
    assert await store.reclaim_expired() == []
    await trio.sleep(0.2)
    assert await store.reclaim_expired() == ["test"]
    job = await store.get(job_id)
    assert (job.status, job.error) == ("retrying", "worker lost (lease expired)")
    # the lost worker's late outcome is refused
    assert (await store.ack([Completion(job_id, c.token)], [])).stale == [job_id]
    assert (await store.stats()).reclaimed == 1
    await assert_invariant(store)


async def test_renewing_keeps_a_lease_alive_and_reports_leases_that_are_gone(store, clock):
    a, b = await store.enqueue([JobSpec("test"), JobSpec("test")])
    ca, cb = await store.claim("w", 2)
    await store.cancel(b)
    for _ in range(3):
        await trio.sleep(20)
        assert await store.renew([(a, ca.token), (b, cb.token)]) == [b]
    assert await store.reclaim_expired() == []
    assert (await store.get(a)).status == "running"
    await assert_invariant(store)


async def test_requeue_puts_a_job_back_in_its_place_without_counting_the_attempt(store, clock):
    first, second = await store.enqueue([JobSpec("test"), JobSpec("test")])
    (c,) = await store.claim("w", 1)
    assert await store.requeue([(first, c.token)]) == []
    job = await store.get(first)
    assert (job.status, job.attempts, job.started_at, job.worker_id) == ("pending", 0, None, None)
    assert [x.job.id for x in await store.claim("w", 2)] == [first, second]
    await assert_invariant(store)


@pytest.mark.parametrize("status", ["pending", "retrying", "running"])
async def test_a_job_that_has_not_finished_can_be_cancelled(store, status, clock):
    (job_id,) = await store.enqueue([JobSpec("test")])
    if status != "pending":
        (c,) = await store.claim("w", 1)
    if status == "retrying":
        await store.ack([], [Failure(job_id, c.token, "boom")])
    cancelled = await store.cancel(job_id)
    assert (cancelled.previous, cancelled.type) == (JobStatus(status), "test")
    job = await store.get(job_id)
    assert (job.status, job.next_retry_at) == ("cancelled", None)
    assert job.completed_at is not None
    await trio.sleep(10)
    await store.promote_due()
    assert await store.claim("w", 1) == []
    assert (await store.stats()).cancelled == 1
    await assert_invariant(store)


async def test_a_finished_job_cannot_be_cancelled(store, clock):
    (job_id,) = await store.enqueue([JobSpec("test")])
    (c,) = await store.claim("w", 1)
    await store.ack([Completion(job_id, c.token)], [])
    with pytest.raises(JobStateError) as refused:
        await store.cancel(job_id)
    assert refused.value.status == "completed"
    with pytest.raises(JobNotFoundError):
        await store.cancel("job_missing")
    await assert_invariant(store)


async def test_finished_records_disappear_after_the_status_ttl(store, clock):
    (job_id,) = await store.enqueue([JobSpec("test")])
    (c,) = await store.claim("w", 1)
    await store.ack([Completion(job_id, c.token)], [])
    await trio.sleep(59)
    assert await store.expire_finished() == 0
    assert (await store.get(job_id)).status == "completed"
    await trio.sleep(2)
    with pytest.raises(JobNotFoundError):
        await store.get(job_id)
    assert await store.expire_finished() == 1
    assert await store.client.hlen(store.keys.jobs) == 0
    await assert_invariant(store)


async def test_every_transition_appends_an_event(store, clock):
    (job_id,) = await store.enqueue([JobSpec("test", max_attempts=2)])
    await fail_once(store, job_id)
    await trio.sleep(1)
    await store.promote_due()
    (c,) = await store.claim("w", 1)
    await store.ack([Completion(job_id, c.token)], [])
    entries = await store.client.xrange(store.keys.events)
    events = [(e.field_values["event"], e.field_values["attempt"]) for e in entries]
    assert events == [("created", "0"), ("started", "1"), ("retrying", "1"), ("pending", "1"),
                      ("started", "2"), ("completed", "2")]


async def test_a_fetcher_that_is_not_registered_is_woken_by_an_enqueue_to_claim(store, clock):
    assert await store.wait_for_work(0.05) == []
    async with trio.open_nursery() as nursery:
        async def submit_soon() -> None:
            await trio.sleep(0.01)
            await store.enqueue([JobSpec("test")])
        nursery.start_soon(submit_soon)
        began = time.monotonic()  # Redis blocks in real time, not on the test's clock
        assert await store.wait_for_work(5) == []
        assert time.monotonic() - began < 4, "woken by the enqueue, not by the timeout"
    assert len(await store.claim("w", 1)) == 1


async def test_an_idle_fetcher_is_handed_jobs_by_the_enqueue_itself(store, clock):
    assert await store.claim("w-1", 3, waiter="f1") == []  # dry: registered for 3
    low, high = await store.enqueue([JobSpec("test"), JobSpec("test", priority=5)])
    for job_id in (low, high):  # claimed in the enqueue's own script call
        job = await store.get(job_id)
        assert (job.status, job.attempts, job.worker_id) == (JobStatus.RUNNING, 1, "w-1")
    await assert_invariant(store)

    handed = await store.wait_for_work(5, waiter="f1")
    assert [c.job.id for c in handed] == [high, low]  # still in priority order
    assert (await store.ack([Completion(c.job.id, c.token) for c in handed], [])).stale == []
    assert {(await store.get(j)).status for j in (low, high)} == {JobStatus.COMPLETED}
    await assert_invariant(store)


async def test_a_fetcher_is_handed_no_more_than_it_registered_for(store, clock):
    await store.claim("w", 2, waiter="f1")
    ids = await store.enqueue([JobSpec("test") for _ in range(5)])
    handed = await store.wait_for_work(5, waiter="f1")
    assert [c.job.id for c in handed] == ids[:2]
    assert (await store.stats()).pending == 3
    # its next claim takes the rest, and finds nothing more in its inbox
    assert [c.job.id for c in await store.claim("w", 5, waiter="f1")] == ids[2:]
    await assert_invariant(store)


async def test_a_registration_that_is_not_renewed_lapses(store, clock):
    await store.claim("w", 2, waiter="f1")
    await trio.sleep(WAITER_TTL_S + 0.5)  # a fetcher that died, or froze
    (job_id,) = await store.enqueue([JobSpec("test")])
    assert (await store.get(job_id)).status == JobStatus.PENDING
    await assert_invariant(store)


async def test_a_fetcher_that_stops_waiting_gets_back_what_it_was_handed(store, clock):
    await store.claim("w", 2, waiter="f1")
    (handed_id,) = await store.enqueue([JobSpec("test")])
    leftovers = await store.stop_waiting("f1")
    assert [c.job.id for c in leftovers] == [handed_id]
    assert await store.requeue([(c.job.id, c.token) for c in leftovers]) == []
    job = await store.get(handed_id)
    assert (job.status, job.attempts) == (JobStatus.PENDING, 0)
    # unregistered: a later job is not handed to it
    (later,) = await store.enqueue([JobSpec("test")])
    assert (await store.get(later)).status == JobStatus.PENDING
    assert await store.stop_waiting("f1") == []
    await assert_invariant(store)


async def test_interrupting_a_wait_ends_it_with_nothing_handed(store, clock):
    await store.claim("w", 1, waiter="f1")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.interrupt_wait, "f1")
        began = time.monotonic()
        assert await store.wait_for_work(5, waiter="f1") == []
        assert time.monotonic() - began < 4, "ended by the interrupt, not by the timeout"
    assert await store.stop_waiting("f1") == []


async def test_a_redis_that_lost_its_scripts_gets_them_again_on_the_next_call(store, clock):
    (first,) = await store.enqueue([JobSpec("test")])
    await store.client.script_flush()  # as after a Redis restart without persistence
    (second,) = await store.enqueue([JobSpec("test")])
    claimed = await store.claim("w", 5)
    assert [c.job.id for c in claimed] == [first, second]
    assert (await store.ack([Completion(c.job.id, c.token) for c in claimed], [])).stale == []
    await assert_invariant(store)
