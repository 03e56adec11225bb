"""Opening a store: real Redis when configured, else the embedded one."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

import coredis
import coredis.exceptions

from boltq.clock import Clock, SystemClock
from boltq.constants import DEFAULT_QUEUE
from boltq.errors import StoreUnavailableError
from boltq.store.redis_store import Store, StorePolicy

log = logging.getLogger("boltq.store")

#: What a lost or refused Redis connection raises, from coredis or the OS.
UNREACHABLE_ERRORS: tuple[type[Exception], ...] = (
    coredis.exceptions.ConnectionError, ConnectionError, TimeoutError, OSError)
#: Anything Redis itself answers with an error (out of memory, read-only
#: replica, loading...), reachable or not.
STORE_ERRORS: tuple[type[Exception], ...] = (*UNREACHABLE_ERRORS, coredis.exceptions.RedisError)


def redacted(url: str) -> str:
    """The URL without its password, for logs and error messages."""
    return re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", url)


@asynccontextmanager
async def open_client(url: str, *, embedded: bool = False) -> AsyncIterator[coredis.Redis[str]]:
    """A coredis client for ``url``; fakeredis reports no version, so skip the check."""
    client: coredis.Redis[str] = coredis.Redis.from_url(
        url, decode_responses=True, verify_version=not embedded)
    async with client:
        yield client


@asynccontextmanager
async def open_store(
    redis_url: str | None,
    *,
    clock: Clock | None = None,
    queue: str = DEFAULT_QUEUE,
    policy: StorePolicy | None = None,
) -> AsyncIterator[Store]:
    """A ready store; with no ``redis_url``, an embedded one for this process only."""
    with ExitStack() as stack:
        embedded = redis_url is None
        if embedded:
            # fakeredis and lupa (about 20 MB) are loaded only for the embedded store
            from boltq.store.embedded import embedded_redis

            redis_url = stack.enter_context(embedded_redis())
            log.warning("no REDIS_ADDR or REDIS_URL set: using the embedded in-memory store "
                        "(single process, jobs are gone at exit)")
        async with open_client(redis_url, embedded=embedded) as client:
            store = Store(client, clock or SystemClock(), queue=queue, policy=policy)
            try:
                await store.load_scripts()
            except UNREACHABLE_ERRORS as exc:
                raise StoreUnavailableError(
                    f"cannot reach Redis at {redacted(redis_url)}: {exc}") from None
            yield store
