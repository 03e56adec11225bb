"""The processor registry: which function runs which job type.

The registry is the one piece of process-wide mutable state BoltQ has: user
modules register into it at import time (``boltq run --import MODULE``).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs
import trio

from boltq.errors import ProcessorError


@attrs.frozen
class JobContext:
    """What a processor is handed: the job's input and where it stands."""

    id: str
    type: str
    payload: Any
    attempt: int
    """1 on the first attempt."""
    max_attempts: int
    tags: tuple[str, ...]
    worker_id: str
    lease_token: str
    """Changes on every claim: use it to fence side effects against reruns."""
    timeout: float | None = None


Processor = Callable[[JobContext], Any] | Callable[[JobContext], Awaitable[Any]]
P = TypeVar("P", bound=Processor)

#: job type -> (processor, whether it is a coroutine function), decided once
_registry: dict[str, tuple[Processor, bool]] = {}


def register_processor(job_type: str, fn: Processor) -> None:
    """Run ``fn`` for jobs of ``job_type``; a later registration replaces an earlier one."""
    if not isinstance(job_type, str) or not job_type:
        raise ValueError("job type must be a non-empty string")
    if not callable(fn):
        raise TypeError(f"processor for {job_type!r} must be callable, got {fn!r}")
    _registry[job_type] = (fn, _is_async(fn))


def processor(job_type: str) -> Callable[[P], P]:
    """Decorator form of :func:`register_processor`."""

    def decorate(fn: P) -> P:
        register_processor(job_type, fn)
        return fn

    return decorate


def unregister_processor(job_type: str) -> None:
    """Forget the processor of ``job_type`` (for tests and reloads)."""
    _registry.pop(job_type, None)


def _is_async(fn: Processor) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


async def run_processor(ctx: JobContext) -> Any:
    """Run the job's processor: coroutines on trio, plain functions in a thread.

    A thread cannot be interrupted: on timeout or cancel the job moves on
    and the thread is abandoned to finish on its own.
    """
    entry = _registry.get(ctx.type)
    if entry is None:
        raise ProcessorError(f"no processor registered for type {ctx.type!r}")
    fn, is_async = entry
    if is_async:
        return await fn(ctx)
    return await trio.to_thread.run_sync(fn, ctx, abandon_on_cancel=True)
