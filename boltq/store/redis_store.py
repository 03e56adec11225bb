"""The queue's store: every job transition as one atomic Lua script call.

Python never reads a job, decides and writes back in two round trips; it
calls the transition's script with the keys, the time and the batch.
Batch calls (enqueue, claim, ack, renew, requeue) are how BoltQ stays fast:
round trips, not Python, are the cost to cut.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

import attrs
import coredis

from boltq.clock import Clock
from boltq.constants import (
    BROWSE_SCAN_MAX,
    CLAIM_BATCH_MAX,
    DEFAULT_JOB_STATUS_TTL_S,
    DEFAULT_LEASE_TIMEOUT_S,
    DEFAULT_QUEUE,
    DEFAULT_RETRY_BACKOFF_BASE_S,
    DEFAULT_RETRY_BACKOFF_MAX_S,
    EVENTS_MAXLEN,
    MAINTENANCE_BATCH,
    WAITER_TTL_S,
)
from boltq.errors import JobNotFoundError, JobStateError
from boltq.job import Job, JobSpec, JobStatus, new_job_id
from boltq.record import dumps, job_from_record, ms_to_datetime, new_record
from boltq.store.keys import QueueKeys
from boltq.store.scripts import TransitionScript, load_scripts


@attrs.frozen
class StorePolicy:
    """Timing rules the scripts apply, in seconds."""

    job_status_ttl: float = DEFAULT_JOB_STATUS_TTL_S
    lease_timeout: float = DEFAULT_LEASE_TIMEOUT_S
    retry_backoff_base: float = DEFAULT_RETRY_BACKOFF_BASE_S
    retry_backoff_max: float = DEFAULT_RETRY_BACKOFF_MAX_S
    events_maxlen: int = EVENTS_MAXLEN


@attrs.frozen
class Claimed:
    """A job this process now runs, and the lease token that proves it."""

    job: Job
    token: str
    ready_at_ms: int = 0
    """When the job became runnable (created, or its retry fell due)."""


@attrs.frozen
class AckResult:
    """What Redis made of a batch of outcomes."""

    stale: list[str]
    """Outcomes refused: the lease token was no longer current."""
    dead_lettered: list[str]
    """Failures that used the job's last attempt."""


@attrs.frozen
class CancelResult:
    """A cancelled job's status before the cancel, and its type."""

    previous: JobStatus
    type: str


@attrs.frozen
class Completion:
    """A finished attempt's result, waiting to be written."""

    job_id: str
    token: str
    result: Any = None
    job_type: str = ""
    """For metrics only; not written."""


@attrs.frozen
class Failure:
    """A failed attempt's error, waiting to be written."""

    job_id: str
    token: str
    error: str
    job_type: str = ""
    """For metrics only; not written."""


@attrs.frozen
class Stats:
    """Queue counters (since the queue began) and current sizes."""

    published: int
    processed: int
    failed: int
    retry: int
    dead_letter: int
    pending: int
    running: int
    delayed: int
    cancelled: int
    reclaimed: int
    stale_writes: int


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _claimed(flat: Sequence[Any]) -> list[Claimed]:
    """Claimed jobs from a script's flat reply: record JSON, token, ready at, ..."""
    return [Claimed(job_from_record(flat[i]), flat[i + 1], int(flat[i + 2]))
            for i in range(0, len(flat), 3)]


