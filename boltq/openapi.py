"""The API's OpenAPI 3.1 document, served at ``/api/openapi.json``.

Built from the same submission schema the validator compiles, so the two
cannot drift; a test checks every route of the app is described here.
"""

from __future__ import annotations

from typing import Any

from boltq import __version__
from boltq.constants import MAX_BATCH_JOBS, MAX_PAGE_LIMIT
from boltq.job import JobStatus
from boltq.validation import SUBMISSION_SCHEMA

_TIME = {"type": ["string", "null"], "format": "date-time"}
_STATUSES = [s.value for s in JobStatus]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    words = {400: "Bad input; `field` names it", 401: "Missing or invalid bearer token",
             404: "No such job", 409: "The job's status does not allow this",
             413: "Body too large", 503: "Redis is unreachable or refused the request"}
    return {str(code): _json(_ref("Error"), words[code]) for code in (*codes, 401, 503)}


#: What a page cursor looks like (a job id); the API refuses anything else.
CURSOR_REGEX = r"^job_[0-9A-Za-z]{1,60}$"

_JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
_PAGE_PARAMS = [
    {"name": "type", "in": "query", "schema": {"type": "string"}},
    {"name": "tag", "in": "query", "schema": {"type": "string"}},
    {"name": "limit", "in": "query",
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_LIMIT, "default": 50}},
    {"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": CURSOR_REGEX},
     "description": "`next_cursor` of the previous page"},
]

