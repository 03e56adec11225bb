"""Run a BoltQ supervisor inside your own trio tests.

    async with open_supervisor(store) as running:
        ...  # talk to running.base_url, or use running.store directly

The supervisor listens on a free loopback port; leaving the block shuts it
down the way SIGTERM does (hurried: interrupted jobs go back to pending).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import attrs
import trio

from boltq.builtin_processors import register_builtin_processors
from boltq.config import Settings
from boltq.roles import BUILTIN_ROLES, RoleSpec
from boltq.store import Store
from boltq.supervisor import Shutdown, SupervisorInfo, run_supervisor


@attrs.frozen
class RunningSupervisor:
    """A supervisor started by :func:`open_supervisor`."""

    store: Store
    info: SupervisorInfo
    shutdown: Shutdown
    settings: Settings

    @property
    def base_url(self) -> str:
        return self.info.api_urls[0]


@asynccontextmanager
async def open_supervisor(store: Store, *, role: RoleSpec = BUILTIN_ROLES["all-in-one"],
                          **settings: Any) -> AsyncIterator[RunningSupervisor]:
    """Start a supervisor of ``role`` on ``store``; ``settings`` override
    :class:`Settings` fields (the API port defaults to a free one)."""
    register_builtin_processors()
    config = Settings(**{"api_port": 0, "worker_id": "test-worker", **settings})
    shutdown = Shutdown()
    async with trio.open_nursery() as nursery:
        info = await nursery.start(partial(run_supervisor, role=role), config, store, shutdown)
        try:
            yield RunningSupervisor(store, info, shutdown, config)
        finally:
            shutdown.request()
            shutdown.request()
