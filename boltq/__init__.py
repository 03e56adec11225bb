"""BoltQ: a distributed job queue on trio and Redis.

Register processors with :func:`processor` or :func:`register_processor`;
run them with ``boltq run``; submit jobs over the REST API.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("boltq")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

from boltq.errors import (
    BoltQError,
    ConfigError,
    InvalidJobError,
    JobNotFoundError,
    JobStateError,
    ProcessorError,
)
from boltq.job import Job, JobSpec, JobStatus
from boltq.processors import (
    JobContext,
    processor,
    register_processor,
    unregister_processor,
)

#: The client's names load httpx and trio-websocket on first use only, so a
#: worker process that never talks HTTP does not carry them.
_CLIENT_NAMES = frozenset({
    "ApiConnectionError", "ApiError", "BadRequestError", "Client", "ConflictError",
    "NotFoundError", "SyncClient", "UnauthorizedError", "UnavailableError", "WaitTimeoutError",
})

if TYPE_CHECKING:
    from boltq.client import (
        ApiConnectionError,
        ApiError,
        BadRequestError,
        Client,
        ConflictError,
        NotFoundError,
        SyncClient,
        UnauthorizedError,
        UnavailableError,
        WaitTimeoutError,
    )


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        from boltq import client

        return getattr(client, name)
    raise AttributeError(f"module 'boltq' has no attribute {name!r}")


__all__ = [
    "ApiConnectionError",
    "ApiError",
    "BadRequestError",
    "BoltQError",
    "Client",
    "ConfigError",
    "ConflictError",
    "InvalidJobError",
    "Job",
    "JobContext",
    "JobNotFoundError",
    "JobSpec",
    "JobStateError",
    "JobStatus",
    "NotFoundError",
    "ProcessorError",
    "SyncClient",
    "UnauthorizedError",
    "UnavailableError",
    "WaitTimeoutError",
    "__version__",
    "processor",
    "register_processor",
    "unregister_processor",
]
