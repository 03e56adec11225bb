"""The processors every BoltQ has: ``email``, ``notification`` and ``test``."""

from __future__ import annotations

import logging
import re
from typing import Any

import trio

from boltq.errors import ProcessorError
from boltq.processors import JobContext, register_processor

log = logging.getLogger("boltq.processors")

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _recipient(payload: Any) -> str | None:
    if isinstance(payload, str):
        match = _EMAIL.search(payload)
        return match[0] if match else None
    if isinstance(payload, dict):
        to = payload.get("to") or payload.get("recipient") or payload.get("email")
        if isinstance(to, str) and _EMAIL.fullmatch(to.strip()):
            return to.strip()
    return None


async def email(job: JobContext) -> dict[str, str]:
    """Pretend to send an email: checks there is a recipient and logs it."""
    to = _recipient(job.payload)
    if to is None:
        raise ProcessorError("email payload names no recipient (an address, or {\"to\": ...})")
    log.info("email sent to %s (job %s)", to, job.id)
    return {"sent_to": to}


async def notification(job: JobContext) -> dict[str, bool]:
    """Pretend to deliver a notification: logs it."""
    log.info("notification delivered (job %s): %s", job.id, job.payload)
    return {"delivered": True}


async def test(job: JobContext) -> Any:
    """Driven by its payload, for tests and demos.

    ``{"sleep": seconds, "fail": true | N, "result": any}``: sleeps, then fails
    every attempt (``true``) or the first N attempts, else returns ``result``.
    """
    spec = job.payload if isinstance(job.payload, dict) else {}
    sleep = spec.get("sleep", 0)
    if isinstance(sleep, int | float) and not isinstance(sleep, bool) and sleep > 0:
        await trio.sleep(sleep)
    fail = spec.get("fail", False)
    if fail is True or (isinstance(fail, int) and not isinstance(fail, bool)
                        and job.attempt <= fail):
        raise ProcessorError(f"test job failed on attempt {job.attempt} as asked")
    return spec.get("result")


def register_builtin_processors() -> None:
    """Register the built-ins (user registrations of the same type win if made later)."""
    register_processor("email", email)
    register_processor("notification", notification)
    register_processor("test", test)
