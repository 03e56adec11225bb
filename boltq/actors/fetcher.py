"""The fetcher: claims as many jobs as there are idle workers, in one call."""

from __future__ import annotations

import logging

import trio

from boltq.actors.outage import Outage
from boltq.constants import CLAIM_BATCH_MAX, FETCH_BLOCK_S
from boltq.inflight import InFlight
from boltq.store import UNREACHABLE_ERRORS, Claimed, Store

log = logging.getLogger("boltq.fetcher")

#: A claim cut off mid-flight would strand its jobs until their leases
#: expire, so it is shielded, but never for longer than this.
CLAIM_SHIELD_S = 10.0


async def fetcher(
    store: Store,
    worker_id: str,
    idle_workers: trio.MemoryReceiveChannel[None],
    jobs: trio.MemorySendChannel[Claimed],
    inflight: InFlight,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Each idle worker sends one ticket; each ticket buys one claimed job.

    When the queue is empty the fetcher blocks on Redis until an enqueue or
    a promotion wakes it (or FETCH_BLOCK_S passes), so it never spins.
    """
    outage = Outage(f"fetcher[{store.keys.queue}]")
    with idle_workers, jobs:
        task_status.started()
        credit = 0
        while True:
            if credit == 0:
                await idle_workers.receive()
                credit = 1
            while credit < CLAIM_BATCH_MAX:
                try:
                    idle_workers.receive_nowait()
                except trio.WouldBlock:
                    break
                credit += 1
            try:
                with trio.CancelScope(shield=True) as shield:  # see CLAIM_SHIELD_S
                    shield.deadline = trio.current_time() + CLAIM_SHIELD_S
                    claimed = await store.claim(worker_id, credit)
                    for job in claimed:
                        inflight.add(job)
                        # cannot block: every ticket holder waits on this channel,
                        # whose buffer holds one job per worker
                        jobs.send_nowait(job)
                if not claimed:
                    await store.wait_for_work(FETCH_BLOCK_S)
            except Exception as exc:
                # handled here, not by a restart: the tickets in ``credit`` are
                # held by workers already waiting for a job, and would be lost
                if not isinstance(exc, UNREACHABLE_ERRORS):
                    log.exception("claiming jobs failed; retrying")
                await outage.failed(exc)
                continue
            outage.succeeded()
            credit -= len(claimed)
