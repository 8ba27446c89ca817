"""Benchmark: N vehicles in one process for a fixed span of vehicle time.

    python -m sitl.bench [--vehicles 3] [--speed 10] [--span 120] [--fast-hz 50]

Each vehicle flies a DFR-like sortie on its own (arm when armable, take off to 60 m,
1.5 km goto at 20 m/s) while a UDP sink on the API ports counts what it receives.
Prints the achieved speed factor (vehicle s per wall s) and this process's CPU use
(100 % = one core). MAVSDK is not part of the measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import resource
import time
from dataclasses import dataclass

from missions.geo import GeoPoint
from sitl.config import LOOPBACK, SimConfig
from sitl.fleet import SimFleet
from sitl.modes import FlightMode
from sitl.navigator import Goal
from sitl.vehicle import SimVehicle

PUEBLO = GeoPoint(38.2544, -104.6091)


@dataclass(frozen=True, slots=True)
class BenchResult:
    vehicles: int
    speed_factor: float
    vehicle_span_s: float
    wall_s: float
    cpu_s: float
    datagrams: int

    @property
    def achieved_speed_factor(self) -> float:
        return self.vehicle_span_s / self.wall_s

    @property
    def cpu_pct(self) -> float:
        return 100.0 * self.cpu_s / self.wall_s


class _Sink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.datagrams = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.datagrams += 1


async def _sortie(vehicle: SimVehicle) -> None:
    """Arm, take off to 60 m, fly 1.5 km north-east (direct commander calls)."""
    c = vehicle.commander
    await vehicle.wait_until(lambda s: s.time_s >= vehicle.config.armable_after_s, 60.0)
    c.takeoff(60.0)
    c.arm()
    await vehicle.wait_until(lambda s: s.flight_mode is FlightMode.HOLD and s.in_air, 60.0)
    a = vehicle.airframe
    d = 1500.0 / math.sqrt(2.0)
    c.reposition(Goal(a.x_m + d, a.y_m + d, a.z_m), change_mode=True)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_bench(
    vehicles: int = 3, speed: float = 10.0, span_s: float = 120.0, fast_hz: float = 50.0
) -> BenchResult:
    loop = asyncio.get_running_loop()
    sinks = []
    transports = []
    for _ in range(vehicles):
        transport, sink = await loop.create_datagram_endpoint(_Sink, local_addr=(LOOPBACK, 0))
        transports.append(transport)
        sinks.append(sink)
    configs = [
        SimConfig(
            home=GeoPoint(PUEBLO.latitude_deg + 0.02 * i, PUEBLO.longitude_deg),
            instance=i,
            speed_factor=speed,
            api_port=transports[i].get_extra_info("sockname")[1],
            local_port=0,
            fast_stream_hz=fast_hz,
            params={"MPC_XY_CRUISE": 20.0, "MPC_XY_VEL_MAX": 20.0},
        )
        for i in range(vehicles)
    ]
    try:
        async with SimFleet.running(configs) as fleet:
            wall0, cpu0 = time.monotonic(), _cpu_s()
            async with asyncio.TaskGroup() as group:
                for vehicle in fleet.vehicles:
                    group.create_task(_sortie(vehicle))
            await fleet.vehicles[0].wait_until(lambda s: s.time_s >= span_s, span_s / speed * 10)
            wall, cpu = time.monotonic() - wall0, _cpu_s() - cpu0
            span = fleet.vehicle_time_s
    finally:
        for transport in transports:
            transport.close()
    return BenchResult(vehicles, speed, span, wall, cpu, sum(s.datagrams for s in sinks))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sitl.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--vehicles", type=int, default=3)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--span", type=float, default=120.0, help="vehicle seconds")
    parser.add_argument("--fast-hz", type=float, default=50.0)
    args = parser.parse_args(argv)
    result = asyncio.run(run_bench(args.vehicles, args.speed, args.span, args.fast_hz))
    print(
        f"{result.vehicles} vehicles, requested x{result.speed_factor:g}:"
        f" {result.vehicle_span_s:.0f} s of vehicle time in {result.wall_s:.1f} s wall"
        f" -> achieved x{result.achieved_speed_factor:.2f},"
        f" CPU {result.cpu_pct:.0f}% of one core,"
        f" {result.datagrams / result.wall_s:.0f} datagrams/s received"
    )


if __name__ == "__main__":
    main()
