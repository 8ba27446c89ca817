"""The connection to a TAK server (or to TAK clients over UDP), through pytak: the only
module that speaks pytak.

`TakLink.run()` connects with `pytak.protocol_factory` (TLS with a client certificate,
TCP, or UDP, write only), hands the `Outbox` to a `pytak.TXWorker` that writes each
event, and reads and passes over what the server sends (so its pings never fill a
buffer, and a closed or refused connection is seen at once). When the connection cannot
be made, or drops, it connects again after a delay that doubles from `reconnect_min_s`
to `reconnect_max_s` (with jitter), back to the minimum after a connection that lasted.

The outbox is bounded: while the server is slow or away, the oldest drone tracks are
dropped first (markers after them), and a track already stale when its turn comes is
dropped rather than sent. Nothing here ever waits on the server in the caller's task:
`Outbox.put` returns at once.

pytak reads its settings from a ConfigParser section (`pytak_config`): COT_URL, and for
TLS PYTAK_TLS_CLIENT_CERT, PYTAK_TLS_CLIENT_KEY, PYTAK_TLS_CLIENT_CAFILE and
PYTAK_TLS_CLIENT_PASSWORD (the key's passphrase: the environment's, never the
deployment file's). The server's certificate is verified against the CA given, and its
name against the URL's host.

Errors: whatever pytak, ssl or the socket raise while connecting or sending ends the
connection and is kept, described (`describe`), in `TakLinkStatus.last_error`; nothing
ends `run()` but cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
import warnings
from collections import deque
from collections.abc import Callable
from configparser import ConfigParser, SectionProxy
from dataclasses import dataclass, field
from typing import Any

from dfr.deployment import TakSettings

with warnings.catch_warnings():
    # pytak warns at import that aiohttp, for its certificate enrollment, is missing:
    # dfr brings its own certificates and does not enrol.
    warnings.simplefilter("ignore", UserWarning)
    import pytak

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TakLinkSettings:
    key_passphrase: str | None = field(default=None, repr=False)  # DFR_TAK_KEY_PASSPHRASE
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    connect_timeout_s: float = 10.0
    #: Events waiting for the server, at most; beyond, the oldest tracks are dropped.
    outbox_size: int = 500
    #: A connection that lasted this long starts the delays from the minimum again.
    lasted_s: float = 30.0


@dataclass
class TakLinkStatus:
    """What the link is doing, for logs, health and tests."""

    connected: bool = False
    attempts: int = 0  # connections tried
    connections: int = 0  # connections made (a TLS server may still refuse the certificate)
    sent: int = 0  # events handed to pytak's TX worker
    dropped: int = 0  # tracks dropped: the outbox was full, or they went stale waiting
    last_error: str | None = None


@dataclass(slots=True)
class _Outgoing:
    data: bytes
    track: bool
    expires_monotonic_s: float | None


class Outbox:
    """Events waiting to be sent, bounded; the queue pytak's TX worker takes from."""

    def __init__(self, size: int, status: TakLinkStatus) -> None:
        self._size = size
        self._items: deque[_Outgoing] = deque()
        self._ready = asyncio.Event()
        self._status = status

    def put(self, data: bytes, track: bool = False, stale_s: float | None = None) -> None:
        """Queue `data` (a track: dropped first when full, and when `stale_s` passed
        before its turn). Never waits."""
        if len(self._items) >= self._size:
            oldest = next((i for i, item in enumerate(self._items) if item.track), 0)
            del self._items[oldest]
            self._status.dropped += 1
        expires = time.monotonic() + stale_s if track and stale_s is not None else None
        self._items.append(_Outgoing(data, track, expires))
        self._ready.set()

    async def get(self) -> bytes:
        """The next event worth sending (pytak's TX worker awaits this)."""
        while True:
            while not self._items:
                self._ready.clear()
                await self._ready.wait()
            item = self._items.popleft()
            if item.expires_monotonic_s is not None and item.expires_monotonic_s < time.monotonic():
                self._status.dropped += 1
                continue
            self._status.sent += 1
            return item.data

    def qsize(self) -> int:
        return len(self._items)

    def full(self) -> bool:
        return len(self._items) >= self._size


