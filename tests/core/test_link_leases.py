"""Drone-link leases on a real PostgreSQL: one holder per drone, released on a clean
exit, taken over once a holder stops renewing, and a holder that cannot renew lets its
drones go by itself (dfr.link_leases)."""

from __future__ import annotations

import asyncio
import contextlib

import psycopg

from dfr.link_leases import LeaseSettings, LinkLeases

DRONES = ["d1", "d2", "d3"]
#: A wide fence margin: the holder must let go before the other could take over even
#: when this (shared) event loop runs late.
FAST = LeaseSettings(ttl_s=4.0, renew_s=0.2, fence_margin_s=2.0)


class Seen:
    """What one server's lease listeners were told."""

    def __init__(self) -> None:
        self.held: set[str] = set()
        self.changed = asyncio.Event()

    def gained(self, drone_id: str) -> None:
        self.held.add(drone_id)
        self.changed.set()

    def lost(self, drone_id: str) -> None:
        self.held.discard(drone_id)
        self.changed.set()

    async def until(self, held: set[str], timeout_s: float = 30.0) -> None:
        async with asyncio.timeout(timeout_s):
            while self.held != held:
                self.changed.clear()
                await self.changed.wait()


def running(url: str, name: str, seen: Seen) -> contextlib.AbstractAsyncContextManager[LinkLeases]:
    return LinkLeases.running(url, name, DRONES, FAST, seen.gained, seen.lost)


async def rows(url: str) -> list[tuple[str, str, int]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT drone_id, holder, epoch FROM link_leases ORDER BY 1")
        return [(str(d), str(h), int(e)) for d, h, e in await cur.fetchall()]


async def test_one_server_holds_each_drone_and_a_clean_exit_hands_them_over(
    postgres_url: str,
) -> None:
    a, b = Seen(), Seen()
    async with running(postgres_url, "a", a) as leases_a:
        await a.until(set(DRONES))
        async with running(postgres_url, "b", b) as leases_b:
            await asyncio.sleep(FAST.renew_s * 5)  # b tries several times
            assert b.held == set()
            assert leases_b.holder_of("d1") == "a"
            assert leases_a.holds("d1")
        assert a.held == set(DRONES)
    assert a.held == set()
    assert await rows(postgres_url) == []  # released

    async with running(postgres_url, "b", b):
        await b.until(set(DRONES))
        assert {h for _, h, _ in await rows(postgres_url)} == {"b"}


async def test_a_server_that_stops_renewing_loses_its_drones_before_another_takes_them(
    postgres_url: str,
) -> None:
    a, b = Seen(), Seen()
    async with running(postgres_url, "a", a) as leases_a:
        await a.until(set(DRONES))
        first_epoch = leases_a.epoch("d1")
        # a's database connection breaks and cannot come back: it renews no more.
        leases_a._url = "postgresql://127.0.0.1:1/nowhere"
        assert leases_a._conn is not None
        await leases_a._conn.close()
        async with running(postgres_url, "b", b) as leases_b:
            await a.until(set())  # a fenced itself ...
            assert b.held == set()  # ... while its leases had not expired yet
            await b.until(set(DRONES))
            assert leases_b.epoch("d1") == (first_epoch or 0) + 1
