"""The embedded store: fakeredis's Redis-compatible server on loopback.

It lets ``boltq run`` work with no Redis at all: same protocol, same Lua
scripts, in this process's memory, gone at exit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from fakeredis import TcpFakeServer


@contextmanager
def embedded_redis(host: str = "127.0.0.1") -> Iterator[str]:
    """Serve an in-memory Redis on a free loopback port; yield its URL."""
    server = TcpFakeServer((host, 0), server_type="redis")
    # a connection thread may sit in a blocking command (a fetcher's BLPOP);
    # closing the server must not wait for it
    server.daemon_threads = True
    server.block_on_close = False
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
