"""Denied and refused attempts in the audit log, without letting a flood fill the database.

Each client address gets at most `per_address` entries in a window of `window_s`
(and all addresses together at most `total`); attempts beyond that are counted, and
when the window ends the counts go into one summary entry (action `audit.suppressed`).
Nothing is lost from the record but the detail of a flood, and the log grows by at
most `total + 1` entries per window whatever is sent.

    async with RefusalLog.running(store, per_address=20, window_s=60.0) as refusals:
        await refusals.record("10.0.0.7", "unknown", "access.denied", "GET /api/calls",
                              "invalid token", DENIED)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

from dfr.store import DENIED, Store, StoreError, utc_now

log = logging.getLogger(__name__)

#: Addresses a summary names one by one (the most frequent); the rest are summed.
SUMMARY_ADDRESSES = 100
#: Addresses counted apart in one window; attempts from further ones are counted together,
#: so that a flood from many addresses cannot grow the server's memory without bound.
TRACKED_ADDRESSES = 10_000
OTHER = "(other addresses)"


class RefusalLog:
    """Audits refusals with a bound per client address; see the module docstring."""

    def __init__(
        self,
        store: Store,
        per_address: int,
        window_s: float,
        total: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.per_address = per_address
        self.window_s = window_s
        self.total = total
        self._clock = clock
        self._written: Counter[str] = Counter()  # entries per address in this window
        self._suppressed: Counter[str] = Counter()  # attempts only counted, per address
        self._window_end_s: float | None = None  # None: no window open
        self._window_from = ""
        self._opened = asyncio.Event()

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, store: Store, per_address: int, window_s: float, total: int = 1000
    ) -> AsyncIterator[RefusalLog]:
        """Summarise each window when it ends, and the last one on exit."""
        refusals = cls(store, per_address, window_s, total)
        async with asyncio.TaskGroup() as group:
            summaries = group.create_task(refusals._summarise_forever(), name="refusal summaries")
            try:
                yield refusals
            finally:
                summaries.cancel()
                await refusals.flush()

    async def record(
        self,
        address: str,
        actor: str,
        action: str,
        subject: str,
        reason: str,
        outcome: str = DENIED,
        details: dict[str, Any] | None = None,
    ) -> bool:
        """Audit one refused attempt from `address`, or only count it when the address
        (or everyone) has had its entries for this window. True when written."""
        now_s = self._clock()
        if self._window_end_s is not None and now_s >= self._window_end_s:
            await self.flush()
        if self._window_end_s is None:
            self._window_end_s = now_s + self.window_s
            self._window_from = utc_now()
            self._opened.set()
        written = self._written.total()
        if self._written[address] >= self.per_address or written >= self.total:
            tracked = address in self._suppressed or len(self._suppressed) < TRACKED_ADDRESSES
            self._suppressed[address if tracked else OTHER] += 1
            return False
        self._written[address] += 1
        await self._store.audit(
            actor, action, subject, {**(details or {}), "address": address}, outcome, reason
        )
        return True

    @property
    def suppressed(self) -> int:
        """Attempts counted but not yet summarised."""
        return self._suppressed.total()

    async def flush(self) -> None:
        """Close the window: one summary entry for the attempts it only counted."""
        suppressed, window_from = self._suppressed, self._window_from
        self._written, self._suppressed = Counter(), Counter()
        self._window_end_s = None
        self._opened.clear()
        if not suppressed:
            return
        named = dict(suppressed.most_common(SUMMARY_ADDRESSES))
        details = {
            "from": window_from,
            "to": utc_now(),
            "suppressed": suppressed.total(),
            "by_address": named,
            "from_other_addresses": suppressed.total() - sum(named.values()),
            "per_address_limit": self.per_address,
        }
        reason = f"{suppressed.total()} more refused attempts, counted but not itemised"
        try:
            await self._store.audit("system", "audit.suppressed", "", details, DENIED, reason)
        except StoreError:
            log.error("refusal summary not audited (store closed): %s", details)

    async def _summarise_forever(self) -> None:
        while True:
            await self._opened.wait()
            end_s = self._window_end_s
            if end_s is not None:
                await asyncio.sleep(max(0.0, end_s - self._clock()))
                if self._window_end_s == end_s:  # not flushed meanwhile by `record`
                    await self.flush()
