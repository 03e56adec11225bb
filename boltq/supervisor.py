"""The supervisor: one root nursery running the actors of a process's role.

    api ─ scheduler ─ heartbeat                          (services)
    per queue:  lease keeper
                fetcher ─► jobs ─► worker x N ─► outcomes ─► acker
                        ◄─ one ticket per idle worker ─┘

Crashed actors are restarted with exponential backoff (one-for-one); an
actor that fails before it is ready stops start-up instead. Shutdown stops
the fetchers, lets running jobs finish within the grace period, cancels the
rest, writes every outcome, and puts interrupted jobs back to pending.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import attrs
import trio

from boltq.actors.acker import acker
from boltq.actors.fetcher import fetcher
from boltq.actors.heartbeat import deregister, heartbeat, supervisor_info
from boltq.actors.lease_keeper import lease_keeper
from boltq.actors.scheduler import scheduler
from boltq.actors.worker import Outcome, worker
from boltq.config import Settings
from boltq.constants import FETCHERS_PER_QUEUE, LEASE_RENEW_INTERVAL_S
from boltq.events import EventHub
from boltq.inflight import InFlight, ProcessLoad
from boltq.metrics import Metrics, new_metrics
from boltq.roles import BUILTIN_ROLES, RoleSpec
from boltq.store import UNREACHABLE_ERRORS, Claimed, Store

log = logging.getLogger("boltq.supervisor")

RESTART_INITIAL_S = 0.1
RESTART_MAX_S = 30.0
#: An actor that ran this long before crashing restarts without backoff debt.
RESTART_RESET_S = 60.0
#: Final writes at shutdown (outcomes, then the put-back) wait at most this
#: long for Redis; after a second signal, the outcomes wait only briefly.
FINAL_WRITE_S = 10.0
HURRIED_FINAL_WRITE_S = 1.0

ActorRun = Callable[[trio.TaskStatus[Any]], Awaitable[None]]


@attrs.define
class Shutdown:
    """Asks a supervisor to stop: the first request drains, the second hurries."""

    requested: trio.Event = attrs.field(factory=trio.Event)
    hurry: trio.Event = attrs.field(factory=trio.Event)

    def request(self) -> None:
        if self.requested.is_set():
            self.hurry.set()
        self.requested.set()


@attrs.frozen
class SupervisorInfo:
    """What a started supervisor reports: where its API listens (if it has one)."""

    api_urls: tuple[str, ...]
    metrics_urls: tuple[str, ...] = ()


class _ReadyFlag:
    """Passes ``started`` through and remembers that it happened."""

    def __init__(self, inner: trio.TaskStatus[Any]) -> None:
        self.inner = inner
        self.ready = False

    def started(self, value: Any = None) -> None:
        self.ready = True
        self.inner.started(value)


async def supervised(
    name: str,
    run: ActorRun,
    *,
    metrics: Metrics | None = None,
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run an actor; restart it with backoff whenever it crashes after start-up."""
    status = _ReadyFlag(task_status)
    delay = RESTART_INITIAL_S
    while True:
        began = trio.current_time()
        try:
            await run(status)  # type: ignore[arg-type]
            return
        except Exception:
            if not status.ready:
                raise
            if trio.current_time() - began > RESTART_RESET_S:
                delay = RESTART_INITIAL_S
            log.exception("actor %s crashed; restarting in %.1fs", name, delay)
            if metrics is not None:
                metrics.actor_restarts.labels(name).inc()
        await trio.sleep(delay)
        delay = min(delay * 2, RESTART_MAX_S)
        status = _ReadyFlag(trio.TASK_STATUS_IGNORED)
        status.ready = True


async def _drain(inflight: InFlight, grace: float, hurry: trio.Event) -> None:
    """Wait for held jobs to finish, until the grace period ends or we are hurried."""
    with trio.move_on_after(grace):
        async with trio.open_nursery() as nursery:
            async def end_on_hurry() -> None:
                await hurry.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(end_on_hurry)
            await inflight.wait_empty()
            nursery.cancel_scope.cancel()


