"""The lease keeper: renews every held lease in one call, and stops jobs whose
lease is gone (cancelled through any API process, or reclaimed)."""

from __future__ import annotations

import logging

import trio

from boltq.actors.outage import Outage
from boltq.inflight import InFlight
from boltq.store import UNREACHABLE_ERRORS, Store

log = logging.getLogger("boltq.lease_keeper")


async def lease_keeper(
    store: Store,
    inflight: InFlight,
    interval: float,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Every ``interval`` seconds: renew, then revoke what Redis says we lost.

    While Redis is away the jobs keep running; if the outage outlasts a
    lease, the job is reclaimed elsewhere and this process's write is refused.
    """
    outage = Outage(f"lease keeper[{store.keys.queue}]")
    task_status.started()
    while True:
        await trio.sleep(interval)
        leases = inflight.leases()
        if not leases:
            continue
        try:
            lost = await store.renew(leases)
        except UNREACHABLE_ERRORS as exc:
            await outage.failed(exc)
            continue
        outage.succeeded()
        if lost:
            log.info("lost the lease of %d job(s): %s", len(lost), ", ".join(lost))
            inflight.revoke(lost)
