"""The fetcher: claims as many jobs as there are idle workers, in one call."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import trio

from boltq.actors.outage import Outage
from boltq.constants import CLAIM_BATCH_MAX, FETCH_BLOCK_S, WAITER_TTL_S
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
    waiter: str,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Each idle worker sends one ticket; each ticket buys one claimed job.

    When the queue runs dry the fetcher registers as ``waiter`` for the jobs
    it still lacks and blocks on Redis; enqueues claim jobs for it and they
    arrive in that same round trip. It claims again (renewing the
    registration) only once the registered count is used up, the
    registration is half-way to expiry, or a promotion or requeue woke it or
    FETCH_BLOCK_S passed. It never polls.
    """
    outage = Outage(f"fetcher[{store.keys.queue}]")

    def deliver(claimed: Sequence[Claimed]) -> None:
        for job in claimed:
            inflight.add(job)
            # cannot block: every ticket holder waits on this channel, whose
            # buffer holds one job per worker
            jobs.send_nowait(job)

    with idle_workers, jobs:
        task_status.started()
        credit = 0  # tickets held: idle workers waiting for a job
        registered = 0  # how many jobs Redis will hand us unasked
        renew_at = 0.0
        try:
            while True:
                # Redis calls below are shielded: this is where a stop lands
                await trio.lowlevel.checkpoint_if_cancelled()
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
                    # shielded, like the wait below: a reply lost to a
                    # cancellation would strand its jobs until their leases expire
                    if registered == 0 or trio.current_time() >= renew_at:
                        # stays empty if the shield's deadline ends the call
                        claimed: list[Claimed] = []
                        with trio.move_on_after(CLAIM_SHIELD_S, shield=True):
                            asked = min(credit, CLAIM_BATCH_MAX)
                            claimed = await store.claim(worker_id, asked, waiter)
                            deliver(claimed)
                        credit -= len(claimed)
                        # a short claim means the queue ran dry and we are
                        # registered for the rest
                        registered = asked - len(claimed)
                        renew_at = trio.current_time() + WAITER_TTL_S / 2
                    if registered > 0:
                        # the shield lasts until Redis answers (at most
                        # FETCH_BLOCK_S); shutdown ends it early with interrupt_wait
                        handed: list[Claimed] = []
                        with trio.move_on_after(FETCH_BLOCK_S + CLAIM_SHIELD_S, shield=True):
                            handed = await store.wait_for_work(FETCH_BLOCK_S, waiter)
                            deliver(handed)
                        credit -= len(handed)
                        if handed:
                            await _let_workers_start()
                        # nothing handed: woken for a promotion or requeue, or
                        # timed out; either way, claim again
                        registered = registered - len(handed) if handed else 0
                except Exception as exc:
                    # handled here, not by a restart: the tickets in ``credit`` are
                    # held by workers already waiting for a job, and would be lost
                    if not isinstance(exc, UNREACHABLE_ERRORS):
                        log.exception("claiming jobs failed; retrying")
                    registered = 0
                    await outage.failed(exc)
                    continue
                outage.succeeded()
        finally:
            await _stop_waiting(store, waiter)


async def _let_workers_start() -> None:
    """Yield until the workers just handed jobs have run, before our next call.

    Trio runs tasks woken in one batch in the next, in either order; two
    yields put the fetcher's next Redis call (a few hundred microseconds of
    client work) behind the workers' starts, which is the hand-off latency.
    """
    await trio.lowlevel.checkpoint()
    await trio.lowlevel.checkpoint()


async def _stop_waiting(store: Store, waiter: str) -> None:
    """Unregister, and put back jobs handed to us that no worker took."""
    with trio.move_on_after(CLAIM_SHIELD_S, shield=True):
        try:
            leftovers = await store.stop_waiting(waiter)
            if leftovers:
                await store.requeue([(c.job.id, c.token) for c in leftovers])
        except UNREACHABLE_ERRORS as exc:
            log.warning("could not unregister the fetcher (%s); jobs handed to it in the "
                        "last moment return when their lease expires", exc)
