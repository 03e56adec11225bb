"""POST /api/jobs rejects every bad submission with a JSON error naming the
field and writes nothing; good edge values are accepted and read back as
submitted; the other routes answer unknown ids, wrong states, unknown routes
and wrong methods with JSON errors too.

Every test takes ``clock`` itself: pytest-trio runs a test on the virtual
MockClock only when the Clock fixture is one of the test's own arguments
(asking for ``store`` alone runs on the real clock)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock

from boltq.constants import MAX_BODY_BYTES
from boltq.store import Store
from boltq.testing import open_supervisor

#: Generous, in virtual seconds: the autojump clock must never turn a slow
#: (real-time) answer into a spurious timeout.
HTTP_TIMEOUT_S = 120.0

#: A job that occupies a worker for the whole test, so it never finishes.
SLEEPER: dict[str, Any] = {"type": "test", "payload": {"sleep": 3600}}


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for a one-worker supervisor on the test's store."""
    async with (
        open_supervisor(store, num_workers=1) as running,
        httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT_S) as client,
    ):
        yield client


def as_json(value: Any) -> bytes:
    return json.dumps(value).encode()


def assert_json_error(response: httpx.Response, status: int, field: str | None) -> dict[str, Any]:
    """The API's one error shape: ``{"error": "<non-empty>", "field": ...}``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict)
    assert isinstance(body.get("error"), str)
    assert body["error"].strip()
    assert body.get("field") == field, body
    return body


async def assert_nothing_written(store: Store) -> None:
    """No job record, no pending entry, no counter, no event."""
    stats = await store.stats()
    assert stats.published == 0
    assert stats.pending == 0
    assert await store.client.hlen(store.keys.jobs) == 0
    assert await store.client.xlen(store.keys.events) == 0


async def submit(api: httpx.AsyncClient, job: dict[str, Any]) -> str:
    response = await api.post("/api/jobs", json=job)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "pending"
    return str(body["job_id"])


# -- bad submissions -------------------------------------------------------------

BAD_SUBMISSIONS = [
    pytest.param(as_json({"payload": {}}), "type", id="missing-type"),
    pytest.param(as_json({"type": 5}), "type", id="type-a-number"),
    pytest.param(as_json({"type": None}), "type", id="type-null"),
    pytest.param(as_json({"type": ["email"]}), "type", id="type-a-list"),
    pytest.param(as_json({"type": ""}), "type", id="type-empty"),
    pytest.param(as_json({"type": "   "}), "type", id="type-blank"),
    pytest.param(as_json({"type": "\t\n"}), "type", id="type-whitespace"),
    pytest.param(as_json({"type": "x" * 129}), "type", id="type-129-chars"),
    pytest.param(as_json({"type": "x", "priority": -1}), "priority", id="priority-minus-1"),
    pytest.param(as_json({"type": "x", "priority": 101}), "priority", id="priority-101"),
    pytest.param(as_json({"type": "x", "priority": 1.5}), "priority", id="priority-1.5"),
    pytest.param(as_json({"type": "x", "priority": "5"}), "priority", id="priority-string"),
    pytest.param(as_json({"type": "x", "priority": True}), "priority", id="priority-true"),
    pytest.param(as_json({"type": "x", "max_attempts": 0}), "max_attempts",
                 id="max-attempts-0"),
    pytest.param(as_json({"type": "x", "max_attempts": 101}), "max_attempts",
                 id="max-attempts-101"),
    pytest.param(as_json({"type": "x", "max_attempts": "3"}), "max_attempts",
                 id="max-attempts-string"),
    pytest.param(as_json({"type": "x", "max_attempts": True}), "max_attempts",
                 id="max-attempts-true"),
    pytest.param(as_json({"type": "x", "timeout": 0}), "timeout", id="timeout-0"),
    pytest.param(as_json({"type": "x", "timeout": -1}), "timeout", id="timeout-minus-1"),
    pytest.param(as_json({"type": "x", "timeout": 86401}), "timeout", id="timeout-86401"),
    pytest.param(as_json({"type": "x", "timeout": "10"}), "timeout", id="timeout-string"),
    pytest.param(as_json({"type": "x", "timeout": True}), "timeout", id="timeout-true"),
    pytest.param(as_json({"type": "x", "tags": "urgent"}), "tags", id="tags-a-string"),
    pytest.param(as_json({"type": "x", "tags": {"a": 1}}), "tags", id="tags-an-object"),
    pytest.param(as_json({"type": "x", "tags": [f"t{i}" for i in range(33)]}), "tags",
                 id="33-tags"),
    pytest.param(as_json({"type": "x", "tags": ["t" * 65]}), "tags[0]", id="tag-65-chars"),
    pytest.param(as_json({"type": "x", "tags": [7]}), "tags[0]", id="tag-a-number"),
    pytest.param(as_json({"type": "x", "tags": ["ok", None]}), "tags[1]", id="tag-null"),
    pytest.param(as_json({"type": "x", "colour": "red"}), "colour", id="unknown-field"),
    pytest.param(as_json({"type": "x", "priorty": 5}), "priorty", id="misspelt-field"),
    pytest.param(as_json([{"type": "x"}]), "body", id="body-an-array"),
    pytest.param(as_json("x"), "body", id="body-a-string"),
    pytest.param(as_json(42), "body", id="body-a-number"),
    pytest.param(b"null", "body", id="body-null"),
    pytest.param(b'{"type": "x",', "body", id="invalid-json"),
    pytest.param(b"{'type': 'x'}", "body", id="single-quoted-json"),
    pytest.param(b"\xff\xfe\x00", "body", id="not-utf8"),
    pytest.param(b"", "body", id="empty-body"),
]


@pytest.mark.parametrize(("body", "field"), BAD_SUBMISSIONS)
async def test_a_bad_submission_is_rejected_naming_the_field_and_writes_nothing(
    clock: MockClock, api: httpx.AsyncClient, store: Store, body: bytes, field: str
) -> None:
    response = await api.post(
        "/api/jobs", content=body, headers={"content-type": "application/json"})
    assert_json_error(response, 400, field)
    await assert_nothing_written(store)


async def test_an_unknown_field_is_named_even_next_to_valid_ones(
    clock: MockClock, api: httpx.AsyncClient, store: Store
) -> None:
    response = await api.post(
        "/api/jobs", json={"type": "x", "priority": 5, "tags": ["a"], "retries": 2})
    assert_json_error(response, 400, "retries")
    await assert_nothing_written(store)


async def test_a_body_over_1_mib_is_rejected_with_413_naming_the_body(
    clock: MockClock, api: httpx.AsyncClient, store: Store
) -> None:
    body = as_json({"type": "x", "payload": "a" * MAX_BODY_BYTES})
    assert len(body) > MAX_BODY_BYTES
    response = await api.post(
        "/api/jobs", content=body, headers={"content-type": "application/json"})
    assert_json_error(response, 413, "body")
    await assert_nothing_written(store)


async def test_a_body_of_exactly_1_mib_is_not_rejected_for_its_size(
    clock: MockClock, api: httpx.AsyncClient, store: Store
) -> None:
    head = b'{"type": "x", "payload": "'
    tail = b'"}'
    body = head + b"a" * (MAX_BODY_BYTES - len(head) - len(tail)) + tail
    assert len(body) == MAX_BODY_BYTES
    response = await api.post(
        "/api/jobs", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 202, response.text[:300]
    assert (await store.stats()).published == 1


async def test_after_a_413_the_connection_is_either_closed_or_still_answers(
    clock: MockClock, store: Store
) -> None:
    """The 413 comes from the Content-Length header alone, before the body is
    read. A keep-alive client (httpx, requests sessions, browsers) still sends
    the body it announced and, unless the 413 said ``Connection: close``, its
    next request on the same connection: that request must get an answer.

    Raw HTTP/1.1 so the order is fixed: with httpx it depends on whether the
    body was sent before the 413 arrived, so the hang is intermittent."""
    body = as_json({"type": "x", "payload": "a" * MAX_BODY_BYTES})
    async with open_supervisor(store, num_workers=1) as running:
        host, port = running.base_url.removeprefix("http://").rsplit(":", 1)
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            await stream.send_all(
                b"POST /api/jobs HTTP/1.1\r\nHost: boltq\r\n"
                b"Content-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body))
            first = b""
            with trio.move_on_after(10):
                while b'"field": "body"}' not in first:
                    first += await stream.receive_some()
            assert first.startswith(b"HTTP/1.1 413"), first[:200]
            head = first.partition(b"\r\n\r\n")[0].lower()
            if b"\r\nconnection: close" in head:
                return  # the client is told not to reuse the connection

            answer: bytes | None = None
            with trio.move_on_after(10):
                try:
                    await stream.send_all(body)
                    await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: boltq\r\n\r\n")
                    answer = await stream.receive_some()
                except trio.BrokenResourceError:
                    answer = b""  # the server dropped the connection: not a hang
    assert answer is not None, (
        "the 413 keeps the connection alive, but the next request on it gets no answer")
    assert answer == b"" or answer.startswith(b"HTTP/1.1 200"), answer[:200]


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
async def test_a_non_finite_timeout_is_rejected_and_writes_nothing(
    clock: MockClock, api: httpx.AsyncClient, store: Store, literal: bytes
) -> None:
    """NaN passes every numeric bound check (all comparisons are false). None
    of these literals is JSON, so either field is a fair answer."""
    response = await api.post(
        "/api/jobs", content=b'{"type": "x", "timeout": ' + literal + b"}",
        headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["field"] in {"timeout", "body"}
    await assert_nothing_written(store)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
async def test_a_non_json_number_literal_in_the_payload_is_rejected(
    clock: MockClock, api: httpx.AsyncClient, store: Store, literal: bytes
) -> None:
    """NaN and Infinity are not JSON (RFC 8259); accepting them makes
    GET /api/jobs/{id} answer with a body strict JSON parsers refuse."""
    response = await api.post(
        "/api/jobs", content=b'{"type": "x", "payload": ' + literal + b"}",
        headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["field"] in {"payload", "body"}
    await assert_nothing_written(store)


async def test_a_deeply_nested_payload_gets_a_json_error_not_a_500(
    clock: MockClock, api: httpx.AsyncClient, store: Store
) -> None:
    """Valid JSON, well under 1 MiB, but nested deeper than the parser recurses."""
    depth = 100_000
    body = b'{"type": "x", "payload": ' + b"[" * depth + b"]" * depth + b"}"
    assert len(body) < MAX_BODY_BYTES
    response = await api.post(
        "/api/jobs", content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert_json_error(response, response.status_code, "body")
    await assert_nothing_written(store)


# -- good edge values --------------------------------------------------------------

GOOD_SUBMISSIONS = [
    pytest.param({"priority": 0}, {"priority": 0}, id="priority-0"),
    pytest.param({"priority": 100}, {"priority": 100}, id="priority-100"),
    pytest.param({"max_attempts": 1}, {"max_attempts": 1}, id="max-attempts-1"),
    pytest.param({"max_attempts": 100}, {"max_attempts": 100}, id="max-attempts-100"),
    pytest.param({"timeout": 86400}, {"timeout": 86400}, id="timeout-86400"),
    pytest.param({"timeout": 0.5}, {"timeout": 0.5}, id="timeout-half-a-second"),
    pytest.param({"tags": [f"{i:02d}" + "t" * 62 for i in range(32)]},
                 {"tags": [f"{i:02d}" + "t" * 62 for i in range(32)]},
                 id="32-tags-of-64-chars"),
    pytest.param({"tags": []}, {"tags": []}, id="no-tags"),
    pytest.param({"payload": "hello"}, {"payload": "hello"}, id="payload-string"),
    pytest.param({"payload": 42}, {"payload": 42}, id="payload-int"),
    pytest.param({"payload": 2.5}, {"payload": 2.5}, id="payload-float"),
    pytest.param({"payload": True}, {"payload": True}, id="payload-bool"),
    pytest.param({"payload": [1, "a", None, {"b": []}]}, {"payload": [1, "a", None, {"b": []}]},
                 id="payload-list"),
    pytest.param({"payload": {"to": "a@b.c", "n": {"deep": [1.5]}}},
                 {"payload": {"to": "a@b.c", "n": {"deep": [1.5]}}}, id="payload-object"),
    pytest.param({"payload": None}, {"payload": None}, id="payload-null"),
    pytest.param({"payload": "zäöü ✓ 漢字"}, {"payload": "zäöü ✓ 漢字"}, id="payload-unicode"),
    pytest.param({}, {"priority": 0, "max_attempts": 3, "timeout": None, "tags": [],
                      "payload": None}, id="all-defaults"),
    pytest.param({"priority": None, "max_attempts": None, "timeout": None, "tags": None,
                  "payload": None},
                 {"priority": 0, "max_attempts": 3, "timeout": None, "tags": []},
                 id="nulls-mean-default"),
]


@pytest.mark.parametrize(("extra", "expected"), GOOD_SUBMISSIONS)
async def test_a_good_edge_value_is_accepted_and_read_back(
    clock: MockClock, api: httpx.AsyncClient, store: Store,
    extra: dict[str, Any], expected: dict[str, Any],
) -> None:
    """Type "edge" has no processor, so nothing but the submission sets these fields."""
    job_id = await submit(api, {"type": "edge", **extra})
    response = await api.get(f"/api/jobs/{job_id}")
    assert response.status_code == 200
    job = response.json()
    assert job["job_id"] == job_id
    assert job["type"] == "edge"
    for name, value in expected.items():
        assert job[name] == value, name
    assert (await store.stats()).published == 1


@pytest.mark.parametrize("job_type", ["x" * 128, "é" * 128, " padded "],
                         ids=["128-ascii", "128-non-ascii", "padded"])
async def test_a_type_of_up_to_128_characters_is_accepted_as_given(
    clock: MockClock, api: httpx.AsyncClient, job_type: str
) -> None:
    job_id = await submit(api, {"type": job_type})
    job = (await api.get(f"/api/jobs/{job_id}")).json()
    assert job["type"] == job_type


async def test_max_attempts_defaults_to_3_when_omitted(
    clock: MockClock, api: httpx.AsyncClient
) -> None:
    job_id = await submit(api, {"type": "edge", "payload": {"a": 1}})
    job = (await api.get(f"/api/jobs/{job_id}")).json()
    assert job["max_attempts"] == 3
    assert job["priority"] == 0
    assert job["timeout"] is None
    assert job["tags"] == []


# -- the other routes ----------------------------------------------------------------


async def test_getting_an_unknown_job_answers_404_naming_job_id(
    clock: MockClock, api: httpx.AsyncClient
) -> None:
    assert_json_error(await api.get("/api/jobs/unknown"), 404, "job_id")


@pytest.mark.parametrize("action", ["cancel", "retry"])
async def test_acting_on_an_unknown_job_answers_404_naming_job_id(
    clock: MockClock, api: httpx.AsyncClient, store: Store, action: str
) -> None:
    assert_json_error(await api.post(f"/api/jobs/unknown/{action}"), 404, "job_id")
    await assert_nothing_written(store)


async def test_cancelling_a_job_twice_answers_409_the_second_time(
    clock: MockClock, api: httpx.AsyncClient
) -> None:
    job_id = await submit(api, SLEEPER)
    first = await api.post(f"/api/jobs/{job_id}/cancel")
    assert first.status_code == 200
    assert first.json() == {"job_id": job_id, "status": "cancelled"}

    body = assert_json_error(await api.post(f"/api/jobs/{job_id}/cancel"), 409, "job_id")
    assert body["status"] == "cancelled"
    assert (await api.get(f"/api/jobs/{job_id}")).json()["status"] == "cancelled"


async def test_retrying_a_job_not_in_the_dead_letter_queue_answers_409(
    clock: MockClock, api: httpx.AsyncClient
) -> None:
    """The first job holds the only worker, so the second stays pending."""
    await submit(api, SLEEPER)
    job_id = await submit(api, SLEEPER)
    assert (await api.get(f"/api/jobs/{job_id}")).json()["status"] == "pending"

    body = assert_json_error(await api.post(f"/api/jobs/{job_id}/retry"), 409, "job_id")
    assert body["status"] == "pending"
    job = (await api.get(f"/api/jobs/{job_id}")).json()
    assert job["status"] == "pending"
    assert job["attempts"] == 0


async def test_an_unknown_route_answers_404_json(
    clock: MockClock, api: httpx.AsyncClient
) -> None:
    assert_json_error(await api.get("/api/nope"), 404, None)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/jobs/some-id/cancel"),
    ("GET", "/api/jobs/some-id/retry"),
    ("PUT", "/api/jobs"),
    ("DELETE", "/api/jobs/some-id"),
])
async def test_a_wrong_method_answers_405_json(
    clock: MockClock, api: httpx.AsyncClient, store: Store, method: str, path: str
) -> None:
    assert_json_error(await api.request(method, path), 405, None)
    await assert_nothing_written(store)
