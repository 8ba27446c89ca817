"""The vehicle's MAVLink 2 UDP link: pymavlink encoding over an asyncio datagram endpoint.

Like PX4 SITL's API link it sends to 127.0.0.1:<api port> until someone talks to it,
then answers whoever talked last. Nothing here blocks: datagrams are parsed in
`datagram_received` on the event loop. A link-loss fault closes the tap both ways.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, cast

from pymavlink.dialects.v20 import common as mavlink

from sitl.config import LOOPBACK

STATUSTEXT_LEN = 50
# Like PX4's UDP link, several messages share a datagram (up to about one MTU).
DATAGRAM_BYTES = 1400

MessageHandler = Callable[[mavlink.MAVLink_message, tuple[int, int]], None]


class Outbox(Protocol):
    """Where vehicle components send MAVLink messages."""

    @property
    def mav(self) -> mavlink.MAVLink: ...

    def send(self, msg: mavlink.MAVLink_message | bytes) -> None: ...

    def send_text(self, severity: int, text: str) -> None: ...


class MavlinkLink(asyncio.DatagramProtocol):
    """One UDP socket on 127.0.0.1 speaking MAVLink 2 as (system_id, component 1)."""

    def __init__(self, system_id: int, api_port: int, on_message: MessageHandler) -> None:
        self._mav = mavlink.MAVLink(None, srcSystem=system_id, srcComponent=1)
        self._parser = mavlink.MAVLink(None)
        self._parser.robust_parsing = True
        self._on_message = on_message
        self._remote: tuple[str, int] = (LOOPBACK, api_port)
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._text_id = 0
        self.enabled = True
        self.on_text: Callable[[str], None] | None = None  # sees every STATUSTEXT sent
        self.sent = 0
        self.received = 0

    @property
    def mav(self) -> mavlink.MAVLink:
        return self._mav

    @property
    def local_port(self) -> int | None:
        if self._transport is None:
            return None
        return self._transport.get_extra_info("sockname")[1]

    @property
    def remote(self) -> tuple[str, int]:
        return self._remote

    async def open(self, local_port: int) -> None:
        """Bind 127.0.0.1:`local_port` (0 = any free port). Raises OSError if taken."""
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(LOOPBACK, local_port))

    def close(self) -> None:
        """Close the socket; safe to call twice."""
        self._pending.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def error_received(self, exc: Exception) -> None:
        # ICMP "port unreachable" while nobody listens on the API port yet: keep sending,
        # as PX4 does, until a ground station comes up.
        pass

    def send(self, msg: mavlink.MAVLink_message | bytes) -> None:
        """Queue a message (or a frame packed with `mav`); see `flush`."""
        if not self.enabled or self._transport is None:
            return
        frame = msg if isinstance(msg, bytes) else msg.pack(self._mav)
        self._mav.seq = (self._mav.seq + 1) % 256
        self._pending.append(frame)
        self._pending_bytes += len(frame)
        self.sent += 1
        if self._pending_bytes >= DATAGRAM_BYTES:
            self.flush()

    def flush(self) -> None:
        """Send the queued messages (the clock flushes after every batch of steps)."""
        if self._pending and self._transport is not None and self.enabled:
            self._transport.sendto(b"".join(self._pending), self._remote)
        self._pending.clear()
        self._pending_bytes = 0

    def send_text(self, severity: int, text: str) -> None:
        """STATUSTEXT, split into 50-byte chunks sharing an id when longer."""
        if self.on_text is not None:
            self.on_text(text)
        data = text.encode()
        if len(data) <= STATUSTEXT_LEN:
            self.send(self._mav.statustext_encode(severity, data, 0, 0))
            return
        self._text_id = self._text_id % 65535 + 1
        for seq, start in enumerate(range(0, len(data), STATUSTEXT_LEN)):
            chunk = data[start : start + STATUSTEXT_LEN]
            self.send(self._mav.statustext_encode(severity, chunk, self._text_id, seq))

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.enabled:
            return
        try:
            messages = self._parser.parse_buffer(data) or []
        except mavlink.MAVError:
            return
        for msg in messages:
            if msg.get_type() == "BAD_DATA":
                continue
            self._remote = (addr[0], addr[1])
            self.received += 1
            self._on_message(msg, (msg.get_srcSystem(), msg.get_srcComponent()))
        self.flush()  # answer at once
