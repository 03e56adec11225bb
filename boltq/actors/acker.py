"""The acker: writes finished attempts back to Redis in batches."""

from __future__ import annotations

import logging

import trio

from boltq.actors.outage import Outage
from boltq.constants import ACK_BATCH_MAX
from boltq.inflight import InFlight, ProcessLoad
from boltq.metrics import Metrics, observe_outcomes
from boltq.store import STORE_ERRORS, Completion, Failure, Store

log = logging.getLogger("boltq.acker")



async def write_outcomes(store: Store, batch: list[Completion | Failure],
                         outage: Outage, metrics: Metrics | None = None) -> None:
    """Write one batch, retrying until Redis takes it: outcomes are never dropped."""
    completions = [o for o in batch if isinstance(o, Completion)]
    failures = [o for o in batch if isinstance(o, Failure)]
    while True:
        try:
            result = await store.ack(completions, failures)
        except Exception as exc:  # a lost batch would leave its jobs leased forever
            if not isinstance(exc, STORE_ERRORS):
                log.exception("writing %d outcomes failed; retrying", len(batch))
            await outage.failed(exc)
            continue
        outage.succeeded()
        types = {o.job_id: o.job_type for o in batch}
        for job_id in result.stale:
            log.warning("outcome refused: this process no longer holds the job's lease "
                        "(stale write)", extra={"job_id": job_id, "type": types[job_id]})
        for job_id in result.dead_lettered:
            log.warning("job moved to the dead letter queue",
                        extra={"job_id": job_id, "type": types[job_id]})
        if metrics is not None:
            observe_outcomes(metrics, store.keys.queue, types,
                             [c.job_id for c in completions], [f.job_id for f in failures],
                             set(result.stale), set(result.dead_lettered))
        return


async def acker(
    store: Store,
    outcomes: trio.MemoryReceiveChannel[Completion | Failure],
    inflight: InFlight,
    load: ProcessLoad | None = None,
    metrics: Metrics | None = None,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Take whatever outcomes are waiting (up to ACK_BATCH_MAX) and write them at once.

    Ends when every worker has closed its end of the channel, after writing
    everything it was handed.
    """
    outage = Outage(f"acker[{store.keys.queue}]")
    with outcomes:
        task_status.started()
        async for first in outcomes:
            batch = [first]
            while len(batch) < ACK_BATCH_MAX:
                try:
                    batch.append(outcomes.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            await write_outcomes(store, batch, outage, metrics)
            for outcome in batch:
                inflight.discard(outcome.job_id)
            if load is not None:
                load.processed += len(batch)
