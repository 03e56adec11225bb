"""The Python client against a real in-process supervisor.

Tests that take ``store, clock`` run on real Redis and on the embedded store,
in virtual time; the latency test runs in real time on its own store.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial

import pytest
import trio

from boltq import (
    ApiConnectionError,
    ApiError,
    BadRequestError,
    Client,
    ConflictError,
    NotFoundError,
    SyncClient,
    UnauthorizedError,
    WaitTimeoutError,
)
from boltq.job import JobSpec
from boltq.roles import RoleSpec
from boltq.store import Store, open_store
from boltq.testing import RunningSupervisor, open_supervisor
from tests.helpers import wait_for_status

API_ONLY = RoleSpec("api", frozenset({"api"}))
WORKERS_ONLY = RoleSpec("worker", frozenset({"workers"}), workers=8)
FINISHED = ("completed", "cancelled", "dead_letter")


async def stream_ids(store: Store) -> list[str]:
    return [entry.identifier for entry in await store.client.xrange(store.keys.events)]


async def take(events: AsyncIterator[dict], count: int) -> list[dict]:
    with trio.fail_after(60):
        return [await anext(events) for _ in range(count)]


async def test_submit_get_cancel_retry_stats_and_submit_many_round_trip(store, clock):
    async with open_supervisor(store) as running, Client(running.base_url) as client:
        job_id = await client.submit("test", {"result": 7}, priority=5, max_attempts=2,
                                     timeout=30, tags=["a", "b"])
        job = await wait_for_status(store, job_id, "completed")
        got = await client.get(job_id)
        assert (got["id"], got["status"], got["result"]) == (job_id, "completed", 7)
        assert (got["priority"], got["max_attempts"], got["timeout"], got["tags"]) == (
            5, 2, 30, ["a", "b"])
        assert got["completed_at"] == job.completed_at.isoformat(timespec="milliseconds")

        ids = await client.submit_many([{"type": "test", "payload": {"result": n}}
                                        for n in range(3)])
        assert len(ids) == 3 and len(set(ids)) == 3
        for n, batch_id in enumerate(ids):
            await wait_for_status(store, batch_id, "completed")
            assert (await client.get(batch_id))["result"] == n

        slow = await client.submit("test", {"sleep": 60})
        assert await client.cancel(slow) == {"job_id": slow, "status": "cancelled"}

        dead = await client.submit("test", {"fail": True}, max_attempts=1)
        await wait_for_status(store, dead, "dead_letter")
        assert await client.retry(dead) == {"job_id": dead, "status": "retrying"}

        stats = await client.stats()
        assert (stats["published"], stats["processed"], stats["cancelled"]) == (6, 4, 1)
        page = await client.list_jobs(type="test", limit=2)
        assert len(page["jobs"]) == 2 and page["next_cursor"] is not None
        assert [w["id"] for w in await client.workers()] == ["test-worker"]


async def test_api_errors_become_typed_exceptions_with_status_message_and_field(store, clock):
    async with open_supervisor(store) as running, Client(running.base_url) as client:
        with pytest.raises(NotFoundError) as missing:
            await client.get("job_nope")
        assert (missing.value.status, missing.value.field) == (404, "job_id")
        assert missing.value.message == "job 'job_nope' not found"
        for call in (client.cancel, client.retry):
            with pytest.raises(NotFoundError):
                await call("job_nope")

        done = await client.submit("test")
        await wait_for_status(store, done, "completed")
        with pytest.raises(ConflictError) as conflict:
            await client.cancel(done)
        assert (conflict.value.status, conflict.value.field) == (409, "job_id")
        assert conflict.value.job_status == "completed"
        with pytest.raises(ConflictError):
            await client.retry(done)

        with pytest.raises(BadRequestError) as bad:
            await client.submit("test", priority=101)
        assert (bad.value.status, bad.value.field) == (400, "priority")
        assert "priority" in str(bad.value)
        with pytest.raises(BadRequestError) as bad_batch:
            await client.submit_many([{"type": "test"}, {"type": ""}])
        assert bad_batch.value.field is not None and "type" in bad_batch.value.field
        assert isinstance(bad_batch.value, ApiError)
        with pytest.raises(BadRequestError) as bad_filter:
            await client.list_jobs(status="done")
        assert bad_filter.value.field == "status"
        with pytest.raises(BadRequestError) as bad_events:
            await anext(client.events(status="done"))
        assert (bad_events.value.status, bad_events.value.field) == (400, "status")


@pytest.mark.parametrize(("payload", "status"), [
    ({"sleep": 2, "result": "ok"}, "completed"),
    ({"fail": True}, "dead_letter"),
])
async def test_wait_returns_the_finished_job(store, clock, payload, status):
    async with open_supervisor(store) as running, Client(running.base_url) as client:
        job_id = await client.submit("test", payload, max_attempts=1)
        job = await client.wait(job_id, timeout=30)
        assert (job["id"], job["status"]) == (job_id, status)
        assert job == await client.get(job_id)


async def test_wait_for_a_job_that_already_finished_returns_at_once(store, clock):
    async with open_supervisor(store) as running, Client(running.base_url) as client:
        job_id = await client.submit("test", {"result": 1})
        await wait_for_status(store, job_id, "completed")
        began = trio.current_time()
        assert (await client.wait(job_id, timeout=5))["status"] == "completed"
        # even when its events have aged out of the stream
        await store.client.delete([store.keys.events])
        assert (await client.wait(job_id, timeout=5))["status"] == "completed"
        assert trio.current_time() - began < 2.0  # far from the 5 s timeouts
        with pytest.raises(NotFoundError):
            await client.wait("job_nope", timeout=5)


async def test_wait_raises_a_typed_timeout_and_leaves_the_job_running(store, clock):
    async with open_supervisor(store) as running, Client(running.base_url) as client:
        job_id = await client.submit("test", {"sleep": 60})
        began = trio.current_time()
        with pytest.raises(WaitTimeoutError) as timed_out:
            await client.wait(job_id, timeout=5)
        assert 5 <= trio.current_time() - began < 7
        assert isinstance(timed_out.value, TimeoutError)
        assert timed_out.value.job_id == job_id
        assert (await client.get(job_id))["status"] == "running"


async def test_events_arrive_in_stream_order_with_their_fields(store, clock):
    async with open_supervisor(store) as running, Client(running.base_url) as client:
        async with client.events() as stream:
            job_ids = await client.submit_many([{"type": "test", "tags": ["t"]}] * 5)
            seen = await take(stream, 15)
        assert [m["id"] for m in seen] == await stream_ids(store)
        assert {m["job_id"] for m in seen} == set(job_ids)
        assert seen[-1]["event"] == "completed" and seen[-1]["tags"] == ["t"]

        # filters, one value or several
        later = await client.submit("email", "to a@b.io")
        await wait_for_status(store, later, "completed")
        async with client.events(job_id=later, status=["running", "completed"],
                                 since="0") as stream:
            assert [m["event"] for m in await take(stream, 2)] == ["started", "completed"]


async def test_events_resume_without_gap_or_duplicate_after_the_connection_drops(
        store, clock):
    async with open_supervisor(store) as running, Client(running.base_url) as client:
        stream = client.events()
        await stream.connect()
        await client.submit_many([{"type": "test"}] * 10)
        seen = await take(stream, 7)
        # cut the TCP connection under the WebSocket, as a network failure would
        await stream._ws._stream.aclose()  # type: ignore[union-attr]
        await client.submit_many([{"type": "test"}] * 10)
        seen += await take(stream, 60 - 7)
        with trio.move_on_after(2):
            pytest.fail(f"an event came twice or from nowhere: {await anext(stream)}")
        await stream.aclose()
    assert [m["id"] for m in seen] == await stream_ids(store)


async def serve_api(store: Store, port: int, worker_id: str, stop: trio.Event, *,
                    task_status: trio.TaskStatus[RunningSupervisor]) -> None:
    async with open_supervisor(store, role=API_ONLY, api_port=port,
                               worker_id=worker_id) as running:
        task_status.started(running)
        await stop.wait()


async def test_events_resume_when_the_api_process_is_replaced(store, clock):
    """The API process serving the stream shuts down; another takes its port."""
    async with open_supervisor(store, role=WORKERS_ONLY, worker_id="worker-1"), \
            trio.open_nursery() as nursery:
        stop_first = trio.Event()
        first = await nursery.start(partial(serve_api, store, 0, "api-1", stop_first))
        port = int(first.base_url.rsplit(":", 1)[1])
        async with Client(first.base_url) as client:
            stream = client.events(type="test")
            await stream.connect()
            await client.submit_many([{"type": "test"}] * 10)
            seen = await take(stream, 12)
            stop_first.set()
            with trio.fail_after(30):
                while True:  # the first API is gone once its port refuses
                    try:
                        await client.stats()
                    except ApiConnectionError:
                        break
                    await trio.sleep(0.1)
            await store.enqueue([JobSpec("test") for _ in range(10)])

            async def replace_later() -> None:
                await trio.sleep(3)  # meanwhile the stream's reconnects are refused
                await nursery.start(partial(serve_api, store, port, "api-2", trio.Event()))

            nursery.start_soon(replace_later)
            seen += await take(stream, 60 - 12)
            await stream.aclose()
        nursery.cancel_scope.cancel()
    assert [m["id"] for m in seen] == await stream_ids(store)


async def test_sync_client_round_trip_and_wait(store, clock):
    async with open_supervisor(store) as running:
        with SyncClient(running.base_url) as client:
            job_id = await trio.to_thread.run_sync(
                partial(client.submit, "test", {"sleep": 1, "result": "done"}))
            job = await trio.to_thread.run_sync(client.wait, job_id, 30)
            assert (job["status"], job["result"]) == ("completed", "done")
            assert (await trio.to_thread.run_sync(client.stats))["processed"] == 1
            with pytest.raises(NotFoundError):
                await trio.to_thread.run_sync(client.get, "job_nope")
            dead = await trio.to_thread.run_sync(
                partial(client.submit, "test", {"fail": True}, max_attempts=1))
            await wait_for_status(store, dead, "dead_letter")
            listed = await trio.to_thread.run_sync(client.list_dead_letter)
            assert [j["id"] for j in listed["jobs"]] == [dead]
            assert await trio.to_thread.run_sync(client.purge_dead_letter) == 1


async def test_an_unreachable_api_is_a_connection_error(tmp_path):
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with Client(f"http://127.0.0.1:{port}", timeout=5) as client:
        with pytest.raises(ApiConnectionError) as refused:
            await client.stats()
        assert refused.value.status is None
        assert f"127.0.0.1:{port}" in str(refused.value)
        with pytest.raises(ApiConnectionError):
            await anext(client.events())


@asynccontextmanager
async def refusing_server(seen: list[bytes]) -> AsyncIterator[str]:
    """A server that records each request's head and answers 401."""
    body = json.dumps({"error": "a valid token is required", "field": None}).encode()

    async def handle(conn: trio.SocketStream) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await conn.receive_some()
            if not chunk:
                return
            head += chunk
        seen.append(head)
        await conn.send_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
                            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                            % (len(body), body))
        await conn.aclose()

    async with trio.open_nursery() as nursery:
        (listener,) = await nursery.start(partial(trio.serve_tcp, handle, 0,
                                                  host="127.0.0.1"))
        yield f"http://127.0.0.1:{listener.socket.getsockname()[1]}"
        nursery.cancel_scope.cancel()


async def test_the_token_goes_in_the_header_and_the_websocket_query():
    seen: list[bytes] = []
    async with refusing_server(seen) as url, Client(url, token="s3cret") as client:
        with pytest.raises(UnauthorizedError) as refused:
            await client.stats()
        assert (refused.value.status, refused.value.message) == (401, "a valid token is required")
        with pytest.raises(UnauthorizedError):
            await anext(client.events(type="test"))
    http_head, ws_head = (head.decode().lower() for head in seen)
    assert "authorization: bearer s3cret" in http_head
    assert ws_head.startswith("get /api/events?type=test&token=s3cret ")


async def test_wait_returns_within_100_ms_of_the_job_finishing(redis_url, queue_name):
    """Real time: the event-driven wait sees the outcome as soon as it is written."""
    async with open_store(redis_url, queue=queue_name) as store, \
            open_supervisor(store) as running, Client(running.base_url) as client:
        job_id = await client.submit("test", {"sleep": 1})
        job = await client.wait(job_id, timeout=30)
        returned = datetime.now(UTC)
    lag = (returned - datetime.fromisoformat(job["completed_at"])).total_seconds()
    assert job["status"] == "completed"
    assert -0.01 < lag < 0.1, f"wait returned {lag:.3f}s after the job completed"
