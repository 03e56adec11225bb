"""The ``boltq`` command line."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

import attrs
import trio

from boltq import __version__
from boltq.builtin_processors import register_builtin_processors
from boltq.config import Settings, load_settings
from boltq.constants import DEFAULT_QUEUE
from boltq.errors import BoltQError, ConfigError
from boltq.logs import configure_logging
from boltq.roles import BUILTIN_ROLES, RoleSpec, builtin_role, load_role_file

if TYPE_CHECKING:
    from boltq.client import SyncClient
    from boltq.store import StorePolicy
    from boltq.supervisor import Shutdown

# The store, the supervisor and the invariant checks (Redis client, web
# server) are imported where they are used: the client commands need none of
# them and start in a fraction of the time.

log = logging.getLogger("boltq")

EXIT_USAGE = 2
EXIT_API_ERROR = 1
#: Exit status after Ctrl-C (128 + SIGINT), except for ``watch``, where
#: Ctrl-C is the normal way to stop.
EXIT_INTERRUPTED = 130

#: Commands that talk to a running API rather than run or inspect a queue.
CLIENT_COMMANDS = frozenset({"submit", "status", "watch", "stats", "cancel", "retry",
                             "dead-letter"})


class UsageError(Exception):
    """A client command's argument is unusable (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose client commands report misuse in one line.

    ``run`` and ``check`` keep argparse's usual usage-and-error output.
    """

    def __init__(self, *args: Any, one_line_errors: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.one_line_errors = one_line_errors

    def error(self, message: str) -> NoReturn:
        if not self.one_line_errors:
            super().error(message)
        command = self.prog.removeprefix("boltq").strip()
        self.exit(EXIT_USAGE, f"boltq: {command}: {message}\n" if command
                  else f"boltq: {message}\n")


def _api_url(given: str | None) -> str:
    """``--url``, or the local API on API_PORT (as ``boltq run`` would listen)."""
    if given is None:
        port = os.environ.get("API_PORT", "").strip() or "8080"
        if not port.isdigit() or not 0 < int(port) <= 65535:
            raise UsageError(f"API_PORT: expected a port number, got {port!r}")
        return f"http://127.0.0.1:{port}"
    import httpx  # the client commands' HTTP stack stays out of `boltq run`

    try:
        url = httpx.URL(given)
    except httpx.InvalidURL as exc:
        raise UsageError(f"--url: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"--url: expected http://HOST:PORT or https://..., got {given!r}")
    return given


def _client_options() -> argparse.ArgumentParser:
    """The options every client command takes."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", metavar="URL",
                        help="the API's base URL (default: http://127.0.0.1:$API_PORT, "
                             "with API_PORT from the environment or 8080)")
    common.add_argument("--token", metavar="TOKEN",
                        help="bearer token for the API (default: BOLTQ_TOKEN)")
    common.add_argument("--json", dest="as_json", action="store_true",
                        help="print the API's JSON answer instead of the human form")
    return common