class Store:
    """One queue in Redis (real or embedded), seen through its transitions."""

    def __init__(
        self,
        client: coredis.Redis[str],
        clock: Clock,
        *,
        queue: str = DEFAULT_QUEUE,
        policy: StorePolicy | None = None,
        rng: random.Random | None = None,
        scripts: dict[str, TransitionScript] | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.keys = QueueKeys(queue)
        self.policy = policy or StorePolicy()
        self._rng = rng or random.Random()
        self._scripts = scripts if scripts is not None else load_scripts(client)

    async def load_scripts(self) -> None:
        """Load every script into Redis now, so no call pays for a NOSCRIPT retry."""
        for script in self._scripts.values():
            await self.client.script_load(script.script.script)

    def _script(self, name: str) -> TransitionScript:
        return self._scripts[name]

    # -- submission -----------------------------------------------------------

    async def enqueue(self, specs: Sequence[JobSpec]) -> list[str]:
        """Write new jobs as pending, all in one script call; return their ids."""
        if not specs:
            return []
        now = self.clock.now_ms()
        ids = [new_job_id() for _ in specs]
        records = [new_record(job_id, spec, now) for job_id, spec in zip(ids, specs, strict=True)]
        k = self.keys
        await self._script("enqueue")(
            [k.jobs, k.pending, k.events, k.stats, k.seq, k.wake, k.created,
             k.active, k.leases, k.dead, k.waiters],
            [now, self.policy.events_maxlen, *records],
        )
        return ids

    # -- the worker side --------------------------------------------------------

    async def claim(self, worker_id: str, count: int, waiter: str = "") -> list[Claimed]:
        """Move up to ``count`` pending jobs to active under fresh leases.

        With a ``waiter`` (a fetcher's token), jobs already handed to it come
        first, and if fewer than ``count`` are found it is registered so that
        enqueues hand it the rest directly (see :meth:`wait_for_work`).
        """
        count = max(1, min(count, CLAIM_BATCH_MAX))
        now = self.clock.now_ms()
        k = self.keys
        lease_ms = _ms(self.policy.lease_timeout)
        reply = await self._script("claim")(
            [k.jobs, k.pending, k.active, k.leases, k.events, k.wake, k.dead, k.waiters],
            [now, now + lease_ms, worker_id, count, self.policy.events_maxlen, waiter,
             lease_ms, _ms(WAITER_TTL_S)],
        )
        return _claimed(reply)

    async def wait_for_work(self, block_seconds: float, waiter: str = "") -> list[Claimed]:
        """Block on Redis until work arrives, or ``block_seconds``; return jobs handed over.

        A registered ``waiter`` is handed jobs by the enqueue itself, so they
        arrive here already claimed, in this one round trip. Otherwise (a
        wake-up token from a promotion or requeue, or the time ran out) the
        answer is empty and the caller claims. The wait happens in Redis
        (BLPOP), so it must be a server-side timeout.
        """
        seconds = max(block_seconds, 0.01)
        lists = [self.keys.inbox(waiter), self.keys.wake] if waiter else [self.keys.wake]
        reply = await self.client.blpop(lists, timeout=seconds)
        if reply is None or reply[0] == self.keys.wake:
            return []
        return _claimed(reply[1].split("\n") if reply[1] else [])

    async def interrupt_wait(self, waiter: str) -> None:
        """End a fetcher's wait at once (it finds an empty batch), for shutdown."""
        inbox = self.keys.inbox(waiter)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.rpush(inbox, [""])
            pipe.pexpire(inbox, _ms(self.policy.lease_timeout))

    async def stop_waiting(self, waiter: str) -> list[Claimed]:
        """Unregister a fetcher; return jobs handed to it that it never took.

        They are still active under its leases: the caller requeues them.
        """
        return _claimed(await self._script("unwait")([self.keys.waiters], [waiter]))

    async def ack(self, completions: Sequence[Completion],
                  failures: Sequence[Failure]) -> AckResult:
        """Write finished attempts in one round trip."""
        now = self.clock.now_ms()
        k = self.keys
        p = self.policy
        calls: list[tuple[TransitionScript, list[str], list[Any]]] = []
        if completions:
            args: list[Any] = [now, now + _ms(p.job_status_ttl), p.events_maxlen]
            for c in completions:
                args += [c.job_id, c.token, "" if c.result is None else dumps(c.result)]
            calls.append((self._script("complete"),
                          [k.jobs, k.active, k.leases, k.finished, k.events, k.stats], args))
        if failures:
            args = [now, p.events_maxlen, _ms(p.retry_backoff_base), _ms(p.retry_backoff_max)]
            for f in failures:
                args += [f.job_id, f.token, f.error, self._rng.random()]
            calls.append((self._script("fail"),
                          [k.jobs, k.active, k.delayed, k.dead, k.events, k.stats, k.leases],
                          args))
        replies = await self._in_one_round_trip(calls)
        stale = list(replies.pop(0)) if completions else []
        dead: list[str] = []
        if failures:
            failed_stale, dead = replies.pop(0)
            stale += failed_stale
        return AckResult(stale, list(dead))

    async def _in_one_round_trip(
            self, calls: Sequence[tuple[TransitionScript, list[str], list[Any]]]) -> list[Any]:
        """Run script calls in one round trip, replies in order. A lone call
        skips the pipeline, whose setup costs the client more than the call."""
        if not calls:
            return []
        if len(calls) == 1:
            script, keys, args = calls[0]
            return [await script(keys, args)]
        async with self.client.pipeline(transaction=False) as pipe:
            requests = [script.queue(pipe, keys, args) for script, keys, args in calls]
        return [await request for request in requests]

    async def renew(self, leases: Sequence[tuple[str, str]]) -> list[str]:
        """Extend every given lease in one call; return the ids no longer held."""
        if not leases:
            return []
        deadline = self.clock.now_ms() + _ms(self.policy.lease_timeout)
        args: list[Any] = [deadline]
        for job_id, token in leases:
            args += [job_id, token]
        return list(await self._script("renew")([self.keys.active, self.keys.leases], args))

    async def requeue(self, leases: Sequence[tuple[str, str]]) -> list[str]:
        """Put interrupted jobs back to pending, attempt not counted; return stale ids."""
        if not leases:
            return []
        k = self.keys
        args: list[Any] = [self.clock.now_ms(), self.policy.events_maxlen]
        for job_id, token in leases:
            args += [job_id, token]
        return list(await self._script("requeue")(
            [k.jobs, k.active, k.leases, k.pending, k.events, k.wake, k.stats], args))

    # -- operator requests --------------------------------------------------------

    async def cancel(self, job_id: str) -> CancelResult:
        """Cancel a job that has not finished; say what it was."""
        now = self.clock.now_ms()
        k = self.keys
        reply = await self._script("cancel")(
            [k.jobs, k.pending, k.delayed, k.active, k.leases, k.finished, k.events, k.stats],
            [job_id, now, now + _ms(self.policy.job_status_ttl), self.policy.events_maxlen],
        )
        if reply[0] == -1:
            raise JobNotFoundError(job_id)
        if reply[0] == -2:
            raise JobStateError(job_id, reply[1], f"job {job_id!r} already finished ({reply[1]})")
        return CancelResult(JobStatus(reply[1]), reply[2])

    async def retry_dead(self, job_id: str) -> None:
        """Send a dead-letter job back for another round of attempts."""
        (reply,) = await self._retry_dead_ids([job_id])
        if reply == -1:
            raise JobNotFoundError(job_id)
        if reply != 1:
            raise JobStateError(
                job_id, reply, f"job {job_id!r} is {reply}, not in the dead letter queue")

    async def _retry_dead_ids(self, job_ids: Sequence[str]) -> list[int | str]:
        k = self.keys
        return list(await self._script("retry")(
            [k.jobs, k.dead, k.delayed, k.events],
            [self.clock.now_ms(), self.policy.events_maxlen, *job_ids],
        ))

    async def retry_dead_many(self, job_ids: Sequence[str] | None = None) -> list[str]:
        """Retry the given dead-letter jobs (all of them when None); return those retried.

        Ids that are unknown or not in the dead letter queue are left alone.
        """
        if job_ids is not None:
            replies = await self._retry_dead_ids(job_ids) if job_ids else []
            return [job_id for job_id, r in zip(job_ids, replies, strict=True) if r == 1]
        # only jobs dead before this call: a job that fails again while we
        # work is left for the next request, so the loop always ends
        until = self.clock.now_ms()
        retried: list[str] = []
        while batch := list(await self.client.zrangebyscore(
                self.keys.dead, float("-inf"), until, offset=0, count=MAINTENANCE_BATCH)):
            replies = await self._retry_dead_ids(batch)
            retried += [job_id for job_id, r in zip(batch, replies, strict=True) if r == 1]
        return retried

    async def purge_dead(self) -> int:
        """Delete every dead-letter job for good; return how many."""
        k = self.keys
        purged = 0
        while count := int(await self._script("purge")(
                [k.jobs, k.dead, k.created, k.events],
                [self.clock.now_ms(), MAINTENANCE_BATCH, self.policy.events_maxlen])):
            purged += count
        return purged

    # -- maintenance (the scheduler) -----------------------------------------------

    async def promote_due(self) -> int | None:
        """Move due retries to pending; return when the next one is due (ms), if any."""
        k = self.keys
        _, next_due = await self._script("promote")(
            [k.jobs, k.delayed, k.pending, k.seq, k.events, k.wake],
            [self.clock.now_ms(), MAINTENANCE_BATCH, self.policy.events_maxlen],
        )
        return None if next_due == -1 else int(next_due)

    async def reclaim_expired(self) -> list[str]:
        """Fail the attempts whose lease ran out; return the type of each."""
        k = self.keys
        p = self.policy
        return list(await self._script("reclaim")(
            [k.jobs, k.active, k.delayed, k.dead, k.events, k.stats, k.leases],
            [self.clock.now_ms(), p.events_maxlen, _ms(p.retry_backoff_base),
             _ms(p.retry_backoff_max), MAINTENANCE_BATCH, self._rng.random()],
        ))

    async def expire_finished(self) -> int:
        """Forget finished jobs past the status TTL; return how many."""
        k = self.keys
        return int(await self._script("expire")(
            [k.jobs, k.finished, k.created], [self.clock.now_ms(), MAINTENANCE_BATCH]))

    # -- reads ----------------------------------------------------------------------

    async def get(self, job_id: str) -> Job:
        """The job's current record; a record past its TTL counts as gone."""
        async with self.client.pipeline(transaction=False) as pipe:
            raw_req = pipe.hget(self.keys.jobs, job_id)
            expiry_req = pipe.zscore(self.keys.finished, job_id)
        raw, expiry = await raw_req, await expiry_req
        if raw is None or (expiry is not None and expiry <= self.clock.now_ms()):
            raise JobNotFoundError(job_id)
        return job_from_record(raw)

    async def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        job_type: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[Job], str | None]:
        """Jobs newest first, filtered; and the cursor for the next page (None at the end).

        Walks the id-ordered index a page at a time and reads records in bulk;
        a request looks at no more than BROWSE_SCAN_MAX ids, so a rare filter
        may return a short page with a cursor to continue from.
        """
        found: list[Job] = []
        upper = f"({cursor}" if cursor else "+"
        scanned = 0
        now = self.clock.now_ms()
        while len(found) < limit and scanned < BROWSE_SCAN_MAX:
            page = max(limit * 2, 100)
            # ZREVRANGEBYLEX, not ZRANGE ... BYLEX REV: the embedded store
            # answers the latter wrongly, and both backends must agree
            ids = list(await self.client.zrevrangebylex(self.keys.created, upper, "-",
                                                        offset=0, count=page))
            if not ids:
                return found, None
            scanned += len(ids)
            async with self.client.pipeline(transaction=False) as pipe:
                records_req = pipe.hmget(self.keys.jobs, ids)
                expiry_req = [pipe.zscore(self.keys.finished, job_id) for job_id in ids]
            records = await records_req
            expiries = [await req for req in expiry_req]
            for job_id, raw, expiry in zip(ids, records, expiries, strict=True):
                upper = f"({job_id}"
                if raw is None or (expiry is not None and expiry <= now):
                    continue
                job = job_from_record(raw)
                if ((status is None or job.status == status)
                        and (job_type is None or job.type == job_type)
                        and (tag is None or tag in job.tags)):
                    found.append(job)
                    if len(found) == limit:
                        return found, job_id
            if len(ids) < page:
                return found, None
        return found, upper[1:]

    async def stats(self) -> Stats:
        """Counters and sizes, read in one round trip."""
        k = self.keys
        async with self.client.pipeline(transaction=False) as pipe:
            counters_req = pipe.hgetall(k.stats)
            sizes_req = [pipe.zcard(key) for key in (k.pending, k.active, k.delayed, k.dead)]
        counters = {name: int(value) for name, value in (await counters_req).items()}
        pending, running, delayed, dead = [await req for req in sizes_req]
        return Stats(
            published=counters.get("published", 0),
            processed=counters.get("processed", 0),
            failed=counters.get("failed", 0),
            retry=counters.get("retry", 0),
            dead_letter=dead,
            pending=pending,
            running=running,
            delayed=delayed,
            cancelled=counters.get("cancelled", 0),
            reclaimed=counters.get("reclaimed", 0),
            stale_writes=counters.get("stale_writes", 0),
        )

    # -- the supervisor registry ------------------------------------------------------

    async def heartbeat(self, supervisor_id: str, info: dict[str, Any] | None,
                        forget_after: float) -> None:
        """Say this supervisor is alive (``info`` None: it is leaving)."""
        now = self.clock.now_ms()
        await self._script("heartbeat")(
            [self.keys.workers, self.keys.workers_seen],
            [now, supervisor_id, "" if info is None else dumps(info), now - _ms(forget_after)],
        )

    async def live_supervisors(self, within: float) -> list[dict[str, Any]]:
        """Every supervisor that heartbeated in the last ``within`` seconds, by id."""
        since = self.clock.now_ms() - _ms(within)
        async with self.client.pipeline(transaction=False) as pipe:
            infos_req = pipe.hgetall(self.keys.workers)
            live_req = pipe.zrangebyscore(self.keys.workers_seen, since, float("inf"),
                                          withscores=True)
        infos = await infos_req
        live = []
        for member in await live_req:
            raw = infos.get(member[0])
            if raw is not None:
                live.append({**json.loads(raw), "last_seen": ms_to_datetime(member[1])})
        return sorted(live, key=lambda info: info["id"])

    def for_queue(self, queue: str) -> Store:
        """A store for another queue on the same connection, clock and policy."""
        if queue == self.keys.queue:
            return self
        return Store(self.client, self.clock, queue=queue, policy=self.policy, rng=self._rng,
                     scripts=self._scripts)

    async def depths(self, stores: Sequence[Store], within: float,
                     ) -> dict[str, tuple[dict[str, int], int]]:
        """Sizes of each queue's places and its live supervisors, in one round trip."""
        since = self.clock.now_ms() - _ms(within)
        requests = []
        async with self.client.pipeline(transaction=False) as pipe:
            for store in stores:
                k = store.keys
                requests.append((k.queue, [pipe.zcard(key) for key in (
                    k.pending, k.delayed, k.active, k.dead)],
                    pipe.zcount(k.workers_seen, since, float("inf"))))
        found = {}
        for queue, sizes, live in requests:
            pending, delayed, running, dead = [await size for size in sizes]
            found[queue] = ({"pending": pending, "delayed": delayed, "running": running,
                             "dead_letter": dead}, int(await live))
        return found

    async def scripts_loaded(self) -> bool:
        """True when Redis answers and holds every transition script (readiness)."""
        shas = [script.script.sha for script in self._scripts.values()]
        return all(await self.client.script_exists(shas))

    async def ping(self) -> bool:
        """True when Redis answers."""
        return bool(await self.client.ping())
