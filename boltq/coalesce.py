"""Concurrent single-job submissions share one enqueue round trip.

Each ``POST /api/jobs`` alone would cost one script call, and under load the
Redis client's per-call work, not Redis, bounds the API. So submissions that
arrive while an enqueue is in flight wait for it and then go together, in
one call of the same atomic script: each job is written whole or not at all,
as before, and a Redis error reaches every request of the failed call.
"""

from __future__ import annotations

from typing import Final

import attrs
import trio

from boltq.job import JobSpec
from boltq.store import Store

#: How long a shared enqueue may outlive a cancelled request (shutdown, a
#: client gone). Past it, every member is told Redis did not answer.
ENQUEUE_SHIELD_S: Final = 10.0


@attrs.define(eq=False)
class _Submission:
    spec: JobSpec
    job_id: str | None = None
    error: BaseException | None = None

    @property
    def settled(self) -> bool:
        return self.job_id is not None or self.error is not None


@attrs.define
class SubmissionCoalescer:
    """Enqueues one job per caller, sharing the call with whoever else is waiting.

    Whoever holds the lock writes every submission waiting at that moment;
    the others find theirs settled when their turn comes. A single caller
    pays nothing extra: it takes the free lock and writes its own job.
    """

    store: Store
    _waiting: list[_Submission] = attrs.field(factory=list, init=False)
    _lock: trio.Lock = attrs.field(factory=trio.Lock, init=False)

    async def enqueue(self, spec: JobSpec) -> str:
        """Write ``spec`` as a pending job and return its id."""
        mine = _Submission(spec)
        self._waiting.append(mine)
        try:
            async with self._lock:
                if not mine.settled:
                    batch, self._waiting = self._waiting, []
                    await self._write(batch)
        except trio.Cancelled:
            if mine in self._waiting:  # gone before any call took it: never written
                self._waiting.remove(mine)
            raise
        if mine.error is not None:
            raise mine.error
        assert mine.job_id is not None
        return mine.job_id

    async def _write(self, batch: list[_Submission]) -> None:
        """One script call for the batch; its outcome is every member's.

        Shielded: the call carries other requests' jobs, so one client
        going away must not cancel it and leave theirs unanswered; the
        shield's deadline bounds it at shutdown.
        """
        job_ids: list[str] | None = None
        error: BaseException = TimeoutError(
            f"no answer from Redis within {ENQUEUE_SHIELD_S:g}s")
        with trio.move_on_after(ENQUEUE_SHIELD_S, shield=True):
            try:
                job_ids = await self.store.enqueue([s.spec for s in batch])
            except Exception as exc:
                error = exc
        if job_ids is None:
            for submission in batch:
                submission.error = error
            return
        for submission, job_id in zip(batch, job_ids, strict=True):
            submission.job_id = job_id
