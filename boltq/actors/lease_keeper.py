"""The lease keeper: renews every held lease in one call, and stops jobs whose
lease is gone (cancelled through any API process, or reclaimed)."""

from __future__ import annotations

import logging

import trio

from boltq.inflight import InFlight
from boltq.store import Store

log = logging.getLogger("boltq.lease_keeper")


async def lease_keeper(
    store: Store,
    inflight: InFlight,
    interval: float,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Every ``interval`` seconds: renew, then revoke what Redis says we lost."""
    task_status.started()
    while True:
        await trio.sleep(interval)
        leases = inflight.leases()
        if not leases:
            continue
        lost = await store.renew(leases)
        if lost:
            log.info("lost the lease of %d job(s): %s", len(lost), ", ".join(lost))
            inflight.revoke(lost)
