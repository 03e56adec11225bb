"""Small helpers shared by the behaviour tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import trio

from boltq.job import Job
from boltq.processors import Processor, register_processor, unregister_processor
from boltq.store import Store

POLL_S = 0.1


async def wait_for_status(store: Store, job_id: str, *statuses: str,
                          within: float = 30.0) -> Job:
    """Poll (in virtual time) until the job reaches one of ``statuses``."""
    with trio.fail_after(within):
        while True:
            job = await store.get(job_id)
            if job.status in statuses:
                return job
            await trio.sleep(POLL_S)


async def events_of(store: Store, job_id: str) -> list[dict[str, str]]:
    """Every event of one job, oldest first."""
    entries = await store.client.xrange(store.keys.events)
    return [dict(e.field_values) for e in entries if e.field_values["job_id"] == job_id]


@contextmanager
def registered(job_type: str, fn: Processor) -> Iterator[None]:
    """Register a processor for the duration of a test."""
    register_processor(job_type, fn)
    try:
        yield
    finally:
        unregister_processor(job_type)


def record_round_trips(monkeypatch, client) -> list[str]:
    """From now on, note every command and pipeline the coredis ``client`` sends:
    each entry is one round trip to Redis."""
    sent: list[str] = []
    execute, pipeline = client.execute_command, client.pipeline

    async def counting_execute(command, *args, **kwargs):
        sent.append(bytes(command.name).decode())
        return await execute(command, *args, **kwargs)

    def counting_pipeline(*args, **kwargs):
        sent.append("pipeline")
        return pipeline(*args, **kwargs)

    monkeypatch.setattr(client, "execute_command", counting_execute)
    monkeypatch.setattr(client, "pipeline", counting_pipeline)
    return sent
