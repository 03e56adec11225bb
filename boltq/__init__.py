"""BoltQ: a distributed job queue on trio and Redis.

Register processors with :func:`processor` or :func:`register_processor`;
run them with ``boltq run``; submit jobs over the REST API.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("boltq")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

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
