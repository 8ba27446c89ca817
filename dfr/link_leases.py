"""Drone-link leases: with several servers on one PostgreSQL database, exactly one of
them links each drone at a time.

A lease is a row of `link_leases` (drone, holder, epoch, expiry), taken and renewed in
one statement on the database's clock: a server gets a drone whose lease has expired
(or is its own) and keeps it by renewing about every second; the epoch counts the
changes of holder. A server that has not renewed within `ttl_s - fence_margin_s` of its
last successful renewal's start (by its own monotonic clock, which started before the
database stamped the expiry) lets its drones go at once, before anyone else can take
them: its links are dropped, nothing is commanded. Leaving the block releases its
leases, so another server takes them within a second.

    async with LinkLeases.running(url, server_id(), drone_ids, settings, gained, lost):
        ...

Only PostgreSQL has leases: one server on SQLite links every drone, as always.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

import psycopg

log = logging.getLogger(__name__)

SCHEMA = """CREATE TABLE IF NOT EXISTS link_leases (
    drone_id TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
)"""

#: Take every lease that is free, expired or ours; renew ours. One statement, the
#: database's clock. A new holder bumps the epoch.
ACQUIRE = """INSERT INTO link_leases AS l (drone_id, holder, epoch, expires_at)
SELECT d, %(holder)s, 1, now() + make_interval(secs => %(ttl_s)s)
FROM unnest(%(drones)s::text[]) AS d
ON CONFLICT (drone_id) DO UPDATE
SET holder = excluded.holder,
    epoch = CASE WHEN l.holder = excluded.holder THEN l.epoch ELSE l.epoch + 1 END,
    expires_at = excluded.expires_at
WHERE l.expires_at < now() OR l.holder = excluded.holder
RETURNING drone_id, epoch"""

HOLDERS = "SELECT drone_id, holder FROM link_leases WHERE drone_id = ANY(%(drones)s::text[])"
RELEASE = "DELETE FROM link_leases WHERE holder = %(holder)s"


def server_id() -> str:
    """This server's name among its peers: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    #: A lease not renewed for this long may be taken by another server.
    ttl_s: float = 5.0
    #: How often the leases are renewed (and free ones taken).
    renew_s: float = 1.0
    #: A holder lets its drones go this long before its leases could expire.
    fence_margin_s: float = 1.0


LeaseListener = Callable[[str], None]


class LinkLeases:
    """This server's leases on its deployment's drones. Create with `running`."""

    def __init__(
        self,
        url: str,
        holder: str,
        drone_ids: Iterable[str],
        settings: LeaseSettings,
        on_gained: LeaseListener,
        on_lost: LeaseListener,
    ) -> None:
        self.holder = holder
        self._url = url
        self._drones = list(drone_ids)
        self._settings = settings
        self._on_gained = on_gained
        self._on_lost = on_lost
        self._held: dict[str, int] = {}  # drone id → epoch
        self._holders: dict[str, str] = {}  # drone id → holder, as last read
        self._renewed_at: float | None = None  # monotonic start of the last good renewal
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls,
        url: str,
        holder: str,
        drone_ids: Iterable[str],
        settings: LeaseSettings,
        on_gained: LeaseListener,
        on_lost: LeaseListener,
    ) -> AsyncIterator[LinkLeases]:
        """Take and renew leases in the background until exit, then release them."""
        leases = cls(url, holder, drone_ids, settings, on_gained, on_lost)
        try:
            async with asyncio.TaskGroup() as group:
                renew = group.create_task(leases._renew_forever(), name="link leases")
                fence = group.create_task(leases._fence_forever(), name="lease fence")
                try:
                    yield leases
                finally:
                    renew.cancel()
                    fence.cancel()
        finally:
            await leases._release()

    def holds(self, drone_id: str) -> bool:
        return drone_id in self._held

    def holder_of(self, drone_id: str) -> str | None:
        """The server that held the drone's lease at the last look (None: nobody)."""
        if drone_id in self._held:
            return self.holder
        return self._holders.get(drone_id)

    def epoch(self, drone_id: str) -> int | None:
        return self._held.get(drone_id)

    # -- inside ---------------------------------------------------------------------

    async def _connection(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, application_name="dfr leases", prepare_threshold=None
            )
            await self._conn.execute(SCHEMA)
        return self._conn

    async def _renew_forever(self) -> None:
        while True:
            started = time.monotonic()
            try:
                async with asyncio.timeout(self._settings.renew_s * 2):
                    await self._renew(started)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning("lease renewal failed: %s", exc)
                await self._drop_connection()
            await asyncio.sleep(max(0.0, self._settings.renew_s - (time.monotonic() - started)))

    async def _renew(self, started: float) -> None:
        conn = await self._connection()
        params = {"holder": self.holder, "ttl_s": self._settings.ttl_s, "drones": self._drones}
        rows = await (await conn.execute(ACQUIRE, params)).fetchall()
        holders = await (await conn.execute(HOLDERS, params)).fetchall()
        self._renewed_at = started
        self._holders = {str(d): str(h) for d, h in holders}
        now_held = {str(d): int(e) for d, e in rows}  # type: ignore[call-overload]
        for drone_id in [d for d in self._held if d not in now_held]:
            self._let_go(drone_id, "taken by another server")
        for drone_id, epoch in now_held.items():
            if drone_id not in self._held:
                self._held[drone_id] = epoch
                log.info("took the link lease of %s (epoch %d)", drone_id, epoch)
                self._on_gained(drone_id)

    async def _fence_forever(self) -> None:
        """Let every drone go once the leases may have expired unrenewed."""
        deadline_s = self._settings.ttl_s - self._settings.fence_margin_s
        while True:
            await asyncio.sleep(min(0.2, self._settings.renew_s / 4))
            renewed = self._renewed_at
            if self._held and (renewed is None or time.monotonic() - renewed > deadline_s):
                for drone_id in list(self._held):
                    self._let_go(drone_id, "not renewed in time")

    def _let_go(self, drone_id: str, why: str) -> None:
        del self._held[drone_id]
        log.warning("let the link lease of %s go: %s", drone_id, why)
        self._on_lost(drone_id)

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()

    async def _release(self) -> None:
        """Give every lease back at once (a clean shutdown), so a peer takes them."""
        for drone_id in list(self._held):
            self._let_go(drone_id, "shutting down")
        try:
            async with asyncio.timeout(5.0):
                conn = await self._connection()
                await conn.execute(RELEASE, {"holder": self.holder})
        except (psycopg.Error, OSError, TimeoutError) as exc:
            log.warning("leases not released (they expire on their own): %s", exc)
        finally:
            await self._drop_connection()
