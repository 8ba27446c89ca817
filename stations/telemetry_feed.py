"""The fan-out of one drone's telemetry: many readers, one `DroneState`, one writer.

The drone link owns exactly one subscription per telemetry stream and writes
every sample here; everyone else reads `state` or awaits a change. No reader
ever opens a stream of its own (duplicate MAVSDK subscriptions stall each other).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from missions.drone_state import DroneState, Severity, StatusText


class WaitExpired(Exception):
    """A condition was not met in time."""


class TelemetryFeed:
    """The latest `DroneState` and a way to wait for the next one.

    >>> feed = TelemetryFeed()
    >>> feed.update(armed=True)
    >>> feed.state.armed
    True
    """

    def __init__(self, status_text_history: int = 50) -> None:
        self._state = DroneState()
        self._changed = asyncio.Event()
        self._failure: BaseException | None = None
        self._history = status_text_history
        self._text_seq = 0

    @property
    def state(self) -> DroneState:
        return self._state

    @property
    def age_s(self) -> float | None:
        """Seconds since the last sample of any stream (monotonic); None before the first."""
        received = self._state.received_monotonic_s
        return None if received is None else time.monotonic() - received

    @property
    def failure(self) -> BaseException | None:
        return self._failure

    def update(self, **changes: Any) -> None:
        """Fold one sample into the state and wake every waiter."""
        self._state = replace(self._state, received_monotonic_s=time.monotonic(), **changes)
        self._notify()

    def add_status_text(self, severity: Severity, text: str) -> None:
        self._text_seq += 1
        entry = StatusText(self._text_seq, severity, text, self._state.vehicle_time_s)
        self.update(status_texts=(*self._state.status_texts, entry)[-self._history :])

    def fail(self, error: BaseException) -> None:
        """End the feed: every current and future waiter raises `error` (first one wins)."""
        if self._failure is None:
            self._failure = error
        self._notify()

    def check(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def wait_for(
        self, predicate: Callable[[DroneState], bool], timeout_s: float
    ) -> DroneState:
        """The first state (the current one included) for which `predicate` holds.

        Raises WaitExpired after `timeout_s`, or the feed's failure.
        """
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    self.check()
                    event = self._changed
                    if predicate(self._state):
                        return self._state
                    await event.wait()
        except TimeoutError as exc:
            raise WaitExpired(f"not within {timeout_s:g} s") from exc

    async def changed(self, timeout_s: float) -> DroneState:
        """The next state after this call. Raises WaitExpired or the feed's failure."""
        event = self._changed
        return await self.wait_for(lambda _state: event.is_set(), timeout_s)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
