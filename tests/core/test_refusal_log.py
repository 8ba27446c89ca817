"""The refusal log's bound, on a clock the test moves and a real SQLite file."""

from __future__ import annotations

import asyncio

from dfr.refusal_log import RefusalLog
from dfr.store import DENIED, Store


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


async def deny(refusals: RefusalLog, address: str, times: int) -> int:
    """`times` denied requests from `address`; how many were itemised."""
    written = 0
    for _ in range(times):
        written += await refusals.record(address, "unknown", "access.denied", "GET /", "no")
    return written


async def test_each_address_has_its_own_bound_and_the_rest_is_summarised(store_url) -> None:
    clock = Clock()
    async with Store.open(store_url) as store:
        refusals = RefusalLog(store, per_address=3, window_s=60.0, clock=clock)
        assert await deny(refusals, "10.0.0.1", 50) == 3
        assert await deny(refusals, "10.0.0.2", 2) == 2  # not crowded out by the first
        assert refusals.suppressed == 47
        clock.now_s += 61.0  # the window is over: the next attempt closes it first
        assert await deny(refusals, "10.0.0.1", 1) == 1
        await refusals.flush()
        log = await store.audit_log()
    denied = [e for e in log if e.action == "access.denied"]
    assert [e.details["address"] for e in denied] == ["10.0.0.1"] * 3 + ["10.0.0.2"] * 2 + [
        "10.0.0.1"
    ]
    assert all(e.outcome == DENIED and e.reason == "no" for e in denied)
    (summary,) = [e for e in log if e.action == "audit.suppressed"]
    assert summary.details["suppressed"] == 47
    assert summary.details["by_address"] == {"10.0.0.1": 47}
    assert summary.id < denied[-1].id  # summarised before the next window's entry


async def test_all_addresses_together_have_a_bound_too(store_url) -> None:
    async with Store.open(store_url) as store:
        refusals = RefusalLog(store, per_address=2, window_s=60.0, total=5, clock=Clock())
        written = [await deny(refusals, f"10.0.1.{i}", 2) for i in range(10)]
        assert sum(written) == 5
        await refusals.flush()
        log = await store.audit_log()
    (summary,) = [e for e in log if e.action == "audit.suppressed"]
    assert summary.details["suppressed"] == 15
    assert len(log) == 6


async def test_a_window_is_summarised_when_it_ends_without_another_attempt(store_url) -> None:
    async with (
        Store.open(store_url) as store,
        RefusalLog.running(store, per_address=1, window_s=0.05) as refusals,
    ):
        assert await deny(refusals, "10.0.0.9", 4) == 1
        async with asyncio.timeout(10):
            while not [e for e in await store.audit_log() if e.action == "audit.suppressed"]:  # noqa: ASYNC110 - the file has no event to await
                await asyncio.sleep(0.02)
        assert refusals.suppressed == 0
    log = await _log(store_url)
    assert [e.action for e in log] == ["access.denied", "audit.suppressed"]
    assert log[1].details["by_address"] == {"10.0.0.9": 3}


async def _log(store_url):
    async with Store.open(store_url) as store:
        return await store.audit_log()
