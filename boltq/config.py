"""Settings from the environment and ``.env``, under the original BoltQ names.

Every value is checked at start-up; a bad one raises :class:`ConfigError`
naming the variable, which the CLI prints as one line (exit code 2).
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

import attrs
import durationpy
from dotenv import dotenv_values

from boltq.constants import (
    DEFAULT_API_HOST,
    DEFAULT_API_PORT,
    DEFAULT_JOB_STATUS_TTL_S,
    DEFAULT_LEASE_TIMEOUT_S,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_NUM_WORKERS,
    DEFAULT_RETRY_BACKOFF_BASE_S,
    DEFAULT_RETRY_BACKOFF_MAX_S,
    DEFAULT_SHUTDOWN_TIMEOUT_S,
    MAX_MAX_ATTEMPTS,
    MIN_MAX_ATTEMPTS,
)
from boltq.errors import ConfigError

MIN_TOKEN_LENGTH = 16

LOG_LEVELS = {"debug": "DEBUG", "info": "INFO", "warn": "WARNING", "warning": "WARNING",
              "error": "ERROR", "critical": "CRITICAL"}


def default_worker_id() -> str:
    """Host and pid: unique per process, readable in job records."""
    return f"{socket.gethostname()}-{os.getpid()}"


@attrs.frozen
class Settings:
    """Everything a supervisor process is configured with."""

    api_host: str = DEFAULT_API_HOST
    api_port: int = DEFAULT_API_PORT
    redis_url: str | None = None
    """None means: run on the embedded in-process store."""
    worker_id: str = attrs.field(factory=default_worker_id)
    num_workers: int = DEFAULT_NUM_WORKERS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    job_status_ttl: float = DEFAULT_JOB_STATUS_TTL_S
    log_level: str = "INFO"
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT_S
    retry_backoff_base: float = DEFAULT_RETRY_BACKOFF_BASE_S
    retry_backoff_max: float = DEFAULT_RETRY_BACKOFF_MAX_S
    lease_timeout: float = DEFAULT_LEASE_TIMEOUT_S
    imports: tuple[str, ...] = ()
    """Modules to import before the actors start (they register processors)."""
    metrics_port: int | None = None
    """Port of the /metrics listener for a process with no API (None: none)."""
    log_format: str | None = None
    """"json" or "text"; None picks text on a terminal, JSON otherwise."""
    api_tokens: tuple[str, ...] = attrs.field(default=(), repr=False)
    """Bearer tokens the API accepts; empty means the API is unauthenticated."""

    @property
    def embedded(self) -> bool:
        return self.redis_url is None


def _int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(name, f"expected a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(name, f"expected a number from {low} to {high}, got {value}")
    return value


def parse_duration(name: str, raw: str, *, allow_zero: bool = False) -> float:
    """A Go-style duration (``168h``, ``1m30s``, ``500ms``) or plain seconds."""
    text = raw.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = durationpy.from_str(text).total_seconds()
        except Exception:
            raise ConfigError(
                name, f"expected a duration such as 30s, 5m or 168h, got {raw!r}") from None
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise ConfigError(name, f"expected a positive duration, got {raw!r}")
    return seconds


def _tokens(raw: str) -> tuple[str, ...]:
    """A comma-separated list, or the path of a file with one token per line."""
    path = Path(raw)
    if "," not in raw and path.is_file():
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise ConfigError("API_TOKENS", f"cannot read {raw!r}: {exc.strerror}") from None
        stripped = (line.strip() for line in lines)
        tokens = [line for line in stripped if line and not line.startswith("#")]
    else:
        tokens = [token.strip() for token in raw.split(",") if token.strip()]
    if not tokens:
        raise ConfigError("API_TOKENS", "names no token")
    if any(len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token)
           for token in tokens):
        raise ConfigError("API_TOKENS", f"every token needs at least {MIN_TOKEN_LENGTH} "
                                        "characters and no spaces")
    return tuple(tokens)


def _redis_url(env: Mapping[str, str]) -> str | None:
    url = env.get("REDIS_URL", "").strip()
    addr = env.get("REDIS_ADDR", "").strip()
    password = env.get("REDIS_PASSWORD", "")
    db = _int("REDIS_DB", env["REDIS_DB"], 0, 10_000) if env.get("REDIS_DB") else 0
    if url:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("REDIS_URL", f"expected redis://, rediss:// or unix://, got {url!r}")
        return url
    if not addr:
        return None
    host, sep, port = addr.rpartition(":")
    if not sep or not host:
        raise ConfigError("REDIS_ADDR", f"expected host:port, got {addr!r}")
    _int("REDIS_ADDR", port, 1, 65535)
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}/{db}"


def load_settings(environ: Mapping[str, str] | None = None,
                  env_file: str | Path | None = ".env") -> Settings:
    """Read settings; the process environment wins over ``.env``."""
    env: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    env.update(os.environ if environ is None else environ)

    values: dict[str, object] = {"redis_url": _redis_url(env)}
    if "API_HOST" in env:
        values["api_host"] = env["API_HOST"].strip() or DEFAULT_API_HOST
    if "API_PORT" in env:
        values["api_port"] = _int("API_PORT", env["API_PORT"], 0, 65535)
    if env.get("WORKER_ID", "").strip():
        values["worker_id"] = env["WORKER_ID"].strip()
    if "NUM_WORKERS" in env:
        values["num_workers"] = _int("NUM_WORKERS", env["NUM_WORKERS"], 1, 10_000)
    if "MAX_ATTEMPTS" in env:
        values["max_attempts"] = _int(
            "MAX_ATTEMPTS", env["MAX_ATTEMPTS"], MIN_MAX_ATTEMPTS, MAX_MAX_ATTEMPTS)
    if "LOG_LEVEL" in env:
        level = env["LOG_LEVEL"].strip().lower()
        if level not in LOG_LEVELS:
            raise ConfigError("LOG_LEVEL", f"expected one of {', '.join(LOG_LEVELS)}, "
                                           f"got {env['LOG_LEVEL']!r}")
        values["log_level"] = LOG_LEVELS[level]
    durations = {
        "JOB_STATUS_TTL": "job_status_ttl",
        "SHUTDOWN_TIMEOUT": "shutdown_timeout",
        "RETRY_BACKOFF_BASE": "retry_backoff_base",
        "RETRY_BACKOFF_MAX": "retry_backoff_max",
        "LEASE_TIMEOUT": "lease_timeout",
    }
    for var, field in durations.items():
        if var in env:
            values[field] = parse_duration(var, env[var], allow_zero=var == "SHUTDOWN_TIMEOUT")
    if env.get("METRICS_PORT", "").strip():
        values["metrics_port"] = _int("METRICS_PORT", env["METRICS_PORT"], 0, 65535)
    if env.get("LOG_FORMAT", "").strip():
        log_format = env["LOG_FORMAT"].strip().lower()
        if log_format not in ("json", "text"):
            raise ConfigError("LOG_FORMAT", f"expected json or text, got {env['LOG_FORMAT']!r}")
        values["log_format"] = log_format
    if env.get("API_TOKENS", "").strip():
        values["api_tokens"] = _tokens(env["API_TOKENS"].strip())
    if env.get("BOLTQ_IMPORTS", "").strip():
        values["imports"] = tuple(m.strip() for m in env["BOLTQ_IMPORTS"].split(",") if m.strip())
    return Settings(**values)  # type: ignore[arg-type]
