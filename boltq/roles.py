"""Roles: which actors a supervisor process runs, and for which queues.

A role spec is a small TOML file (``supervisors/*.toml``); the four
built-in roles are the same specs, kept here so an installed BoltQ knows them
without the repository. A spec that names an unknown actor or setting is
refused with a message saying which.

    actors = ["api", "scheduler", "workers"]   # "workers" = fetcher, workers,
    workers = 8                                #   acker and lease keeper
    queues = ["default"]
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import attrs

from boltq.constants import DEFAULT_QUEUE
from boltq.errors import ConfigError

ACTOR_GROUPS = ("api", "scheduler", "workers")
SPEC_SETTINGS = ("actors", "workers", "queues")
MAX_QUEUE_NAME = 64


@attrs.frozen
class RoleSpec:
    """One deployable kind of supervisor process."""

    name: str
    actors: frozenset[str]
    """A subset of ACTOR_GROUPS."""
    workers: int | None = None
    """Worker actors per queue; None means NUM_WORKERS."""
    queues: tuple[str, ...] | None = None
    """The queues this process serves (the API serves the first); None means
    the store's own queue (``default`` unless a test or embedding chose one)."""

    def runs(self, group: str) -> bool:
        return group in self.actors


BUILTIN_ROLES: dict[str, RoleSpec] = {
    "all-in-one": RoleSpec("all-in-one", frozenset(ACTOR_GROUPS)),
    "api": RoleSpec("api", frozenset({"api"})),
    "worker": RoleSpec("worker", frozenset({"workers"})),
    "scheduler": RoleSpec("scheduler", frozenset({"scheduler"})),
}


def parse_role(name: str, data: dict[str, Any], source: str) -> RoleSpec:
    """Check a spec's settings; ``source`` names it in error messages."""
    unknown = sorted(set(data) - set(SPEC_SETTINGS))
    if unknown:
        raise ConfigError(source, f"unknown setting {unknown[0]!r} "
                                  f"(a role spec takes {', '.join(SPEC_SETTINGS)})")
    actors = data.get("actors", list(ACTOR_GROUPS))
    if not isinstance(actors, list) or not actors or not all(isinstance(a, str) for a in actors):
        raise ConfigError(source, "actors must be a non-empty list of names")
    strange = sorted(set(actors) - set(ACTOR_GROUPS))
    if strange:
        raise ConfigError(source, f"unknown actor {strange[0]!r} "
                                  f"(known: {', '.join(ACTOR_GROUPS)})")
    workers = data.get("workers")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or not 1 <= workers <= 10_000):
        raise ConfigError(source, f"workers must be a whole number from 1 to 10000, "
                                  f"got {workers!r}")
    queues = data.get("queues", [DEFAULT_QUEUE])
    if (not isinstance(queues, list) or not queues
            or not all(isinstance(q, str) and 0 < len(q) <= MAX_QUEUE_NAME
                       and "{" not in q and "}" not in q for q in queues)):
        raise ConfigError(source, "queues must be a non-empty list of names "
                                  f"(1-{MAX_QUEUE_NAME} characters, no braces)")
    if len(set(queues)) != len(queues):
        raise ConfigError(source, "queues lists a queue twice")
    return RoleSpec(name, frozenset(actors), workers, tuple(queues))


def load_role_file(path: str | Path) -> RoleSpec:
    """Read a spec from a TOML file."""
    spec_path = Path(path)
    try:
        data = tomllib.loads(spec_path.read_text())
    except OSError as exc:
        raise ConfigError("--config", f"cannot read {str(path)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", f"{str(path)!r} is not valid TOML: {exc}") from None
    return parse_role(spec_path.stem, data, str(path))


def builtin_role(name: str) -> RoleSpec:
    """A built-in role by name."""
    try:
        return BUILTIN_ROLES[name]
    except KeyError:
        raise ConfigError("--role", f"unknown role {name!r} "
                                    f"(known: {', '.join(BUILTIN_ROLES)})") from None
