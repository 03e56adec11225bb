"""The API actor: serves the web app with hypercorn's trio worker."""

from __future__ import annotations

import logging

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart_trio import QuartTrio

from boltq.errors import BoltQError


class ApiBindError(BoltQError):
    """The API could not listen on its address (in use, or not ours to bind)."""

async def api(
    app: QuartTrio,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; report the bound URLs once listening (port 0 picks one)."""
    config = Config()
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
