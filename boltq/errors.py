"""BoltQ's errors: one base, named after who broke things."""

from __future__ import annotations


class BoltQError(Exception):
    """Base of every error BoltQ raises on purpose."""


class ConfigError(BoltQError):
    """A setting (environment, .env or command line) has a value we cannot use."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


class InvalidJobError(BoltQError):
    """A submitted job breaks the contract; ``field`` names what is wrong."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class JobNotFoundError(BoltQError):
    """No job has this id (never existed, or its record expired)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} not found")
        self.job_id = job_id


class JobStateError(BoltQError):
    """The job exists but its status does not allow the transition asked for."""

    def __init__(self, job_id: str, status: str, message: str) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.status = status


class ProcessorError(BoltQError):
    """A processor refused its job; the message becomes the job's error."""


class StoreUnavailableError(BoltQError):
    """Redis could not be reached or answered with an error."""
