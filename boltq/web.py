"""The REST API (quart-trio): the original BoltQ contract, JSON errors only.

Handlers validate, call one store method, and shape the answer; they never
touch Redis keys themselves. Every error is ``{"error": ..., "field": ...}``
with a 4xx status (503 when Redis is unreachable); no input yields a 500.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import attrs
from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from boltq.constants import HEARTBEAT_TIMEOUT_S, MAX_BATCH_BODY_BYTES, MAX_BODY_BYTES
from boltq.errors import InvalidJobError, JobNotFoundError, JobStateError
from boltq.job import JobStatus
from boltq.store import UNREACHABLE_ERRORS, Store
from boltq.validation import NonFiniteNumber, parse_batch, parse_submission
from boltq.wire import converter, job_to_wire

log = logging.getLogger("boltq.api")


def error_response(http_status: int, message: str, field: str | None = None,
                   **extra: Any) -> Response:
    """The one shape of every API error (``extra`` adds keys, e.g. the job's status)."""
    return json_response(http_status, {"error": message, "field": field, **extra})


def json_response(http_status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=http_status, mimetype="application/json")


async def _read_json(limit: int = MAX_BODY_BYTES) -> Any:
    """The request body as JSON, at most ``limit`` bytes; InvalidJobError otherwise."""
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()
    raw = await request.get_data(cache=False, as_text=False)
    if len(raw) > limit:
        raise RequestEntityTooLarge()
    if not raw:
        raise InvalidJobError("body", "request body is empty; expected a JSON object")
    try:
        return json.loads(raw, parse_constant=NonFiniteNumber)
    except RecursionError:
        raise InvalidJobError("body", "request body is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidJobError("body", f"request body is not valid JSON: {exc}") from None



def create_app(store: Store, *, default_max_attempts: int) -> QuartTrio:
    """The API bound to one queue's store."""
    app = QuartTrio("boltq")
    # the largest body any route takes; each route checks its own limit
    app.config["MAX_CONTENT_LENGTH"] = MAX_BATCH_BODY_BYTES

    @app.post("/api/jobs")
    async def submit_job() -> Response:
        spec = parse_submission(await _read_json(), default_max_attempts=default_max_attempts)
        (job_id,) = await store.enqueue([spec])
        return json_response(202, {"job_id": job_id, "status": JobStatus.PENDING.value})

    @app.post("/api/jobs/batch")
    async def submit_batch() -> Response:
        specs = parse_batch(await _read_json(MAX_BATCH_BODY_BYTES),
                            default_max_attempts=default_max_attempts)
        job_ids = await store.enqueue(specs)
        return json_response(202, {"job_ids": job_ids, "status": JobStatus.PENDING.value})

    @app.get("/api/jobs/<job_id>")
    async def get_job(job_id: str) -> Response:
        return json_response(200, job_to_wire(await store.get(job_id)))

    @app.get("/api/stats")
    async def get_stats() -> Response:
        return json_response(200, attrs.asdict(await store.stats()))

    @app.post("/api/jobs/<job_id>/cancel")
    async def cancel_job(job_id: str) -> Response:
        await store.cancel(job_id)
        return json_response(200, {"job_id": job_id, "status": JobStatus.CANCELLED.value})

    @app.post("/api/jobs/<job_id>/retry")
    async def retry_job(job_id: str) -> Response:
        await store.retry_dead(job_id)
        return json_response(200, {"job_id": job_id, "status": JobStatus.RETRYING.value})

    @app.get("/api/workers")
    async def list_workers() -> Response:
        live = await store.live_supervisors(HEARTBEAT_TIMEOUT_S)
        return json_response(200, {"workers": converter.unstructure(live)})

    @app.get("/healthz")
    async def healthz() -> Response:
        return json_response(200, {"status": "ok"})

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
            # the unread body would be taken for the next request: end the connection
            response.headers["Connection"] = "close"
            return response
        return error_response(code, exc.description or exc.name, None)

    async def store_unreachable(exc: Exception) -> Response:
        log.warning("store unreachable: %s", exc)
        return error_response(503, "the job store (Redis) is unreachable; try again", None)

    for error in UNREACHABLE_ERRORS:
        app.register_error_handler(error, store_unreachable)

    return app
