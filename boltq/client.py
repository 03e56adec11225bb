"""A Python client for the BoltQ REST API and its live events.

:class:`Client` is the trio-native client::

    async with Client("http://127.0.0.1:8080") as client:
        job_id = await client.submit("email", "Send welcome email to user@example.com")
        job = await client.wait(job_id, timeout=60)

:class:`SyncClient` offers the same calls, blocking, for scripts that do not
run trio themselves.

Every error the API answers becomes an :class:`ApiError` subclass named
after the HTTP status, carrying ``status``, ``message`` and ``field``, so
callers branch on types instead of parsing bodies.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Generic, Self, TypeVar
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import attrs
import httpx
import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    WebSocketConnection,
    open_websocket_url,
)

from boltq.errors import BoltQError

log = logging.getLogger("boltq.client")

__all__ = [
    "ApiConnectionError",
    "ApiError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "EventStream",
    "NotFoundError",
    "SyncClient",
    "UnauthorizedError",
    "UnavailableError",
    "WaitTimeoutError",
]

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT_S = 30.0

#: Statuses a job does not leave by itself: what :meth:`Client.wait` waits for.
FINISHED_STATUSES = frozenset({"completed", "cancelled", "dead_letter"})

#: Reconnecting an event stream starts after this pause and doubles it on
#: every failed attempt up to the maximum, so a restarting server is not
#: hammered and a brief hiccup costs a tenth of a second.
RECONNECT_MIN_S = 0.1
RECONNECT_MAX_S = 5.0
#: How long closing the client waits for its WebSockets to close cleanly.
CLOSE_GRACE_S = 1.0

T = TypeVar("T")


# -- errors ---------------------------------------------------------------------------------


class ApiError(BoltQError):
    """Talking to the API failed; base of every error this client raises.

    ``status`` is the HTTP status of the answer, or None when no answer came
    (see :class:`ApiConnectionError`). ``message`` is the API's ``error``
    text and ``field`` names the part of the request at fault, or is None.
    """

    def __init__(self, status: int | None, message: str, field: str | None = None,
                 body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.body = body
        """The decoded error answer, for keys beyond ``error`` and ``field``."""

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(status={self.status!r}, message={self.message!r}, "
                f"field={self.field!r})")


class BadRequestError(ApiError):
    """400 or 413: the request itself is wrong; sending it again will not help."""


class UnauthorizedError(ApiError):
    """401: the token is missing or not accepted."""


class NotFoundError(ApiError):
    """404: no such job (never existed, or its record expired), or no such URL."""


class ConflictError(ApiError):
    """409: the job's status does not allow the cancel or retry asked for."""

    @property
    def job_status(self) -> str | None:
        """The job's current status, as the API reports it with a 409."""
        if isinstance(self.body, Mapping) and isinstance(self.body.get("status"), str):
            return self.body["status"]
        return None


class UnavailableError(ApiError):
    """503: the job store (Redis) is unreachable for now; try again later."""


