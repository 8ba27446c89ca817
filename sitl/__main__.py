"""Run simulated PX4 vehicles until interrupted: ``python -m sitl --home LAT,LON,ALT --speed N``.

One ``--home`` per vehicle; vehicle i is MAVLink system i+1 and streams to
127.0.0.1:(14540+i) from local port 14580+i, like PX4 SITL instance i, so MAVSDK
connects with ``udpin://127.0.0.1:1454i``. Examples::

    python -m sitl --home 38.2544,-104.6091,1430 --home 38.2870,-104.5930,1440 --speed 5
    python -m sitl --home 38.2544,-104.6091,1430 --param MPC_XY_CRUISE=20 --fault 0:gps-loss@90

Faults: ``INSTANCE:KIND[=VALUE][@T]`` with KIND link-loss, battery (VALUE = % left),
gps-loss or refuse-arming, applied at vehicle time T seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from missions.geo import CoordinateError, GeoPoint
from sitl.config import API_PORT_BASE, LOCAL_PORT_BASE, SimConfig
from sitl.faults import FaultSpec
from sitl.fleet import SimFleet

STATUS_EVERY_S = 10.0


def parse_home(text: str) -> tuple[GeoPoint, float]:
    """``LAT,LON,ALT`` (degrees, degrees, metres AMSL). Raises ArgumentTypeError."""
    try:
        lat, lon, alt = (float(part) for part in text.split(","))
        return GeoPoint(lat, lon), alt
    except (ValueError, CoordinateError) as exc:
        raise argparse.ArgumentTypeError(f"--home wants LAT,LON,ALT, got {text!r}: {exc}") from exc


def parse_param(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError("missing '='")
        return name.strip().upper(), float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--param wants NAME=VALUE, got {text!r}") from exc


def parse_fault(text: str) -> FaultSpec:
    try:
        return FaultSpec.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sitl",
        description="PX4-compatible MAVLink vehicle simulator (one vehicle per --home).",
    )
    parser.add_argument(
        "--home",
        type=parse_home,
        action="append",
        required=True,
        metavar="LAT,LON,ALT",
        help="a vehicle's home; repeat for more vehicles",
    )
    parser.add_argument("--speed", type=float, default=1.0, help="speed factor (default 1)")
    parser.add_argument(
        "--api-port-base",
        type=int,
        default=API_PORT_BASE,
        help=f"vehicle i streams to this port + i (default {API_PORT_BASE})",
    )
    parser.add_argument(
        "--local-port-base",
        type=int,
        default=LOCAL_PORT_BASE,
        help=f"vehicle i binds this port + i; 0 = any (default {LOCAL_PORT_BASE})",
    )
    parser.add_argument("--step", type=float, default=0.02, help="physics step, vehicle s")
    parser.add_argument(
        "--fast-hz",
        type=float,
        default=50.0,
        help="rate of the ~50 Hz streams, vehicle time (default 50)",
    )
    parser.add_argument(
        "--param",
        type=parse_param,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="PX4 parameter at boot, all vehicles",
    )
    parser.add_argument(
        "--fault",
        type=parse_fault,
        action="append",
        default=[],
        metavar="I:KIND[=V][@T]",
        help="inject a fault",
    )
    parser.add_argument("--quiet", action="store_true", help="no periodic status lines")
    return parser  # fmt: skip


def configs_from_args(args: argparse.Namespace) -> list[SimConfig]:
    params = dict(args.param)
    return [
        SimConfig(
            home=home,
            home_alt_amsl_m=alt,
            instance=i,
            speed_factor=args.speed,
            api_port=args.api_port_base + i,
            local_port=args.local_port_base + i if args.local_port_base else 0,
            physics_step_s=args.step,
            fast_stream_hz=args.fast_hz,
            params=params,
        )
        for i, (home, alt) in enumerate(args.home)
    ]


async def serve(args: argparse.Namespace) -> None:
    configs = configs_from_args(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with SimFleet.running(configs) as fleet:
            for spec in args.fault:
                if not 0 <= spec.instance < len(fleet.vehicles):
                    raise SystemExit(f"--fault {spec.instance}: no such vehicle")
                fleet.vehicles[spec.instance].schedule_fault(spec)
            for v in fleet.vehicles:
                print(
                    f"vehicle {v.config.instance}: system {v.config.system_id},"
                    f" MAVSDK address {v.mavlink_address} (local port {v.local_port})",
                    flush=True,
                )
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(STATUS_EVERY_S):
                        await stop.wait()
                if not args.quiet and not stop.is_set():
                    print(_status_line(fleet), flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _status_line(fleet: SimFleet) -> str:
    parts = [f"t={fleet.vehicle_time_s:.0f}s x{fleet.achieved_speed_factor:.1f}"]
    for v in fleet.vehicles:
        s = v.state
        parts.append(
            f"#{v.config.instance} {s.flight_mode.name} {'armed' if s.armed else 'disarmed'}"
            f" {s.relative_altitude_m:.0f}m {s.battery_pct:.0f}%"
        )
    return " | ".join(parts)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        asyncio.run(serve(args))
    except OSError as exc:
        sys.exit(f"sitl: {exc}")


if __name__ == "__main__":
    main()
