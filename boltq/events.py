"""Live job events for WebSocket subscribers.

One :class:`EventHub` per API process reads the queue's event stream (so it
sees every process's transitions) and fans each event out to subscribers
through bounded channels. A subscriber that falls behind is dropped rather
than allowed to grow memory; it reconnects with ``since=<last id>``.
Resuming reads the gap from the stream first, then the live feed, skipping
anything it already sent: no gap, no duplicate.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from boltq.actors.outage import Outage
from boltq.record import ms_to_datetime
from boltq.store import UNREACHABLE_ERRORS, Store

log = logging.getLogger("boltq.events")

#: Events a subscriber may have waiting before it counts as too slow.
SUBSCRIBER_BUFFER = 2000
#: How long one blocking stream read waits in Redis before looking again.
READ_BLOCK_MS = 1000
READ_BATCH = 500


def stream_id_key(event_id: str) -> tuple[int, int]:
    """Stream ids compare as (milliseconds, sequence)."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


def event_to_wire(event_id: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """One stream entry as the JSON message subscribers receive."""
    message: dict[str, Any] = {
        "id": event_id,
        "job_id": fields["job_id"],
        "event": fields["event"],
        "status": fields.get("status"),
        "type": fields.get("type"),
        "attempt": int(fields.get("attempt", 0)),
        "worker_id": fields.get("worker_id"),
        "error": fields.get("error"),
        "tags": json.loads(fields.get("tags") or "[]"),
        "timestamp": ms_to_datetime(int(fields["ts"])).isoformat(timespec="milliseconds"),
    }
    if "next_retry_at" in fields:
        message["next_retry_at"] = ms_to_datetime(
            int(fields["next_retry_at"])).isoformat(timespec="milliseconds")
    return message


@attrs.frozen
class EventFilter:
    """Which events a subscriber wants; an empty field matches everything."""

    job_ids: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    def matches(self, message: Mapping[str, Any]) -> bool:
        return ((not self.job_ids or message["job_id"] in self.job_ids)
                and (not self.types or message["type"] in self.types)
                and (not self.statuses or message["status"] in self.statuses)
                and (not self.tags or not self.tags.isdisjoint(message["tags"])))


class SubscriberTooSlow(Exception):
    """The subscriber's buffer filled up: it is dropped, not waited for."""


class Subscription:
    """One subscriber's view: history since an id, then the live feed."""

    def __init__(self, receive: trio.MemoryReceiveChannel[dict[str, Any]],
                 dropped: trio.Event) -> None:
        self._receive = receive
        self._dropped = dropped

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> dict[str, Any]:
        try:
            return await self._receive.receive()
        except trio.EndOfChannel:
            if self._dropped.is_set():
                raise SubscriberTooSlow() from None
            raise StopAsyncIteration from None


class EventHub:
    """Reads the event stream once per process and feeds every subscriber."""

    def __init__(self, store: Store, *, buffer: int = SUBSCRIBER_BUFFER) -> None:
        self.store = store
        self.buffer = buffer
        self._subscribers: dict[int, tuple[trio.MemorySendChannel[dict[str, Any]],
                                           EventFilter, trio.Event]] = {}
        self._next_key = 0
        self._last_id = "0-0"
        self._ready = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
                  ) -> None:
        """Follow the stream from its current end, forever."""
        outage = Outage("event hub")
        stream = self.store.keys.events
        while True:
            try:
                info = await self.store.client.xinfo_stream(stream)
                self._last_id = info["last-generated-id"]
                break
            except UNREACHABLE_ERRORS as exc:
                await outage.failed(exc)
            except Exception:  # no stream yet: follow from the start
                break
        self._ready.set()
        task_status.started()
        while True:
            try:
                reply = await self.store.client.xread({stream: self._last_id},
                                                      count=READ_BATCH, block=READ_BLOCK_MS)
            except UNREACHABLE_ERRORS as exc:
                await outage.failed(exc)
                continue
            outage.succeeded()
            for entry in (reply or {}).get(stream, ()):
                self._last_id = entry.identifier
                self._publish(event_to_wire(entry.identifier, entry.field_values))

    def _publish(self, message: dict[str, Any]) -> None:
        for key, (send, wanted, dropped) in list(self._subscribers.items()):
            if not wanted.matches(message):
                continue
            try:
                send.send_nowait(message)
            except trio.WouldBlock:
                dropped.set()
                send.close()
                del self._subscribers[key]

    async def _history(self, since: str, until: str,
                       wanted: EventFilter) -> list[dict[str, Any]]:
        """Events after ``since`` up to and including ``until``."""
        found: list[dict[str, Any]] = []
        start = f"({since}"
        while True:
            entries = await self.store.client.xrange(self.store.keys.events, start, until,
                                                     count=READ_BATCH)
            for entry in entries:
                message = event_to_wire(entry.identifier, entry.field_values)
                if wanted.matches(message):
                    found.append(message)
            if len(entries) < READ_BATCH:
                return found
            start = f"({entries[-1].identifier}"

    @asynccontextmanager
    async def subscribe(self, wanted: EventFilter,
                        since: str | None = None) -> AsyncIterator[Subscription]:
        """Live events matching ``wanted``; with ``since``, the missed ones first."""
        await self._ready.wait()
        send, receive = trio.open_memory_channel[dict[str, Any]](self.buffer)
        dropped = trio.Event()
        key = self._next_key
        self._next_key += 1
        self._subscribers[key] = (send, wanted, dropped)
        try:
            if since is not None:
                # registered first, so nothing published from now on is missed;
                # the history read covers everything up to what the hub has seen
                seen_by_hub = self._last_id
                history = await self._history(since, seen_by_hub, wanted)
                replay_send, replay_receive = trio.open_memory_channel[dict[str, Any]](
                    len(history) + self.buffer)
                for message in history:
                    replay_send.send_nowait(message)
                edge = stream_id_key(seen_by_hub)
                while True:
                    try:
                        message = receive.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    if stream_id_key(message["id"]) > edge:
                        replay_send.send_nowait(message)
                self._subscribers[key] = (replay_send, wanted, dropped)
                send.close()
                receive = replay_receive
            yield Subscription(receive, dropped)
        finally:
            entry = self._subscribers.pop(key, None)
            if entry is not None:
                entry[0].close()
