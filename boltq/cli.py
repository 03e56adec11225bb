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
from boltq.errors import BoltQError, ConfigError
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


async def serve(settings: Settings) -> None:
    """Run one supervisor until SIGINT or SIGTERM."""
    policy = StorePolicy(
        job_status_ttl=settings.job_status_ttl,
        lease_timeout=settings.lease_timeout,
        retry_backoff_base=settings.retry_backoff_base,
        retry_backoff_max=settings.retry_backoff_max,
    )
    shutdown = Shutdown()
    async with open_store(settings.redis_url, policy=policy) as store, \
            trio.open_nursery() as nursery:
        nursery.start_soon(_watch_signals, shutdown)
        await run_supervisor(settings, store, shutdown)
        nursery.cancel_scope.cancel()


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
        settings = _apply_flags(load_settings(), args)
        logging.basicConfig(level=settings.log_level,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # coredis logs every connection retry at INFO; ours say what matters
        logging.getLogger("coredis").setLevel(max(logging.WARNING, logging.root.level))
        register_builtin_processors()
        import_processor_modules(settings.imports)
        trio.run(serve, settings)
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
