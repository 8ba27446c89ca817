"""Events between servers sharing one PostgreSQL database, over LISTEN/NOTIFY.

Every event published on this server's bus (a new call, a sortie's state, an alert, ...)
is sent to the other servers on the `dfr_events` channel as JSON with this server's id,
and theirs arrive on this bus, marked with their origin so they are never sent back.
Telemetry goes drone by drone, and only for the drones this server links (a
notification carries at most 8,000 bytes): the others keep each remote drone's last
view (`remote_drone`), which their own telemetry shows for the drones they do not
link. The video stream list stays local: a console plays the streams of its server.

A `request` goes to one server (`to`), not to the buses: e.g. "start sortie 12", a
sortie another server reserved for a drone this one links. The relay's `on_request`
handles it, as a task of its own.

    async with EventRelay.running(url, server_id, bus, links=fleet_links) as relay:
        ...

Only PostgreSQL has a relay: one server on SQLite has one bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import psycopg

from dfr.events import Event, EventBus

log = logging.getLogger(__name__)

CHANNEL = "dfr_events"
#: PostgreSQL refuses a notification payload of 8,000 bytes or more.
MAX_PAYLOAD_BYTES = 7999
#: Kinds that stay on their server.
LOCAL_KINDS = frozenset({"streams"})
#: A remote drone's view older than this is not shown (its server may be gone).
REMOTE_VIEW_MAX_AGE_S = 5.0
RECONNECT_S = 1.0
#: What waits to be sent while the database is away; the oldest goes first.
OUTBOX_SIZE = 1024

RequestHandler = Callable[[str, dict[str, Any]], Coroutine[Any, Any, None]]


class EventRelay:
    """This server's bus joined to the other servers'. Create with `running`."""

    def __init__(
        self,
        url: str,
        origin: str,
        bus: EventBus,
        links: Callable[[str], bool],
        on_request: RequestHandler | None = None,
    ) -> None:
        self.origin = origin
        self._url = url
        self._bus = bus
        self._links = links  # whether this server links the drone (by drone id)
        self._on_request = on_request
        #: What to send, in order: the bus's events and requests (payloads ready).
        self._outbox: asyncio.Queue[Event | str] = asyncio.Queue(OUTBOX_SIZE)
        self._handling: set[asyncio.Task[None]] = set()
        self._remote: dict[str, tuple[float, dict[str, Any]]] = {}  # drone id → (when, view)
        self.sent = 0
        self.received = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls,
        url: str,
        origin: str,
        bus: EventBus,
        links: Callable[[str], bool],
        on_request: RequestHandler | None = None,
    ) -> AsyncIterator[EventRelay]:
        relay = cls(url, origin, bus, links, on_request)
        listening = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            receive = group.create_task(relay._receive_forever(listening), name="relay in")
            send = group.create_task(relay._send_forever(), name="relay out")
            pump = group.create_task(relay._collect_forever(), name="relay bus")
            try:
                # Events published before the LISTEN would reach nobody: wait for it
                # (bounded: a database that is down must not stop the server starting).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(10.0):
                        await listening.wait()
                yield relay
            finally:
                receive.cancel()
                send.cancel()
                pump.cancel()
                for task in list(relay._handling):
                    task.cancel()
                await asyncio.gather(*relay._handling, return_exceptions=True)

    def request(self, to: str, kind: str, data: dict[str, Any]) -> None:
        """Ask the server `to` to do something (sent in order with the events)."""
        payload = json.dumps({"origin": self.origin, "to": to, "kind": kind, "data": data})
        self._post(payload)

    def _post(self, item: Event | str) -> None:
        if self._outbox.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._outbox.get_nowait()
        self._outbox.put_nowait(item)

    def remote_drone(self, drone_id: str) -> dict[str, Any] | None:
        """The drone's last view from the server linking it, if recent."""
        seen = self._remote.get(drone_id)
        if seen is None or time.monotonic() - seen[0] > REMOTE_VIEW_MAX_AGE_S:
            return None
        return seen[1]

    # -- out ------------------------------------------------------------------------

    def payloads(self, event: Event) -> list[str]:
        """What of a local event goes to the other servers, as notification payloads."""
        if event.origin is not None or event.kind in LOCAL_KINDS:
            return []
        if event.kind == "telemetry":
            at = event.data.get("at")
            drones = [d for d in event.data.get("drones", []) if self._links(str(d.get("id")))]
            messages = [{"at": at, "drones": [d]} for d in drones]
        else:
            messages = [event.data]
        out = []
        for data in messages:
            payload = json.dumps({"origin": self.origin, "kind": event.kind, "data": data})
            if len(payload.encode()) > MAX_PAYLOAD_BYTES:
                log.warning("a %s event too large to relay (%d bytes)", event.kind, len(payload))
                continue
            out.append(payload)
        return out

    async def _collect_forever(self) -> None:
        async for event in self._bus.stream():
            self._post(event)

    async def _send_forever(self) -> None:
        while True:
            try:
                async with await self._connect() as conn:
                    while True:
                        item = await self._outbox.get()
                        payloads = [item] if isinstance(item, str) else self.payloads(item)
                        for payload in payloads:
                            await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
                            self.sent += 1
            except (psycopg.Error, OSError) as exc:
                log.warning("event relay (out): %s; reconnecting", exc)
                await asyncio.sleep(RECONNECT_S)

    # -- in -------------------------------------------------------------------------

    def take(self, payload: str) -> Event | None:
        """A notification from another server: its telemetry remembered, anything else
        the event to publish here (None: nothing to publish)."""
        try:
            message = json.loads(payload)
            origin, kind, data = message["origin"], message["kind"], message["data"]
        except (ValueError, KeyError, TypeError):
            log.warning("event relay: an unreadable notification ignored")
            return None
        if origin == self.origin:
            return None  # our own, back from the channel
        if "to" in message:
            if message["to"] == self.origin and self._on_request is not None:
                task = asyncio.create_task(self._on_request(str(kind), dict(data)))
                self._handling.add(task)
                task.add_done_callback(self._handled)
            return None
        if kind == "telemetry":
            for view in data.get("drones", []):
                self._remote[str(view.get("id"))] = (
                    time.monotonic(),
                    {**view, "linked_by": origin},
                )
            return None
        return Event(str(kind), dict(data), origin=str(origin))

    def _handled(self, task: asyncio.Task[None]) -> None:
        self._handling.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("event relay: a request failed", exc_info=task.exception())

    async def _receive_forever(self, listening: asyncio.Event) -> None:
        while True:
            try:
                async with await self._connect() as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    listening.set()
                    async for note in conn.notifies():
                        event = self.take(note.payload)
                        self.received += 1
                        if event is not None:
                            self._bus.publish(event)
            except (psycopg.Error, OSError) as exc:
                log.warning("event relay (in): %s; reconnecting", exc)
                await asyncio.sleep(RECONNECT_S)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, application_name="dfr events", prepare_threshold=None
        )
