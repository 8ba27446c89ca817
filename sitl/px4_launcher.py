"""Start real PX4 SITL (SIH quadrotor, headless) instances for the same tests and demos.

    async with px4_sitl([(GeoPoint(38.2544, -104.6091), 1430.0)], speed_factor=3) as addresses:
        ...  # addresses[i] == "udpin://127.0.0.1:1454i", connect MAVSDK there

    async with px4_stations(deployment.stations, speed_factor=2) as stations:
        ...  # the stations, each drone's `mavlink` pointing at its PX4 instance

The PX4 build directory (holding ``bin/px4`` and ``etc/``) is named by the environment
variable ``DFR_PX4_DIR``. Each instance runs in a fresh working directory, because
PX4 keeps parameters, missions and fences there between runs (a stale fence once
triggered a failsafe in a later flight). SIH's drag is lowered (``SIH_KDV=0.3``) so
the airframe can reach 20 m/s. Instances are stopped (SIGTERM, then SIGKILL) when
the block exits. PX4 binds every interface and may broadcast on its GCS link; run
tests inside a loopback-only network namespace when that matters.

Errors (see sitl.errors): Px4NotFound without a build, Px4StartupError when an
instance exits or does not boot in time; both are Px4LaunchError.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from missions.geo import GeoPoint
from missions.profile import Station
from sitl.config import API_PORT_BASE, LOOPBACK
from sitl.errors import Px4LaunchError, Px4NotFound, Px4StartupError

__all__ = [
    "PX4_DIR_ENV",
    "Px4Instance",
    "Px4LaunchError",
    "Px4NotFound",
    "Px4StartupError",
    "plan_instances",
    "px4_build_dir",
    "px4_command",
    "px4_commit",
    "px4_environment",
    "px4_sitl",
    "px4_stations",
]

PX4_DIR_ENV = "DFR_PX4_DIR"
READY_MARKER = "Startup script returned successfully"
DEFAULT_PARAMS: Mapping[str, float] = {"SIH_KDV": 0.3}


def battery_params(endurance_s: float) -> dict[str, float]:
    """PX4's simulated battery drained over the drone's endurance while armed, down to
    empty (PX4's defaults empty it to half within a minute, then hold it there; it is
    full again at each disarm, as a dock that swaps batteries would leave it).

    >>> battery_params(2400.0)
    {'SIM_BAT_DRAIN': 2400.0, 'SIM_BAT_MIN_PCT': 0.0}
    """
    return {"SIM_BAT_DRAIN": endurance_s, "SIM_BAT_MIN_PCT": 0.0}


STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Px4Instance:
    """One PX4 SITL instance's launch plan."""

    instance: int
    home: GeoPoint
    home_alt_amsl_m: float
    workdir: Path

    @property
    def mavlink_address(self) -> str:
        return f"udpin://{LOOPBACK}:{API_PORT_BASE + self.instance}"


def px4_build_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The PX4 build directory from DFR_PX4_DIR. Raises Px4NotFound."""
    value = (os.environ if environ is None else environ).get(PX4_DIR_ENV)
    if not value:
        raise Px4NotFound(f"{PX4_DIR_ENV} not set")
    build = Path(value)
    if not (build / "bin" / "px4").is_file():
        raise Px4NotFound(f"{PX4_DIR_ENV}={value} holds no bin/px4")
    return build


def px4_commit(build_dir: Path) -> str:
    """The PX4 commit the build was made from (its generated version header), or "unknown"."""
    header = build_dir / "src" / "lib" / "version" / "build_git_version.h"
    try:
        text = header.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "unknown"
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[:2] == ["#define", "PX4_GIT_VERSION_STR"]:
            return parts[2].strip('"') or "unknown"
    return "unknown"


def _die_with_launcher() -> list[str]:
    """The command prefix that has Linux SIGKILL a PX4 instance when the process that
    launched it dies without stopping it (a SIGTERM or SIGKILL skips the launcher's
    cleanup): util-linux's `setpriv --pdeathsig`, which execs PX4 with it set. Empty
    where there is no setpriv."""
    setpriv = shutil.which("setpriv")
    if not sys.platform.startswith("linux") or setpriv is None:
        return []
    return [setpriv, "--pdeathsig", "KILL", "--"]


_DIE_WITH_LAUNCHER = _die_with_launcher()


def px4_command(build_dir: Path, plan: Px4Instance) -> list[str]:
    """``px4 -i N -d -w WORKDIR <build>/etc``: daemon mode, no interactive shell."""
    return [
        str(build_dir / "bin" / "px4"),
        "-i",
        str(plan.instance),
        "-d",
        "-w",
        str(plan.workdir),
        str(build_dir / "etc"),
    ]


def px4_environment(
    plan: Px4Instance,
    speed_factor: float = 1.0,
    params: Mapping[str, float] | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for one SIH instance: model, airframe, home, speed, boot parameters."""
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "PX4_SIMULATOR": "sihsim",
            "PX4_SIM_MODEL": "sihsim_quadx",
            "PX4_SYS_AUTOSTART": "10040",
            "PX4_HOME_LAT": f"{plan.home.latitude_deg:.7f}",
            "PX4_HOME_LON": f"{plan.home.longitude_deg:.7f}",
            "PX4_HOME_ALT": f"{plan.home_alt_amsl_m:.1f}",
        }
    )
    if speed_factor != 1.0:
        env["PX4_SIM_SPEED_FACTOR"] = f"{speed_factor:g}"
    for name, value in {**DEFAULT_PARAMS, **(params or {})}.items():
        env[f"PX4_PARAM_{name}"] = f"{value:g}"
    return env


