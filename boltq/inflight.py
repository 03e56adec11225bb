"""The jobs this process holds: claimed, running, or waiting for their ack.

The fetcher adds a job when it claims it; the acker (or a worker, for a job
whose lease is gone) removes it once nothing more will be written for it.
The lease keeper renews what is here; shutdown requeues what is left.
"""

from __future__ import annotations

import attrs
import trio

from boltq.store import Claimed


@attrs.define
class InFlightJob:
    """One held job and the cancel scope of its running processor."""

    claimed: Claimed
    scope: trio.CancelScope | None = None
    revoked: bool = False
    """Its lease is gone (cancelled, reclaimed): stop it and write nothing."""


class InFlight:
    """The ledger of held jobs, shared by this process's actors."""

    def __init__(self, queue: str = "") -> None:
        self.queue = queue
        self._jobs: dict[str, InFlightJob] = {}
        self._changed = trio.Event()

    def __len__(self) -> int:
        return len(self._jobs)

    def add(self, claimed: Claimed) -> None:
        self._jobs[claimed.job.id] = InFlightJob(claimed)

    def started(self, job_id: str, scope: trio.CancelScope) -> InFlightJob | None:
        """Attach the processor's scope; cancel it at once if already revoked."""
        entry = self._jobs.get(job_id)
        if entry is not None:
            entry.scope = scope
            if entry.revoked:
                scope.cancel()
        return entry

    def revoke(self, job_ids: list[str]) -> None:
        """The leases of these jobs are gone: cancel their processors."""
        for job_id in job_ids:
            entry = self._jobs.get(job_id)
            if entry is not None:
                entry.revoked = True
                if entry.scope is not None:
                    entry.scope.cancel()

    def discard(self, job_id: str) -> None:
        """Nothing more will be written for this job."""
        if self._jobs.pop(job_id, None) is not None and not self._jobs:
            self._changed.set()
            self._changed = trio.Event()

    def leases(self) -> list[tuple[str, str]]:
        """(job id, token) of every held job that is not revoked."""
        return [(e.claimed.job.id, e.claimed.token) for e in self._jobs.values() if not e.revoked]

    async def wait_empty(self) -> None:
        """Return once no job is held."""
        while self._jobs:
            await self._changed.wait()


@attrs.define
class ProcessLoad:
    """This process's work so far, for its heartbeat."""

    ledgers: list[InFlight] = attrs.field(factory=list)
    processed: int = 0
    """Attempts whose outcome this process wrote."""
    busy: int = 0
    """Workers running a processor right now."""

    def snapshot(self) -> dict[str, int]:
        return {"in_flight": sum(len(ledger) for ledger in self.ledgers),
                "processed": self.processed, "busy": self.busy}
