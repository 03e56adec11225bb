"""``POST /api/jobs/batch``: validated whole, written in one round trip."""

from __future__ import annotations

import pytest

from boltq.store import open_store
from boltq.web import create_app
from tests.helpers import record_round_trips


@pytest.fixture
async def real_store(private_redis, queue_name, clock):
    url = f"redis://{private_redis.host}:{private_redis.port}/0"
    async with open_store(url, queue=queue_name) as store:
        yield store


async def script_calls(store) -> int:
    stats = await store.client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))
               for name in ("eval", "evalsha", "eval_ro", "evalsha_ro"))


async def test_a_batch_of_1000_jobs_is_one_redis_round_trip_and_answers_ids_in_order(
        real_store, clock, monkeypatch):
    client = create_app(real_store, default_max_attempts=3).test_client()
    jobs = [{"type": "test", "payload": {"n": n}, "priority": n % 5} for n in range(1000)]
    before = await script_calls(real_store)
    sent = record_round_trips(monkeypatch, real_store.client)
    answer = await client.post("/api/jobs/batch", json={"jobs": jobs})
    monkeypatch.undo()
    after = await script_calls(real_store)

    assert answer.status_code == 202
    body = await answer.get_json()
    assert body["status"] == "pending" and len(body["job_ids"]) == 1000
    assert sent == ["EVALSHA"]  # one round trip from the client...
    assert after - before == 1  # ...and one script run in Redis
    for n in (0, 499, 999):
        assert (await real_store.get(body["job_ids"][n])).payload == {"n": n}
    assert (await real_store.stats()).pending == 1000


@pytest.mark.parametrize(("jobs", "field"), [
    ([{"type": "test"}] * 7 + [{"type": "test", "priority": 101}], "jobs[7].priority"),
    ([{"type": "test"}, {"payload": 1}], "jobs[1].type"),
    ([{"type": "test"}, {"type": "test", "bogus": 1}], "jobs[1].bogus"),
    ([{"type": "test"}, "not an object"], "jobs[1]"),
    ([], "jobs"),
    ([{"type": "test"}] * 1001, "jobs"),
])
async def test_one_invalid_job_rejects_the_whole_batch_naming_it(store, clock, jobs, field):
    client = create_app(store, default_max_attempts=3).test_client()
    answer = await client.post("/api/jobs/batch", json={"jobs": jobs})
    assert answer.status_code == 400
    body = await answer.get_json()
    assert body["field"] == field and body["error"]
    assert (await store.stats()).published == 0
    assert await store.client.hlen(store.keys.jobs) == 0


@pytest.mark.parametrize(("body", "field"), [
    ([{"type": "test"}], "body"),
    ({"jobs": [{"type": "test"}], "extra": 1}, "extra"),
    ({"jobs": "x"}, "jobs"),
])
async def test_a_batch_body_of_the_wrong_shape_is_rejected(store, clock, body, field):
    client = create_app(store, default_max_attempts=3).test_client()
    answer = await client.post("/api/jobs/batch", json=body)
    assert answer.status_code == 400
    assert (await answer.get_json())["field"] == field
    assert (await store.stats()).published == 0
