"""The heartbeat: keeps this supervisor listed in the registry of every
queue it serves (``GET /api/workers``), with its current load."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import trio

from boltq.actors.outage import Outage
from boltq.constants import HEARTBEAT_INTERVAL_S, HEARTBEAT_TIMEOUT_S
from boltq.store import UNREACHABLE_ERRORS, Store

DEREGISTER_S = 0.5


def supervisor_info(supervisor_id: str, role: str, queues: Sequence[str]) -> dict[str, Any]:
    """What a heartbeat says that does not change while the process runs."""
    return {
        "id": supervisor_id, "host": socket.gethostname(), "pid": os.getpid(), "role": role,
        "queues": list(queues), "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


async def heartbeat(
    stores: Sequence[Store],
    info: dict[str, Any],
    load: Callable[[], dict[str, int]],
    *,
    interval: float = HEARTBEAT_INTERVAL_S,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Heartbeat every ``interval`` until cancelled."""
    outage = Outage("heartbeat")
    task_status.started()
    while True:
        try:
            for store in stores:
                await store.heartbeat(info["id"], {**info, **load()}, HEARTBEAT_TIMEOUT_S)
        except UNREACHABLE_ERRORS as exc:
            await outage.failed(exc)
            continue
        outage.succeeded()
        await trio.sleep(interval)


async def deregister(stores: Sequence[Store], supervisor_id: str) -> None:
    """Leave the registry on a clean exit (best effort: it also times out)."""
    with trio.move_on_after(DEREGISTER_S, shield=True):  # runs during shutdown
        for store in stores:
            try:
                await store.heartbeat(supervisor_id, None, HEARTBEAT_TIMEOUT_S)
            except UNREACHABLE_ERRORS:
                return
