"""Redis key names of one queue. All share the hash tag ``{queue}`` so a
queue lives in one Redis Cluster slot and every script can touch all of it."""

from __future__ import annotations

import attrs

from boltq.constants import KEY_PREFIX


@attrs.frozen
class QueueKeys:
    """Every key of one queue, built once per store."""

    queue: str
    jobs: str = attrs.field(init=False)
    """hash: job id -> record JSON (the single source of a job's fields)."""
    pending: str = attrs.field(init=False)
    """zset: waiting jobs by (priority, arrival)."""
    delayed: str = attrs.field(init=False)
    """zset: retrying jobs by due time."""
    active: str = attrs.field(init=False)
    """zset: running jobs by lease deadline."""
    leases: str = attrs.field(init=False)
    """hash: running job id -> current lease token."""
    dead: str = attrs.field(init=False)
    """zset: dead-letter jobs by the time they died."""
    finished: str = attrs.field(init=False)
    """zset: completed and cancelled jobs by record expiry time."""
    events: str = attrs.field(init=False)
    """stream: one entry per transition, capped."""
    stats: str = attrs.field(init=False)
    """hash: transition counters."""
    seq: str = attrs.field(init=False)
    """counter: arrival order within a priority."""
    wake: str = attrs.field(init=False)
    """list: tokens that wake fetchers blocked on an empty queue."""
    waiters: str = attrs.field(init=False)
    """hash: idle fetcher token -> registration for hand-offs; each fetcher's
    inbox list is ``waiters:<token>``."""
    created: str = attrs.field(init=False)
    """zset: every job id with score 0, so ids (time-ordered) sort newest last;
    the browse index."""
    workers: str = attrs.field(init=False)
    """hash: supervisor id -> its latest heartbeat info."""
    workers_seen: str = attrs.field(init=False)
    """zset: supervisor id by last heartbeat time."""

    def __attrs_post_init__(self) -> None:
        base = f"{KEY_PREFIX}:{{{self.queue}}}"
        for name in ("jobs", "pending", "delayed", "active", "leases", "dead",
                     "finished", "events", "stats", "seq", "wake", "waiters", "created",
                     "workers"):
            object.__setattr__(self, name, f"{base}:{name}")
        object.__setattr__(self, "workers_seen", f"{base}:workers:seen")

    def inbox(self, waiter: str) -> str:
        """list: batches of jobs handed to one idle fetcher."""
        return f"{self.waiters}:{waiter}"
