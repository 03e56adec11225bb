"""The API actor: serves the web app with hypercorn's trio worker."""

from __future__ import annotations

import logging

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart_trio import QuartTrio

from boltq.errors import BoltQError
from boltq.events import EventHub


class ApiBindError(BoltQError):
    """The API could not listen on its address (in use, or not ours to bind)."""

#: Idle WebSocket subscribers are pinged this often, so dead peers are noticed.
WEBSOCKET_PING_S = 20.0


async def api(
    app: QuartTrio,
    host: str,
    port: int,
    hub: EventHub | None = None,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; report the bound URLs once listening (port 0 picks one)."""
    if hub is not None:
        async with trio.open_nursery() as nursery:
            await nursery.start(hub.run)
            await api(app, host, port, task_status=task_status)
        return
    config = Config()
    config.websocket_ping_interval = WEBSOCKET_PING_S
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 1.0
    try:
        await serve(app, config, mode="asgi", task_status=task_status)
    except* OSError as group:
        exc: BaseException = group
        while isinstance(exc, BaseExceptionGroup):
            exc = exc.exceptions[0]
        reason = getattr(exc, "strerror", None) or exc
        raise ApiBindError(f"cannot listen on {config.bind[0]}: {reason}") from None
