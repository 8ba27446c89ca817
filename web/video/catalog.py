"""The live streams a server offers, by id; starts and stops them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Self

from web.video.errors import UnknownStreamError
from web.video.stream import VideoStream


class StreamCatalog:
    """Owns running `VideoStream`s; an async context manager that closes them all."""

    def __init__(self) -> None:
        self._streams: dict[str, VideoStream] = {}

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
        while self._streams:
            _, stream = self._streams.popitem()
            await stream.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
