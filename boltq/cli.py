"""The ``boltq`` command line."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

import attrs
import trio

from boltq import __version__
from boltq.builtin_processors import register_builtin_processors
from boltq.config import Settings, load_settings
from boltq.constants import DEFAULT_QUEUE
from boltq.errors import BoltQError, ConfigError
from boltq.invariants import find_breaches, find_orphan_keys
from boltq.roles import BUILTIN_ROLES, RoleSpec, builtin_role, load_role_file
from boltq.store import StorePolicy, open_store
from boltq.supervisor import Shutdown, run_supervisor

log = logging.getLogger("boltq")

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="boltq", description="BoltQ: a distributed job queue on trio and Redis.")
    parser.add_argument("--version", action="version", version=f"boltq {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "run", help="run a supervisor: API, scheduler, fetcher, workers, acker",
        description="Run a supervisor process. With no REDIS_ADDR or REDIS_URL it uses "
                    "an embedded in-memory store.")
    run.add_argument("--workers", type=int, metavar="N",
                     help="number of worker actors (default: NUM_WORKERS or 4)")
    run.add_argument("--port", type=int, metavar="P",
                     help="API port (default: API_PORT or 8080; 0 picks a free one)")
    run.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                     help="import MODULE before starting, to register its processors "
                          "(repeatable; also BOLTQ_IMPORTS, comma-separated)")
    which = run.add_mutually_exclusive_group()
    which.add_argument("--role", metavar="NAME",
                       help=f"run a built-in role: {', '.join(BUILTIN_ROLES)} "
                            "(default: all-in-one)")
    which.add_argument("--config", metavar="FILE",
                       help="run the role described by a spec file, e.g. supervisors/worker.toml")
    check = commands.add_parser(
        "check", help="check that every job is in exactly one place (exit 1 if not)",
        description="Walk a queue's keys and report any job id that is in no place or in "
                    "two places, and any key the queue should not have.")
    check.add_argument("--queue", default=DEFAULT_QUEUE, help="queue to check (default: default)")
    return parser


def _apply_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    changes: dict[str, object] = {}
    if args.workers is not None:
        if args.workers < 1:
            raise ConfigError("--workers", f"expected at least 1, got {args.workers}")
        changes["num_workers"] = args.workers
    if args.port is not None:
        if not 0 <= args.port <= 65535:
            raise ConfigError("--port", f"expected 0 to 65535, got {args.port}")
        changes["api_port"] = args.port
    if args.imports:
        changes["imports"] = (*settings.imports, *args.imports)
    return attrs.evolve(settings, **changes)  # type: ignore[arg-type]


def import_processor_modules(modules: Sequence[str]) -> None:
    """Import user modules (from the current directory too); one line on failure."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise ConfigError("--import", f"cannot import {name!r}: "
                                          f"{type(exc).__name__}: {exc}") from None


async def _watch_signals(shutdown: Shutdown) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            if shutdown.requested.is_set():
                log.warning("second %s: ending the grace period now", signal.Signals(signum).name)
            else:
                log.info("%s received: draining", signal.Signals(signum).name)
            shutdown.request()


def _policy(settings: Settings) -> StorePolicy:
    return StorePolicy(
        job_status_ttl=settings.job_status_ttl,
        lease_timeout=settings.lease_timeout,
        retry_backoff_base=settings.retry_backoff_base,
        retry_backoff_max=settings.retry_backoff_max,
    )


async def serve(settings: Settings, role: RoleSpec) -> None:
    """Run one supervisor until SIGINT or SIGTERM."""
    shutdown = Shutdown()
    async with open_store(settings.redis_url, policy=_policy(settings)) as store, \
            trio.open_nursery() as nursery:
        nursery.start_soon(_watch_signals, shutdown)
        await run_supervisor(settings, store, shutdown, role=role)
        nursery.cancel_scope.cancel()


async def check(settings: Settings, queue: str) -> int:
    """Print every breach of the one-place invariant; 0 when there is none."""
    if settings.embedded:
        raise ConfigError("REDIS_ADDR", "check needs a Redis to look at (set REDIS_ADDR "
                                        "or REDIS_URL)")
    async with open_store(settings.redis_url, queue=queue) as store:
        breaches = await find_breaches(store)
        orphans = await find_orphan_keys(store)
    for breach in breaches:
        print(f"{breach.job_id}: {breach.problem}")
    for key in orphans:
        print(f"{key}: key the queue does not use")
    total = len(breaches) + len(orphans)
    verdict = f"{total} problem(s)" if total else "OK, every job in exactly one place"
    print(f"queue {queue}: {verdict}")
    return 1 if total else 0


def _role(args: argparse.Namespace) -> RoleSpec:
    if args.config:
        return load_role_file(args.config)
    return builtin_role(args.role or "all-in-one")


def _single_leaf(exc: BaseException) -> BaseException:
    """The one error inside nested single-error groups (how nurseries report a failure)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        settings = load_settings()
        logging.basicConfig(level=settings.log_level,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # coredis logs every connection retry at INFO; ours say what matters
        logging.getLogger("coredis").setLevel(max(logging.WARNING, logging.root.level))
        if args.command == "check":
            return trio.run(check, settings, args.queue)
        settings = _apply_flags(settings, args)
        role = _role(args)
        register_builtin_processors()
        import_processor_modules(settings.imports)
        trio.run(serve, settings, role)
    except ConfigError as exc:
        print(f"boltq: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BaseException as exc:
        failure = _single_leaf(exc)
        if not isinstance(failure, BoltQError):
            raise
        print(f"boltq: {failure}", file=sys.stderr)
        return EXIT_USAGE if isinstance(failure, ConfigError) else 1
    return 0
