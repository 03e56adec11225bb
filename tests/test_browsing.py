"""Browsing jobs and operating the dead letter queue over HTTP."""

from __future__ import annotations

import pytest

from boltq.invariants import find_breaches
from boltq.job import JobSpec
from boltq.store import Failure
from boltq.web import create_app


async def dead_letter(store, specs: list[JobSpec]) -> list[str]:
    """Put jobs straight into the dead letter queue (max_attempts 1, one failure).

    Call it while nothing else is pending: it claims whatever comes first."""
    ids = await store.enqueue([JobSpec(s.type, s.payload, max_attempts=1, tags=s.tags)
                               for s in specs])
    while claimed := await store.claim("w", 100):
        await store.ack([], [Failure(c.job.id, c.token, "boom") for c in claimed])
    return ids


async def pages(client, path: str, **params) -> list[list[dict]]:
    """Follow next_cursor to the end."""
    found, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        answer = await client.get(path, query_string=query)
        assert answer.status_code == 200, await answer.get_data()
        body = await answer.get_json()
        found.append(body["jobs"])
        cursor = body["next_cursor"]
        if cursor is None:
            return found


async def test_1200_jobs_page_newest_first_with_no_gap_and_no_repeat(store, clock):
    ids = []
    for start in range(0, 1200, 400):
        ids += await store.enqueue([JobSpec("test", n) for n in range(start, start + 400)])
    client = create_app(store, default_max_attempts=3).test_client()
    seen = await pages(client, "/api/jobs", limit=500)
    assert [len(page) for page in seen] == [500, 500, 200]
    listed = [job["id"] for page in seen for job in page]
    assert listed == sorted(ids, reverse=True)


async def test_filters_select_by_status_type_and_tag(store, clock):
    dead = await dead_letter(store, [JobSpec("test", tags=("b",)) for _ in range(5)])
    await store.enqueue([JobSpec("email", tags=("a",)) for _ in range(30)])
    await store.enqueue([JobSpec("test", tags=("a", "b")) for _ in range(20)])
    client = create_app(store, default_max_attempts=3).test_client()

    def count(seen):
        return sum(len(page) for page in seen)

    assert count(await pages(client, "/api/jobs", type="email", limit=7)) == 30
    assert count(await pages(client, "/api/jobs", tag="b", limit=10)) == 25
    assert count(await pages(client, "/api/jobs", status="pending", type="test")) == 20
    dead_listed = [j["id"] for p in await pages(client, "/api/dead-letter", limit=2) for j in p]
    assert sorted(dead_listed) == sorted(dead)


@pytest.mark.parametrize(("query", "field"), [
    ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"), ({"limit": "x"}, "limit"),
    ({"status": "done"}, "status"), ({"cursor": "nope"}, "cursor"), ({"sort": "asc"}, "sort"),
])
async def test_a_bad_browse_query_gets_a_400_naming_the_parameter(store, clock, query, field):
    client = create_app(store, default_max_attempts=3).test_client()
    answer = await client.get("/api/jobs", query_string=query)
    assert answer.status_code == 400
    assert (await answer.get_json())["field"] == field


async def test_the_dead_letter_listing_takes_no_status_filter(store, clock):
    client = create_app(store, default_max_attempts=3).test_client()
    answer = await client.get("/api/dead-letter", query_string={"status": "pending"})
    assert answer.status_code == 400
    assert (await answer.get_json())["field"] == "status"


async def test_dead_letter_jobs_can_be_retried_all_at_once_or_by_id(store, clock):
    dead = await dead_letter(store, [JobSpec("test") for _ in range(600)])
    (pending,) = await store.enqueue([JobSpec("test")])
    client = create_app(store, default_max_attempts=3).test_client()

    answer = await client.post("/api/dead-letter/retry",
                               json={"job_ids": [dead[0], pending, "job_unknown"]})
    assert answer.status_code == 200
    assert await answer.get_json() == {"retried": 1, "job_ids": [dead[0]],
                                       "skipped": [pending, "job_unknown"]}
    answer = await client.post("/api/dead-letter/retry")
    body = await answer.get_json()
    assert body["retried"] == 599 and sorted(body["job_ids"]) == sorted(dead[1:])
    assert (await store.stats()).dead_letter == 0
    assert (await store.get(dead[5])).status == "retrying"
    assert await find_breaches(store) == []


async def test_purging_the_dead_letter_queue_deletes_its_jobs_and_leaves_the_rest(store, clock):
    dead = await dead_letter(store, [JobSpec("test") for _ in range(700)])
    (pending,) = await store.enqueue([JobSpec("test")])
    client = create_app(store, default_max_attempts=3).test_client()
    answer = await client.delete("/api/dead-letter")
    assert answer.status_code == 200
    assert await answer.get_json() == {"purged": 700}
    assert (await client.get(f"/api/jobs/{dead[0]}")).status_code == 404
    assert (await store.get(pending)).status == "pending"
    assert (await store.stats()).dead_letter == 0
    assert await find_breaches(store) == []
