"""Fixtures: every store test runs against a private real redis-server and
against the embedded store, each test on a queue of its own."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
import trio
import trio.testing
from pytest_redis import factories

from boltq.clock import TrioClock
from boltq.store import Store, StorePolicy, open_store
from boltq.store.embedded import embedded_redis

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"

# A private server on a free port: tests never touch a shared Redis.
private_redis = factories.redis_proc(executable=REDIS_SERVER, port=None)

#: Jump virtual time only after this much real idleness, so a reply that is
#: still on its way from Redis is never mistaken for "everyone is asleep".
AUTOJUMP_THRESHOLD_S = 0.05


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Virtual time. pytest-trio uses it only when the test itself names it as
    an argument, so every test that lets time pass asks for ``clock``."""
    return trio.testing.MockClock(autojump_threshold=AUTOJUMP_THRESHOLD_S)


@pytest.fixture(params=["redis", "embedded"])
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A Redis URL: the private redis-server, or a fresh embedded store."""
    if request.param == "redis":
        proc = request.getfixturevalue("private_redis")
        yield f"redis://{proc.host}:{proc.port}/0"
    else:
        with embedded_redis() as url:
            yield url


@pytest.fixture
def queue_name() -> str:
    return f"test-{secrets.token_hex(6)}"


@pytest.fixture
def policy() -> StorePolicy:
    return StorePolicy()


@pytest.fixture
async def store(redis_url: str, queue_name: str, policy: StorePolicy,
                clock: trio.testing.MockClock) -> AsyncIterator[Store]:
    """A store on its own queue, telling time by the test's virtual clock."""
    async with open_store(redis_url, clock=TrioClock(), queue=queue_name,
                          policy=policy) as opened:
        yield opened