def plan_instances(
    homes: Sequence[tuple[GeoPoint, float]], workdir_root: Path
) -> list[Px4Instance]:
    """One plan per home, each with an empty working directory under `workdir_root`."""
    plans = []
    for i, (home, alt) in enumerate(homes):
        workdir = workdir_root / f"px4-{i}"
        workdir.mkdir(parents=True, exist_ok=False)
        plans.append(Px4Instance(i, home, alt, workdir))
    return plans


@asynccontextmanager
async def px4_sitl(
    homes: Sequence[tuple[GeoPoint, float]],
    *,
    speed_factor: float = 1.0,
    params: Mapping[str, float] | None = None,
    build_dir: Path | None = None,
    workdir_root: Path | None = None,
    startup_timeout_s: float = 60.0,
    instance_params: Sequence[Mapping[str, float]] | None = None,
) -> AsyncIterator[list[str]]:
    """Run one PX4 SIH instance per (home, home altitude AMSL); yield MAVSDK addresses.
    `instance_params`: each instance's own boot parameters (then `params`, for all).

    Working directories go under `workdir_root` (kept, with each instance's px4.log)
    or a temporary directory removed afterwards. Raises Px4NotFound without a build,
    Px4StartupError when an instance fails to boot.
    """
    build = build_dir if build_dir is not None else px4_build_dir()
    with contextlib.ExitStack() as cleanup:
        if workdir_root is None:
            workdir_root = Path(
                cleanup.enter_context(tempfile.TemporaryDirectory(prefix="dfr-px4-"))
            )
        plans = plan_instances(homes, workdir_root)
        processes: list[asyncio.subprocess.Process] = []
        try:
            for plan in plans:
                own = instance_params[plan.instance] if instance_params is not None else {}
                log = (plan.workdir / "px4.log").open("wb")
                try:
                    processes.append(
                        await asyncio.create_subprocess_exec(
                            *_DIE_WITH_LAUNCHER,
                            *px4_command(build, plan),
                            cwd=plan.workdir,
                            env=px4_environment(plan, speed_factor, {**own, **(params or {})}),
                            stdin=asyncio.subprocess.DEVNULL,
                            stdout=log,
                            stderr=asyncio.subprocess.STDOUT,
                            start_new_session=True,
                        )
                    )
                finally:
                    log.close()
            try:
                async with asyncio.timeout(startup_timeout_s):
                    for plan, process in zip(plans, processes, strict=True):
                        await _wait_ready(plan, process)
            except TimeoutError as exc:
                raise Px4StartupError(f"PX4 did not boot within {startup_timeout_s:g} s") from exc
            yield [plan.mavlink_address for plan in plans]
        finally:
            await _stop_all(processes)


@asynccontextmanager
async def px4_stations(
    stations: Sequence[Station],
    speed_factor: float = 1.0,
    params: Mapping[str, float] | None = None,
    build_dir: Path | None = None,
    startup_timeout_s: float = 60.0,
) -> AsyncIterator[list[Station]]:
    """One PX4 instance per station (at its dock); yields the stations re-addressed to them.
    Each instance's simulated battery lasts its drone's endurance (`battery_params`)."""
    homes = [(s.position, s.ground_alt_amsl_m) for s in stations]
    async with px4_sitl(
        homes,
        speed_factor=speed_factor,
        params=params,
        build_dir=build_dir,
        startup_timeout_s=startup_timeout_s,
        instance_params=[battery_params(s.drone.endurance_s) for s in stations],
    ) as addresses:
        yield [
            replace(s, drone=replace(s.drone, mavlink=address))
            for s, address in zip(stations, addresses, strict=True)
        ]


async def _wait_ready(plan: Px4Instance, process: asyncio.subprocess.Process) -> None:
    log = plan.workdir / "px4.log"
    while True:
        if process.returncode is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise Px4StartupError(
                f"PX4 instance {plan.instance} exited with {process.returncode}:\n{tail}"
            )
        if log.exists() and READY_MARKER in log.read_text(errors="replace"):
            return
        await asyncio.sleep(0.2)


async def _stop_all(processes: Sequence[asyncio.subprocess.Process]) -> None:
    for process in processes:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m sitl.px4_launcher --home LAT,LON,ALT [--home …] --speed N``: PX4 SITL
    instances until SIGTERM or SIGINT, instance i at udpin://127.0.0.1:(14540 + i)."""
    import argparse

    from sitl.__main__ import parse_home

    parser = argparse.ArgumentParser(prog="python -m sitl.px4_launcher", description=main.__doc__)
    parser.add_argument("--home", type=parse_home, action="append", required=True)
    parser.add_argument("--speed", type=float, default=1.0)
    args = parser.parse_args(argv)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with px4_sitl(args.home, speed_factor=args.speed) as addresses:
            print(f"px4: ready {' '.join(addresses)}", flush=True)
            await stop.wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
