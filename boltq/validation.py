"""Turns a submitted JSON body into a :class:`JobSpec`, or an error naming the field.

The rules are one JSON Schema (also the API's documented contract), compiled
once by fastjsonschema; this module only rephrases its first complaint.
"""

from __future__ import annotations

from typing import Any

import fastjsonschema

from boltq.constants import (
    MAX_BATCH_JOBS,
    MAX_MAX_ATTEMPTS,
    MAX_PRIORITY,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_TIMEOUT_S,
    MAX_TYPE_LENGTH,
    MIN_MAX_ATTEMPTS,
    MIN_PRIORITY,
)
from boltq.errors import InvalidJobError
from boltq.job import JobSpec

#: A job submission, as ``POST /api/jobs`` takes it. ``null`` means "default".
SUBMISSION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "minLength": 1, "maxLength": MAX_TYPE_LENGTH,
                 "pattern": r"\S"},
        "payload": {},
        "priority": {"type": ["integer", "null"], "minimum": MIN_PRIORITY,
                     "maximum": MAX_PRIORITY},
        "max_attempts": {"type": ["integer", "null"], "minimum": MIN_MAX_ATTEMPTS,
                         "maximum": MAX_MAX_ATTEMPTS},
        "timeout": {"type": ["number", "null"], "exclusiveMinimum": 0,
                    "maximum": MAX_TIMEOUT_S},
        "tags": {"type": ["array", "null"], "maxItems": MAX_TAGS,
                 "items": {"type": "string", "maxLength": MAX_TAG_LENGTH}},
    },
    "required": ["type"],
    "additionalProperties": False,
}

_validate = fastjsonschema.compile(SUBMISSION_SCHEMA)


class NonFiniteNumber:
    """Stands in for NaN / Infinity, which Python's JSON parser accepts but JSON
    does not: no schema type matches it, so the field that holds one is named."""

    def __init__(self, literal: str) -> None:
        self.literal = literal


def _holds_non_finite(value: Any) -> str | None:
    """The first NaN/Infinity literal anywhere inside ``value``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, NonFiniteNumber):
            return item.literal
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _field_of(exc: fastjsonschema.JsonSchemaValueException, body: Any) -> tuple[str, str]:
    """(field, message) for the schema's complaint, in the API's words."""
    name = exc.name or "data"
    field = name.removeprefix("data").removeprefix(".")
    if exc.rule == "required":
        missing = [k for k in SUBMISSION_SCHEMA["required"] if k not in body]
        return missing[0], f"{missing[0]} is required"
    if exc.rule == "additionalProperties":
        unknown = sorted(set(body) - set(SUBMISSION_SCHEMA["properties"]))
        return unknown[0], f"unknown field {unknown[0]!r}"
    if not field:
        return "body", "request body must be a JSON object"
    message = exc.message.removeprefix(name).strip()
    if exc.rule == "pattern":
        message = "must not be blank"
    return field, f"{field} {message}"


def parse_submission(body: Any, *, default_max_attempts: int) -> JobSpec:
    """Validate one submission; raise :class:`InvalidJobError` naming the field."""
    try:
        _validate(body)
    except fastjsonschema.JsonSchemaValueException as exc:
        field, message = _field_of(exc, body)
        raise InvalidJobError(field, message) from None

    literal = _holds_non_finite(body.get("payload"))
    if literal is not None:
        raise InvalidJobError("payload", f"payload contains {literal}, which is not JSON")

    def given(name: str, default: Any) -> Any:
        value = body.get(name)
        return default if value is None else value

    return JobSpec(
        type=body["type"],
        payload=body.get("payload"),
        priority=int(given("priority", 0)),
        max_attempts=int(given("max_attempts", default_max_attempts)),
        timeout=None if body.get("timeout") is None else float(body["timeout"]),
        tags=tuple(given("tags", ())),
    )


def parse_batch(body: Any, *, default_max_attempts: int) -> list[JobSpec]:
    """Validate a whole batch (``{"jobs": [...]}``) before anything is written.

    An error names the job's index and field, e.g. ``jobs[3].priority``.
    """
    if not isinstance(body, dict):
        raise InvalidJobError("body", "request body must be a JSON object with a jobs list")
    unknown = sorted(set(body) - {"jobs"})
    if unknown:
        raise InvalidJobError(unknown[0], f"unknown field {unknown[0]!r}")
    jobs = body.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        raise InvalidJobError("jobs", "jobs must be a non-empty list of job objects")
    if len(jobs) > MAX_BATCH_JOBS:
        raise InvalidJobError("jobs", f"jobs holds {len(jobs)} jobs; at most {MAX_BATCH_JOBS}")
    specs = []
    for index, job in enumerate(jobs):
        try:
            specs.append(parse_submission(job, default_max_attempts=default_max_attempts))
        except InvalidJobError as exc:
            where = f"jobs[{index}]"
            field = where if exc.field == "body" else f"{where}.{exc.field}"
            message = exc.message.replace("request body", where, 1)
            if not message.startswith(where):
                message = f"{where}: {message}"
            raise InvalidJobError(field, message) from None
    return specs
