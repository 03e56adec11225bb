"""The storage form of a job: one JSON object per job in the queue's hash.

Times are integer milliseconds since the epoch (exact in Lua's doubles);
``payload``, ``result`` and ``tags`` are JSON text inside the record so that
the Lua scripts never re-encode user data. Unset fields are absent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson

from boltq.job import Job, JobSpec, JobStatus

#: Results may be any JSON-able value a processor returns, int keys included.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def ms_to_datetime(ms: int | float | None) -> datetime | None:
    """Milliseconds since the epoch to an aware UTC datetime."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def dumps(value: Any) -> str:
    """Compact JSON, as stored in Redis.

    orjson does the common case several times faster than the standard
    library, which is a measurable share of a job's cost; the standard
    library takes what orjson refuses (integers beyond 64 bits).
    """
    try:
        return orjson.dumps(value, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(raw: str | bytes) -> Any:
    """Parse stored JSON (fast path as in :func:`dumps`)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # e.g. NaN written by an older version
        return json.loads(raw)


def new_record(job_id: str, spec: JobSpec, now_ms: int) -> str:
    """The record of a job just submitted."""
    rec: dict[str, Any] = {
        "id": job_id,
        "type": spec.type,
        "payload": dumps(spec.payload),
        "priority": spec.priority,
        "max_attempts": spec.max_attempts,
        "tags": dumps(list(spec.tags)),
        "status": JobStatus.PENDING.value,
        "attempts": 0,
        "created_at": now_ms,
    }
    if spec.timeout is not None:
        rec["timeout"] = spec.timeout
    return dumps(rec)


def job_from_record(raw: str | bytes) -> Job:
    """Parse a stored record into the public model."""
    rec = loads(raw)
    result = rec.get("result")
    return Job(
        id=rec["id"],
        type=rec["type"],
        status=JobStatus(rec["status"]),
        payload=loads(rec["payload"]),
        priority=int(rec.get("priority", 0)),
        max_attempts=int(rec["max_attempts"]),
        timeout=rec.get("timeout"),
        tags=tuple(loads(rec.get("tags") or "[]")),
        attempts=int(rec.get("attempts", 0)),
        created_at=ms_to_datetime(rec.get("created_at")),
        started_at=ms_to_datetime(rec.get("started_at")),
        completed_at=ms_to_datetime(rec.get("completed_at")),
        next_retry_at=ms_to_datetime(rec.get("next_retry_at")),
        worker_id=rec.get("worker_id"),
        error=rec.get("error"),
        result=None if result is None else loads(result),
    )
