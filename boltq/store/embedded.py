"""The embedded store: fakeredis's Redis-compatible server on loopback.

It lets ``boltq run`` work with no Redis at all: same protocol, same Lua
scripts, in this process's memory, gone at exit.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fakeredis import TcpFakeServer


def _accept_without_nagle(server: TcpFakeServer) -> None:
    """Replies to a pipeline go out in several writes; with Nagle's algorithm
    the later ones wait for an ACK the client delays (~40 ms each time)."""
    accept = server.get_request

    def get_request() -> tuple[socket.socket, Any]:
        conn, address = accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, address

    server.get_request = get_request  # type: ignore[method-assign]


@contextmanager
def embedded_redis(host: str = "127.0.0.1") -> Iterator[str]:
    """Serve an in-memory Redis on a free loopback port; yield its URL."""
    server = TcpFakeServer((host, 0), server_type="redis")
    # a connection thread may sit in a blocking command (a fetcher's BLPOP);
    # closing the server must not wait for it
    server.daemon_threads = True
    server.block_on_close = False
    _accept_without_nagle(server)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="boltq-embedded-redis", daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        yield f"redis://{host}:{port}/0"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
