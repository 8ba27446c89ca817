"""Several simulated vehicles in one process on one lockstep clock.

    configs = [SimConfig(home=h, instance=i, speed_factor=10.0) for i, h in enumerate(homes)]
    async with SimFleet.running(configs) as fleet:
        addresses = [v.mavlink_address for v in fleet.vehicles]

The clock runs every vehicle one physics step at a time, batching the steps due
since its last wake-up (it sleeps at least `MIN_TICK_S` of wall time). When the
host cannot keep up, vehicle time slows down instead of skipping steps, as PX4's
lockstep does: `achieved_speed_factor` tells by how much.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from sitl.config import SimConfig
from sitl.errors import SimulatorStopped
from sitl.vehicle import SimVehicle

MIN_TICK_S = 0.01
MAX_LAG_S = 0.2  # wall-time worth of steps run in one catch-up burst before time slips


class SimFleet:
    """N vehicles sharing a speed factor and a physics step."""

    def __init__(self, configs: Sequence[SimConfig]) -> None:
        if not configs:
            raise ValueError("a fleet needs at least one vehicle")
        first = configs[0]
        for cfg in configs[1:]:
            if cfg.speed_factor != first.speed_factor or cfg.physics_step_s != first.physics_step_s:
                raise ValueError("all vehicles of a fleet share speed_factor and physics_step_s")
        ids = [cfg.system_id for cfg in configs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"instances must differ, got system ids {ids}")
        self.speed_factor = first.speed_factor
        self.physics_step_s = first.physics_step_s
        self.vehicles = [SimVehicle(cfg) for cfg in configs]
        self.steps = 0
        self.wall_elapsed_s = 0.0
        self._stopping = False
        self._tick: asyncio.Future[None] | None = None

    @classmethod
    @asynccontextmanager
    async def running(cls, configs: Sequence[SimConfig]) -> AsyncIterator[SimFleet]:
        """Open every vehicle's socket and run the clock until the block exits."""
        fleet = cls(configs)
        try:
            for vehicle in fleet.vehicles:
                vehicle.attach(fleet)
                await vehicle.open()
            clock = asyncio.create_task(fleet._run_clock(), name="sitl-clock")
            try:
                yield fleet
            finally:
                # The clock notices within one tick; awaiting it surfaces its errors.
                fleet._stopping = True
                await clock
        finally:
            fleet.close()

    @classmethod
    @asynccontextmanager
    async def single(cls, config: SimConfig) -> AsyncIterator[SimVehicle]:
        """Run one vehicle on its own clock until the block exits."""
        async with cls.running([config]) as fleet:
            yield fleet.vehicles[0]

    def close(self) -> None:
        """Close every socket; safe to call twice."""
        self._stopping = True
        for vehicle in self.vehicles:
            vehicle.close()
            vehicle.attach(None)
        if self._tick is not None and not self._tick.done():
            self._tick.set_exception(SimulatorStopped("the simulator has been closed"))

    @property
    def vehicle_time_s(self) -> float:
        return self.steps * self.physics_step_s

    @property
    def achieved_speed_factor(self) -> float:
        return self.vehicle_time_s / self.wall_elapsed_s if self.wall_elapsed_s > 0 else 0.0

    async def next_tick(self) -> None:
        """Wait until the clock has run its next batch of steps."""
        loop = asyncio.get_running_loop()
        if self._stopping:
            raise SimulatorStopped("the simulator clock has stopped")
        if self._tick is None or self._tick.done():
            self._tick = loop.create_future()
        await asyncio.shield(self._tick)

    def step(self) -> None:
        """Advance every vehicle one physics step (the clock calls this)."""
        for vehicle in self.vehicles:
            vehicle.step()
        self.steps += 1

    async def _run_clock(self) -> None:
        try:
            await self._tick_forever()
        finally:
            if self._tick is not None and not self._tick.done():
                self._tick.set_exception(SimulatorStopped("the simulator clock has stopped"))

    async def _tick_forever(self) -> None:
        loop = asyncio.get_running_loop()
        wall_per_step = self.physics_step_s / self.speed_factor
        max_burst = max(1, int(MAX_LAG_S / wall_per_step))
        started = anchor = loop.time()
        done = 0
        while not self._stopping:
            due = int((loop.time() - anchor) / wall_per_step) - done
            if due > max_burst:
                # The host is behind: let vehicle time slip rather than race to catch up.
                anchor += (due - max_burst) * wall_per_step
                due = max_burst
            for _ in range(due):
                self.step()
            for vehicle in self.vehicles:
                vehicle.link.flush()
            done += due
            self.wall_elapsed_s = loop.time() - started
            if due and self._tick is not None and not self._tick.done():
                self._tick.set_result(None)
            wake = anchor + (done + 1) * wall_per_step
            await asyncio.sleep(max(wake - loop.time(), MIN_TICK_S))
