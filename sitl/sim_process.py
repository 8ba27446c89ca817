"""Simulated drones in a process of their own, one per station, like PX4 SITL instances.

The orchestrator talks to them only over MAVLink UDP, as it would to PX4, and
the simulator's physics never competes with it for the event loop.

    async with simulated_vehicles(stations, speed_factor=10, api_port_base=24540) as addresses:
        ...  # addresses[i] is the MAVSDK address of station i's drone
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from missions.geo import GeoPoint
from missions.profile import Station

READY_LINE = "sitl: ready"


@contextlib.asynccontextmanager
async def simulated_vehicles(
    stations: Sequence[Station],
    speed_factor: float = 1.0,
    api_port_base: int = 14540,
    fast_stream_hz: float | None = None,
    start_timeout_s: float = 30.0,
) -> AsyncIterator[list[str]]:
    """Start one simulated vehicle per station (instance i sends to api_port_base + i)."""
    spec = {
        "speed_factor": speed_factor,
        "fast_stream_hz": fast_stream_hz,
        "vehicles": [
            {
                "latitude_deg": s.position.latitude_deg,
                "longitude_deg": s.position.longitude_deg,
                "alt_amsl_m": s.ground_alt_amsl_m,
                "instance": i,
                "api_port": api_port_base + i,
                "hover_endurance_s": s.drone.endurance_s,
            }
            for i, s in enumerate(stations)
        ],
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sitl.sim_process",
        json.dumps(spec),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(start_timeout_s):
            assert proc.stdout is not None
            while True:
                line = await proc.stdout.readline()
                if not line:
                    raise RuntimeError("the simulator exited before it was ready")
                if line.decode().strip() == READY_LINE:
                    break
        yield [f"udpin://127.0.0.1:{api_port_base + i}" for i in range(len(stations))]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


@contextlib.asynccontextmanager
async def simulated_stations(
    stations: Sequence[Station], speed_factor: float = 1.0, api_port_base: int = 14540
) -> AsyncIterator[list[Station]]:
    """The stations, each with its drone's address pointed at a simulated vehicle."""
    async with simulated_vehicles(stations, speed_factor, api_port_base) as addresses:
        yield [
            replace(s, drone=replace(s.drone, mavlink=address))
            for s, address in zip(stations, addresses, strict=True)
        ]


async def _serve(spec: dict) -> None:
    from sitl.config import SimConfig
    from sitl.fleet import SimFleet

    configs = []
    for v in spec["vehicles"]:
        extra = {}
        if spec.get("fast_stream_hz"):
            extra["fast_stream_hz"] = spec["fast_stream_hz"]
        configs.append(
            SimConfig(
                home=GeoPoint(v["latitude_deg"], v["longitude_deg"]),
                home_alt_amsl_m=v["alt_amsl_m"],
                instance=v["instance"],
                speed_factor=spec["speed_factor"],
                api_port=v["api_port"],
                local_port=0,  # any free port: several servers may share a machine
                hover_endurance_s=v["hover_endurance_s"],
                **extra,
            )
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The parent holds our stdin: end of file means it died without stopping us
    # (kill -9), and drones of a dead demo server must not keep its ports.
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    orphaned = asyncio.create_task(stdin.read())
    orphaned.add_done_callback(lambda _: stop.set())
    async with SimFleet.running(configs):
        print(READY_LINE, flush=True)
        await stop.wait()
    orphaned.cancel()


def main(argv: Sequence[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    asyncio.run(_serve(json.loads(args[0])))


if __name__ == "__main__":
    main()
