"""Redis storage of queues: keys, Lua transitions, and how to connect."""

from boltq.store.connect import (
    STORE_ERRORS,
    UNREACHABLE_ERRORS,
    open_client,
    open_store,
    redacted,
)
from boltq.store.keys import QueueKeys
from boltq.store.redis_store import (
    AckResult,
    CancelResult,
    Claimed,
    Completion,
    Failure,
    Stats,
    Store,
    StorePolicy,
)

__all__ = [
    "STORE_ERRORS",
    "UNREACHABLE_ERRORS",
    "AckResult",
    "CancelResult",
    "Claimed",
    "Completion",
    "Failure",
    "QueueKeys",
    "Stats",
    "Store",
    "StorePolicy",
    "open_client",
    "open_store",
    "redacted",
]
