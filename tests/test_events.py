"""Live job events over WebSocket: every process's events, in order,
filtered, resumable with ``since``, and slow subscribers dropped."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
from trio_websocket import ConnectionRejected, open_websocket_url

from boltq.events import EventFilter, EventHub, SubscriberTooSlow
from boltq.job import JobSpec
from boltq.roles import RoleSpec
from boltq.testing import open_supervisor
from tests.helpers import wait_for_status
from tests.processes import BoltQProcess

API_ONLY = RoleSpec("api", frozenset({"api"}))
WORKERS_ONLY = RoleSpec("worker", frozenset({"workers"}), workers=8)


def ws_url(base_url: str, query: str = "") -> str:
    return base_url.replace("http://", "ws://") + "/api/events" + (f"?{query}" if query else "")


async def receive(ws, count: int) -> list[dict]:
    with trio.fail_after(60):
        return [json.loads(await ws.get_message()) for _ in range(count)]


async def test_a_subscriber_on_one_api_sees_every_event_of_jobs_submitted_through_another(
        store, clock):
    async with open_supervisor(store, role=API_ONLY, worker_id="api-1") as first, \
            open_supervisor(store, role=API_ONLY, worker_id="api-2") as second, \
            open_supervisor(store, role=WORKERS_ONLY, worker_id="worker-1"), \
            open_websocket_url(ws_url(first.base_url)) as ws, \
            httpx.AsyncClient(base_url=second.base_url) as client:
        answer = await client.post("/api/jobs/batch", json={
            "jobs": [{"type": "test", "payload": {"result": n}} for n in range(200)]})
        job_ids = answer.json()["job_ids"]
        messages = await receive(ws, 600)
    ids = [m["id"] for m in messages]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    assert len(set(ids)) == 600
    per_job: dict[str, list[str]] = {}
    for m in messages:
        per_job.setdefault(m["job_id"], []).append(m["event"])
    assert set(per_job) == set(job_ids)
    assert all(kinds == ["created", "started", "completed"] for kinds in per_job.values())
    assert messages[-1]["status"] == "completed" and messages[-1]["worker_id"] == "worker-1"


async def test_a_subscriber_reconnecting_with_since_gets_exactly_the_events_it_missed(
        store, clock):
    async with open_supervisor(store) as running, \
            httpx.AsyncClient(base_url=running.base_url) as client:
        async with open_websocket_url(ws_url(running.base_url)) as ws:
            await client.post("/api/jobs/batch", json={"jobs": [{"type": "test"}] * 10})
            seen = await receive(ws, 12)
        later = await client.post("/api/jobs/batch", json={"jobs": [{"type": "test"}] * 10})
        for job_id in later.json()["job_ids"]:
            await wait_for_status(store, job_id, "completed")
        async with open_websocket_url(ws_url(running.base_url,
                                             f"since={seen[-1]['id']}")) as ws:
            resumed = await receive(ws, 60 - 12)
            with trio.move_on_after(2):
                extra = await ws.get_message()
                pytest.fail(f"an event came twice or from nowhere: {extra}")
    everything = [e.identifier for e in await store.client.xrange(store.keys.events)]
    assert len(everything) == 60
    assert [m["id"] for m in seen + resumed] == everything


async def test_filters_pick_events_by_type_status_job_and_tag(store, clock):
    async with open_supervisor(store) as running, \
            httpx.AsyncClient(base_url=running.base_url) as client:
        query = "type=email&status=completed&tag=vip&tag=gold"
        async with open_websocket_url(ws_url(running.base_url, query)) as ws:
            await client.post("/api/jobs/batch", json={"jobs": [
                {"type": "email", "payload": "to a@b.io", "tags": ["vip"]},
                {"type": "email", "payload": "to a@b.io", "tags": ["other"]},
                {"type": "test", "tags": ["vip"]},
                {"type": "email", "payload": "to a@b.io", "tags": ["gold", "x"]},
            ]})
            got = await receive(ws, 2)
            with trio.move_on_after(3):
                pytest.fail(f"unexpected event: {await ws.get_message()}")
        assert sorted((m["type"], m["status"], m["tags"]) for m in got) == [
            ("email", "completed", ["gold", "x"]), ("email", "completed", ["vip"])]

        job_id = (await client.post("/api/jobs", json={"type": "test"})).json()["job_id"]
        async with open_websocket_url(ws_url(running.base_url,
                                             f"job_id={job_id}&since=0")) as ws:
            kinds = [m["event"] for m in await receive(ws, 3)]
        assert kinds == ["created", "started", "completed"]


@pytest.mark.parametrize("query", ["status=done", "since=yesterday", "colour=blue"])
async def test_a_bad_subscription_is_refused_with_400(store, clock, query):
    async with open_supervisor(store) as running:
        with pytest.raises(ConnectionRejected) as refused:
            async with open_websocket_url(ws_url(running.base_url, query)):
                pass
    assert refused.value.status_code == 400
    assert "error" in json.loads(refused.value.body)


async def test_a_subscriber_that_falls_behind_is_dropped_instead_of_buffered(store, clock):
    hub = EventHub(store, buffer=5)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with hub.subscribe(EventFilter()) as subscription:
            await store.enqueue([JobSpec("test") for _ in range(20)])
            await trio.sleep(2)  # the hub reads; this subscriber does not
            with pytest.raises(SubscriberTooSlow):
                async for _ in subscription:
                    pass
        nursery.cancel_scope.cancel()


def test_two_api_processes_a_subscriber_on_one_sees_every_event_of_jobs_sent_to_the_other(
        private_redis, tmp_path):
    """Real processes on one Redis: the event feed crosses process boundaries."""

    async def scenario() -> tuple[list[dict], list[dict], list[str]]:
        env = {"REDIS_ADDR": f"{private_redis.host}:{private_redis.port}", "REDIS_DB": "4"}
        first = BoltQProcess(tmp_path, {**env, "WORKER_ID": "api-1"}, "--role", "api")
        second = BoltQProcess(tmp_path, {**env, "WORKER_ID": "api-2"}, "--role", "api")
        worker = BoltQProcess.without_api(tmp_path, {**env, "WORKER_ID": "worker-1"},
                                          "--role", "worker")
        try:
            first.http.delete("/api/dead-letter")  # also proves the API answers
            async with open_websocket_url(ws_url(first.url)) as ws:
                answer = second.http.post("/api/jobs/batch", json={
                    "jobs": [{"type": "test", "payload": {"result": n}} for n in range(200)]})
                job_ids = answer.json()["job_ids"]
                early = await receive(ws, 300)
            async with open_websocket_url(ws_url(first.url, f"since={early[-1]['id']}")) as ws:
                late = await receive(ws, 300)
                with trio.move_on_after(2):
                    pytest.fail(f"an extra event arrived: {await ws.get_message()}")
            return early, late, job_ids
        finally:
            for process in (first, second, worker):
                process.close()

    early, late, job_ids = trio.run(scenario)
    messages = early + late
    ids = [m["id"] for m in messages]
    assert len(set(ids)) == 600
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    per_job: dict[str, list[str]] = {}
    for m in messages:
        per_job.setdefault(m["job_id"], []).append(m["event"])
    assert set(per_job) == set(job_ids)
    assert all(kinds == ["created", "started", "completed"] for kinds in per_job.values())
    assert {m["worker_id"] for m in messages if m["event"] == "completed"} == {"worker-1"}
