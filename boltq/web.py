"""The REST API (quart-trio): the original BoltQ contract, JSON errors only.

Handlers validate, call one store method, and shape the answer; they never
touch Redis keys themselves. Every error is ``{"error": ..., "field": ...}``
with a 4xx status (503 when Redis is unreachable); no input yields a 500.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from typing import Any

import attrs
from quart import Response, request, websocket
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.routing import BaseConverter

from boltq.coalesce import SubmissionCoalescer
from boltq.constants import (
    HEARTBEAT_TIMEOUT_S,
    MAX_BATCH_BODY_BYTES,
    MAX_BATCH_JOBS,
    MAX_BODY_BYTES,
    MAX_PAGE_LIMIT,
)
from boltq.errors import InvalidJobError, JobNotFoundError, JobStateError
from boltq.events import EventFilter, EventHub, SubscriberTooSlow
from boltq.job import JobStatus
from boltq.metrics import CONTENT_TYPE, Metrics, new_metrics
from boltq.openapi import CURSOR_REGEX, openapi_document
from boltq.store import STORE_ERRORS, UNREACHABLE_ERRORS, Store
from boltq.validation import NonFiniteNumber, parse_batch, parse_submission
from boltq.wire import converter, job_to_wire

log = logging.getLogger("boltq.api")

#: WebSocket close code for a subscriber dropped for falling behind
#: (1013: "try again later").
SLOW_SUBSCRIBER_CLOSE_CODE = 1013


def error_response(http_status: int, message: str, field: str | None = None,
                   **extra: Any) -> Response:
    """The one shape of every API error (``extra`` adds keys, e.g. the job's status)."""
    return json_response(http_status, {"error": message, "field": field, **extra})


def json_response(http_status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=http_status, mimetype="application/json")


async def _read_json(limit: int = MAX_BODY_BYTES, empty: Any = None) -> Any:
    """The request body as JSON, at most ``limit`` bytes; InvalidJobError otherwise.

    An empty body is an error unless ``empty`` gives what it stands for.
    """
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()
    raw = await request.get_data(cache=False, as_text=False)
    if len(raw) > limit:
        raise RequestEntityTooLarge()
    if not raw.strip():
        if empty is not None:
            return empty
        raise InvalidJobError("body", "request body is empty; expected a JSON object")
    try:
        return json.loads(raw, parse_constant=NonFiniteNumber)
    except RecursionError:
        raise InvalidJobError("body", "request body is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidJobError("body", f"request body is not valid JSON: {exc}") from None



def _page_of_jobs_query(args: Any, status: JobStatus | None) -> dict[str, Any]:
    """Check the browse query string; InvalidJobError names the parameter."""
    allowed = {"type", "tag", "limit", "cursor"} | ({"status"} if status is None else set())
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise InvalidJobError(unknown[0], f"unknown query parameter {unknown[0]!r}")
    query: dict[str, Any] = {"status": status, "job_type": args.get("type") or None,
                             "tag": args.get("tag") or None, "cursor": None, "limit": 50}
    if status is None and "status" in args:
        try:
            query["status"] = JobStatus(args["status"])
        except ValueError:
            raise InvalidJobError("status", f"status must be one of "
                                            f"{', '.join(s.value for s in JobStatus)}") from None
    if "limit" in args:
        try:
            query["limit"] = int(args["limit"])
        except ValueError:
            query["limit"] = 0
        if not 1 <= query["limit"] <= MAX_PAGE_LIMIT:
            raise InvalidJobError("limit", f"limit must be a whole number from 1 to "
                                           f"{MAX_PAGE_LIMIT}")
    if "cursor" in args:
        if not CURSOR_PATTERN.match(args["cursor"]):
            raise InvalidJobError("cursor", "cursor must be a next_cursor from an earlier page")
        query["cursor"] = args["cursor"]
    return query


async def _page_of_jobs(store: Store, args: Any, status: JobStatus | None) -> Response:
    jobs, next_cursor = await store.list_jobs(**_page_of_jobs_query(args, status))
    return json_response(200, {"jobs": [job_to_wire(job) for job in jobs],
                               "next_cursor": next_cursor})


def _job_ids_to_retry(body: Any) -> list[str] | None:
    """None (retry all) for an empty body or ``{}``; else the ``job_ids`` list."""
    if not isinstance(body, dict):
        raise InvalidJobError("body", "request body must be a JSON object")
    unknown = sorted(set(body) - {"job_ids"})
    if unknown:
        raise InvalidJobError(unknown[0], f"unknown field {unknown[0]!r}")
    if "job_ids" not in body:
        return None
    job_ids = body["job_ids"]
    if (not isinstance(job_ids, list) or len(job_ids) > MAX_BATCH_JOBS
            or not all(isinstance(i, str) and 0 < len(i) <= 64 for i in job_ids)):
        raise InvalidJobError("job_ids", f"job_ids must be a list of at most {MAX_BATCH_JOBS} "
                                         "job ids")
    return list(dict.fromkeys(job_ids))


CURSOR_PATTERN = re.compile(CURSOR_REGEX)
_STREAM_ID = re.compile(r"^\d{1,20}(-\d{1,20})?$")


def _event_query(args: Any) -> tuple[EventFilter, str | None]:
    """Filters and resume point of an events subscription; InvalidJobError names the problem."""
    unknown = sorted(set(args) - {"job_id", "type", "status", "tag", "since", "token"})
    if unknown:
        raise InvalidJobError(unknown[0], f"unknown query parameter {unknown[0]!r}")
    statuses = frozenset(args.getlist("status"))
    known = {s.value for s in JobStatus} | {"purged"}  # purge events say "purged"
    if not statuses <= known:
        raise InvalidJobError("status", f"status must be one of {', '.join(sorted(known))}")
    since = args.get("since")
    if since is not None and not _STREAM_ID.match(since):
        raise InvalidJobError("since", "since must be an event id such as 1700000000000-0")
    wanted = EventFilter(job_ids=frozenset(args.getlist("job_id")),
                         types=frozenset(args.getlist("type")), statuses=statuses,
                         tags=frozenset(args.getlist("tag")))
    return wanted, since


#: Paths anyone may call, tokens or not (load balancers and probes).
OPEN_PATHS = frozenset({"/healthz", "/readyz"})


def _token_accepted(tokens: tuple[str, ...], presented: str | None) -> bool:
    """Constant-time comparison against every token (no early exit)."""
    if presented is None:
        return False
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(token.encode(), presented.encode())
    return matched


def _bearer(headers: Any) -> str | None:
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _unauthorized() -> Response:
    response = error_response(401, "missing or invalid bearer token", "Authorization")
    response.headers["WWW-Authenticate"] = 'Bearer realm="boltq"'
    return response


class JobIdConverter(BaseConverter):
    """Any path segment but ``batch``, which is its own route: so the batch
    route answers only POST, and says so in ``Allow``."""

    regex = r"(?!batch$)[^/]+"


def _add_health_and_metrics(app: QuartTrio, metrics: Metrics) -> None:
    """``/healthz`` (the process is alive) and ``/metrics``, on any of our apps."""

    @app.get("/healthz")
    async def healthz() -> Response:
        return json_response(200, {"status": "ok"})

    @app.get("/metrics")
    async def scrape() -> Response:
        return Response(await metrics.exposition(), status=200, content_type=CONTENT_TYPE)


def metrics_app(metrics: Metrics) -> QuartTrio:
    """Just ``/metrics`` and ``/healthz``: the listener of a process with no API."""
    app = QuartTrio("boltq-metrics", static_folder=None)
    _add_health_and_metrics(app, metrics)
    return app


def create_app(store: Store, *, default_max_attempts: int,
               hub: EventHub | None = None, tokens: tuple[str, ...] = (),
               metrics: Metrics | None = None) -> QuartTrio:
    """The API bound to one queue's store; ``hub`` feeds ``/api/events``.

    With ``tokens``, every route but OPEN_PATHS wants ``Authorization: Bearer``
    (a WebSocket may pass ``?token=`` instead, as browsers cannot set headers).
    """
    app = QuartTrio("boltq", static_folder=None)
    app.url_map.converters["job_id"] = JobIdConverter
    metrics = metrics or new_metrics()
    metrics.watch(store)
    queue = store.keys.queue
    submissions = SubmissionCoalescer(store)

    if tokens:
        @app.before_request
        async def require_token() -> Response | None:
            if request.path in OPEN_PATHS or _token_accepted(tokens, _bearer(request.headers)):
                return None
            return _unauthorized()

        @app.before_websocket
        async def require_websocket_token() -> Response | None:
            presented = _bearer(websocket.headers) or websocket.args.get("token")
            return None if _token_accepted(tokens, presented) else _unauthorized()

    # the largest body any route takes; each route checks its own limit
    app.config["MAX_CONTENT_LENGTH"] = MAX_BATCH_BODY_BYTES

    @app.post("/api/jobs")
    async def submit_job() -> Response:
        spec = parse_submission(await _read_json(), default_max_attempts=default_max_attempts)
        job_id = await submissions.enqueue(spec)
        metrics.of(metrics.submitted, queue, spec.type).inc()
        return json_response(202, {"job_id": job_id, "status": JobStatus.PENDING.value})

    @app.post("/api/jobs/batch")
    async def submit_batch() -> Response:
        specs = parse_batch(await _read_json(MAX_BATCH_BODY_BYTES),
                            default_max_attempts=default_max_attempts)
        job_ids = await store.enqueue(specs)
        for spec in specs:
            metrics.of(metrics.submitted, queue, spec.type).inc()
        return json_response(202, {"job_ids": job_ids, "status": JobStatus.PENDING.value})

    @app.get("/api/jobs")
    async def list_jobs() -> Response:
        return await _page_of_jobs(store, request.args, status=None)

    @app.get("/api/dead-letter")
    async def list_dead_letter() -> Response:
        return await _page_of_jobs(store, request.args, status=JobStatus.DEAD_LETTER)

    @app.post("/api/dead-letter/retry")
    async def retry_dead_letter() -> Response:
        job_ids = _job_ids_to_retry(await _read_json(empty={}))
        retried = await store.retry_dead_many(job_ids)
        body: dict[str, Any] = {"retried": len(retried), "job_ids": retried}
        if job_ids is not None:
            body["skipped"] = [job_id for job_id in job_ids if job_id not in set(retried)]
        return json_response(200, body)

    @app.delete("/api/dead-letter")
    async def purge_dead_letter() -> Response:
        return json_response(200, {"purged": await store.purge_dead()})

    @app.get("/api/jobs/<job_id:job_id>")
    async def get_job(job_id: str) -> Response:
        return json_response(200, job_to_wire(await store.get(job_id)))

    @app.get("/api/stats")
    async def get_stats() -> Response:
        return json_response(200, attrs.asdict(await store.stats()))

    @app.post("/api/jobs/<job_id:job_id>/cancel")
    async def cancel_job(job_id: str) -> Response:
        cancelled = await store.cancel(job_id)
        metrics.of(metrics.cancelled, queue, cancelled.type).inc()
        return json_response(200, {"job_id": job_id, "status": JobStatus.CANCELLED.value})

    @app.post("/api/jobs/<job_id:job_id>/retry")
    async def retry_job(job_id: str) -> Response:
        await store.retry_dead(job_id)
        return json_response(200, {"job_id": job_id, "status": JobStatus.RETRYING.value})

    @app.get("/api/workers")
    async def list_workers() -> Response:
        live = await store.live_supervisors(HEARTBEAT_TIMEOUT_S)
        return json_response(200, {"workers": converter.unstructure(live)})

    @app.websocket("/api/events")
    async def events() -> Response | None:
        try:
            wanted, since = _event_query(websocket.args)
        except InvalidJobError as exc:
            return error_response(400, exc.message, exc.field)
        if hub is None:
            return error_response(503, "live events are not served by this process", None)
        try:
            # subscribed before the handshake completes: a client that acts
            # once connected (e.g. reads a job, then waits for its end) sees
            # every event from then on
            async with hub.subscribe(wanted, since) as subscription:
                await websocket.accept()
                async for message in subscription:
                    await websocket.send(json.dumps(message))
        except SubscriberTooSlow:
            await websocket.close(SLOW_SUBSCRIBER_CLOSE_CODE,
                                  "too slow: reconnect with since=<last event id>")
        return None

    document = openapi_document()

    @app.get("/api/openapi.json")
    async def openapi() -> Response:
        return json_response(200, document)

    _add_health_and_metrics(app, metrics)

    @app.get("/readyz")
    async def readyz() -> Response:
        try:
            if not await store.scripts_loaded():
                await store.load_scripts()  # Redis restarted without them: load again
        except STORE_ERRORS as exc:
            return error_response(503, f"Redis is unreachable or refusing: {exc}", None)
        return json_response(200, {"status": "ready"})

    @app.errorhandler(InvalidJobError)
    async def invalid(exc: InvalidJobError) -> Response:
        return error_response(400, exc.message, exc.field)

    @app.errorhandler(JobNotFoundError)
    async def not_found(exc: JobNotFoundError) -> Response:
        return error_response(404, str(exc), "job_id")

    @app.errorhandler(JobStateError)
    async def conflict(exc: JobStateError) -> Response:
        return error_response(409, str(exc), "job_id", status=exc.status)

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        if code == 413:
            limit = MAX_BATCH_BODY_BYTES if request.path.endswith("/batch") else MAX_BODY_BYTES
            response = error_response(
                413, f"request body is larger than {limit} bytes", "body")
        else:
            response = error_response(code, exc.description or exc.name, None)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        if request.content_length or "transfer-encoding" in request.headers:
            # refused before its body was read: the unread body would be taken
            # for the next request on this connection, so end the connection
            response.headers["Connection"] = "close"
        return response

    async def store_unavailable(exc: Exception) -> Response:
        if isinstance(exc, UNREACHABLE_ERRORS):
            log.warning("store unreachable: %s", exc)
            return error_response(503, "the job store (Redis) is unreachable; try again", None)
        log.warning("store refused a request: %s", exc)
        return error_response(503, f"the job store (Redis) refused the request: {exc}", None)

    for error in STORE_ERRORS:
        app.register_error_handler(error, store_unavailable)

    return app