async def _interrupt_wait(store: Store, waiter: str) -> None:
    """End the fetcher's blocking wait now rather than when Redis times it out."""
    # if Redis is away, the wait ends on its own within FETCH_BLOCK_S
    with trio.move_on_after(FINAL_WRITE_S), contextlib.suppress(*UNREACHABLE_ERRORS):
        await store.interrupt_wait(waiter)


async def _put_back(store: Store, inflight: InFlight) -> None:
    """Requeue what is still held after the drain (its processors were cancelled)."""
    leftovers = inflight.leases()
    if not leftovers:
        return
    with trio.CancelScope(shield=True) as final:  # the put-back must be written
        final.deadline = trio.current_time() + FINAL_WRITE_S
        try:
            await store.requeue(leftovers)
        except UNREACHABLE_ERRORS as exc:
            log.error("could not put %d job(s) back (%s); they return when their lease "
                      "expires", len(leftovers), exc)
            return
    log.info("put %d interrupted job(s) back to pending", len(leftovers))


async def run_work_path(
    settings: Settings,
    store: Store,
    shutdown: Shutdown,
    num_workers: int,
    load: ProcessLoad,
    metrics: Metrics,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Fetcher, workers, acker and lease keeper for one queue, until shutdown."""
    inflight = InFlight(store.keys.queue)
    load.ledgers.append(inflight)
    metrics.watch(store)
    restarts = partial(supervised, metrics=metrics)
    idle_send, idle_recv = trio.open_memory_channel[None](num_workers)
    jobs_send, jobs_recv = trio.open_memory_channel[Claimed](num_workers)
    outcomes_send, outcomes_recv = trio.open_memory_channel[Outcome](num_workers)
    queue = store.keys.queue

    async with trio.open_nursery() as keeper:
        await keeper.start(restarts, f"lease_keeper[{queue}]", lambda st: lease_keeper(
            store, inflight, LEASE_RENEW_INTERVAL_S, task_status=st))
        async with trio.open_nursery() as ack_path:
            await ack_path.start(acker, store, outcomes_recv, inflight, load, metrics)
            async with trio.open_nursery() as pool:
                for i in range(num_workers):
                    await pool.start(restarts, f"worker-{i + 1}[{queue}]", lambda st: worker(
                        settings.worker_id, idle_send.clone(), jobs_recv.clone(),
                        outcomes_send.clone(), inflight, load, metrics, task_status=st))
                fetch_scope = trio.CancelScope()
                # fetchers share the idle workers' tickets: while one waits for
                # its claim's reply, another claims, so Redis and Python overlap
                waiters = [f"{settings.worker_id}:{secrets.token_hex(4)}"
                           for _ in range(min(FETCHERS_PER_QUEUE, num_workers))]

                async def run_fetchers(task_status: trio.TaskStatus[None]) -> None:
                    with fetch_scope:
                        async with trio.open_nursery() as fetchers:
                            for waiter in waiters:
                                await fetchers.start(
                                    restarts, f"fetcher[{queue}]",
                                    lambda st, waiter=waiter: fetcher(
                                        store, settings.worker_id, idle_recv.clone(),
                                        jobs_send.clone(), inflight, waiter, task_status=st))
                            task_status.started()

                await pool.start(run_fetchers)
                task_status.started()

                await shutdown.requested.wait()
                log.info("queue %s: no new jobs; waiting up to %gs for %d running", queue,
                         settings.shutdown_timeout, len(inflight))
                fetch_scope.cancel()
                for waiter in waiters:
                    await _interrupt_wait(store, waiter)
                await _drain(inflight, settings.shutdown_timeout, shutdown.hurry)
                pool.cancel_scope.cancel()
            for end in (outcomes_send, jobs_send, idle_send, idle_recv, jobs_recv):
                end.close()
            # the acker ends once it has written what the workers handed it; if
            # Redis is away that could be never, so the wait is bounded
            ack_path.cancel_scope.deadline = trio.current_time() + (
                HURRIED_FINAL_WRITE_S if shutdown.hurry.is_set() else FINAL_WRITE_S)
        if ack_path.cancel_scope.cancelled_caught:
            log.error("queue %s: gave up writing outcomes (Redis unreachable); their jobs "
                      "run again after their lease expires", queue)
        # every outcome is written; what is still held was interrupted
        await _put_back(store, inflight)
        keeper.cancel_scope.cancel()


async def run_supervisor(
    settings: Settings,
    store: Store,
    shutdown: Shutdown,
    *,
    role: RoleSpec = BUILTIN_ROLES["all-in-one"],
    task_status: trio.TaskStatus[SupervisorInfo] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the role's actors until ``shutdown`` is requested, then stop without losing a job."""
    queues = role.queues or (store.keys.queue,)
    stores = [store.for_queue(queue) for queue in queues]
    num_workers = role.workers or settings.num_workers
    load = ProcessLoad()
    metrics = new_metrics(load.snapshot)
    restarts = partial(supervised, metrics=metrics)
    urls: tuple[str, ...] = ()
    metrics_urls: tuple[str, ...] = ()

    async with trio.open_nursery() as services:
        # the HTTP stack (quart, hypercorn, werkzeug: about 10 MB) is imported
        # only by processes that serve HTTP, not by plain worker processes
        if role.runs("api"):
            from boltq.actors.api import api
            from boltq.web import create_app

            hub = EventHub(stores[0])
            app = create_app(stores[0], default_max_attempts=settings.max_attempts, hub=hub,
                             tokens=settings.api_tokens, metrics=metrics)
            if not settings.api_tokens:
                log.warning("API_TOKENS is not set: the API on %s:%s is unauthenticated",
                            settings.api_host, settings.api_port)
            urls = tuple(await services.start(restarts, "api", lambda st: api(
                app, settings.api_host, settings.api_port, hub, task_status=st)))
        if settings.metrics_port is not None:
            from boltq.actors.api import api
            from boltq.web import metrics_app

            listener = metrics_app(metrics)
            for each in stores:
                metrics.watch(each)
            metrics_urls = tuple(await services.start(restarts, "metrics", lambda st: api(
                listener, settings.api_host, settings.metrics_port, task_status=st)))
            log.info("metrics on %s/metrics", metrics_urls[0])
        if role.runs("scheduler"):
            for each in stores:
                await services.start(restarts, f"scheduler[{each.keys.queue}]",
                                     lambda st, s=each: scheduler(s, metrics=metrics,
                                                                  task_status=st))
        info = supervisor_info(settings.worker_id, role.name, queues)
        heartbeat_scope = trio.CancelScope()

        async def run_heartbeat(task_status: trio.TaskStatus[None]) -> None:
            with heartbeat_scope:
                await restarts("heartbeat", lambda st: heartbeat(
                    stores, info, load.snapshot, task_status=st), task_status=task_status)

        await services.start(run_heartbeat)

        async with trio.open_nursery() as work:
            if role.runs("workers"):
                for each in stores:
                    await work.start(run_work_path, settings, each, shutdown, num_workers, load,
                                     metrics)
            log.info("boltq ready: role %s, queues %s%s%s, worker id %s", role.name,
                     ", ".join(queues),
                     f", API on {', '.join(urls)}" if urls else "",
                     f", {num_workers} workers per queue" if role.runs("workers") else "",
                     settings.worker_id)
            task_status.started(SupervisorInfo(urls, metrics_urls))
            await shutdown.requested.wait()
        heartbeat_scope.cancel()
        await deregister(stores, settings.worker_id)
        services.cancel_scope.cancel()
    log.info("shutdown complete")
