"""The job model: what a client submits, and the record BoltQ keeps of it."""

from __future__ import annotations

import enum
import secrets
import time
from datetime import datetime
from typing import Any

import attrs

from boltq.constants import DEFAULT_MAX_ATTEMPTS


class JobStatus(enum.StrEnum):
    """Where a job is in its life. Each status maps to one place in Redis."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    RETRYING = "retrying"
    DEAD_LETTER = "dead_letter"
    CANCELLED = "cancelled"


#: Statuses a job never leaves by itself (dead letter leaves only on request).
TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.CANCELLED, JobStatus.DEAD_LETTER})
#: Statuses of a job that still waits to run or is running.
ACTIVE_STATUSES = frozenset({JobStatus.PENDING, JobStatus.RUNNING, JobStatus.RETRYING})


def new_job_id() -> str:
    """``job_`` + 48-bit milliseconds + 64 random bits: time-ordered, unique across processes."""
    return f"job_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"


@attrs.frozen
class JobSpec:
    """A validated submission: everything the client chose about a job."""

    type: str
    """Names the processor that runs the job."""
    payload: Any = None
    """Any JSON value; handed to the processor untouched."""
    priority: int = 0
    """0-100; higher runs first, FIFO within a priority."""
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    """Attempts before the job goes to the dead letter queue."""
    timeout: float | None = None
    """Seconds one attempt may run; None for no limit."""
    tags: tuple[str, ...] = ()
    """Free labels for the client's own bookkeeping."""


@attrs.frozen
class Job:
    """Everything BoltQ knows about one job, as ``GET /api/jobs/{id}`` shows it."""

    id: str
    type: str
    status: JobStatus
    payload: Any = None
    priority: int = 0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout: float | None = None
    tags: tuple[str, ...] = ()
    attempts: int = 0
    """Attempts started so far (a put-back after shutdown does not count)."""
    created_at: datetime | None = None
    started_at: datetime | None = None
    """When the latest attempt started."""
    completed_at: datetime | None = None
    """When the job reached completed, cancelled or dead_letter."""
    next_retry_at: datetime | None = None
    """When a retrying job becomes due."""
    worker_id: str | None = None
    """The worker that ran (or runs) the latest attempt."""
    error: str | None = None
    """The last attempt's error."""
    result: Any = None
    """The JSON value the processor returned."""
