"""A bare pymavlink ground station on a UDP socket, to check the vehicle's wire behaviour."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from pymavlink.dialects.v20 import common as mavlink

Predicate = Callable[[mavlink.MAVLink_message], bool]


class RawGcs(asyncio.DatagramProtocol):
    """Receives everything the vehicle sends; sends as system 255, component 190."""

    def __init__(self) -> None:
        self.mav = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
        self._parser = mavlink.MAVLink(None)
        self._parser.robust_parsing = True
        self.messages: list[mavlink.MAVLink_message] = []
        self.datagrams = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._vehicle: tuple[str, int] | None = None
        self._arrived = asyncio.Event()

    @property
    def port(self) -> int:
        assert self._transport is not None
        return self._transport.get_extra_info("sockname")[1]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._vehicle = addr
        self.datagrams += 1
        for msg in self._parser.parse_buffer(data) or []:
            if msg.get_type() != "BAD_DATA":
                self.messages.append(msg)
        self._arrived.set()

    def send(self, msg: mavlink.MAVLink_message) -> None:
        assert self._transport is not None
        assert self._vehicle is not None
        self._transport.sendto(msg.pack(self.mav), self._vehicle)
        self.mav.seq = (self.mav.seq + 1) % 256

    def send_many(self, messages: list[mavlink.MAVLink_message]) -> None:
        """Several messages in one datagram."""
        assert self._transport is not None
        assert self._vehicle is not None
        frames = []
        for msg in messages:
            frames.append(msg.pack(self.mav))
            self.mav.seq = (self.mav.seq + 1) % 256
        self._transport.sendto(b"".join(frames), self._vehicle)

    def of_type(self, kind: str) -> list[mavlink.MAVLink_message]:
        return [m for m in self.messages if m.get_type() == kind]

    async def wait_for(self, predicate: Predicate, timeout_s: float = 5.0, since: int = 0):
        """The first message (at index >= `since`) matching `predicate`."""
        async with asyncio.timeout(timeout_s):
            index = since
            while True:
                while index < len(self.messages):
                    msg = self.messages[index]
                    index += 1
                    if predicate(msg):
                        return msg
                self._arrived.clear()
                await self._arrived.wait()


@asynccontextmanager
async def raw_gcs() -> AsyncIterator[RawGcs]:
    loop = asyncio.get_running_loop()
    transport, gcs = await loop.create_datagram_endpoint(RawGcs, local_addr=("127.0.0.1", 0))
    try:
        yield gcs
    finally:
        transport.close()
