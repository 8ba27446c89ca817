"""The live streams a server offers, by id; starts and stops them.

Some streams run from start-up (the drones'); others are opened on demand: a
`StreamProvider` builds the stream for an id it knows (a fixed camera's), the relay
`ensure`s it when a viewer arrives and `release`s it when the last one leaves, so
thousands of registered cameras cost nothing while nobody watches them.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Self

from web.video.errors import UnknownStreamError
from web.video.stream import VideoStream

StreamProvider = Callable[[str], VideoStream | None]
"""Builds (does not start) the on-demand stream with this id, or None for an unknown id."""


class StreamCatalog:
    """Owns running `VideoStream`s; an async context manager that closes them all."""

    def __init__(self) -> None:
        self._streams: dict[str, VideoStream] = {}
        self._providers: list[StreamProvider] = []
        self._on_demand: set[str] = set()
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def provide(self, provider: StreamProvider) -> None:
        """Open streams `provider` knows on demand (see `ensure`)."""
        self._providers.append(provider)

    async def ensure(self, stream_id: str) -> None:
        """Start the on-demand stream `stream_id` unless it runs; a stream that ran from
        start-up, or an id no provider knows, is left alone (`get` answers for it).

        Raises SourceOpenError when the stream's source cannot be opened.
        """
        running = self._streams.get(stream_id)
        if running is not None and (stream_id not in self._on_demand or not running.ended):
            return
        async with self._locks[stream_id]:
            running = self._streams.get(stream_id)
            if running is not None and not running.ended:
                return
            if running is not None:  # an on-demand stream that ended: open it afresh
                await self._withdraw(stream_id)
            stream = next((s for p in self._providers if (s := p(stream_id)) is not None), None)
            if stream is None:
                return
            try:
                await stream.start()
            except BaseException:
                await stream.close()
                raise
            self._streams[stream_id] = stream
            self._on_demand.add(stream_id)

    async def release(self, stream_id: str) -> None:
        """Stop an on-demand stream (nobody watches it any more); others are left alone."""
        if stream_id not in self._on_demand:
            return
        async with self._locks[stream_id]:
            if stream_id in self._on_demand:
                await self._withdraw(stream_id)

    def on_demand(self, stream_id: str) -> bool:
        """Whether `stream_id` runs because someone watches it."""
        return stream_id in self._on_demand

    async def _withdraw(self, stream_id: str) -> None:
        self._on_demand.discard(stream_id)
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            await stream.close()

    async def start(self, stream: VideoStream) -> VideoStream:
        """Start `stream` and offer it; raises SourceOpenError or ValueError (duplicate id)."""
        if stream.stream_id in self._streams:
            raise ValueError(f"stream {stream.stream_id!r} already exists")
        await stream.start()
        self._streams[stream.stream_id] = stream
        return stream

    async def stop(self, stream_id: str) -> None:
        """Stop and withdraw a stream; its viewers and recorders see it end."""
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            raise UnknownStreamError(stream_id)
        await stream.close()

    def get(self, stream_id: str) -> VideoStream:
        """The stream with this id; raises UnknownStreamError."""
        try:
            return self._streams[stream_id]
        except KeyError:
            raise UnknownStreamError(stream_id) from None

    def __iter__(self) -> Iterator[VideoStream]:
        return iter(tuple(self._streams.values()))

    def __len__(self) -> int:
        return len(self._streams)

    async def close(self) -> None:
        """Stop every stream; safe to call more than once."""
        self._on_demand.clear()
        while self._streams:
            _, stream = self._streams.popitem()
            await stream.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