SCHEMAS: dict[str, Any] = {
    "Submission": SUBMISSION_SCHEMA,
    "Error": {
        "type": "object", "required": ["error", "field"],
        "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]},
                       "status": {"type": "string"}},
    },
    "Accepted": {
        "type": "object", "required": ["job_id", "status"],
        "properties": {"job_id": {"type": "string"}, "status": {"const": "pending"}},
    },
    "Job": {
        "type": "object",
        "required": ["id", "job_id", "type", "status", "payload", "priority", "max_attempts",
                     "timeout", "tags", "attempts", "created_at", "started_at",
                     "completed_at", "next_retry_at", "worker_id", "error", "result"],
        "properties": {
            "id": {"type": "string"}, "job_id": {"type": "string"},
            "type": {"type": "string"}, "status": {"enum": _STATUSES}, "payload": {},
            "priority": {"type": "integer"}, "max_attempts": {"type": "integer"},
            "timeout": {"type": ["number", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "attempts": {"type": "integer"}, "created_at": _TIME, "started_at": _TIME,
            "completed_at": _TIME, "next_retry_at": _TIME,
            "worker_id": {"type": ["string", "null"]}, "error": {"type": ["string", "null"]},
            "result": {},
        },
    },
    "JobPage": {
        "type": "object", "required": ["jobs", "next_cursor"],
        "properties": {"jobs": {"type": "array", "items": _ref("Job")},
                       "next_cursor": {"type": ["string", "null"]}},
    },
    "Stats": {
        "type": "object",
        "required": ["published", "processed", "failed", "retry", "dead_letter", "pending",
                     "running", "delayed", "cancelled", "reclaimed", "stale_writes"],
        "properties": {name: {"type": "integer"} for name in (
            "published", "processed", "failed", "retry", "dead_letter", "pending", "running",
            "delayed", "cancelled", "reclaimed", "stale_writes")},
    },
}


def openapi_document() -> dict[str, Any]:
    """The whole document."""
    transition = {"type": "object", "required": ["job_id", "status"],
                  "properties": {"job_id": {"type": "string"}, "status": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "BoltQ", "version": __version__,
                 "description": "Submit, track and manage jobs. With API_TOKENS set, every "
                                "path but /healthz and /readyz wants `Authorization: "
                                "Bearer <token>`."},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/jobs": {
                "post": {"summary": "Submit a job",
                         "requestBody": {"required": True, **_json(_ref("Submission"), "")},
                         "responses": {"202": _json(_ref("Accepted"), "Queued"),
                                       **_errors(400, 413)}},
                "get": {"summary": "Jobs, newest first",
                        "parameters": [{"name": "status", "in": "query",
                                        "schema": {"enum": _STATUSES}}, *_PAGE_PARAMS],
                        "responses": {"200": _json(_ref("JobPage"), "A page"), **_errors(400)}},
            },
            "/api/jobs/batch": {
                "post": {"summary": f"Submit up to {MAX_BATCH_JOBS} jobs at once",
                         "requestBody": {"required": True, **_json({
                             "type": "object", "required": ["jobs"],
                             "additionalProperties": False,
                             "properties": {"jobs": {"type": "array", "minItems": 1,
                                                     "maxItems": MAX_BATCH_JOBS,
                                                     "items": _ref("Submission")}}}, "")},
                         "responses": {"202": _json({
                             "type": "object", "required": ["job_ids", "status"],
                             "properties": {"job_ids": {"type": "array",
                                                        "items": {"type": "string"}},
                                            "status": {"const": "pending"}}}, "Queued"),
                             **_errors(400, 413)}},
            },
            "/api/jobs/{job_id}": {
                "get": {"summary": "One job", "parameters": [_JOB_ID],
                        "responses": {"200": _json(_ref("Job"), "The job"), **_errors(404)}},
            },
            "/api/jobs/{job_id}/cancel": {
                "post": {"summary": "Cancel a job that has not finished",
                         "parameters": [_JOB_ID],
                         "responses": {"200": _json(transition, "Cancelled"),
                                       **_errors(404, 409)}},
            },
            "/api/jobs/{job_id}/retry": {
                "post": {"summary": "Retry a dead-letter job", "parameters": [_JOB_ID],
                         "responses": {"200": _json(transition, "Retrying"),
                                       **_errors(404, 409)}},
            },
            "/api/stats": {
                "get": {"summary": "Queue counters and sizes",
                        "responses": {"200": _json(_ref("Stats"), "Stats"), **_errors()}},
            },
            "/api/workers": {
                "get": {"summary": "Live supervisor processes",
                        "responses": {"200": _json({
                            "type": "object", "required": ["workers"],
                            "properties": {"workers": {"type": "array",
                                                       "items": {"type": "object"}}}},
                            "Supervisors seen recently"), **_errors()}},
            },
            "/api/dead-letter": {
                "get": {"summary": "Dead-letter jobs, newest first", "parameters": _PAGE_PARAMS,
                        "responses": {"200": _json(_ref("JobPage"), "A page"), **_errors(400)}},
                "delete": {"summary": "Delete every dead-letter job",
                           "responses": {"200": _json({
                               "type": "object", "required": ["purged"],
                               "properties": {"purged": {"type": "integer"}}}, "Deleted"),
                               **_errors()}},
            },
            "/api/dead-letter/retry": {
                "post": {"summary": "Retry all dead-letter jobs, or the ids given",
                         "requestBody": {"required": False, **_json({
                             "type": "object", "additionalProperties": False,
                             "properties": {"job_ids": {
                                 "type": "array", "maxItems": MAX_BATCH_JOBS,
                                 "items": {"type": "string", "minLength": 1,
                                           "maxLength": 64}}}}, "")},
                         "responses": {"200": _json({
                             "type": "object", "required": ["retried", "job_ids"],
                             "properties": {"retried": {"type": "integer"},
                                            "job_ids": {"type": "array",
                                                        "items": {"type": "string"}},
                                            "skipped": {"type": "array",
                                                        "items": {"type": "string"}}}},
                             "Retried"), **_errors(400)}},
            },
            "/api/events": {
                "get": {"summary": "Live job events (WebSocket upgrade only)",
                        "description": "One JSON message per transition. Query: job_id, "
                                       "type, status, tag (each repeatable), since (an "
                                       "event id to resume after), token.",
                        "responses": {"101": {"description": "Switching to WebSocket"},
                                      **_errors(400)}},
            },
            "/api/openapi.json": {
                "get": {"summary": "This document",
                        "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")}},
            },
            "/readyz": {
                "get": {"summary": "Redis is reachable and holds BoltQ's scripts "
                                   "(never needs a token)",
                        "security": [],
                        "responses": {"200": _json({"type": "object"}, "Ready"),
                                      "503": _json(_ref("Error"), "Not ready")}},
            },
            "/metrics": {
                "get": {"summary": "Prometheus metrics of this process and its queue",
                        "responses": {"200": {"description": "Prometheus text format",
                                              "content": {"text/plain": {
                                                  "schema": {"type": "string"}}}},
                                      **_errors()}},
            },
            "/healthz": {
                "get": {"summary": "The process is alive (never needs a token)",
                        "security": [],
                        "responses": {"200": _json({"type": "object"}, "Alive")}},
            },
        },
    }
