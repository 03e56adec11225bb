"""A worker: runs one job at a time under a cancel scope."""

from __future__ import annotations

import logging
import math

import trio

from boltq.errors import ProcessorError
from boltq.inflight import InFlight
from boltq.processors import JobContext, run_processor
from boltq.store import Claimed, Completion, Failure

log = logging.getLogger("boltq.worker")

Outcome = Completion | Failure


def describe_error(exc: BaseException) -> str:
    """The text stored as the job's error."""
    if isinstance(exc, ProcessorError):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def run_job(claimed: Claimed, worker_id: str, inflight: InFlight) -> Outcome | None:
    """Run one claimed job; return what to write, or None if its lease is gone.

    The job's ``timeout`` is the scope's deadline; a revoked lease (cancel
    through the API, or reclaimed) cancels the scope from the lease keeper.
    """
    job = claimed.job
    ctx = JobContext(
        id=job.id, type=job.type, payload=job.payload, attempt=job.attempts,
        max_attempts=job.max_attempts, tags=job.tags, worker_id=worker_id,
        lease_token=claimed.token, timeout=job.timeout,
    )
    deadline = trio.current_time() + job.timeout if job.timeout else math.inf
    outcome: Outcome | None = None
    with trio.CancelScope(deadline=deadline) as scope:
        entry = inflight.started(job.id, scope)
        log.debug("job %s (%s) attempt %d started", job.id, job.type, job.attempts)
        try:
            result = await run_processor(ctx)
        except Exception as exc:
            outcome = Failure(job.id, claimed.token, describe_error(exc))
        else:
            outcome = Completion(job.id, claimed.token, result)
    if entry is None or entry.revoked:
        log.info("job %s stopped: its lease is gone (cancelled or reclaimed)", job.id)
        return None
    if scope.cancelled_caught:
        return Failure(job.id, claimed.token, f"timeout after {job.timeout:g}s")
    return outcome


async def worker(
    worker_id: str,
    idle: trio.MemorySendChannel[None],
    jobs: trio.MemoryReceiveChannel[Claimed],
    outcomes: trio.MemorySendChannel[Outcome],
    inflight: InFlight,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Ask for a job (one ticket), run it, hand the outcome to the acker; repeat."""
    with idle, jobs, outcomes:
        task_status.started()
        while True:
            await idle.send(None)
            claimed = await jobs.receive()
            outcome = await run_job(claimed, worker_id, inflight)
            if outcome is None:
                inflight.discard(claimed.job.id)
            else:
                await outcomes.send(outcome)
