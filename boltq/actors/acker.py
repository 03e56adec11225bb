"""The acker: writes finished attempts back to Redis in batches."""

from __future__ import annotations

import logging

import trio

from boltq.constants import ACK_BATCH_MAX
from boltq.inflight import InFlight
from boltq.store import Completion, Failure, Store

log = logging.getLogger("boltq.acker")

RETRY_INITIAL_S = 0.05
RETRY_MAX_S = 5.0


async def write_outcomes(store: Store, batch: list[Completion | Failure]) -> None:
    """Write one batch, retrying until Redis takes it: outcomes are never dropped."""
    completions = [o for o in batch if isinstance(o, Completion)]
    failures = [o for o in batch if isinstance(o, Failure)]
    delay = RETRY_INITIAL_S
    while True:
        try:
            stale = await store.ack(completions, failures)
        except Exception as exc:  # a lost batch would leave its jobs leased forever
            log.warning("writing %d outcomes failed (%s); retrying in %.2fs",
                        len(batch), exc, delay)
            await trio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
            continue
        for job_id in stale:
            log.warning("job %s: outcome rejected, the lease is no longer ours", job_id)
        return


async def acker(
    store: Store,
    outcomes: trio.MemoryReceiveChannel[Completion | Failure],
    inflight: InFlight,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Take whatever outcomes are waiting (up to ACK_BATCH_MAX) and write them at once.

    Ends when every worker has closed its end of the channel, after writing
    everything it was handed.
    """
    with outcomes:
        task_status.started()
        async for first in outcomes:
            batch = [first]
            while len(batch) < ACK_BATCH_MAX:
                try:
                    batch.append(outcomes.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            await write_outcomes(store, batch)
            for outcome in batch:
                inflight.discard(outcome.job_id)
