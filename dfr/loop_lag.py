"""How late the event loop runs: a task that asks to wake every `interval_s` and records
how much later it woke. /api/health reports it; a late loop is the server's fault, never
a drone's."""

from __future__ import annotations

import asyncio
import time
from collections import deque


class LoopLag:
    def __init__(self, interval_s: float = 0.1, window: int = 100) -> None:
        self.interval_s = interval_s
        self._lags_s: deque[float] = deque(maxlen=window)

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            asked = time.monotonic()
            await asyncio.sleep(self.interval_s)
            self._lags_s.append(max(0.0, time.monotonic() - asked - self.interval_s))

    def report(self) -> dict[str, float | None]:
        """The last lag and the worst of the recent window, in milliseconds."""
        if not self._lags_s:
            return {"last_ms": None, "max_ms": None}
        return {
            "last_ms": round(1000 * self._lags_s[-1], 1),
            "max_ms": round(1000 * max(self._lags_s), 1),
        }
