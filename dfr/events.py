"""An in-process event bus: telemetry, sortie state changes and new calls, fanned out to consoles.

Each subscriber has a bounded queue; a slow console loses its oldest events
rather than slowing the fleet or the other consoles.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """`kind` is one of: telemetry, sortie, call, alert."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    #: The server it came from, relayed (dfr.event_relay); None: this server's own.
    origin: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"type": self.kind, **self.data}


class EventBus:
    def __init__(self, queue_size: int = 256) -> None:
        self._queue_size = queue_size
        self._subscribers: set[asyncio.Queue[Event]] = set()

    def publish(self, event: Event) -> None:
        for queue in self._subscribers:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    async def stream(self) -> AsyncIterator[Event]:
        with self.subscribe() as queue:
            while True:
                yield await queue.get()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