def pytak_config(settings: TakSettings, key_passphrase: str | None = None) -> SectionProxy:
    """The ConfigParser section pytak reads, for `settings` (never the process's
    environment)."""
    parser = ConfigParser(interpolation=None)
    parser["dfr"] = {}
    section = parser["dfr"]
    # UDP write only: pytak would otherwise bind a reader to the address it sends to.
    scheme = "udp+wo" if settings.scheme == "udp" else settings.scheme
    section["COT_URL"] = f"{scheme}://{settings.address}"
    section["TAK_PROTO"] = "0"  # CoT XML (TAK protocol 0), what every TAK product reads
    if settings.scheme == "tls":
        # pytak copies the TLS settings into a ConfigParser of its own, which does
        # interpolate: a '%' reaches it doubled.
        tls = {
            "PYTAK_TLS_CLIENT_CERT": settings.client_cert,
            "PYTAK_TLS_CLIENT_KEY": settings.client_key,
            "PYTAK_TLS_CLIENT_CAFILE": settings.ca_cert,
            "PYTAK_TLS_CLIENT_PASSWORD": key_passphrase,
            "PYTAK_TLS_CLIENT_CIPHERS": "DEFAULT",
        }
        for key, value in tls.items():
            if value is not None:
                section[key] = str(value).replace("%", "%%")
    return section


class TakLink:
    def __init__(
        self,
        settings: TakSettings,
        link: TakLinkSettings,
        on_connected: Callable[[], None] = lambda: None,
    ) -> None:
        """`on_connected` runs each time a connection is made (to queue the whole
        picture again: a server that restarted knows nothing)."""
        self.settings = settings
        self.link = link
        self.status = TakLinkStatus()
        self.outbox = Outbox(link.outbox_size, self.status)
        self._config = pytak_config(settings, link.key_passphrase)
        self._on_connected = on_connected

    async def run(self) -> None:
        """Connect, send, and connect again after a delay, until cancelled."""
        delay_s = self.link.reconnect_min_s
        while True:
            started = time.monotonic()
            try:
                await self._session()
                why = "the server closed the connection"
            except Exception as exc:  # noqa: BLE001 - pytak raises ValueError, SyntaxError...
                why = describe(exc)
            self.status.connected = False
            self.status.last_error = why[:500]
            if time.monotonic() - started >= self.link.lasted_s:
                delay_s = self.link.reconnect_min_s
            wait_s = delay_s * random.uniform(0.5, 1.0)
            log.warning(
                "TAK %s://%s: %s; again in %.1f s",
                self.settings.scheme,
                self.settings.address,
                why,
                wait_s,
            )
            await asyncio.sleep(wait_s)
            delay_s = min(delay_s * 2, self.link.reconnect_max_s)

    async def _session(self) -> None:
        self.status.attempts += 1
        async with asyncio.timeout(self.link.connect_timeout_s):
            reader, writer = await pytak.protocol_factory(self._config)
        try:
            self.status.connected = True
            self.status.connections += 1
            log.info("TAK %s://%s: connected", self.settings.scheme, self.settings.address)
            self._on_connected()
            worker = pytak.TXWorker(self.outbox, self._config, writer)
            tasks = [asyncio.create_task(worker.run(), name="TAK send")]
            if reader is not None:
                tasks.append(asyncio.create_task(_drain(reader), name="TAK receive"))
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            for task in done:
                task.result()  # raises what ended the connection
        finally:
            await _close(writer)


def describe(exc: BaseException) -> str:
    """What went wrong, in dfr's words: pytak wraps a server certificate that does not
    verify in a SyntaxError advising to turn verification off, which dfr never does."""
    cause = exc.__cause__
    if isinstance(cause, ssl.SSLCertVerificationError):
        why = cause.verify_message or str(cause)
        return f"the TAK server's certificate does not verify against [tak] ca_cert: {why}"
    if isinstance(exc, TimeoutError) and not str(exc):
        return "timed out (connecting, or the server stopped answering)"
    text = f"{type(exc).__name__}: {exc}"
    if cause is not None:
        text += f" ({type(cause).__name__}: {cause})"
    return text


async def _drain(reader: asyncio.StreamReader) -> None:
    """Read and pass over what the server sends, until it closes the connection."""
    while await reader.read(65536):
        pass


async def _close(writer: Any) -> None:
    """Close pytak's writer: a stream (TCP, TLS) or a datagram client (UDP)."""
    with contextlib.suppress(Exception):
        writer.close()
    wait_closed = getattr(writer, "wait_closed", None)
    if wait_closed is not None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                await wait_closed()
