"""The invariant every transition keeps: a job id is in exactly one place.

Places: pending, delayed (retrying), active (running, with a lease), dead
letter, finished (completed or cancelled, until its TTL). The checker walks
a queue's keys with cursors (never KEYS) and reports every breach; tests run
it after each scenario.
"""

from __future__ import annotations

import json

import attrs

from boltq.store import Store

#: The place each status must be in.
PLACE_OF_STATUS = {
    "pending": "pending",
    "retrying": "delayed",
    "running": "active",
    "dead_letter": "dead",
    "completed": "finished",
    "cancelled": "finished",
}


@attrs.frozen
class Breach:
    """One job (or key) that breaks the invariant, and how."""

    job_id: str
    problem: str


async def _zset_members(store: Store, key: str) -> set[str]:
    return {member async for member, _ in store.client.zscan_iter(key, count=1000)}


async def find_breaches(store: Store) -> list[Breach]:
    """Every job in no place, in two places, or in a place its status denies."""
    k = store.keys
    places = {name: await _zset_members(store, getattr(k, name))
              for name in ("pending", "delayed", "active", "dead", "finished")}
    leases = {job_id async for job_id, _ in store.client.hscan_iter(k.leases, count=1000)}
    indexed = await _zset_members(store, k.created)
    breaches: list[Breach] = []
    seen: set[str] = set()
    async for job_id, raw in store.client.hscan_iter(k.jobs, count=1000):
        seen.add(job_id)
        try:
            status = json.loads(raw)["status"]
        except (ValueError, KeyError, TypeError):
            breaches.append(Breach(job_id, "record is not a valid job record"))
            continue
        found = sorted(name for name, members in places.items() if job_id in members)
        expected = PLACE_OF_STATUS.get(status)
        if found != [expected]:
            where = ", ".join(found) or "no place"
            breaches.append(Breach(job_id, f"status {status} but found in {where}"))
        if job_id not in indexed:
            breaches.append(Breach(job_id, "missing from the browse index"))
        if (job_id in leases) != (status == "running"):
            breaches.append(Breach(job_id, f"status {status} but lease "
                                           f"{'held' if job_id in leases else 'missing'}"))
    for name, members in places.items():
        for job_id in sorted(members - seen):
            breaches.append(Breach(job_id, f"in {name} but has no record"))
    for job_id in sorted(indexed - seen):
        breaches.append(Breach(job_id, "in the browse index but has no record"))
    for job_id in sorted(leases - seen):
        breaches.append(Breach(job_id, "lease without a record"))
    return breaches


async def find_orphan_keys(store: Store) -> list[str]:
    """Keys under the queue's prefix that no part of BoltQ uses."""
    known = {value for value in attrs.asdict(store.keys).values() if value != store.keys.queue}
    prefix = store.keys.jobs.removesuffix("jobs")
    inboxes = store.keys.inbox("")  # each idle fetcher's, expiring on their own
    return sorted([key async for key in store.client.scan_iter(match=f"{prefix}*", count=1000)
                   if key not in known and not key.startswith(inboxes)])
