"""Wall-clock time for job timestamps, leases and retry schedules.

Every time a Lua script compares (lease deadlines, retry due times, status
TTLs) is passed in from Python, so tests can run the whole supervisor on
trio's virtual clock: :class:`TrioClock` turns trio time into epoch time.
"""

from __future__ import annotations

import time
from typing import Protocol

import trio


class Clock(Protocol):
    """Tells the time in integer milliseconds since the epoch."""

    def now_ms(self) -> int: ...


class SystemClock:
    """The machine's clock: what production runs on."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class TrioClock:
    """Epoch time that moves with trio's clock (virtual under MockClock).

    Must be created inside ``trio.run``; it pins the epoch at creation.
    """

    def __init__(self) -> None:
        self._epoch_at_start = time.time()
        self._trio_at_start = trio.current_time()

    def now_ms(self) -> int:
        elapsed = trio.current_time() - self._trio_at_start
        return int((self._epoch_at_start + elapsed) * 1000)
