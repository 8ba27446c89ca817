"""The consoles' live picture: every drone's state, pushed at a fixed rate."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dfr.events import Event, EventBus


async def push_telemetry(
    bus: EventBus, drones: Callable[[], list[dict[str, Any]]], rate_hz: float
) -> None:
    """Publish `drones()` as a telemetry event `rate_hz` times a second, until cancelled."""
    period_s = 1.0 / rate_hz
    while True:
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        bus.publish(Event("telemetry", {"at": at, "drones": drones()}))
        await asyncio.sleep(period_s)
