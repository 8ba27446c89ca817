"""The PX4 SITL launcher: command and environment, lifecycle with a stand-in binary, real PX4."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sitl.px4_launcher import (
    PX4_DIR_ENV,
    READY_MARKER,
    Px4Instance,
    Px4NotFound,
    Px4StartupError,
    plan_instances,
    px4_build_dir,
    px4_command,
    px4_environment,
    px4_sitl,
)
from tests.sitl.conftest import PUEBLO, PUEBLO_ALT_M
from tests.sitl.mavsdk_client import connected_drone, first
from tests.sitl.test_contract import offset

FAKE_PX4 = f"""#!/bin/sh
env > "$PWD/env.txt"
echo "$@" > "$PWD/args.txt"
echo "INFO  [init] {READY_MARKER}"
trap 'echo stopped > "$PWD/stopped.txt"; exit 0' TERM
while true; do sleep 0.05; done
"""


def fake_build(root: Path, script: str = FAKE_PX4) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    binary = root / "bin" / "px4"
    binary.write_text(script)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return root


def test_command_and_environment(tmp_path: Path) -> None:
    plan = Px4Instance(2, PUEBLO, PUEBLO_ALT_M, tmp_path / "w2")
    build = Path("/opt/px4/build/px4_sitl_default")
    assert px4_command(build, plan) == [
        str(build / "bin" / "px4"), "-i", "2", "-d", "-w", str(tmp_path / "w2"), str(build / "etc"),
    ]  # fmt: skip
    env = px4_environment(
        plan, speed_factor=3.0, params={"MPC_XY_CRUISE": 20}, base={"PATH": "/bin"}
    )
    assert env["PATH"] == "/bin"
    assert env["PX4_SIMULATOR"] == "sihsim"
    assert env["PX4_SIM_MODEL"] == "sihsim_quadx"
    assert env["PX4_SYS_AUTOSTART"] == "10040"
    assert (env["PX4_HOME_LAT"], env["PX4_HOME_LON"], env["PX4_HOME_ALT"]) == (
        "38.2544000",
        "-104.6091000",
        "1430.0",
    )
    assert env["PX4_SIM_SPEED_FACTOR"] == "3"
    assert env["PX4_PARAM_SIH_KDV"] == "0.3"
    assert env["PX4_PARAM_MPC_XY_CRUISE"] == "20"
    assert "PX4_SIM_SPEED_FACTOR" not in px4_environment(plan, base={})
    assert plan.mavlink_address == "udpin://127.0.0.1:14542"


def test_build_dir_comes_from_the_environment(tmp_path: Path) -> None:
    with pytest.raises(Px4NotFound, match="not set"):
        px4_build_dir({})
    with pytest.raises(Px4NotFound, match="no bin/px4"):
        px4_build_dir({PX4_DIR_ENV: str(tmp_path)})
    build = fake_build(tmp_path / "build")
    assert px4_build_dir({PX4_DIR_ENV: str(build)}) == build


def test_each_instance_gets_a_fresh_working_directory(tmp_path: Path) -> None:
    plans = plan_instances([(PUEBLO, 1430.0), (offset(PUEBLO, 3000, 0), 1440.0)], tmp_path)
    assert [p.instance for p in plans] == [0, 1]
    assert all(p.workdir.is_dir() and not any(p.workdir.iterdir()) for p in plans)
    with pytest.raises(FileExistsError):
        plan_instances([(PUEBLO, 1430.0)], tmp_path)  # never reuse a directory PX4 wrote to


async def test_launcher_starts_and_stops_instances(tmp_path: Path) -> None:
    build = fake_build(tmp_path / "build")
    runs = tmp_path / "runs"
    homes = [(PUEBLO, 1430.0), (offset(PUEBLO, 3000, 0), 1440.0)]
    async with px4_sitl(homes, build_dir=build, workdir_root=runs, speed_factor=2.0) as addresses:
        assert addresses == ["udpin://127.0.0.1:14540", "udpin://127.0.0.1:14541"]
        env = dict(
            line.split("=", 1)
            for line in (runs / "px4-1" / "env.txt").read_text().splitlines()
            if "=" in line
        )
        assert env["PX4_HOME_ALT"] == "1440.0"
        assert env["PX4_SIM_SPEED_FACTOR"] == "2"
        assert env["PX4_PARAM_SIH_KDV"] == "0.3"
        args = (runs / "px4-1" / "args.txt").read_text().split()
        assert args[:5] == ["-i", "1", "-d", "-w", str(runs / "px4-1")]
    for i in (0, 1):  # SIGTERM reached every instance before the block returned
        assert (runs / f"px4-{i}" / "stopped.txt").read_text().strip() == "stopped"


def test_instances_die_with_a_launcher_that_is_killed(tmp_path: Path) -> None:
    """kill -9 skips the launcher's own cleanup: Linux stops the instances instead."""
    pid_file = tmp_path / "instance.pid"
    build = fake_build(
        tmp_path / "build", FAKE_PX4.replace("env >", 'echo $$ > "$PID_FILE"\nenv >')
    )
    home = f"{PUEBLO.latitude_deg},{PUEBLO.longitude_deg},1430"
    env = {**os.environ, PX4_DIR_ENV: str(build), "PID_FILE": str(pid_file)}
    command = [sys.executable, "-m", "sitl.px4_launcher", "--home", home]
    launcher = subprocess.Popen(command, env=env)
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text().strip()):
            assert launcher.poll() is None, "the launcher exited"
            assert time.monotonic() < deadline, "the instance never started"
            time.sleep(0.05)
        instance = int(pid_file.read_text())
    finally:
        launcher.kill()
        launcher.wait()
    deadline = time.monotonic() + 10
    while _state(instance) not in ("gone", "Z"):
        assert time.monotonic() < deadline, "the PX4 instance outlived its killed launcher"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return stat[stat.rindex(")") + 2 :].split()[0]


async def test_launcher_reports_an_instance_that_dies(tmp_path: Path) -> None:
    build = fake_build(tmp_path / "build", "#!/bin/sh\necho 'ERROR no etc'\nexit 3\n")
    with pytest.raises(Px4StartupError, match="exited with 3"):
        async with px4_sitl([(PUEBLO, 1430.0)], build_dir=build):
            pass


@pytest.mark.px4
async def test_real_px4_sitl_boots_and_reports_health() -> None:
    if not os.environ.get(PX4_DIR_ENV):
        pytest.skip("DFR_PX4_DIR not set")
    async with (
        px4_sitl([(PUEBLO, PUEBLO_ALT_M)], speed_factor=2.0) as addresses,
        connected_drone(addresses[0], timeout_s=60.0) as drone,
    ):
        assert await first(drone.telemetry.health_all_ok(), bool, 60.0)
