"""A worker: runs one job at a time under a cancel scope."""

from __future__ import annotations

import logging
import math
from typing import TypeVar

import trio

from boltq.errors import ProcessorError
from boltq.inflight import InFlight, ProcessLoad
from boltq.logs import job_fields
from boltq.metrics import Metrics
from boltq.processors import JobContext, run_processor
from boltq.store import Claimed, Completion, Failure

log = logging.getLogger("boltq.worker")

Outcome = Completion | Failure
T = TypeVar("T")


def describe_error(exc: BaseException) -> str:
    """The text stored as the job's error."""
    if isinstance(exc, ProcessorError):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def run_job(claimed: Claimed, worker_id: str, inflight: InFlight,
                  metrics: Metrics | None = None) -> Outcome | None:
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
    began = trio.current_time()
    deadline = began + job.timeout if job.timeout else math.inf
    outcome: Outcome | None = None
    if metrics is not None and job.started_at is not None:
        queue = inflight.queue
        metrics.of(metrics.started, queue, job.type).inc()
        waited = job.started_at.timestamp() - claimed.ready_at_ms / 1000
        metrics.of(metrics.queue_wait, queue, job.type).observe(max(waited, 0.0))
    # the per-job log lines are skipped, not just filtered, when INFO is off
    verbose = log.isEnabledFor(logging.INFO)
    with trio.CancelScope(deadline=deadline) as scope:
        entry = inflight.started(job.id, scope)
        if verbose:
            log.info("job started", extra=job_fields(job.id, job.type, job.attempts))
        try:
            result = await run_processor(ctx)
        except Exception as exc:
            outcome = Failure(job.id, claimed.token, describe_error(exc), job.type)
        else:
            outcome = Completion(job.id, claimed.token, result, job.type)
    fields = job_fields(job.id, job.type, job.attempts)
    if entry is None or entry.revoked:
        log.info("job stopped: its lease is gone (cancelled or reclaimed)", extra=fields)
        return None
    if scope.cancelled_caught:
        outcome = Failure(job.id, claimed.token, f"timeout after {job.timeout:g}s", job.type)
    if metrics is not None:  # attempts with an outcome only: a cancelled one has none
        metrics.of(metrics.run_time, inflight.queue, job.type).observe(
            trio.current_time() - began)
    if isinstance(outcome, Failure):
        log.warning("job attempt failed: %s", outcome.error, extra=fields)
    elif verbose:
        log.info("job finished", extra=fields)
    return outcome


async def _send(channel: trio.MemorySendChannel[T], value: T) -> None:
    """Send without yielding when the buffer has room; wait for room otherwise.

    ``send`` yields to the scheduler even with room to spare; per job, those
    yields cost more than a no-op job itself. The worker still yields once
    per job, waiting in ``jobs.receive``.
    """
    try:
        channel.send_nowait(value)
    except trio.WouldBlock:
        await channel.send(value)


async def worker(
    worker_id: str,
    idle: trio.MemorySendChannel[None],
    jobs: trio.MemoryReceiveChannel[Claimed],
    outcomes: trio.MemorySendChannel[Outcome],
    inflight: InFlight,
    load: ProcessLoad | None = None,
    metrics: Metrics | None = None,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Ask for a job (one ticket), run it, hand the outcome to the acker; repeat."""
    load = load or ProcessLoad()
    with idle, jobs, outcomes:
        task_status.started()
        while True:
            await _send(idle, None)
            claimed = await jobs.receive()
            load.busy += 1
            try:
                outcome = await run_job(claimed, worker_id, inflight, metrics)
            finally:
                load.busy -= 1
            if outcome is None:
                inflight.discard(claimed.job.id)
            else:
                await _send(outcomes, outcome)
