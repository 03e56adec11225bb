"""How an actor rides out a Redis outage: back off, retry, log once each way.

Actors keep running (and workers keep their jobs) while Redis is away; the
first failure and the recovery are each logged once, not every retry.
"""

from __future__ import annotations

import logging

import trio

log = logging.getLogger("boltq.redis")

BACKOFF_INITIAL_S = 0.05
BACKOFF_MAX_S = 2.0


class Outage:
    """One actor's view of Redis reachability, with its retry backoff."""

    def __init__(self, actor: str) -> None:
        self.actor = actor
        self.down_since: float | None = None
        self._delay = BACKOFF_INITIAL_S

    async def failed(self, exc: BaseException) -> None:
        """Note a failed call and wait before the caller tries again."""
        if self.down_since is None:
            self.down_since = trio.current_time()
            log.warning("%s: Redis unreachable (%s); retrying with backoff", self.actor, exc)
        await trio.sleep(self._delay)
        self._delay = min(self._delay * 2, BACKOFF_MAX_S)

    def succeeded(self) -> None:
        """Note a call that worked; logs the recovery once."""
        if self.down_since is not None:
            log.warning("%s: Redis is back after %.1fs", self.actor,
                        trio.current_time() - self.down_since)
            self.down_since = None
        self._delay = BACKOFF_INITIAL_S
