"""A TAK-like listener for the tests, on 127.0.0.1: TLS that demands a client certificate
(as TAK Server's port 8089 does), plain TCP, or UDP; every CoT event it receives parsed.
Its certificates come from `tests.pki`."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.pki import HOST, Pki

# -- certificates ---------------------------------------------------------------------


def server_context(pki: Pki, client_ca: Path | None = None) -> ssl.SSLContext:
    """TAK Server's side: its certificate, and a client certificate signed by
    `client_ca` (default: the PKI's own CA) demanded."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=client_ca or pki.ca_cert)
    return context


# -- the listener ---------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    event: ET.Element
    at_monotonic_s: float

    @property
    def type(self) -> str:
        return self.event.get("type", "")

    @property
    def uid(self) -> str:
        return self.event.get("uid", "")

    def point(self) -> tuple[float, float]:
        point = self.event.find("point")
        assert point is not None
        return float(point.get("lat", "nan")), float(point.get("lon", "nan"))

    def time(self, name: str = "time") -> dt.datetime:
        return dt.datetime.fromisoformat(self.event.get(name, ""))


@dataclass
class TakListener:
    """What arrived: every event parsed, connections accepted and refused."""

    port: int
    events: list[Received] = field(default_factory=list)
    connections: int = 0  # streams accepted (after the TLS handshake, for TLS)
    malformed: int = 0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def take(self, raw: bytes) -> None:
        try:
            event = ET.fromstring(raw)
        except ET.ParseError:
            self.malformed += 1
            return
        self.events.append(Received(event, time.monotonic()))
        self._arrived.set()

    def of(self, predicate: Callable[[Received], bool]) -> list[Received]:
        return [r for r in self.events if predicate(r)]

    async def wait_for(
        self, what: str, predicate: Callable[[Received], bool], timeout_s: float, count: int = 1
    ) -> list[Received]:
        """The events `predicate` takes, once there are `count` of them."""
        try:
            async with asyncio.timeout(timeout_s):
                while len(found := self.of(predicate)) < count:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            types = sorted({r.type for r in self.events})
            raise AssertionError(
                f"{what}: {len(self.of(predicate))} of {count} within {timeout_s:g} s "
                f"({len(self.events)} event(s) of types {types} arrived, "
                f"{self.connections} connection(s))"
            ) from None
        return found


@contextlib.asynccontextmanager
async def stream_listener(
    port: int = 0, context: ssl.SSLContext | None = None
) -> AsyncIterator[TakListener]:
    """TCP (TLS with `context`) on 127.0.0.1:`port` (0: a free one) while the block runs."""
    listener = TakListener(port)
    connections: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections.add(task)
        listener.connections += 1
        buffer = b""
        try:
            while data := await reader.read(65536):
                buffer += data
                while (end := buffer.find(b"</event>")) >= 0:
                    listener.take(buffer[: end + len(b"</event>")].strip())
                    buffer = buffer[end + len(b"</event>") :]
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            connections.discard(task)
            writer.close()

    server = await asyncio.start_server(serve, HOST, port, ssl=context)
    listener.port = server.sockets[0].getsockname()[1]
    try:
        yield listener
    finally:
        server.close()
        for task in list(connections):
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await server.wait_closed()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, listener: TakListener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.listener.take(data)


@contextlib.asynccontextmanager
async def udp_listener() -> AsyncIterator[TakListener]:
    """UDP on 127.0.0.1, a free port: one CoT event a datagram, as ATAK takes them."""
    listener = TakListener(0)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Datagrams(listener), local_addr=(HOST, 0)
    )
    listener.port = transport.get_extra_info("sockname")[1]
    try:
        yield listener
    finally:
        transport.close()