class ApiConnectionError(ApiError):
    """No answer: the API could not be reached, or did not answer in time."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


class WaitTimeoutError(ApiError, TimeoutError):
    """:meth:`Client.wait` gave up before the job finished; the job goes on."""

    def __init__(self, job_id: str, timeout: float) -> None:
        super().__init__(None, f"job {job_id!r} did not finish within {timeout:g}s", "job_id")
        self.job_id = job_id
        self.timeout = timeout


_ERRORS_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    413: BadRequestError,
    401: UnauthorizedError,
    404: NotFoundError,
    409: ConflictError,
    503: UnavailableError,
}


def error_from_answer(status: int, body: bytes | str) -> ApiError:
    """The typed error for a non-2xx answer; tolerates bodies that are not BoltQ's JSON
    (a proxy's HTML page still gives a readable message)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        decoded: Any = json.loads(text)
    except ValueError:
        decoded = None
    if isinstance(decoded, Mapping) and isinstance(decoded.get("error"), str):
        message = decoded["error"]
        field = decoded.get("field") if isinstance(decoded.get("field"), str) else None
    else:
        snippet = " ".join(text.split())[:200]
        message = f"HTTP {status}" + (f": {snippet}" if snippet else "")
        field = None
    return _ERRORS_BY_STATUS.get(status, ApiError)(status, message, field, decoded)


# -- requests, shared by both clients -------------------------------------------------------


@attrs.frozen
class _Call(Generic[T]):
    """One API request and how to read its answer.

    Both clients build the same calls and differ only in how they send them,
    so the two cannot drift apart.
    """

    method: str
    path: str
    parse: Callable[[Any], T]
    body: Any = None
    params: tuple[tuple[str, str], ...] = ()


def _same(answer: Any) -> Any:
    return answer


def _job_body(type: str, payload: Any, priority: int | None, max_attempts: int | None,
              timeout: float | None, tags: Iterable[str] | None) -> dict[str, Any]:
    """A submission; options left as None are left out, so the server's defaults apply."""
    body: dict[str, Any] = {"type": type, "payload": payload}
    for name, value in (("priority", priority), ("max_attempts", max_attempts),
                        ("timeout", timeout)):
        if value is not None:
            body[name] = value
    if tags is not None:
        body["tags"] = list(tags)
    return body


def _page_params(status: str | None, type: str | None, tag: str | None, limit: int | None,
                 cursor: str | None) -> tuple[tuple[str, str], ...]:
    given = {"status": status, "type": type, "tag": tag,
             "limit": None if limit is None else str(limit), "cursor": cursor}
    return tuple((k, v) for k, v in given.items() if v is not None)


def _job_path(job_id: str) -> str:
    if not job_id:
        raise ValueError("a job id is never empty")
    return f"/api/jobs/{quote(job_id, safe='')}"


class _Calls:
    """The request for each API operation."""

    @staticmethod
    def submit(type: str, payload: Any, priority: int | None, max_attempts: int | None,
               timeout: float | None, tags: Iterable[str] | None) -> _Call[str]:
        return _Call("POST", "/api/jobs", lambda a: a["job_id"],
                     _job_body(type, payload, priority, max_attempts, timeout, tags))

    @staticmethod
    def submit_many(jobs: Iterable[Mapping[str, Any]]) -> _Call[list[str]]:
        return _Call("POST", "/api/jobs/batch", lambda a: list(a["job_ids"]),
                     {"jobs": [dict(job) for job in jobs]})

    @staticmethod
    def get(job_id: str) -> _Call[dict[str, Any]]:
        return _Call("GET", _job_path(job_id), _same)

    @staticmethod
    def cancel(job_id: str) -> _Call[dict[str, Any]]:
        return _Call("POST", f"{_job_path(job_id)}/cancel", _same)

    @staticmethod
    def retry(job_id: str) -> _Call[dict[str, Any]]:
        return _Call("POST", f"{_job_path(job_id)}/retry", _same)

    @staticmethod
    def stats() -> _Call[dict[str, Any]]:
        return _Call("GET", "/api/stats", _same)

    @staticmethod
    def workers() -> _Call[list[dict[str, Any]]]:
        return _Call("GET", "/api/workers", lambda a: list(a["workers"]))

    @staticmethod
    def list_jobs(path: str, status: str | None, type: str | None, tag: str | None,
                  limit: int | None, cursor: str | None) -> _Call[dict[str, Any]]:
        return _Call("GET", path, _same, params=_page_params(status, type, tag, limit, cursor))

    @staticmethod
    def retry_dead_letter(job_ids: Iterable[str] | None) -> _Call[dict[str, Any]]:
        body = {} if job_ids is None else {"job_ids": list(job_ids)}
        return _Call("POST", "/api/dead-letter/retry", _same, body)

    @staticmethod
    def purge_dead_letter() -> _Call[int]:
        return _Call("DELETE", "/api/dead-letter", lambda a: int(a["purged"]))


def _answer(call: _Call[T], response: httpx.Response) -> T:
    if not response.is_success:
        raise error_from_answer(response.status_code, response.content)
    try:
        decoded = response.json()
        return call.parse(decoded)
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(response.status_code, f"unexpected answer from {call.method} "
                                             f"{call.path}: {exc}") from None


def _unreachable(base_url: str, exc: Exception) -> ApiConnectionError:
    if isinstance(exc, httpx.TimeoutException | trio.TooSlowError):
        return ApiConnectionError(f"no answer from the BoltQ API at {base_url} in time")
    reason = str(exc) or type(exc).__name__
    return ApiConnectionError(f"cannot reach the BoltQ API at {base_url}: {reason}")


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


# -- events ---------------------------------------------------------------------------------


def _event_key(event_id: str) -> tuple[int, int]:
    """Event ids are stream ids, ``<milliseconds>-<sequence>``; they compare as pairs."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


@attrs.frozen
class EventQuery:
    """What an event stream asks for; empty filters match everything."""

    job_ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def params(self, since: str | None, token: str | None) -> list[tuple[str, str]]:
        params = ([("job_id", v) for v in self.job_ids] + [("type", v) for v in self.types]
                  + [("status", v) for v in self.statuses] + [("tag", v) for v in self.tags])
        if since is not None:
            params.append(("since", since))
        if token:
            params.append(("token", token))
        return params


def _as_tuple(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


class EventStream:
    """Live job events as an async iterator, resumed across dropped connections.

    When the connection drops (network, server restart, or the server
    dropping a subscriber that fell behind) the stream reconnects with
    ``since=<id of the last event it yielded>``, pausing briefly between
    attempts, so the caller sees every event once and in order. An event
    whose id is not newer than the last one yielded is skipped as well.

    The first connection is not retried: a wrong URL or a refused filter
    raises at once. Later reconnects are retried until they succeed, or the
    stream or its client is closed; refusals (4xx) always raise.

    Leaving an ``async for`` early keeps the connection until the client
    closes; use ``async with client.events(...) as stream:`` or
    :meth:`aclose` to close it sooner.
    """

    def __init__(self, client: Client, query: EventQuery, since: str | None) -> None:
        self._client = client
        self._query = query
        self._since = since
        self._last_key = _event_key(since) if since is not None else None
        self._ws: WebSocketConnection | None = None
        self._release: trio.Event | None = None
        self._ever_connected = False
        self._closed = False

    @property
    def last_event_id(self) -> str | None:
        """Where a reconnect resumes: the id of the last event yielded, else ``since``,
        else (for a live-only stream) the time it was first opened, in ms."""
        return self._since

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> dict[str, Any]:
        delay = RECONNECT_MIN_S
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._ws is None and not await self._reconnect():
                await trio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            assert self._ws is not None
            try:
                raw = await self._ws.get_message()
            except ConnectionClosed as exc:
                self._drop(exc)
                if not self._closed:
                    # even a clean close is followed by a pause: a server that
                    # shuts down closes cleanly, and will not be back at once
                    await trio.sleep(delay)
                    delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            event = json.loads(raw)
            key = _event_key(event["id"])
            if self._last_key is not None and key <= self._last_key:
                continue
            self._last_key = key
            self._since = event["id"]
            return event

    async def connect(self) -> None:
        """Open the connection now rather than at the first event.

        Once this returns, the server has accepted the subscription, so an
        event that happens afterwards is not missed (with ``since``, neither
        is one from before).
        """
        if self._closed:
            raise RuntimeError("this event stream is closed")
        if self._ws is None:
            if self._since is None and not self._ever_connected:
                # where to resume if the first connection drops before any
                # event arrives: from about now (stream ids start with ms)
                opened = f"{time.time_ns() // 1_000_000}"
                await self._open(None)
                self._since = opened
            else:
                await self._open(self._since)

    async def _reconnect(self) -> bool:
        """One attempt to reopen a dropped connection; False if it should be tried again."""
        if not self._ever_connected:
            await self.connect()
            return True
        try:
            await self._open(self._since)
        except ApiConnectionError as exc:
            log.warning("event stream: %s; retrying", exc)
            return False
        except UnavailableError as exc:
            log.warning("event stream: %s; retrying", exc.message)
            return False
        return True

    async def _open(self, since: str | None) -> None:
        url = self._client._events_url(self._query.params(since, self._client.token))
        self._ws, self._release = await self._client._open_websocket(url)
        self._ever_connected = True

    def _drop(self, exc: ConnectionClosed) -> None:
        reason = exc.reason
        if not self._closed:
            log.info("event stream closed (%s); resuming after %s", reason, self._since)
        if self._release is not None:
            self._release.set()
        self._ws = self._release = None

    async def aclose(self) -> None:
        """Close the connection; iterating afterwards ends at once."""
        self._closed = True
        ws, release = self._ws, self._release
        self._ws = self._release = None
        if ws is not None:
            with trio.move_on_after(CLOSE_GRACE_S) as scope:
                scope.shield = True
                await ws.aclose()
        if release is not None:
            release.set()


# -- the async client -----------------------------------------------------------------------


class Client:
    """The BoltQ API from trio code: ``async with Client(url) as client: ...``.

    ``token``, when given, is sent as ``Authorization: Bearer <token>`` with
    every HTTP request and as the ``token`` query parameter of the events
    WebSocket (browsers cannot set headers on WebSockets, so servers read it
    there). ``timeout`` bounds each HTTP request and each WebSocket
    handshake, in seconds.

    The client owns a nursery for its WebSocket connections, which is why it
    must be entered with ``async with`` before use.
    """

    def __init__(self, base_url: str = DEFAULT_BASE_URL, *, token: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._http: httpx.AsyncClient | None = None
        self._nursery_manager: AbstractAsyncContextManager[trio.Nursery] | None = None
        self._nursery: trio.Nursery | None = None
        self._releases: set[trio.Event] = set()
        """One per open WebSocket: setting it lets the connection's keeper close it."""

    async def __aenter__(self) -> Self:
        http = httpx.AsyncClient(base_url=self.base_url, headers=_headers(self.token),
                                 timeout=self.timeout)
        await http.__aenter__()
        try:
            manager = trio.open_nursery()
            self._nursery = await manager.__aenter__()
        except BaseException:
            await http.aclose()
            raise
        self._http, self._nursery_manager = http, manager
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        # The caller's own exception is deliberately not handed to the nursery:
        # it would come back wrapped in an ExceptionGroup. The nursery holds only
        # connection keepers, which never fail, so nothing is lost.
        nursery, manager, http = self._nursery, self._nursery_manager, self._http
        self._nursery = self._nursery_manager = self._http = None
        try:
            if nursery is not None and manager is not None:
                # let open WebSockets close cleanly, but not for long, even if cancelled
                nursery.cancel_scope.shield = True
                nursery.cancel_scope.deadline = trio.current_time() + CLOSE_GRACE_S
                for release in list(self._releases):
                    release.set()
                await manager.__aexit__(None, None, None)
        finally:
            if http is not None:
                await http.aclose()

    def _require_open(self) -> tuple[httpx.AsyncClient, trio.Nursery]:
        if self._http is None or self._nursery is None:
            raise RuntimeError("use the client as `async with Client(...) as client:`")
        return self._http, self._nursery

    async def _send(self, call: _Call[T]) -> T:
        http, _ = self._require_open()
        try:
            response = await http.request(call.method, call.path, json=call.body,
                                          params=call.params or None)
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from None
        return _answer(call, response)

    # -- jobs --

    async def submit(self, type: str, payload: Any = None, *, priority: int | None = None,
                     max_attempts: int | None = None,
                     timeout: float | None = None,  # noqa: ASYNC109 (the job's, not ours)
                     tags: Iterable[str] | None = None) -> str:
        """Submit one job; returns its id. Options left as None take the server's defaults.

        ``timeout`` is the job's per-attempt limit in seconds, not a limit on
        this call.
        """
        return await self._send(_Calls.submit(type, payload, priority, max_attempts, timeout,
                                              tags))

    async def submit_many(self, jobs: Iterable[Mapping[str, Any]]) -> list[str]:
        """Submit up to 1,000 jobs in one request, validated as a whole: either all are
        accepted (ids in the same order) or none is, with a :class:`BadRequestError`
        whose ``field`` is like ``jobs[3].priority``."""
        return await self._send(_Calls.submit_many(jobs))

    async def get(self, job_id: str) -> dict[str, Any]:
        """The job's record, as ``GET /api/jobs/{id}`` answers it."""
        return await self._send(_Calls.get(job_id))

    async def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a pending, retrying or running job; :class:`ConflictError` if it has
        already finished."""
        return await self._send(_Calls.cancel(job_id))

    async def retry(self, job_id: str) -> dict[str, Any]:
        """Send a dead letter job back with its attempts reset; :class:`ConflictError`
        if it is not in the dead letter queue."""
        return await self._send(_Calls.retry(job_id))

    async def stats(self) -> dict[str, Any]:
        """Queue counters and sizes, as ``GET /api/stats`` answers them."""
        return await self._send(_Calls.stats())

    async def workers(self) -> list[dict[str, Any]]:
        """The live supervisors of this queue (``GET /api/workers``)."""
        return await self._send(_Calls.workers())

    async def list_jobs(self, *, status: str | None = None, type: str | None = None,
                        tag: str | None = None, limit: int | None = None,
                        cursor: str | None = None) -> dict[str, Any]:
        """One page of jobs, newest first: ``{"jobs": [...], "next_cursor": ...}``.

        Pass ``next_cursor`` back as ``cursor`` for the next page; it is None on
        the last one.
        """
        return await self._send(_Calls.list_jobs("/api/jobs", status, type, tag, limit,
                                                 cursor))

    async def list_dead_letter(self, *, type: str | None = None, tag: str | None = None,
                               limit: int | None = None,
                               cursor: str | None = None) -> dict[str, Any]:
        """One page of the dead letter queue, newest first (see :meth:`list_jobs`)."""
        return await self._send(_Calls.list_jobs("/api/dead-letter", None, type, tag, limit,
                                                 cursor))

    async def retry_dead_letter(self, job_ids: Iterable[str] | None = None) -> dict[str, Any]:
        """Retry every dead letter job, or only ``job_ids``:
        ``{"retried": n, "job_ids": [...]}`` (plus ``skipped`` when ids were given)."""
        return await self._send(_Calls.retry_dead_letter(job_ids))

    async def purge_dead_letter(self) -> int:
        """Delete every dead letter job for good; returns how many were deleted."""
        return await self._send(_Calls.purge_dead_letter())

    # -- events --

    def events(self, *, job_id: str | Iterable[str] | None = None,
               type: str | Iterable[str] | None = None,
               status: str | Iterable[str] | None = None,
               tag: str | Iterable[str] | None = None,
               since: str | None = None) -> EventStream:
        """Live job events (dicts with ``id``, ``job_id``, ``event``, ``status``, ...).

        Each filter takes one value or several; an event must match every
        filter given, and any one value of each. ``since`` (an event id, or
        ``"0"`` for the oldest kept) replays the events after it first. See
        :class:`EventStream` for how dropped connections are resumed.
        """
        query = EventQuery(_as_tuple(job_id), _as_tuple(type), _as_tuple(status),
                           _as_tuple(tag))
        return EventStream(self, query, since)

    async def wait(self, job_id: str,
                   timeout: float | None = None,  # noqa: ASYNC109 (raises a typed error)
                   ) -> dict[str, Any]:
        """Wait until the job is completed, cancelled or dead_letter; return its record.

        Driven by the job's events rather than by polling, so it returns as
        soon as the server has written the outcome. The server subscribes
        before it completes the handshake, and the record is read once the
        subscription is open, so no ending is missed and a job that finished
        earlier returns at once. Raises :class:`WaitTimeoutError` after
        ``timeout`` seconds (None waits as long as it takes), and
        :class:`NotFoundError` for an unknown job or one purged meanwhile.
        """
        _job_path(job_id)
        with trio.move_on_after(math.inf if timeout is None else timeout):
            async with self.events(job_id=job_id) as stream:
                job = await self.get(job_id)
                if job["status"] in FINISHED_STATUSES:
                    return job
                async for event in stream:
                    if event.get("status") in FINISHED_STATUSES:
                        job = await self.get(job_id)
                        if job["status"] in FINISHED_STATUSES:
                            return job
        raise WaitTimeoutError(job_id, math.inf if timeout is None else timeout)

    # -- WebSocket plumbing --

    def _events_url(self, params: list[tuple[str, str]]) -> str:
        parts = urlsplit(self.base_url)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/api/events",
                           urlencode(params), ""))

    async def _open_websocket(self, url: str) -> tuple[WebSocketConnection, trio.Event]:
        """Open a WebSocket kept by a task in the client's nursery.

        The connection needs a nursery for its reader; keeping it in the
        client's, rather than in a context manager around the caller's
        iteration, is what lets an :class:`EventStream` be a plain async
        iterator. Setting the returned event lets the keeper close it.
        """
        _, nursery = self._require_open()
        release = trio.Event()
        try:
            ws: WebSocketConnection = await nursery.start(self._keep_websocket, url, release)
        except Exception as exc:
            raise self._websocket_error(exc) from None
        return ws, release

    async def _keep_websocket(self, url: str, release: trio.Event, *,
                              task_status: trio.TaskStatus[WebSocketConnection]) -> None:
        self._releases.add(release)
        started = False
        try:
            async with open_websocket_url(url, connect_timeout=self.timeout,
                                          disconnect_timeout=CLOSE_GRACE_S) as ws:
                task_status.started(ws)
                started = True
                await release.wait()
        except Exception as exc:
            if not started:
                raise
            log.debug("event stream connection ended: %r", exc)
        finally:
            self._releases.discard(release)

    def _websocket_error(self, exc: Exception) -> Exception:
        while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        if isinstance(exc, ConnectionRejected):
            return error_from_answer(exc.status_code, exc.body or b"")
        if isinstance(exc, HandshakeError | OSError | trio.TooSlowError):
            cause = exc.__cause__ or exc.__context__ or exc
            reason = str(cause) or type(cause).__name__
            return ApiConnectionError(f"cannot reach the BoltQ API at {self.base_url}: "
                                      f"{reason}")
        return exc



# -- the blocking client --------------------------------------------------------------------


class SyncClient:
    """The same API for plain blocking code: ``with SyncClient(url) as client: ...``.

    HTTP calls go through :class:`httpx.Client`. :meth:`wait` runs the async
    client's event-driven wait under its own ``trio.run``, so a SyncClient
    must not be used from inside a running trio loop (use :class:`Client`
    there). Live event streams are offered by :class:`Client` only.
    """

    def __init__(self, base_url: str = DEFAULT_BASE_URL, *, token: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._http = httpx.Client(base_url=self.base_url, headers=_headers(token),
                                  timeout=timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._http.close()

    def _send(self, call: _Call[T]) -> T:
        try:
            response = self._http.request(call.method, call.path, json=call.body,
                                          params=call.params or None)
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from None
        return _answer(call, response)

    def submit(self, type: str, payload: Any = None, *, priority: int | None = None,
               max_attempts: int | None = None, timeout: float | None = None,
               tags: Iterable[str] | None = None) -> str:
        """See :meth:`Client.submit`."""
        return self._send(_Calls.submit(type, payload, priority, max_attempts, timeout, tags))

    def submit_many(self, jobs: Iterable[Mapping[str, Any]]) -> list[str]:
        """See :meth:`Client.submit_many`."""
        return self._send(_Calls.submit_many(jobs))

    def get(self, job_id: str) -> dict[str, Any]:
        """See :meth:`Client.get`."""
        return self._send(_Calls.get(job_id))

    def cancel(self, job_id: str) -> dict[str, Any]:
        """See :meth:`Client.cancel`."""
        return self._send(_Calls.cancel(job_id))

    def retry(self, job_id: str) -> dict[str, Any]:
        """See :meth:`Client.retry`."""
        return self._send(_Calls.retry(job_id))

    def stats(self) -> dict[str, Any]:
        """See :meth:`Client.stats`."""
        return self._send(_Calls.stats())

    def workers(self) -> list[dict[str, Any]]:
        """See :meth:`Client.workers`."""
        return self._send(_Calls.workers())

    def list_jobs(self, *, status: str | None = None, type: str | None = None,
                  tag: str | None = None, limit: int | None = None,
                  cursor: str | None = None) -> dict[str, Any]:
        """See :meth:`Client.list_jobs`."""
        return self._send(_Calls.list_jobs("/api/jobs", status, type, tag, limit, cursor))

    def list_dead_letter(self, *, type: str | None = None, tag: str | None = None,
                         limit: int | None = None, cursor: str | None = None) -> dict[str, Any]:
        """See :meth:`Client.list_dead_letter`."""
        return self._send(_Calls.list_jobs("/api/dead-letter", None, type, tag, limit, cursor))

    def retry_dead_letter(self, job_ids: Iterable[str] | None = None) -> dict[str, Any]:
        """See :meth:`Client.retry_dead_letter`."""
        return self._send(_Calls.retry_dead_letter(job_ids))

    def purge_dead_letter(self) -> int:
        """See :meth:`Client.purge_dead_letter`."""
        return self._send(_Calls.purge_dead_letter())

    def wait(self, job_id: str, timeout: float | None = None) -> dict[str, Any]:
        """See :meth:`Client.wait`; blocks the calling thread (runs its own trio loop)."""
        return trio.run(self._wait, job_id, timeout)

    async def _wait(self, job_id: str, limit: float | None) -> dict[str, Any]:
        async with Client(self.base_url, token=self.token, timeout=self.timeout) as client:
            return await client.wait(job_id, limit)
