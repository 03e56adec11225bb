"""The one cattrs converter for BoltQ's JSON wire format.

Timestamps go out as RFC 3339 with zone and millisecond precision; an unset
time is ``null``; tuples become lists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cattrs.preconf.json import make_converter

from boltq.job import Job

converter = make_converter()
converter.register_unstructure_hook(datetime, lambda d: d.isoformat(timespec="milliseconds"))
converter.register_structure_hook(datetime, lambda v, _: datetime.fromisoformat(v))


def job_to_wire(job: Job) -> dict[str, Any]:
    """The JSON object ``GET /api/jobs/{id}`` answers."""
    data: dict[str, Any] = converter.unstructure(job)
    data["job_id"] = job.id
    return data