def _add_client_commands(commands: Any) -> None:
    common = [_client_options()]

    def add(name: str, help: str, description: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name, help=help, description=description, parents=common, one_line_errors=True)
        return parser

    submit = add("submit", "submit a job", "Submit one job and print its id (or, with "
                 "--wait, the finished job; the exit status is then 1 unless it completed).")
    submit.add_argument("type", metavar="TYPE", help="job type: selects the processor")
    submit.add_argument("--payload", metavar="JSON", help="the payload, as JSON (default: null)")
    submit.add_argument("--priority", type=int, metavar="N", help="0-100, higher runs first")
    submit.add_argument("--max-attempts", type=int, metavar="N",
                        help="attempts before the dead letter queue (default: MAX_ATTEMPTS)")
    submit.add_argument("--timeout", type=float, metavar="S",
                        help="seconds each attempt may run")
    submit.add_argument("--tag", dest="tags", action="append", metavar="T",
                        help="a tag for the job (repeatable)")
    submit.add_argument("--wait", action="store_true",
                        help="wait until the job is completed, cancelled or dead_letter")

    status = add("status", "show a job", "Show everything the API knows about one job.")
    status.add_argument("job_id", metavar="ID")

    watch = add("watch", "follow job events live (Ctrl-C stops)",
                "Print one line per job event as it happens, until Ctrl-C. Filters of the "
                "same kind add up; different kinds must all match.")
    watch.add_argument("--type", dest="types", action="append", metavar="T",
                       help="only jobs of this type (repeatable)")
    watch.add_argument("--status", dest="statuses", action="append", metavar="S",
                       help="only events leaving a job in this status (repeatable)")
    watch.add_argument("--job", dest="job_ids", action="append", metavar="ID",
                       help="only this job (repeatable)")
    watch.add_argument("--tag", dest="tags", action="append", metavar="T",
                       help="only jobs with this tag (repeatable)")
    watch.add_argument("--since", metavar="EVENT_ID",
                       help="first replay the kept events after this id (0: all of them)")

    add("stats", "show queue counters and sizes", "Show the queue's counters and sizes.")

    cancel = add("cancel", "cancel a job", "Cancel a pending, retrying or running job.")
    cancel.add_argument("job_id", metavar="ID")

    retry = add("retry", "retry a dead letter job",
                "Send a dead letter job back to run, with its attempts reset.")
    retry.add_argument("job_id", metavar="ID")

    dead = add("dead-letter", "list, retry or purge the dead letter queue",
               "list: the dead letter jobs, newest first. retry: send all of them back. "
               "purge: delete all of them for good.")
    dead.add_argument("action", nargs="?", default="list", choices=("list", "retry", "purge"),
                      help="what to do (default: list)")
    dead.add_argument("--limit", type=int, default=50, metavar="N",
                      help="list at most N jobs, 1-500 (default: 50)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="boltq", description="BoltQ: a distributed job queue on trio and Redis.")
    parser.add_argument("--version", action="version", version=f"boltq {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
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
    _add_client_commands(commands)
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
    from boltq.store import StorePolicy

    return StorePolicy(
        job_status_ttl=settings.job_status_ttl,
        lease_timeout=settings.lease_timeout,
        retry_backoff_base=settings.retry_backoff_base,
        retry_backoff_max=settings.retry_backoff_max,
    )


async def serve(settings: Settings, role: RoleSpec) -> None:
    """Run one supervisor until SIGINT or SIGTERM."""
    from boltq.store import open_store
    from boltq.supervisor import Shutdown, run_supervisor

    shutdown = Shutdown()
    async with open_store(settings.redis_url, policy=_policy(settings)) as store, \
            trio.open_nursery() as nursery:
        nursery.start_soon(_watch_signals, shutdown)
        await run_supervisor(settings, store, shutdown, role=role)
        nursery.cancel_scope.cancel()


async def check(settings: Settings, queue: str) -> int:
    """Print every breach of the one-place invariant; 0 when there is none."""
    from boltq.invariants import find_breaches, find_orphan_keys
    from boltq.store import open_store

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
    args, extra = parser.parse_known_args(argv)
    if extra:
        message = f"unrecognized arguments: {' '.join(extra)}"
        if args.command in CLIENT_COMMANDS:
            print(f"boltq: {args.command}: {message}", file=sys.stderr)
            return EXIT_USAGE
        parser.error(message)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if args.command in CLIENT_COMMANDS:
        return run_client_command(args)
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
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


# -- client commands ------------------------------------------------------------------------


#: Colours (ANSI SGR codes) of event kinds and statuses in a terminal.
_COLOURS = {"completed": "32", "dead_letter": "31;1", "retrying": "33", "reclaimed": "33",
            "cancelled": "35", "purged": "35", "started": "36", "running": "36",
            "created": "2", "pending": "2", "requeued": "2"}


def _paint(text: str, key: str, colour: bool) -> str:
    code = _COLOURS.get(key)
    return f"\033[{code}m{text}\033[0m" if colour and code else text


def _use_colour() -> bool:
    """Colours only for a person at a terminal (and never with NO_COLOR set)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _print_json(value: Any) -> None:
    print(json.dumps(value), flush=True)


def _local_time(timestamp: str | None) -> str:
    if not timestamp:
        return "-"
    return datetime.fromisoformat(timestamp).astimezone().strftime("%H:%M:%S.%f")[:-3]


def format_event(event: Mapping[str, Any], *, colour: bool = False) -> str:
    """One watch line: time, event, job id, type, attempt, worker, error."""
    kind = str(event.get("event"))
    parts = [_local_time(event.get("timestamp")), _paint(f"{kind:<11}", kind, colour),
             str(event.get("job_id")), str(event.get("type"))]
    if event.get("attempt"):
        parts.append(f"attempt {event['attempt']}")
    if event.get("worker_id"):
        parts.append(f"worker {event['worker_id']}")
    line = "  ".join(parts)
    if event.get("error"):
        line += "  " + _paint(f"error: {event['error']}", "dead_letter", colour)
    return line


def format_job(job: Mapping[str, Any], *, colour: bool = False) -> str:
    """A job record for people: the id and status first, then what is set."""
    status = str(job.get("status"))
    lines = [f"{job.get('id')}  {_paint(status, status, colour)}"]
    rows: list[tuple[str, Any]] = [
        ("type", job.get("type")),
        ("priority", job.get("priority")),
        ("attempts", f"{job.get('attempts')} of {job.get('max_attempts')}"),
        ("timeout", None if job.get("timeout") is None else f"{job['timeout']:g}s"),
        ("tags", ", ".join(job.get("tags") or ()) or None),
        ("created", job.get("created_at")),
        ("started", job.get("started_at")),
        ("finished", job.get("completed_at")),
        ("next retry", job.get("next_retry_at")),
        ("worker", job.get("worker_id")),
        ("error", job.get("error")),
        ("payload", None if job.get("payload") is None else json.dumps(job["payload"])),
        ("result", None if job.get("result") is None else json.dumps(job["result"])),
    ]
    lines += [f"  {name:<11} {value}" for name, value in rows if value is not None]
    return "\n".join(lines)


def _format_dead_job(job: Mapping[str, Any]) -> str:
    parts = [str(job.get("id")), str(job.get("type")),
             f"{job.get('attempts')}/{job.get('max_attempts')} attempts",
             f"died {job.get('completed_at') or '-'}"]
    if job.get("error"):
        parts.append(f"error: {job['error']}")
    return "  ".join(parts)


def _payload(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"--payload: not valid JSON: {exc}") from None


def _submit(client: SyncClient, args: argparse.Namespace) -> int:
    job_id = client.submit(args.type, _payload(args.payload), priority=args.priority,
                           max_attempts=args.max_attempts, timeout=args.timeout,
                           tags=args.tags)
    if not args.wait:
        if args.as_json:
            _print_json({"job_id": job_id, "status": "pending"})
        else:
            print(job_id, flush=True)
        return 0
    job = client.wait(job_id)
    if args.as_json:
        _print_json(job)
    else:
        print(format_job(job, colour=_use_colour()), flush=True)
    return 0 if job["status"] == "completed" else EXIT_API_ERROR


def _status(client: SyncClient, args: argparse.Namespace) -> int:
    job = client.get(args.job_id)
    if args.as_json:
        _print_json(job)
    else:
        print(format_job(job, colour=_use_colour()))
    return 0


def _stats(client: SyncClient, args: argparse.Namespace) -> int:
    stats = client.stats()
    if args.as_json:
        _print_json(stats)
    else:
        width = max(map(len, stats), default=0)
        for name, value in stats.items():
            print(f"{name:<{width}}  {value}")
    return 0


def _cancel_or_retry(client: SyncClient, args: argparse.Namespace) -> int:
    """``boltq cancel ID`` and ``boltq retry ID``: one call, the job's new status."""
    answer = client.cancel(args.job_id) if args.command == "cancel" else \
        client.retry(args.job_id)
    if args.as_json:
        _print_json(answer)
    else:
        print(f"{answer['job_id']}: {answer['status']}")
    return 0


def _dead_letter(client: SyncClient, args: argparse.Namespace) -> int:
    if args.action == "retry":
        answer = client.retry_dead_letter()
        if args.as_json:
            _print_json(answer)
        else:
            print(f"retried {answer['retried']} job(s)")
    elif args.action == "purge":
        purged = client.purge_dead_letter()
        if args.as_json:
            _print_json({"purged": purged})
        else:
            print(f"purged {purged} job(s)")
    else:
        page = client.list_dead_letter(limit=args.limit)
        if args.as_json:
            _print_json(page)
        elif not page["jobs"]:
            print("the dead letter queue is empty")
        else:
            for job in page["jobs"]:
                print(_format_dead_job(job))
            if page.get("next_cursor"):
                print(f"(more than {len(page['jobs'])}; use --limit to see more)")
    return 0


async def _watch(url: str, token: str | None, args: argparse.Namespace) -> int:
    """Print events until SIGINT, which ends the watch normally."""
    from boltq.client import Client

    colour = _use_colour()
    async with Client(url, token=token) as client:
        stream = client.events(job_id=args.job_ids, type=args.types, status=args.statuses,
                               tag=args.tags, since=args.since)
        with trio.open_signal_receiver(signal.SIGINT) as interrupts, \
                trio.CancelScope() as scope:

            async def stop_on_interrupt() -> None:
                async for _ in interrupts:
                    scope.cancel()
                    return

            async with trio.open_nursery() as nursery:
                nursery.start_soon(stop_on_interrupt)
                try:
                    await stream.connect()
                    async for event in stream:
                        print(json.dumps(event) if args.as_json
                              else format_event(event, colour=colour), flush=True)
                finally:
                    nursery.cancel_scope.cancel()
        await stream.aclose()
    return 0


_SYNC_COMMANDS: dict[str, Callable[[SyncClient, argparse.Namespace], int]] = {
    "submit": _submit, "status": _status, "stats": _stats, "cancel": _cancel_or_retry,
    "retry": _cancel_or_retry, "dead-letter": _dead_letter,
}


def run_client_command(args: argparse.Namespace) -> int:
    """Run one client command; every failure a user can cause is one line on stderr."""
    # the event stream logs its reconnects; say them the way the CLI speaks
    logging.basicConfig(level=logging.WARNING, format="boltq: %(message)s")
    # loaded here, not at the top: `boltq run` on a worker never needs httpx
    from boltq.client import ApiError, SyncClient

    token = args.token or os.environ.get("BOLTQ_TOKEN") or None
    try:
        url = _api_url(args.url)
        if args.command == "watch":
            return trio.run(_watch, url, token, args)
        with SyncClient(url, token=token) as client:
            return _SYNC_COMMANDS[args.command](client, args)
    except BaseException as exc:
        failure = _single_leaf(exc)
        if isinstance(failure, KeyboardInterrupt):
            return 0 if args.command == "watch" else EXIT_INTERRUPTED
        if isinstance(failure, BrokenPipeError):
            # the reader went away (e.g. `boltq watch | head`): nothing left to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        if isinstance(failure, UsageError):
            print(f"boltq: {args.command}: {failure}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(failure, ApiError):
            print(f"boltq: {failure.message}", file=sys.stderr)
            return EXIT_API_ERROR
        if failure is not exc:
            raise failure from None
        raise
