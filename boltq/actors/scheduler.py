"""The scheduler: promotes due retries, reclaims expired leases, forgets
finished jobs past their TTL. Any number may run; each step is atomic."""

from __future__ import annotations

import trio

from boltq.actors.outage import Outage
from boltq.constants import MAINTENANCE_BATCH, SCHEDULER_TICK_S
from boltq.metrics import Metrics
from boltq.store import UNREACHABLE_ERRORS, Store


async def scheduler(
    store: Store,
    *,
    tick: float = SCHEDULER_TICK_S,
    metrics: Metrics | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Sleep until the next retry is due (at most ``tick``), then run one pass."""
    outage = Outage(f"scheduler[{store.keys.queue}]")
    task_status.started()
    while True:
        try:
            next_due = await store.promote_due()
            reclaimed = await store.reclaim_expired()
            await store.expire_finished()
        except UNREACHABLE_ERRORS as exc:
            await outage.failed(exc)
            continue
        outage.succeeded()
        if metrics is not None:
            for job_type in reclaimed:
                metrics.of(metrics.reclaimed, store.keys.queue, job_type).inc()
        if len(reclaimed) >= MAINTENANCE_BATCH:
            continue
        delay = tick
        if next_due is not None:
            delay = min(tick, max(0.0, (next_due - store.clock.now_ms()) / 1000))
        await trio.sleep(delay)
